/*
 * The BLAS, found at run time: the few CBLAS entry points the kernels call, declared here so that
 * building needs no BLAS headers and running needs only the shared library (Debian: libopenblas0).
 */
#ifndef JUKEFLOW_BLAS_H
#define JUKEFLOW_BLAS_H

/* CBLAS's enum values (cblas.h); enums are passed as int. */
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };

typedef void (*sgemm_fn)(int order, int transA, int transB, int m, int n, int k, float alpha,
                         const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
typedef void (*sgemv_fn)(int order, int trans, int m, int n, float alpha, const float *a, int lda,
                         const float *x, int incx, float beta, float *y, int incy);

/* The loaded library: `sgemm` is NULL when none loaded, and `error` says why. */
typedef struct {
  sgemm_fn sgemm;
  sgemv_fn sgemv;
  const char *path;         /* the name it was loaded by */
  const char *config;       /* openblas_get_config(), or NULL */
  int (*get_threads)(void); /* NULL when the library cannot say */
  void (*set_threads)(int); /* NULL when the library cannot be told */
  int (*get_parallel)(void);
  char error[1024];
} Blas;

/* Loads the BLAS once (thread-safe) and returns it: JUKEFLOW_BLAS if set, else common names. */
const Blas *blas_load(void);

#endif
