/*
 * Convolutions as GEMMs on strided row views, without im2col copies. In (B, T, C) layout the rows
 * x[b, stride·m + dilation·k] for m < T' form a matrix with leading dimension stride·Cin, one GEMM
 * per tap. When the K taps of row m are contiguous and rows do not overlap (dilation 1 and
 * stride ≥ K: BLAS wants lda ≥ the row's width), row m of the im2col matrix is x[b, stride·m ..
 * stride·m + K) and the taps become one GEMM of inner size K·Cin.
 */
#include "kernels.h"

#include <string.h>

/* Scales (or, for beta = 0, clears) the m×n matrix c: what a GEMM with nothing to add leaves. */
static void scale(int64_t m, int64_t n, float beta, float *c, int64_t ldc) {
  for (int64_t i = 0; i < m; i++) {
    float *row = c + i * ldc;
    if (beta == 0.0f) memset(row, 0, (size_t)n * sizeof(float));
    else for (int64_t j = 0; j < n; j++) row[j] *= beta;
  }
}

void gemm(const Blas *blas, bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
          const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == 0.0f) {
    scale(m, n, beta, c, ldc);
    return;
  }
  const int ta = transA ? CBLAS_TRANS : CBLAS_NO_TRANS, tb = transB ? CBLAS_TRANS : CBLAS_NO_TRANS;
  if (blas->sgemv != NULL && (n == 1 || m == 1)) {
    /* sgemv leaves NaNs of y in place for beta = 0 in some BLAS builds: clear y first. */
    if (beta == 0.0f) {
      scale(m, n, 0.0f, c, ldc);
      beta = 1.0f;
    }
    if (n == 1) /* c (m×1) = op(A)·(column of op(B)) */
      blas->sgemv(CBLAS_ROW_MAJOR, ta, transA ? (int)k : (int)m, transA ? (int)m : (int)k, alpha, a, (int)lda,
                  b, transB ? 1 : (int)ldb, beta, c, (int)ldc);
    else /* c (1×n) = (row of op(A))·op(B), i.e. cᵀ = op(B)ᵀ·aᵀ */
      blas->sgemv(CBLAS_ROW_MAJOR, transB ? CBLAS_NO_TRANS : CBLAS_TRANS, transB ? (int)n : (int)k,
                  transB ? (int)k : (int)n, alpha, b, (int)ldb, a, transA ? (int)lda : 1, beta, c, 1);
    return;
  }
  blas->sgemm(CBLAS_ROW_MAJOR, ta, tb, (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

int64_t correlated_length(int64_t length, int64_t kernel, int64_t stride, int64_t dilation) {
  const int64_t span = length - dilation * (kernel - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

/* Whether the K taps of an output row lie side by side in x, as one row of inner size K·Cin. */
static bool taps_contiguous(int64_t kernel, int64_t stride, int64_t dilation) {
  return kernel == 1 || (dilation == 1 && stride >= kernel);
}

/* Whether the items' row views join into one: each next item starts one stride after the last row. */
static bool batches_merge(int64_t batch, int64_t length, int64_t out_length, int64_t stride) {
  return batch > 1 && length == stride * out_length;
}

void correlate(const Blas *blas, const float *x, const float *w, float *y, int64_t batch, int64_t length,
               int64_t cin, int64_t kernel, int64_t cout, int64_t stride, int64_t dilation) {
  const int64_t out = correlated_length(length, kernel, stride, dilation);
  if (out == 0 || batch == 0) return;
  const bool merged = batches_merge(batch, length, out, stride);
  const int64_t groups = merged ? 1 : batch, rows = merged ? batch * out : out;
  const bool contiguous_taps = taps_contiguous(kernel, stride, dilation);
  for (int64_t g = 0; g < groups; g++) {
    const float *xg = x + g * length * cin;
    float *yg = y + g * out * cout;
    if (contiguous_taps) {
      gemm(blas, false, false, rows, cout, kernel * cin, 1.0f, xg, stride * cin, w, cout, 0.0f, yg, cout);
      continue;
    }
    for (int64_t k = 0; k < kernel; k++)
      gemm(blas, false, false, rows, cout, cin, 1.0f, xg + dilation * k * cin, stride * cin, w + k * cin * cout,
           cout, k == 0 ? 0.0f : 1.0f, yg, cout);
  }
}

void transposed_correlate(const Blas *blas, const float *x, const float *w, float *y, int64_t batch,
                          int64_t length, int64_t cin, int64_t kernel, int64_t cout, int64_t stride,
                          int64_t dilation, int64_t out_length, bool transpose_w) {
  if (batch == 0 || out_length == 0) return;
  memset(y, 0, (size_t)(batch * out_length * cout) * sizeof(float));
  if (length == 0) return;
  /* Items join into one row view when L = stride·T and no tap reaches a stride further, so no row is dropped. */
  const bool merged = batch > 1 && out_length == stride * length && dilation * (kernel - 1) < stride;
  const int64_t groups = merged ? 1 : batch, items = merged ? batch : 1;
  for (int64_t g = 0; g < groups; g++) {
    const float *xg = x + g * length * cin;
    float *yg = y + g * out_length * cout;
    for (int64_t k = 0; k < kernel; k++) {
      const int64_t first = dilation * k;
      /* rows m with stride·m + dilation·k < L */
      const int64_t rows = first >= out_length ? 0 : (out_length - first + stride - 1) / stride;
      gemm(blas, false, transpose_w, items * (rows < length ? rows : length), cout, cin, 1.0f, xg, cin,
           w + k * cin * cout, transpose_w ? cin : cout, 1.0f, yg + first * cout, stride * cout);
    }
  }
}

void filter_gradient(const Blas *blas, const float *x, const float *dy, float *dw, int64_t batch,
                     int64_t length, int64_t cin, int64_t out_length, int64_t cout, int64_t kernel,
                     int64_t stride, int64_t dilation) {
  if (out_length == 0 || batch == 0) {
    scale(kernel * cin, cout, 0.0f, dw, cout);
    return;
  }
  const bool merged = batches_merge(batch, length, out_length, stride);
  const int64_t groups = merged ? 1 : batch, rows = merged ? batch * out_length : out_length;
  const bool contiguous_taps = taps_contiguous(kernel, stride, dilation);
  for (int64_t g = 0; g < groups; g++) {
    const float *xg = x + g * length * cin, *dyg = dy + g * out_length * cout;
    const float beta = g == 0 ? 0.0f : 1.0f;
    if (contiguous_taps) {
      gemm(blas, true, false, kernel * cin, cout, rows, 1.0f, xg, stride * cin, dyg, cout, beta, dw, cout);
      continue;
    }
    for (int64_t k = 0; k < kernel; k++)
      gemm(blas, true, false, cin, cout, rows, 1.0f, xg + dilation * k * cin, stride * cin, dyg, cout, beta,
           dw + k * cin * cout, cout);
  }
}
