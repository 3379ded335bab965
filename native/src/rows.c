/*
 * Row kernels of the Transformer: LayerNorm and its gradient, and softmax cross-entropy and its
 * gradient, each one or two passes over a row while it is in cache, where tfjs runs a dozen ops over
 * whole tensors (moments, sub, rsqrt, mul, add; max, sub, exp, sum, log, one-hot products) and, on
 * the way back, sums over the leading axes that `wasm` transposes first. For sampling, one query's
 * attention per row and the quick GELU, with the cross-entropy's exponential.
 *
 * Sums over a row run in LANES float partial sums (so that they vectorise without reassociation from
 * the compiler) added in double; sums down the columns in float over blocks of BLOCK rows, added in
 * double, as `add_column_sums`.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

/*
 * Each kernel is also built for AVX2, picked at load time where the CPU has it: twice the lanes of the
 * x86-64 baseline's SSE2 (measured 1.4–1.7× on the cross-entropy). The helpers are always inlined, into
 * each build. (With FMA too the exponential was another 15% faster, but a clone for it is picked by CPU
 * model, not by feature.)
 */
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define VECTOR_CLONES
#endif

enum { LANES = 16, BLOCK = 256 };

/* Σ a[i], i < n. */
static inline __attribute__((always_inline)) double lane_sum(const float *restrict a, int64_t n) {
  float part[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int j = 0; j < LANES; j++) part[j] += a[i + j];
  double total = 0;
  for (int j = 0; j < LANES; j++) total += part[j];
  for (; i < n; i++) total += a[i];
  return total;
}

/* Σ (a[i] − m)², i < n. */
static inline __attribute__((always_inline)) double lane_squares(const float *restrict a, int64_t n, float m) {
  float part[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int j = 0; j < LANES; j++) {
      const float d = a[i + j] - m;
      part[j] += d * d;
    }
  double total = 0;
  for (int j = 0; j < LANES; j++) total += part[j];
  for (; i < n; i++) {
    const float d = a[i] - m;
    total += d * d;
  }
  return total;
}

VECTOR_CLONES void layer_norm(const float *restrict x, const float *restrict gain, const float *restrict bias, float *restrict y,
                float *restrict mean, float *restrict rstd, int64_t rows, int64_t width, float epsilon) {
  for (int64_t r = 0; r < rows; r++) {
    const float *restrict xr = x + r * width;
    float *restrict yr = y + r * width;
    const float m = (float)(lane_sum(xr, width) / (double)width);
    const double variance = lane_squares(xr, width, m) / (double)width;
    const float s = (float)(1.0 / sqrt(variance + (double)epsilon));
    mean[r] = m;
    rstd[r] = s;
    for (int64_t j = 0; j < width; j++) yr[j] = (xr[j] - m) * s * gain[j] + bias[j];
  }
}

/*
 * With x̂ = (x − mean)·rstd and g = dy·gain: dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) per row;
 * dgain = Σ_rows dy·x̂, dbias = Σ_rows dy.
 */
VECTOR_CLONES bool layer_norm_gradient(const float *restrict dy, const float *restrict x, const float *restrict gain, const float *restrict mean,
                         const float *restrict rstd, float *restrict dx, float *restrict dgain, float *restrict dbias, int64_t rows,
                         int64_t width) {
  float *restrict part = malloc((size_t)(2 * width) * sizeof(float));
  double *restrict total = calloc((size_t)(2 * width), sizeof(double));
  if (part == NULL || total == NULL) {
    free(part);
    free(total);
    return false;
  }
  float *restrict part_gain = part, *restrict part_bias = part + width;
  for (int64_t r0 = 0; r0 < rows; r0 += BLOCK) {
    const int64_t r1 = rows - r0 < BLOCK ? rows : r0 + BLOCK;
    memset(part, 0, (size_t)(2 * width) * sizeof(float));
    for (int64_t r = r0; r < r1; r++) {
      const float *restrict xr = x + r * width, *restrict dyr = dy + r * width;
      float *restrict dxr = dx + r * width;
      const float m = mean[r], s = rstd[r];
      float sum_g[LANES] = {0}, sum_gx[LANES] = {0};
      int64_t i = 0;
      for (; i + LANES <= width; i += LANES)
        for (int j = 0; j < LANES; j++) {
          const float xhat = (xr[i + j] - m) * s, d = dyr[i + j], g = d * gain[i + j];
          sum_g[j] += g;
          sum_gx[j] += g * xhat;
          part_gain[i + j] += d * xhat;
          part_bias[i + j] += d;
        }
      double total_g = 0, total_gx = 0;
      for (int j = 0; j < LANES; j++) {
        total_g += sum_g[j];
        total_gx += sum_gx[j];
      }
      for (; i < width; i++) {
        const float xhat = (xr[i] - m) * s, d = dyr[i], g = d * gain[i];
        total_g += g;
        total_gx += g * xhat;
        part_gain[i] += d * xhat;
        part_bias[i] += d;
      }
      const float a = (float)(total_g / (double)width), b = (float)(total_gx / (double)width);
      for (int64_t j = 0; j < width; j++) dxr[j] = s * ((dyr[j] * gain[j] - a) - (xr[j] - m) * s * b);
    }
    for (int64_t j = 0; j < 2 * width; j++) total[j] += part[j];
  }
  for (int64_t j = 0; j < width; j++) {
    dgain[j] = (float)total[j];
    dbias[j] = (float)total[width + j];
  }
  free(part);
  free(total);
  return true;
}

/* Below this e^x is under FLT_MIN (taken as 0); from 88 on, 2^n would leave the float range. */
#define EXP_LOW -87.33654475f
#define EXP_HIGH 88.0f
/* 1.5·2^23: adding it to a float under 2^22 in magnitude leaves the integer nearest to it in the low bits. */
#define ROUNDER 12582912.0f
#define ROUNDER_BITS 0x4B400000

typedef union {
  int32_t i;
  float f;
} Bits;

/*
 * e^x within ~2 ulp for x ≤ 88 (softmax takes it of x ≤ 0), in float arithmetic and selects only, so that
 * loops of it vectorise: x = n·ln 2 + r, |r| ≤ ln 2 / 2, Cephes's polynomial for e^r, times 2^n built in
 * the exponent bits; n is rounded by adding ROUNDER (no conversions, no branch on the sign, which made
 * the compiler run both sides). Under EXP_LOW it gives 0, for NaN NaN.
 */
static inline __attribute__((always_inline)) float exp_lane(float x) {
  const bool low = x < EXP_LOW;
  float c = x > EXP_HIGH ? EXP_HIGH : x;
  c = low ? 0.0f : c;
  const Bits shifted = {.f = c * 1.44269504088896341f + ROUNDER};
  const float n = shifted.f - ROUNDER;
  float r = c - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const Bits scale = {.i = (shifted.i - ROUNDER_BITS + 127) << 23}; /* 2^n, n from −126 to 127 */
  const float e = p * scale.f;
  return low ? 0.0f : e;
}

VECTOR_CLONES void softmax_cross_entropy(const float *restrict logits, const int32_t *restrict targets, float *restrict loss,
                           float *restrict lse, int64_t rows, int64_t vocab) {
  for (int64_t r = 0; r < rows; r++) {
    const float *restrict l = logits + r * vocab;
    float top[LANES];
    for (int j = 0; j < LANES; j++) top[j] = -INFINITY;
    int64_t i = 0;
    for (; i + LANES <= vocab; i += LANES)
      for (int j = 0; j < LANES; j++) top[j] = l[i + j] > top[j] ? l[i + j] : top[j];
    float most = -INFINITY;
    for (int j = 0; j < LANES; j++) most = top[j] > most ? top[j] : most;
    for (; i < vocab; i++) most = l[i] > most ? l[i] : most;
    float part[LANES] = {0};
    i = 0;
    for (; i + LANES <= vocab; i += LANES)
      for (int j = 0; j < LANES; j++) part[j] += exp_lane(l[i + j] - most);
    double sum = 0;
    for (int j = 0; j < LANES; j++) sum += part[j];
    for (; i < vocab; i++) sum += exp_lane(l[i] - most);
    const double log_sum = (double)most + log(sum);
    const int32_t t = targets[r];
    lse[r] = (float)log_sum;
    loss[r] = t >= 0 && t < vocab ? (float)(log_sum - (double)l[t]) : 0.0f;
  }
}

VECTOR_CLONES void softmax_cross_entropy_gradient(const float *restrict dloss, const float *restrict logits, const int32_t *restrict targets,
                                    const float *restrict lse, float *restrict dlogits, int64_t rows, int64_t vocab) {
  for (int64_t r = 0; r < rows; r++) {
    const float *restrict l = logits + r * vocab;
    float *restrict out = dlogits + r * vocab;
    const int32_t t = targets[r];
    if (t < 0 || t >= vocab) {
      memset(out, 0, (size_t)vocab * sizeof(float));
      continue;
    }
    const float d = dloss[r], log_sum = lse[r];
    for (int64_t i = 0; i < vocab; i++) out[i] = d * exp_lane(l[i] - log_sum);
    out[t] -= d;
  }
}

VECTOR_CLONES bool attend_one(const float *q, const float *restrict keys, const float *restrict values, float *out,
                              int64_t rows, int64_t length, int64_t width, float scale) {
  float *weights = malloc((size_t)(length > 0 ? length : 1) * sizeof(float));
  float *scaled = malloc((size_t)(width > 0 ? width : 1) * sizeof(float));
  if (weights == NULL || scaled == NULL) {
    free(weights);
    free(scaled);
    return false;
  }
  for (int64_t r = 0; r < rows; r++) {
    const float *restrict k = keys + r * length * width, *restrict v = values + r * length * width;
    for (int64_t d = 0; d < width; d++) scaled[d] = q[r * width + d] * scale; /* before out's row is written: q may be out */
    float most = -INFINITY;
    for (int64_t t = 0; t < length; t++) {
      float dot = 0;
      for (int64_t d = 0; d < width; d++) dot += scaled[d] * k[t * width + d];
      weights[t] = dot;
      most = dot > most ? dot : most;
    }
    double sum = 0;
    for (int64_t t = 0; t < length; t++) sum += weights[t] = exp_lane(weights[t] - most);
    const float inverse = (float)(1.0 / sum);
    float *o = out + r * width;
    for (int64_t d = 0; d < width; d++) o[d] = 0;
    for (int64_t t = 0; t < length; t++) {
      const float w = weights[t] * inverse;
      for (int64_t d = 0; d < width; d++) o[d] += w * v[t * width + d];
    }
  }
  free(weights);
  free(scaled);
  return true;
}

VECTOR_CLONES void quick_gelu(const float *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = x[i] * (1.0f / (1.0f + exp_lane(-(x[i] * 1.702f))));
}
