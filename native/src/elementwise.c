/*
 * Elementwise kernels: ReLU and its gradient, and Adam's update, each one pass over its arrays
 * where tfjs runs several ops with a full-size temporary between each.
 */
#include <math.h>

#include "kernels.h"

/* Both as tfjs's, bit for bit: relu(x) = max(0, x) (−0 → 0, NaN → NaN), and its gradient dy·step(x) with
   step = 1 above 0, 0 at or below, NaN at NaN. Selects, not branches, so that they vectorise (the build's
   -fno-trapping-math lets the compiler make them masks); dy·1 is dy itself, not a product, which would
   be ~40× slower for denormal dy (measured). */
void relu(const float *restrict x, float *restrict y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f || isnan(x[i]) ? x[i] : 0.0f;
}

void relu_gradient(const float *restrict dy, const float *restrict y, float *restrict dx, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float dropped = dy[i] * (isnan(y[i]) ? y[i] : 0.0f); /* ±0, or NaN where dy or y is */
    dx[i] = y[i] > 0.0f ? dy[i] : dropped;
  }
}

void adam(const float *restrict w, const float *restrict m, const float *restrict v, const float *restrict g,
          float *restrict w_out, float *restrict m_out, float *restrict v_out, int64_t n, AdamScalars s) {
  /* tfjs casts each scalar to float32 where it meets a float32 tensor; 1 − β is taken in double first. */
  const float beta1 = (float)s.beta1, rest1 = (float)(1.0 - s.beta1), beta2 = (float)s.beta2, rest2 = (float)(1.0 - s.beta2);
  const float correction1 = (float)s.correction1, correction2 = (float)s.correction2, epsilon = (float)s.epsilon;
  const float learning_rate = (float)s.learning_rate;
  for (int64_t i = 0; i < n; i++) {
    /* adam.ts's ops in its order, each rounded to float (the build turns off contraction into FMAs) */
    const float mi = m[i] * beta1 + g[i] * rest1;
    const float vi = v[i] * beta2 + (g[i] * g[i]) * rest2;
    const float step = (mi / correction1) / (sqrtf(vi / correction2) + epsilon);
    m_out[i] = mi;
    v_out[i] = vi;
    w_out[i] = w[i] - step * learning_rate;
  }
}
