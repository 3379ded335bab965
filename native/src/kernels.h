/*
 * The conv, matrix and elementwise kernels on raw row-major float arrays. Callers (addon.c) have
 * checked every shape against the arrays' lengths and that each dimension handed to the BLAS fits its int.
 */
#ifndef JUKEFLOW_KERNELS_H
#define JUKEFLOW_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include "blas.h"

/* C = alpha·op(A)·op(B) + beta·C, row-major, op(A) m×k; m = 1 or n = 1 go to sgemv. */
void gemm(const Blas *blas, bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
          const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/* Output length of a valid correlation (may be ≤ 0). */
int64_t correlated_length(int64_t length, int64_t kernel, int64_t stride, int64_t dilation);

/* y (B, T', Cout) = bias (or 0), then the cross-correlation of x (B, T, Cin), zero-padded by padLeft and
   padRight (implicitly), with w (K, Cin, Cout): y[b, m] += Σ_k x[b, stride·m + dilation·k − padLeft]·w[k],
   T' = ⌊(T + padLeft + padRight − dilation·(K − 1) − 1) / stride⌋ + 1. bias (Cout) may be NULL. */
void correlate(const Blas *blas, const float *x, const float *w, const float *bias, float *y, int64_t batch,
               int64_t length, int64_t cin, int64_t kernel, int64_t cout, int64_t stride, int64_t dilation,
               int64_t pad_left, int64_t pad_right);

/* y (B, L, Cout) = bias (or 0), then y[b, stride·m + dilation·k − offset] += x[b, m]·W[k], rows outside
   [0, L) dropped; W[k] = w[k] (Cin × Cout), or w[k]ᵀ with w (K, Cout, Cin) when transposeW. */
void transposed_correlate(const Blas *blas, const float *x, const float *w, const float *bias, float *y,
                          int64_t batch, int64_t length, int64_t cin, int64_t kernel, int64_t cout, int64_t stride,
                          int64_t dilation, int64_t out_length, int64_t offset, bool transpose_w);

/* dw (K, Cin, Cout) = Σ_b Σ_m x[b, stride·m + dilation·k − padLeft]ᵀ·dy[b, m], x (B, T, Cin) zero-padded
   implicitly, dy (B, T', Cout); dbias (Cout, or NULL) = Σ_b Σ_m dy[b, m]. */
void filter_gradient(const Blas *blas, const float *x, const float *dy, float *dw, float *dbias, int64_t batch,
                     int64_t length, int64_t cin, int64_t out_length, int64_t cout, int64_t kernel, int64_t stride,
                     int64_t dilation, int64_t pad_left);

/* sums (cols) += the column sums of the (rows × cols) matrix a: float partial sums over blocks of 256 rows,
   added in double. */
void add_column_sums(const float *a, int64_t rows, int64_t cols, float *sums);

/* Row kernels (rows.c). LayerNorm over the last axis of x (rows × width): y = (x − mean)·rstd·gain + bias with
   rstd = 1/√(variance + epsilon); mean and rstd (rows) are kept for the gradient. Sums run in float lanes
   added in double. */
void layer_norm(const float *x, const float *gain, const float *bias, float *y, float *mean, float *rstd, int64_t rows,
                int64_t width, float epsilon);

/* LayerNorm's gradients from dy, x and the forward's mean and rstd: dx (rows × width), and dgain, dbias (width),
   the column sums of dy·x̂ and dy. False when its scratch memory cannot be allocated (nothing written). */
bool layer_norm_gradient(const float *dy, const float *x, const float *gain, const float *mean, const float *rstd, float *dx,
                         float *dgain, float *dbias, int64_t rows, int64_t width);

/* Softmax cross-entropy of each row of logits (rows × vocab) with its target: lse = log Σ exp(logits), and
   loss = lse − logits[target], or 0 where the target is outside [0, vocab) (tf.oneHot's zero row). */
void softmax_cross_entropy(const float *logits, const int32_t *targets, float *loss, float *lse, int64_t rows, int64_t vocab);

/* Its gradient: dlogits = dloss[r]·(softmax(logits) − onehot(target)), from the forward's lse; zero rows for targets
   outside [0, vocab). */
void softmax_cross_entropy_gradient(const float *dloss, const float *logits, const int32_t *targets, const float *lse,
                                    float *dlogits, int64_t rows, int64_t vocab);

/* Attention of one query per row: q (rows × width), keys and values (rows × length × width) → out (rows × width),
   softmax(q·scale · kᵀ) v; a query with no keys gets 0. q may be out itself. False when its scratch memory cannot be allocated. */
bool attend_one(const float *q, const float *keys, const float *values, float *out, int64_t rows, int64_t length, int64_t width,
                float scale);

/* y = x·σ(1.702·x), the reference's quick GELU, n elements; y may be x itself. */
void quick_gelu(const float *x, float *y, int64_t n);

/* y = max(0, x), n elements (elementwise.c). */
void relu(const float *x, float *y, int64_t n);

/* dx = dy·step(y): ReLU's gradient from its output y (y > 0 exactly where its input is). */
void relu_gradient(const float *dy, const float *y, float *dx, int64_t n);

/* Adam's constants for one update; correction1 = 1 − β1^step and correction2 = 1 − β2^step. */
typedef struct {
  double learning_rate, beta1, beta2, epsilon, correction1, correction2;
} AdamScalars;

/* One Adam update of n weights into new arrays: m' = β1·m + (1 − β1)·g, v' = β2·v + (1 − β2)·g²,
   w' = w − lr·(m'/correction1) / (√(v'/correction2) + ε), in float32 op by op as models/adam.ts. */
void adam(const float *w, const float *m, const float *v, const float *g, float *w_out, float *m_out, float *v_out,
          int64_t n, AdamScalars s);

#endif
