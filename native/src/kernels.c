/*
 * Convolutions as GEMMs on strided row views, without im2col copies. In (B, T, C) layout the rows
 * x[b, stride·m + dilation·k − padLeft] for m < T' form a matrix with leading dimension stride·Cin,
 * one GEMM per tap. Zero padding is implicit: each tap's GEMM covers only the output rows whose
 * input row lies inside [0, T) (the others would add zeros). When the K taps of row m are
 * contiguous and rows do not overlap (dilation 1 and stride ≥ K: BLAS wants lda ≥ the row's width),
 * row m of the im2col matrix is x[b, stride·m − padLeft .. + K) and the taps of the rows that lie
 * wholly inside become one GEMM of inner size K·Cin.
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

static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/* The rows m < count with 0 ≤ stride·m + shift < length, a range [first, end) (empty: first = end). */
typedef struct {
  int64_t first, end;
} Rows;

static Rows rows_inside(int64_t count, int64_t stride, int64_t shift, int64_t length) {
  int64_t first = -floor_div(shift, stride), end = floor_div(length - 1 - shift, stride) + 1;
  if (first < 0) first = 0;
  if (end > count) end = count;
  return (Rows){first, end > first ? end : first};
}

/* Every row of the (rows × cols) matrix y set to bias, or to zero when bias is NULL. The bias rows are
   copied in doubling blocks: few long memcpys, also for one column. */
static void fill_rows(float *y, int64_t rows, int64_t cols, const float *bias) {
  if (bias == NULL || rows == 0) {
    memset(y, 0, (size_t)(rows * cols) * sizeof(float));
    return;
  }
  memcpy(y, bias, (size_t)cols * sizeof(float));
  for (int64_t filled = 1; filled < rows; filled *= 2) {
    const int64_t copy = filled < rows - filled ? filled : rows - filled;
    memcpy(y + filled * cols, y, (size_t)(copy * cols) * sizeof(float));
  }
}

/* A correlation's shape: x (B, in, Cin) seen padded by `pad` before it, output (B, out, Cout). */
typedef struct {
  const Blas *blas;
  int64_t batch, in, cin, kernel, cout, stride, dilation, pad, out;
  /* Items per GEMM: all B when their row views join into one (no tap reads padding, and each next
     item starts one stride after the last row), else 1, each item's taps run together while it is in cache. */
  int64_t items;
} Conv;

static Conv conv_of(const Blas *blas, int64_t batch, int64_t in, int64_t cin, int64_t kernel, int64_t cout, int64_t stride,
                    int64_t dilation, int64_t pad, int64_t out) {
  const bool merged = batch > 1 && pad == 0 && correlated_length(in, kernel, stride, dilation) == out && in == stride * out;
  return (Conv){blas, batch, in, cin, kernel, cout, stride, dilation, pad, out, merged ? batch : 1};
}

/* Taps tap .. tap + taps − 1 on output rows [first, end) of items g .. g + items − 1; their input rows lie in x. */
typedef void (*SegmentFn)(const Conv *conv, const void *args, int64_t g, int64_t tap, int64_t taps, int64_t first, int64_t end);

/*
 * Runs `run` on the rows of each tap whose input row lies inside x, so that implicit padding costs
 * nothing. With contiguous taps, the rows whose K taps all lie inside x go as one segment of K taps.
 */
static void for_each_segment(const Conv *c, const void *args, int64_t g, SegmentFn run) {
  const bool contiguous = c->kernel == 1 || (c->dilation == 1 && c->stride >= c->kernel);
  Rows whole = {0, 0}; /* rows whose every tap lies inside */
  if (contiguous) {
    whole.first = rows_inside(c->out, c->stride, -c->pad, c->in).first;
    whole.end = rows_inside(c->out, c->stride, c->dilation * (c->kernel - 1) - c->pad, c->in).end;
    if (whole.end < whole.first) whole.end = whole.first;
    if (whole.end > whole.first) run(c, args, g, 0, c->kernel, whole.first, whole.end);
  }
  for (int64_t k = 0; k < c->kernel; k++) {
    const Rows r = rows_inside(c->out, c->stride, c->dilation * k - c->pad, c->in);
    if (!contiguous) {
      if (r.end > r.first) run(c, args, g, k, 1, r.first, r.end);
      continue;
    }
    const int64_t head_end = r.end < whole.first ? r.end : whole.first, tail_first = r.first > whole.end ? r.first : whole.end;
    if (head_end > r.first) run(c, args, g, k, 1, r.first, head_end);
    if (r.end > tail_first) run(c, args, g, k, 1, tail_first, r.end);
  }
}

typedef struct {
  const float *x, *w;
  float *y;
} CorrelateArgs;

static void correlate_segment(const Conv *c, const void *args, int64_t g, int64_t tap, int64_t taps, int64_t first, int64_t end) {
  const CorrelateArgs *a = args;
  const int64_t start = g * c->in + c->stride * first + c->dilation * tap - c->pad; /* x's row for output row `first` */
  gemm(c->blas, false, false, c->items * (end - first), c->cout, taps * c->cin, 1.0f, a->x + start * c->cin, c->stride * c->cin,
       a->w + tap * c->cin * c->cout, c->cout, 1.0f, a->y + (g * c->out + first) * c->cout, c->cout);
}

void correlate(const Blas *blas, const float *x, const float *w, const float *bias, float *y, int64_t batch,
               int64_t length, int64_t cin, int64_t kernel, int64_t cout, int64_t stride, int64_t dilation,
               int64_t pad_left, int64_t pad_right) {
  const int64_t out = correlated_length(length + pad_left + pad_right, kernel, stride, dilation);
  if (out == 0 || batch == 0) return;
  const Conv conv = conv_of(blas, batch, length, cin, kernel, cout, stride, dilation, pad_left, out);
  for (int64_t g = 0; g < batch; g += conv.items) {
    fill_rows(y + g * out * cout, conv.items * out, cout, bias); /* just before the GEMMs read it back from cache */
    for_each_segment(&conv, &(CorrelateArgs){x, w, y}, g, correlate_segment);
  }
}

void transposed_correlate(const Blas *blas, const float *x, const float *w, const float *bias, float *y,
                          int64_t batch, int64_t length, int64_t cin, int64_t kernel, int64_t cout, int64_t stride,
                          int64_t dilation, int64_t out_length, int64_t offset, bool transpose_w) {
  if (batch == 0 || out_length == 0) return;
  /* Items join into one row view when every row lands inside and L = stride·T; else each item's taps run together while it is in cache. */
  const bool merged = batch > 1 && offset == 0 && stride * (length - 1) + dilation * (kernel - 1) < out_length && out_length == stride * length;
  const int64_t items = merged ? batch : 1;
  for (int64_t g = 0; g < batch; g += items) {
    fill_rows(y + g * out_length * cout, items * out_length, cout, bias);
    if (length == 0) continue;
    for (int64_t k = 0; k < kernel; k++) {
      const int64_t shift = dilation * k - offset; /* x's row m lands on y's row stride·m + shift */
      const Rows r = rows_inside(length, stride, shift, out_length);
      if (r.end > r.first)
        gemm(blas, false, transpose_w, items * (r.end - r.first), cout, cin, 1.0f, x + (g * length + r.first) * cin, cin,
             w + k * cin * cout, transpose_w ? cin : cout, 1.0f, y + (g * out_length + stride * r.first + shift) * cout, stride * cout);
    }
  }
}

typedef struct {
  const float *x, *dy;
  float *dw;
} FilterGradientArgs;

static void filter_gradient_segment(const Conv *c, const void *args, int64_t g, int64_t tap, int64_t taps, int64_t first, int64_t end) {
  const FilterGradientArgs *a = args;
  const int64_t start = g * c->in + c->stride * first + c->dilation * tap - c->pad;
  gemm(c->blas, true, false, taps * c->cin, c->cout, c->items * (end - first), 1.0f, a->x + start * c->cin, c->stride * c->cin,
       a->dy + (g * c->out + first) * c->cout, c->cout, 1.0f, a->dw + tap * c->cin * c->cout, c->cout);
}

/* sums (cols) += the column sums of the (rows × cols) matrix a: float partial sums over blocks of rows, added in double
   (kernels.h). */
void add_column_sums(const float *restrict a, int64_t rows, int64_t cols, float *restrict sums) {
  enum { WIDTH = 64, BLOCK = 256 };
  for (int64_t c0 = 0; c0 < cols; c0 += WIDTH) {
    const int64_t width = cols - c0 < WIDTH ? cols - c0 : WIDTH;
    double total[WIDTH] = {0};
    for (int64_t r0 = 0; r0 < rows; r0 += BLOCK) {
      float part[WIDTH] = {0};
      const int64_t r1 = rows - r0 < BLOCK ? rows : r0 + BLOCK;
      for (int64_t i = r0; i < r1; i++) {
        const float *row = a + i * cols + c0;
        for (int64_t j = 0; j < width; j++) part[j] += row[j];
      }
      for (int64_t j = 0; j < width; j++) total[j] += part[j];
    }
    for (int64_t j = 0; j < width; j++) sums[c0 + j] = (float)(sums[c0 + j] + total[j]);
  }
}

void filter_gradient(const Blas *blas, const float *x, const float *dy, float *dw, float *dbias, int64_t batch,
                     int64_t length, int64_t cin, int64_t out_length, int64_t cout, int64_t kernel, int64_t stride,
                     int64_t dilation, int64_t pad_left) {
  scale(kernel * cin, cout, 0.0f, dw, cout);
  if (dbias != NULL) memset(dbias, 0, (size_t)cout * sizeof(float));
  if (out_length == 0 || batch == 0) return;
  const Conv conv = conv_of(blas, batch, length, cin, kernel, cout, stride, dilation, pad_left, out_length);
  for (int64_t g = 0; g < batch; g += conv.items) {
    for_each_segment(&conv, &(FilterGradientArgs){x, dy, dw}, g, filter_gradient_segment);
    /* while the items' dy is in cache */
    if (dbias != NULL) add_column_sums(dy + g * out_length * cout, conv.items * out_length, cout, dbias);
  }
}
