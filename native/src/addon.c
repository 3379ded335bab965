/*
 * N-API glue: checks every argument against the arrays it describes (a wrong shape throws a
 * RangeError instead of touching memory outside the arrays), then runs the kernel in place on the
 * typed arrays' memory, whatever ArrayBuffer they view (the wasm heap included).
 */
#define _GNU_SOURCE
#include <math.h>
#include <node_api.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#define MAX_ARGS 14
#define BLAS_INT_MAX 2147483647LL

/* A Float32Array argument: its data (in place) and length. */
typedef struct {
  float *data;
  int64_t length;
} Floats;

/* One call's arguments, and the name of the function for messages. */
typedef struct {
  napi_env env;
  const char *fn;
  napi_value argv[MAX_ARGS];
  bool ok; /* false once an exception is pending */
} Call;

static void throw_error(Call *call, bool range, const char *format, ...) {
  if (!call->ok) return;
  char message[512];
  int used = snprintf(message, sizeof message, "%s: ", call->fn);
  va_list args;
  va_start(args, format);
  vsnprintf(message + used, sizeof message - (size_t)used, format, args);
  va_end(args);
  if (range) napi_throw_range_error(call->env, NULL, message);
  else napi_throw_type_error(call->env, NULL, message);
  call->ok = false;
}

/* Reads `count` arguments; false (with a TypeError pending) when fewer were passed. */
static bool start(Call *call, napi_env env, napi_callback_info info, const char *fn, size_t count) {
  size_t argc = MAX_ARGS;
  call->env = env;
  call->fn = fn;
  call->ok = true;
  napi_get_cb_info(env, info, &argc, call->argv, NULL, NULL);
  if (argc < count) throw_error(call, false, "expected %zu arguments, got %zu", count, argc);
  return call->ok;
}

/* An integer argument ≥ min. */
static int64_t integer(Call *call, size_t i, const char *name, int64_t min) {
  double value = 0;
  if (!call->ok) return 0;
  if (napi_get_value_double(call->env, call->argv[i], &value) != napi_ok) {
    throw_error(call, false, "%s must be a number", name);
    return 0;
  }
  if (value != floor(value) || value < (double)min || value > (double)BLAS_INT_MAX) {
    throw_error(call, true, "%s must be an integer from %lld to 2^31 - 1, got %g", name, (long long)min, value);
    return 0;
  }
  return (int64_t)value;
}

static double real(Call *call, size_t i, const char *name) {
  double value = 0;
  if (call->ok && napi_get_value_double(call->env, call->argv[i], &value) != napi_ok)
    throw_error(call, false, "%s must be a number", name);
  return value;
}

static float number(Call *call, size_t i, const char *name) { return (float)real(call, i, name); }

static bool boolean(Call *call, size_t i, const char *name) {
  bool value = false;
  if (call->ok && napi_get_value_bool(call->env, call->argv[i], &value) != napi_ok)
    throw_error(call, false, "%s must be a boolean", name);
  return value;
}

static Floats floats(Call *call, size_t i, const char *name) {
  Floats result = {NULL, 0};
  bool is_typed = false;
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  if (!call->ok) return result;
  if (napi_is_typedarray(call->env, call->argv[i], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(call->env, call->argv[i], &type, &length, &data, NULL, NULL) != napi_ok ||
      type != napi_float32_array) {
    throw_error(call, false, "%s must be a Float32Array", name);
    return result;
  }
  if (length > (size_t)BLAS_INT_MAX) throw_error(call, true, "%s has %zu elements, more than a 32-bit BLAS can index", name, length);
  result.data = data;
  result.length = (int64_t)length;
  return result;
}

/* An Int32Array argument: its data (in place) and length. */
typedef struct {
  int32_t *data;
  int64_t length;
} Ints;

static Ints ints(Call *call, size_t i, const char *name) {
  Ints result = {NULL, 0};
  bool is_typed = false;
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  if (!call->ok) return result;
  if (napi_is_typedarray(call->env, call->argv[i], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(call->env, call->argv[i], &type, &length, &data, NULL, NULL) != napi_ok ||
      type != napi_int32_array) {
    throw_error(call, false, "%s must be an Int32Array", name);
    return result;
  }
  result.data = data;
  result.length = (int64_t)length;
  return result;
}

/* A Float32Array argument, or null: {NULL, 0}. */
static Floats optional_floats(Call *call, size_t i, const char *name) {
  napi_valuetype type;
  if (call->ok && napi_typeof(call->env, call->argv[i], &type) == napi_ok && type == napi_null) return (Floats){NULL, 0};
  bool is_typed = false;
  if (call->ok && (napi_is_typedarray(call->env, call->argv[i], &is_typed) != napi_ok || !is_typed)) {
    throw_error(call, false, "%s must be a Float32Array or null", name);
    return (Floats){NULL, 0};
  }
  return floats(call, i, name);
}

/* a·b·c, or INT64_MAX when that overflows (no array is that long). */
static int64_t size3(int64_t a, int64_t b, int64_t c) {
  int64_t ab, abc;
  return __builtin_mul_overflow(a, b, &ab) || __builtin_mul_overflow(ab, c, &abc) ? INT64_MAX : abc;
}

/* Throws unless `array` has exactly `want` elements; `shape` names the dimensions that give it. */
static void exact(Call *call, Floats array, const char *name, int64_t want, const char *shape) {
  if (call->ok && array.length != want && want == INT64_MAX)
    throw_error(call, true, "%s has %lld elements, but its shape %s needs more than 2^63", name, (long long)array.length, shape);
  else if (call->ok && array.length != want)
    throw_error(call, true, "%s has %lld elements, but its shape %s needs %lld", name, (long long)array.length, shape, (long long)want);
}

/* Throws when the `used` elements of `out` share memory with the first `used_in` of `in`. */
static void apart(Call *call, Floats out, int64_t used, const char *out_name, Floats in, int64_t used_in, const char *in_name) {
  if (!call->ok || used == 0 || used_in == 0) return;
  const uintptr_t out_start = (uintptr_t)out.data, in_start = (uintptr_t)in.data;
  if (out_start < in_start + (uintptr_t)used_in * sizeof(float) && in_start < out_start + (uintptr_t)used * sizeof(float))
    throw_error(call, true, "%s shares memory with %s; an output must not overlap another array", out_name, in_name);
}

/* Throws when a leading dimension handed to the BLAS would not fit its 32-bit int. */
static void fits(Call *call, int64_t value, const char *what) {
  if (call->ok && value > BLAS_INT_MAX) throw_error(call, true, "%s = %lld exceeds the BLAS's 32-bit int", what, (long long)value);
}

static const Blas *blas_or_throw(Call *call) {
  const Blas *blas = blas_load();
  if (call->ok && blas->sgemm == NULL) {
    napi_throw_error(call->env, NULL, blas->error);
    call->ok = false;
  }
  return blas;
}

static napi_value undefined(napi_env env) {
  napi_value result;
  napi_get_undefined(env, &result);
  return result;
}

static napi_value string_or_undefined(napi_env env, const char *text) {
  napi_value result;
  if (text == NULL) return undefined(env);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &result);
  return result;
}

/* blas(): which BLAS runs the kernels, with its threading, or undefined when none loaded. */
static napi_value js_blas(napi_env env, napi_callback_info info) {
  (void)info;
  const Blas *blas = blas_load();
  if (blas->sgemm == NULL) return undefined(env);
  static const char *const PARALLEL[] = {"sequential", "pthreads", "OpenMP"};
  const int parallel = blas->get_parallel ? blas->get_parallel() : -1;
  char text[512];
  if (blas->config == NULL || blas->get_threads == NULL) /* not OpenBLAS: its name is all it says */
    snprintf(text, sizeof text, "%s (threads %s)", blas->path, blas->set_threads ? "settable" : "not settable");
  else
    snprintf(text, sizeof text, "%s (%s, %d thread%s; %s)", blas->config,
             parallel >= 0 && parallel <= 2 ? PARALLEL[parallel] : "threading unknown", blas->get_threads(),
             blas->get_threads() == 1 ? "" : "s", blas->path);
  return string_or_undefined(env, text);
}

/* blasError(): why no BLAS loaded, or undefined when one did. */
static napi_value js_blas_error(napi_env env, napi_callback_info info) {
  (void)info;
  const Blas *blas = blas_load();
  return string_or_undefined(env, blas->sgemm == NULL ? blas->error : NULL);
}

/* setThreads(n): the BLAS's thread count, where the library lets us set it. */
static napi_value js_set_threads(napi_env env, napi_callback_info info) {
  Call call;
  if (!start(&call, env, info, "setThreads", 1)) return NULL;
  const int64_t threads = integer(&call, 0, "n", 1);
  const Blas *blas = blas_or_throw(&call);
  if (call.ok && blas->set_threads) blas->set_threads((int)threads);
  return NULL;
}

/* sgemmBatched(batch, transA, transB, m, n, k, alpha, a, strideA, b, strideB, beta, c, strideC) */
static napi_value js_sgemm_batched(napi_env env, napi_callback_info info) {
  Call call;
  if (!start(&call, env, info, "sgemmBatched", 14)) return NULL;
  const int64_t batch = integer(&call, 0, "batch", 0);
  const bool trans_a = boolean(&call, 1, "transA"), trans_b = boolean(&call, 2, "transB");
  const int64_t m = integer(&call, 3, "m", 0), n = integer(&call, 4, "n", 0), k = integer(&call, 5, "k", 0);
  const float alpha = number(&call, 6, "alpha");
  const Floats a = floats(&call, 7, "a");
  const int64_t stride_a = integer(&call, 8, "strideA", 0);
  const Floats b = floats(&call, 9, "b");
  const int64_t stride_b = integer(&call, 10, "strideB", 0);
  const float beta = number(&call, 11, "beta");
  const Floats c = floats(&call, 12, "c");
  const int64_t stride_c = integer(&call, 13, "strideC", 0);
  if (!call.ok) return NULL;
  if (batch == 0) return NULL;
  const int64_t need_a = (batch - 1) * stride_a + m * k, need_b = (batch - 1) * stride_b + k * n,
                need_c = (batch - 1) * stride_c + m * n;
  if (a.length < need_a)
    throw_error(&call, true, "a has %lld elements, but %lld matrices of m·k = %lld at stride %lld need %lld",
                (long long)a.length, (long long)batch, (long long)(m * k), (long long)stride_a, (long long)need_a);
  if (b.length < need_b)
    throw_error(&call, true, "b has %lld elements, but %lld matrices of k·n = %lld at stride %lld need %lld",
                (long long)b.length, (long long)batch, (long long)(k * n), (long long)stride_b, (long long)need_b);
  if (batch > 1 && stride_c < m * n)
    throw_error(&call, true, "strideC %lld is less than m·n = %lld, so the outputs would overlap", (long long)stride_c, (long long)(m * n));
  if (c.length < need_c)
    throw_error(&call, true, "c has %lld elements, but %lld matrices of m·n = %lld at stride %lld need %lld",
                (long long)c.length, (long long)batch, (long long)(m * n), (long long)stride_c, (long long)need_c);
  apart(&call, c, need_c, "c", a, need_a, "a");
  apart(&call, c, need_c, "c", b, need_b, "b");
  const Blas *blas = blas_or_throw(&call);
  if (!call.ok) return NULL;
  for (int64_t i = 0; i < batch; i++)
    gemm(blas, trans_a, trans_b, m, n, k, alpha, a.data + i * stride_a, trans_a ? m : k, b.data + i * stride_b,
         trans_b ? k : n, beta, c.data + i * stride_c, n);
  return NULL;
}

/* The shape arguments the three conv kernels share, read and checked against each other. */
typedef struct {
  int64_t batch, length, cin, kernel, cout, stride, dilation;
} ConvShape;

/* Reads B, T, Cin, K, Cout, stride, dilation from the positions given. */
static ConvShape conv_shape(Call *call, const size_t at[7]) {
  ConvShape s;
  s.batch = integer(call, at[0], "B", 0);
  s.length = integer(call, at[1], "T", 0);
  s.cin = integer(call, at[2], "Cin", 1);
  s.kernel = integer(call, at[3], "K", 1);
  s.cout = integer(call, at[4], "Cout", 1);
  s.stride = integer(call, at[5], "stride", 1);
  s.dilation = integer(call, at[6], "dilation", 1);
  fits(call, s.stride * s.cin, "stride·Cin");
  fits(call, s.stride * s.cout, "stride·Cout");
  return s;
}

/* Throws unless the optional `bias` (NULL data: none) has Cout elements. */
static void check_bias(Call *call, Floats bias, const char *name, int64_t cout) {
  if (bias.data != NULL) exact(call, bias, name, cout, "(Cout)");
}

/* correlate(x, w, y, B, T, Cin, K, Cout, stride, dilation, padLeft, padRight, bias) */
static napi_value js_correlate(napi_env env, napi_callback_info info) {
  Call call;
  if (!start(&call, env, info, "correlate", 13)) return NULL;
  const Floats x = floats(&call, 0, "x"), w = floats(&call, 1, "w"), y = floats(&call, 2, "y");
  const ConvShape s = conv_shape(&call, (const size_t[]){3, 4, 5, 6, 7, 8, 9});
  const int64_t pad_left = integer(&call, 10, "padLeft", 0), pad_right = integer(&call, 11, "padRight", 0);
  const Floats bias = optional_floats(&call, 12, "bias");
  const int64_t out_length = call.ok ? correlated_length(s.length + pad_left + pad_right, s.kernel, s.stride, s.dilation) : 0;
  exact(&call, x, "x", size3(s.batch, s.length, s.cin), "(B, T, Cin)");
  exact(&call, w, "w", size3(s.kernel, s.cin, s.cout), "(K, Cin, Cout)");
  exact(&call, y, "y", size3(s.batch, out_length, s.cout),
        "(B, T', Cout) with T' = floor((T + padLeft + padRight - dilation·(K - 1) - 1) / stride) + 1");
  apart(&call, y, y.length, "y", x, x.length, "x");
  apart(&call, y, y.length, "y", w, w.length, "w");
  check_bias(&call, bias, "bias", s.cout);
  apart(&call, y, y.length, "y", bias, bias.length, "bias");
  const Blas *blas = blas_or_throw(&call);
  if (call.ok)
    correlate(blas, x.data, w.data, bias.data, y.data, s.batch, s.length, s.cin, s.kernel, s.cout, s.stride, s.dilation,
              pad_left, pad_right);
  return NULL;
}

/* transposedCorrelate(x, w, y, B, T, Cin, K, Cout, stride, dilation, L, transposeW, offset, bias) */
static napi_value js_transposed_correlate(napi_env env, napi_callback_info info) {
  Call call;
  if (!start(&call, env, info, "transposedCorrelate", 14)) return NULL;
  const Floats x = floats(&call, 0, "x"), w = floats(&call, 1, "w"), y = floats(&call, 2, "y");
  const ConvShape s = conv_shape(&call, (const size_t[]){3, 4, 5, 6, 7, 8, 9});
  const int64_t out_length = integer(&call, 10, "L", 0);
  const bool transpose_w = boolean(&call, 11, "transposeW");
  const int64_t offset = integer(&call, 12, "offset", 0);
  const Floats bias = optional_floats(&call, 13, "bias");
  exact(&call, x, "x", size3(s.batch, s.length, s.cin), "(B, T, Cin)");
  exact(&call, w, "w", size3(s.kernel, s.cin, s.cout), transpose_w ? "(K, Cout, Cin)" : "(K, Cin, Cout)");
  exact(&call, y, "y", size3(s.batch, out_length, s.cout), "(B, L, Cout)");
  apart(&call, y, y.length, "y", x, x.length, "x");
  apart(&call, y, y.length, "y", w, w.length, "w");
  check_bias(&call, bias, "bias", s.cout);
  apart(&call, y, y.length, "y", bias, bias.length, "bias");
  const Blas *blas = blas_or_throw(&call);
  if (call.ok)
    transposed_correlate(blas, x.data, w.data, bias.data, y.data, s.batch, s.length, s.cin, s.kernel, s.cout, s.stride,
                         s.dilation, out_length, offset, transpose_w);
  return NULL;
}

/* filterGradient(x, dy, dw, B, T, Cin, Tout, Cout, K, stride, dilation, padLeft, dbias) */
static napi_value js_filter_gradient(napi_env env, napi_callback_info info) {
  Call call;
  if (!start(&call, env, info, "filterGradient", 13)) return NULL;
  const Floats x = floats(&call, 0, "x"), dy = floats(&call, 1, "dy"), dw = floats(&call, 2, "dw");
  const ConvShape s = conv_shape(&call, (const size_t[]){3, 4, 5, 8, 7, 9, 10});
  const int64_t out_length = integer(&call, 6, "Tout", 0), pad_left = integer(&call, 11, "padLeft", 0);
  const Floats dbias = optional_floats(&call, 12, "dbias");
  /* Any right padding ≥ 0 is allowed, so Tout is at least what none gives. */
  const int64_t least = call.ok ? correlated_length(s.length + pad_left, s.kernel, s.stride, s.dilation) : 0;
  if (call.ok && out_length < least)
    throw_error(&call, true, "Tout is %lld, but T = %lld, padLeft %lld, K = %lld, stride %lld and dilation %lld give at least %lld",
                (long long)out_length, (long long)s.length, (long long)pad_left, (long long)s.kernel, (long long)s.stride,
                (long long)s.dilation, (long long)least);
  exact(&call, x, "x", size3(s.batch, s.length, s.cin), "(B, T, Cin)");
  exact(&call, dy, "dy", size3(s.batch, out_length, s.cout), "(B, Tout, Cout)");
  exact(&call, dw, "dw", size3(s.kernel, s.cin, s.cout), "(K, Cin, Cout)");
  apart(&call, dw, dw.length, "dw", x, x.length, "x");
  apart(&call, dw, dw.length, "dw", dy, dy.length, "dy");
  check_bias(&call, dbias, "dbias", s.cout);
  apart(&call, dbias, dbias.length, "dbias", dw, dw.length, "dw");
  apart(&call, dbias, dbias.length, "dbias", x, x.length, "x");
  apart(&call, dbias, dbias.length, "dbias", dy, dy.length, "dy");
  const Blas *blas = blas_or_throw(&call);
  if (call.ok)
    filter_gradient(blas, x.data, dy.data, dw.data, dbias.data, s.batch, s.length, s.cin, out_length, s.cout, s.kernel,
                    s.stride, s.dilation, pad_left);
  return NULL;
}

/* Throws unless `array` has as many elements as `like`, the array whose shape it shares. */
static void same_length(Call *call, Floats array, const char *name, Floats like, const char *like_name) {
  if (call->ok && array.length != like.length)
    throw_error(call, true, "%s has %lld elements, but %s has %lld", name, (long long)array.length, like_name, (long long)like.length);
}

/* relu(x, y) */
static napi_value js_relu(napi_env env, napi_callback_info info) {
  Call call;
  if (!start(&call, env, info, "relu", 2)) return NULL;
  const Floats x = floats(&call, 0, "x"), y = floats(&call, 1, "y");
  same_length(&call, y, "y", x, "x");
  apart(&call, y, y.length, "y", x, x.length, "x");
  if (call.ok) relu(x.data, y.data, x.length);
  return NULL;
}

/* reluGradient(dy, y, dx) */
static napi_value js_relu_gradient(napi_env env, napi_callback_info info) {
  Call call;
  if (!start(&call, env, info, "reluGradient", 3)) return NULL;
  const Floats dy = floats(&call, 0, "dy"), y = floats(&call, 1, "y"), dx = floats(&call, 2, "dx");
  same_length(&call, y, "y", dy, "dy");
  same_length(&call, dx, "dx", dy, "dy");
  apart(&call, dx, dx.length, "dx", dy, dy.length, "dy");
  apart(&call, dx, dx.length, "dx", y, y.length, "y");
  if (call.ok) relu_gradient(dy.data, y.data, dx.data, dy.length);
  return NULL;
}

/* adam(w, m, v, g, wOut, mOut, vOut, learningRate, beta1, beta2, epsilon, correction1, correction2) */
static napi_value js_adam(napi_env env, napi_callback_info info) {
  Call call;
  if (!start(&call, env, info, "adam", 13)) return NULL;
  static const char *const NAMES[7] = {"w", "m", "v", "g", "wOut", "mOut", "vOut"};
  Floats arrays[7];
  for (size_t i = 0; i < 7; i++) {
    arrays[i] = floats(&call, i, NAMES[i]);
    if (i > 0) same_length(&call, arrays[i], NAMES[i], arrays[0], "w");
  }
  for (size_t out = 4; out < 7; out++)
    for (size_t other = 0; other < 7; other++)
      if (other != out && (other < 4 || other > out))
        apart(&call, arrays[out], arrays[out].length, NAMES[out], arrays[other], arrays[other].length, NAMES[other]);
  const AdamScalars scalars = {real(&call, 7, "learningRate"), real(&call, 8, "beta1"), real(&call, 9, "beta2"),
                               real(&call, 10, "epsilon"), real(&call, 11, "correction1"), real(&call, 12, "correction2")};
  if (call.ok)
    adam(arrays[0].data, arrays[1].data, arrays[2].data, arrays[3].data, arrays[4].data, arrays[5].data, arrays[6].data,
         arrays[0].length, scalars);
  return NULL;
}

/* Throws unless the `used` elements of `out` and the int32 `in` are apart (an output may not overwrite the targets). */
static void apart_ints(Call *call, Floats out, const char *out_name, Ints in, const char *in_name) {
  apart(call, out, out.length, out_name, (Floats){(float *)in.data, in.length}, in.length, in_name);
}

/* columnSums(a, sums, rows, cols) */
static napi_value js_column_sums(napi_env env, napi_callback_info info) {
  Call call;
  if (!start(&call, env, info, "columnSums", 4)) return NULL;
  const Floats a = floats(&call, 0, "a"), sums = floats(&call, 1, "sums");
  const int64_t rows = integer(&call, 2, "rows", 0), cols = integer(&call, 3, "cols", 1);
  exact(&call, a, "a", size3(rows, cols, 1), "(rows, cols)");
  exact(&call, sums, "sums", cols, "(cols)");
  apart(&call, sums, sums.length, "sums", a, a.length, "a");
  if (!call.ok) return NULL;
  memset(sums.data, 0, (size_t)cols * sizeof(float));
  add_column_sums(a.data, rows, cols, sums.data);
  return NULL;
}

/* layerNorm(x, gain, bias, y, mean, rstd, rows, width, epsilon) */
static napi_value js_layer_norm(napi_env env, napi_callback_info info) {
  Call call;
  if (!start(&call, env, info, "layerNorm", 9)) return NULL;
  static const char *const NAMES[6] = {"x", "gain", "bias", "y", "mean", "rstd"};
  Floats arrays[6];
  for (size_t i = 0; i < 6; i++) arrays[i] = floats(&call, i, NAMES[i]);
  const int64_t rows = integer(&call, 6, "rows", 0), width = integer(&call, 7, "width", 1);
  const float epsilon = number(&call, 8, "epsilon");
  const int64_t lengths[6] = {size3(rows, width, 1), width, width, size3(rows, width, 1), rows, rows};
  static const char *const SHAPES[6] = {"(rows, width)", "(width)", "(width)", "(rows, width)", "(rows)", "(rows)"};
  for (size_t i = 0; i < 6; i++) exact(&call, arrays[i], NAMES[i], lengths[i], SHAPES[i]);
  for (size_t out = 3; out < 6; out++)
    for (size_t other = 0; other < 6; other++)
      if (other != out && (other < 3 || other > out))
        apart(&call, arrays[out], arrays[out].length, NAMES[out], arrays[other], arrays[other].length, NAMES[other]);
  if (call.ok)
    layer_norm(arrays[0].data, arrays[1].data, arrays[2].data, arrays[3].data, arrays[4].data, arrays[5].data, rows, width, epsilon);
  return NULL;
}

/* layerNormGradient(dy, x, gain, mean, rstd, dx, dgain, dbias, rows, width) */
static napi_value js_layer_norm_gradient(napi_env env, napi_callback_info info) {
  Call call;
  if (!start(&call, env, info, "layerNormGradient", 10)) return NULL;
  static const char *const NAMES[8] = {"dy", "x", "gain", "mean", "rstd", "dx", "dgain", "dbias"};
  Floats arrays[8];
  for (size_t i = 0; i < 8; i++) arrays[i] = floats(&call, i, NAMES[i]);
  const int64_t rows = integer(&call, 8, "rows", 0), width = integer(&call, 9, "width", 1);
  const int64_t matrix = size3(rows, width, 1);
  const int64_t lengths[8] = {matrix, matrix, width, rows, rows, matrix, width, width};
  static const char *const SHAPES[8] = {"(rows, width)", "(rows, width)", "(width)", "(rows)", "(rows)", "(rows, width)", "(width)", "(width)"};
  for (size_t i = 0; i < 8; i++) exact(&call, arrays[i], NAMES[i], lengths[i], SHAPES[i]);
  for (size_t out = 5; out < 8; out++)
    for (size_t other = 0; other < 8; other++)
      if (other != out && (other < 5 || other > out))
        apart(&call, arrays[out], arrays[out].length, NAMES[out], arrays[other], arrays[other].length, NAMES[other]);
  if (call.ok && !layer_norm_gradient(arrays[0].data, arrays[1].data, arrays[2].data, arrays[3].data, arrays[4].data,
                                      arrays[5].data, arrays[6].data, arrays[7].data, rows, width))
    throw_error(&call, false, "out of memory for %lld columns", (long long)width);
  return NULL;
}

/* attendOne(q, keys, values, out, rows, length, width, scale) */
static napi_value js_attend_one(napi_env env, napi_callback_info info) {
  Call call;
  if (!start(&call, env, info, "attendOne", 8)) return NULL;
  static const char *const NAMES[4] = {"q", "keys", "values", "out"};
  Floats arrays[4];
  for (size_t i = 0; i < 4; i++) arrays[i] = floats(&call, i, NAMES[i]);
  const int64_t rows = integer(&call, 4, "rows", 0), length = integer(&call, 5, "length", 0), width = integer(&call, 6, "width", 0);
  const float scale = number(&call, 7, "scale");
  const int64_t row = size3(rows, width, 1), all = size3(rows, length, width);
  const int64_t lengths[4] = {row, all, all, row};
  static const char *const SHAPES[4] = {"(rows, width)", "(rows, length, width)", "(rows, length, width)", "(rows, width)"};
  for (size_t i = 0; i < 4; i++) exact(&call, arrays[i], NAMES[i], lengths[i], SHAPES[i]);
  for (size_t i = 0; i < 3; i++)
    if (i > 0 || arrays[0].data != arrays[3].data) /* q may be out itself */
      apart(&call, arrays[3], arrays[3].length, "out", arrays[i], arrays[i].length, NAMES[i]);
  if (call.ok && !attend_one(arrays[0].data, arrays[1].data, arrays[2].data, arrays[3].data, rows, length, width, scale))
    throw_error(&call, false, "out of memory for %lld keys", (long long)length);
  return NULL;
}

/* quickGelu(x, y) */
static napi_value js_quick_gelu(napi_env env, napi_callback_info info) {
  Call call;
  if (!start(&call, env, info, "quickGelu", 2)) return NULL;
  const Floats x = floats(&call, 0, "x"), y = floats(&call, 1, "y");
  same_length(&call, y, "y", x, "x");
  if (x.data != y.data) apart(&call, y, y.length, "y", x, x.length, "x"); /* in place, or apart */
  if (call.ok) quick_gelu(x.data, y.data, x.length);
  return NULL;
}

/* softmaxCrossEntropy(logits, targets, loss, lse, rows, vocab) */
static napi_value js_softmax_cross_entropy(napi_env env, napi_callback_info info) {
  Call call;
  if (!start(&call, env, info, "softmaxCrossEntropy", 6)) return NULL;
  const Floats logits = floats(&call, 0, "logits");
  const Ints targets = ints(&call, 1, "targets");
  const Floats loss = floats(&call, 2, "loss"), lse = floats(&call, 3, "lse");
  const int64_t rows = integer(&call, 4, "rows", 0), vocab = integer(&call, 5, "vocab", 1);
  exact(&call, logits, "logits", size3(rows, vocab, 1), "(rows, vocab)");
  if (call.ok && targets.length != rows)
    throw_error(&call, true, "targets has %lld elements, but its shape (rows) needs %lld", (long long)targets.length, (long long)rows);
  exact(&call, loss, "loss", rows, "(rows)");
  exact(&call, lse, "lse", rows, "(rows)");
  apart(&call, loss, loss.length, "loss", logits, logits.length, "logits");
  apart(&call, lse, lse.length, "lse", logits, logits.length, "logits");
  apart(&call, lse, lse.length, "lse", loss, loss.length, "loss");
  apart_ints(&call, loss, "loss", targets, "targets");
  apart_ints(&call, lse, "lse", targets, "targets");
  if (call.ok) softmax_cross_entropy(logits.data, targets.data, loss.data, lse.data, rows, vocab);
  return NULL;
}

/* softmaxCrossEntropyGradient(dloss, logits, targets, lse, dlogits, rows, vocab) */
static napi_value js_softmax_cross_entropy_gradient(napi_env env, napi_callback_info info) {
  Call call;
  if (!start(&call, env, info, "softmaxCrossEntropyGradient", 7)) return NULL;
  const Floats dloss = floats(&call, 0, "dloss"), logits = floats(&call, 1, "logits");
  const Ints targets = ints(&call, 2, "targets");
  const Floats lse = floats(&call, 3, "lse"), dlogits = floats(&call, 4, "dlogits");
  const int64_t rows = integer(&call, 5, "rows", 0), vocab = integer(&call, 6, "vocab", 1);
  exact(&call, dloss, "dloss", rows, "(rows)");
  exact(&call, logits, "logits", size3(rows, vocab, 1), "(rows, vocab)");
  if (call.ok && targets.length != rows)
    throw_error(&call, true, "targets has %lld elements, but its shape (rows) needs %lld", (long long)targets.length, (long long)rows);
  exact(&call, lse, "lse", rows, "(rows)");
  exact(&call, dlogits, "dlogits", size3(rows, vocab, 1), "(rows, vocab)");
  apart(&call, dlogits, dlogits.length, "dlogits", dloss, dloss.length, "dloss");
  apart(&call, dlogits, dlogits.length, "dlogits", logits, logits.length, "logits");
  apart(&call, dlogits, dlogits.length, "dlogits", lse, lse.length, "lse");
  apart_ints(&call, dlogits, "dlogits", targets, "targets");
  if (call.ok) softmax_cross_entropy_gradient(dloss.data, logits.data, targets.data, lse.data, dlogits.data, rows, vocab);
  return NULL;
}

NAPI_MODULE_INIT() {
  const napi_property_descriptor functions[] = {
    {"blas", NULL, js_blas, NULL, NULL, NULL, napi_enumerable, NULL},
    {"blasError", NULL, js_blas_error, NULL, NULL, NULL, napi_enumerable, NULL},
    {"setThreads", NULL, js_set_threads, NULL, NULL, NULL, napi_enumerable, NULL},
    {"sgemmBatched", NULL, js_sgemm_batched, NULL, NULL, NULL, napi_enumerable, NULL},
    {"correlate", NULL, js_correlate, NULL, NULL, NULL, napi_enumerable, NULL},
    {"transposedCorrelate", NULL, js_transposed_correlate, NULL, NULL, NULL, napi_enumerable, NULL},
    {"filterGradient", NULL, js_filter_gradient, NULL, NULL, NULL, napi_enumerable, NULL},
    {"relu", NULL, js_relu, NULL, NULL, NULL, napi_enumerable, NULL},
    {"reluGradient", NULL, js_relu_gradient, NULL, NULL, NULL, napi_enumerable, NULL},
    {"adam", NULL, js_adam, NULL, NULL, NULL, napi_enumerable, NULL},
    {"columnSums", NULL, js_column_sums, NULL, NULL, NULL, napi_enumerable, NULL},
    {"layerNorm", NULL, js_layer_norm, NULL, NULL, NULL, napi_enumerable, NULL},
    {"layerNormGradient", NULL, js_layer_norm_gradient, NULL, NULL, NULL, napi_enumerable, NULL},
    {"attendOne", NULL, js_attend_one, NULL, NULL, NULL, napi_enumerable, NULL},
    {"quickGelu", NULL, js_quick_gelu, NULL, NULL, NULL, napi_enumerable, NULL},
    {"softmaxCrossEntropy", NULL, js_softmax_cross_entropy, NULL, NULL, NULL, napi_enumerable, NULL},
    {"softmaxCrossEntropyGradient", NULL, js_softmax_cross_entropy_gradient, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
  return exports;
}
