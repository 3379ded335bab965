/**
 * The few functions every convolution and matrix product of the models goes through, each with a
 * gradient of our own, so that one later change (a native BLAS, a GPU kernel) speeds up them all.
 *
 * Layouts: sequences are (B, T, C) ("NWC"); conv weights are (K, Cin, Cout) for both `conv1d` and
 * `convTranspose1d`. PyTorch stores Conv1d weights as (Cout, Cin, K) (ours = permute(2, 1, 0)) and
 * ConvTranspose1d weights as (Cin, Cout, K) (ours = permute(2, 0, 1)); padding means what it means
 * there.
 *
 * Why custom gradients: tfjs 4.22 has no gradient for dilated convolutions, its wasm backend has no
 * Conv2DBackpropFilter, and its wasm Conv2DBackpropInput and transposed matMuls are 3-8× slower than
 * a plain conv or matMul on the same data (measured). So every conv here is built from three
 * primitives at the bottom of this file — `correlate` (tfjs conv), `transposedCorrelate`
 * (polyphase: tfjs convs) and `filterGradient` (im2col + one plain matMul) — and every matMul
 * from `tf.matMul` without transpose flags.
 *
 * With the native kernels (native-kernels.ts) a conv is one op whose kernels take padding, cropping
 * and bias themselves: a profile of a training step showed the pad, slice and bias-add copies around
 * the convs costing as much as the convs. `relu` is here for the same reason: one native pass each way.
 *
 * While no gradient tape records (sampling, evaluation), the custom gradients are skipped (the same
 * kernels run bare), and `linear` with its LayerNorm, activation and residual is one native kernel.
 */
import * as tf from "@tensorflow/tfjs-core"
import { customGradient as recordedGradient, type GradientFunction } from "./custom-gradient.ts"
import {
  hasNativeKernels, nativeColumnSums, nativeCorrelate, nativeFilterGradient, nativeLayerNorm, nativeLayerNormGradient, nativeLinear, nativeRelu,
  nativeSoftmaxCrossEntropy, nativeSoftmaxCrossEntropyGradient, nativeTransposedCorrelate,
} from "./native-kernels.ts"

/**
 * `customGradient`, but only while a gradient tape records: otherwise (sampling, evaluation) the
 * forward's kernels run bare, the same kernels and so the same numbers, without tfjs's custom-op
 * bookkeeping (a few µs per op, most of a sampling step's ops).
 */
const customGradient = <T extends tf.Tensor>(
  inputs: tf.Tensor[],
  forward: (save: tf.GradSaveFunc) => { value: T; gradFunc: GradientFunction<T> },
): T => (tf.engine().isTapeOn() ? recordedGradient(inputs, forward) : forward(() => {}).value)

/** Options of `conv1d`. */
export interface ConvOptions {
  /** Step between output samples (1). */
  readonly stride?: number
  /** Spacing between kernel taps (1); a dilated conv needs stride 1. */
  readonly dilation?: number
  /** Zeros added to each end of the time axis, or [left, right] (0). */
  readonly padding?: number | readonly [number, number]
}

/** Options of `convTranspose1d`. */
export interface ConvTransposeOptions {
  /** Upsampling factor (1). */
  readonly stride?: number
  /** Samples cut from each end of the output, as in PyTorch (0). */
  readonly padding?: number
}

/**
 * 1-D convolution (cross-correlation, as in every framework): x (B, T, Cin), w (K, Cin, Cout),
 * b (Cout) → (B, T', Cout) with T' = ⌊(T + padding − dilation·(K − 1) − 1) / stride⌋ + 1.
 */
export const conv1d = (x: tf.Tensor3D, w: tf.Tensor3D, b?: tf.Tensor1D, options: ConvOptions = {}): tf.Tensor3D => {
  const { stride = 1, dilation = 1, padding = 0 } = options
  if (stride !== 1 && dilation !== 1) throw new RangeError(`conv1d: stride ${stride} with dilation ${dilation}: one of them must be 1`)
  const [left, right] = typeof padding === "number" ? [padding, padding] : padding
  if (hasNativeKernels()) return nativeConv1d(x, w, b, stride, dilation, left, right)
  const kernel = w.shape[0]
  const y = customGradient<tf.Tensor3D>([x, w], (save) => {
    const padded = padTime(x, left, right)
    save([padded, w])
    return {
      value: correlate(padded, w, stride, dilation),
      gradFunc: (dy, saved) => {
        const [padded, w] = saved as [tf.Tensor3D, tf.Tensor3D]
        const dPadded = transposedCorrelate(dy, w, stride, dilation, padded.shape[1], true)
        return [cropTime(dPadded, left, right), filterGradient(padded, dy, kernel, stride, dilation)]
      },
    }
  })
  return b === undefined ? y : addBias(y, b)
}

/**
 * conv1d on the native kernels, one op: forward, one correlate that sees x padded and starts from
 * the bias; backward, the input gradient cropped by its kernel and the filter and bias gradients
 * from one kernel.
 */
const nativeConv1d = (x: tf.Tensor3D, w: tf.Tensor3D, b: tf.Tensor1D | undefined, stride: number, dilation: number, padLeft: number, padRight: number): tf.Tensor3D => {
  const length = x.shape[1]
  const kernel = w.shape[0]
  return customGradient<tf.Tensor3D>(b === undefined ? [x, w] : [x, w, b], (save) => {
    save([x, w])
    return {
      value: nativeCorrelate(x, w, b, { stride, dilation, padLeft, padRight }),
      gradFunc: (dy, saved) => {
        const [x, w] = saved as [tf.Tensor3D, tf.Tensor3D]
        const dx = nativeTransposedCorrelate(dy, w, undefined, { stride, dilation, length, offset: padLeft, transposeW: true })
        const { dw, db } = nativeFilterGradient(x, dy, { kernel, stride, dilation, padLeft, bias: b !== undefined })
        return b === undefined ? [dx, dw] : [dx, dw, db!]
      },
    }
  })
}

/**
 * max(0, x). With the native kernels, one kernel whose gradient (registered with it) is one pass
 * dy·step(y) from its saved output, which the next conv saves anyway: tfjs's is Step, Cast and
 * Multiply over the whole tensor, measured a sixth of a VQ-VAE training step's kernel time.
 */
export const relu = <T extends tf.Tensor>(x: T): T => (hasNativeKernels() && x.dtype === "float32" ? nativeRelu(x) : tf.relu(x))

/**
 * y + b over the last axis. Its bias gradient sums dy over every other axis (`sumRows`): a plain sum
 * over the leading axes transposes dy first on wasm (measured 12 ms for (4, 4096, 64), a fifth of a
 * training step's kernel time).
 */
export const addBias = <T extends tf.Tensor>(y: T, b: tf.Tensor1D): T =>
  customGradient<T>([y, b], () => ({
    value: tf.add(y, b),
    gradFunc: (dy) => [dy, sumRows(dy, b.shape[0])],
  }))

/**
 * Σ of (..., channels) over every axis but the last: with the native kernels one pass down the
 * columns; without, one matMul with a row of ones (see `addBias`). The native matMul would send that
 * row product to wasm's own kernel while the BLAS runs two threads (`sendsToBackend`): 6.6 ms for
 * (4096, 256), against ~0.3 ms for the column sums.
 */
export const sumRows = (t: tf.Tensor, channels: number): tf.Tensor1D => {
  if (hasNativeKernels() && t.dtype === "float32") return nativeColumnSums(tf.reshape(t, [-1, channels]))
  const rows = tf.reshape(t, [-1, channels]) as tf.Tensor2D
  return tf.reshape(tf.matMul(tf.ones([1, rows.shape[0]]), rows), [channels])
}

/**
 * LayerNorm over the last axis on the native kernels, one op: x (…, W), gain and bias (W) →
 * (x − mean)·gain / √(variance + ε) + bias, the biased variance, as PyTorch's. Forward, one pass per
 * row that keeps each row's mean and 1/√(variance + ε); backward, one pass per row for the input
 * gradient that sums the gain and bias gradients down the columns on the way. tfjs's formulation
 * (transformer.ts, the path without the native kernels) costs ~10 ops each way, among them sums over
 * the leading axes that wasm transposes first. Measured on (2, 2048, 256) on wasm, forward and
 * backward under a weighted-sum loss: 7–8 ms, against 17–19 ms for tfjs's forward with a custom
 * gradient on native column sums, and 47–52 ms for tfjs's ops and autodiff (forward alone: 1.4,
 * 5.4 and 6.7 ms).
 */
export const nativeLayerNormOp = <T extends tf.Tensor>(x: T, gain: tf.Tensor1D, bias: tf.Tensor1D, epsilon: number): T =>
  customGradient<T>([x, gain, bias], (save) => {
    const [y, mean, rstd] = nativeLayerNorm(x, gain, bias, { epsilon })
    save([x, gain, mean, rstd])
    return {
      value: y,
      gradFunc: (dy, [x, gain, mean, rstd]) => nativeLayerNormGradient(dy, x as T, gain as tf.Tensor1D, mean!, rstd!),
    }
  })

/**
 * −log softmax(logits)[target] per row on the native kernels, one op: logits (…, V) and int32 targets
 * (…) → nats (…), 0 (and no gradient) where a target is outside [0, V), as a product with
 * tf.oneHot's zero row gives. Forward, one pass per row (max, log Σ exp, the target's logit);
 * backward, dloss·(softmax − onehot) in one pass, from each row's kept log Σ exp. Only the logits
 * get a gradient. Needs the native kernels (`hasNativeKernels()`), as `nativeLayerNormOp` does.
 */
export const nativeSoftmaxCrossEntropyOp = (logits: tf.Tensor, targets: tf.Tensor): tf.Tensor =>
  customGradient<tf.Tensor>([logits], (save) => {
    const [loss, lse] = nativeSoftmaxCrossEntropy(logits, targets)
    save([logits, targets, lse])
    return {
      value: loss,
      gradFunc: (dloss, [logits, targets, lse]) => [nativeSoftmaxCrossEntropyGradient(dloss, logits!, targets!, lse!)],
    }
  })

/**
 * Transposed 1-D convolution (the gradient of `conv1d` with respect to its input, used to
 * upsample): x (B, T, Cin), w (K, Cin, Cout), b (Cout) → (B, (T − 1)·stride + K − 2·padding, Cout).
 */
export const convTranspose1d = (x: tf.Tensor3D, w: tf.Tensor3D, b?: tf.Tensor1D, options: ConvTransposeOptions = {}): tf.Tensor3D => {
  const { stride = 1, padding = 0 } = options
  if (hasNativeKernels()) return nativeConvTranspose1d(x, w, b, stride, padding)
  const [batch, length] = x.shape
  const kernel = w.shape[0]
  const fullLength = (length - 1) * stride + kernel
  const y = customGradient<tf.Tensor3D>([x, w], (save) => {
    save([x, w])
    const full = transposedCorrelate(x, w, stride, 1, fullLength)
    return {
      value: tf.slice(full, [0, padding, 0], [batch, fullLength - 2 * padding, w.shape[2]]),
      gradFunc: (dy, saved) => {
        const [x, w] = saved as [tf.Tensor3D, tf.Tensor3D]
        const dFull = padTime(dy, padding, padding)
        return [correlate(dFull, tf.transpose(w, [0, 2, 1]), stride, 1), tf.transpose(filterGradient(dFull, x, kernel, stride, 1), [0, 2, 1])]
      },
    }
  })
  return b === undefined ? y : addBias(y, b)
}

/**
 * convTranspose1d on the native kernels, one op: forward, one transposedCorrelate that crops the
 * padding and starts from the bias; backward, dy seen padded back to full length by the kernels.
 */
const nativeConvTranspose1d = (x: tf.Tensor3D, w: tf.Tensor3D, b: tf.Tensor1D | undefined, stride: number, padding: number): tf.Tensor3D => {
  const kernel = w.shape[0]
  const length = (x.shape[1] - 1) * stride + kernel - 2 * padding
  return customGradient<tf.Tensor3D>(b === undefined ? [x, w] : [x, w, b], (save) => {
    save([x, w])
    return {
      value: nativeTransposedCorrelate(x, w, b, { stride, dilation: 1, length, offset: padding, transposeW: false }),
      gradFunc: (dy, saved) => {
        const [x, w] = saved as [tf.Tensor3D, tf.Tensor3D]
        const dx = nativeCorrelate(dy, tf.transpose(w, [0, 2, 1]), undefined, { stride, dilation: 1, padLeft: padding, padRight: padding })
        // x and dy swap roles: the filter gradient of the conv that maps dy to dx, (K, Cout, Cin)
        const { dw } = nativeFilterGradient(dy, x, { kernel, stride, dilation: 1, padLeft: padding, bias: false })
        const grads = [dx, tf.transpose(dw, [0, 2, 1])]
        return b === undefined ? grads : [...grads, sumRows(dy, b.shape[0])]
      },
    }
  })
}

/**
 * Matrix product over the last two axes (leading axes are batch axes of equal sizes), with
 * optional transposes of either operand. Transposes are materialised: plain GEMM on a transposed
 * copy beats wasm's transposed GEMM paths by about 3×.
 */
export const matMul = <R extends tf.Rank>(a: tf.Tensor<R>, b: tf.Tensor<R>, transposeA = false, transposeB = false): tf.Tensor<R> =>
  customGradient<tf.Tensor<R>>([a, b], (save) => {
    save([a, b])
    return {
      value: (hasNativeKernels()
        ? tf.matMul(a, b, transposeA, transposeB)
        : tf.matMul(transposeA ? swapLastAxes(a) : a, transposeB ? swapLastAxes(b) : b)) as tf.Tensor<R>,
      gradFunc: (dy, [a, b]) => {
        if (hasNativeKernels()) {
          // d(op(A)·op(B)): the BLAS takes each transpose as a flag
          return [
            transposeA ? tf.matMul(b!, dy, transposeB, true) : tf.matMul(dy, b!, false, !transposeB),
            transposeB ? tf.matMul(dy, a!, true, transposeA) : tf.matMul(a!, dy, !transposeA, false),
          ]
        }
        const left = transposeA ? swapLastAxes(a!) : a!
        const right = transposeB ? swapLastAxes(b!) : b!
        const dLeft = tf.matMul(dy, swapLastAxes(right))
        const dRight = tf.matMul(swapLastAxes(left), dy)
        return [transposeA ? swapLastAxes(dLeft) : dLeft, transposeB ? swapLastAxes(dRight) : dRight]
      },
    }
  })

/**
 * a (M, K) · b (K, N) where b is a constant (a DFT basis, a fixed projection): only a gets a
 * gradient, which skips the product that b's would cost.
 */
export const matMulByConstant = (a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D =>
  customGradient<tf.Tensor2D>([a], (save) => {
    save([b])
    return { value: tf.matMul(a, b), gradFunc: (dy, [b]) => [hasNativeKernels() ? tf.matMul(dy, b!, false, true) : tf.matMul(dy, tf.transpose(b!))] }
  })

/** What `linear` does around its product: a LayerNorm of its input before, an activation and a residual after. */
export interface LinearOptions {
  /** LayerNorm x over its last axis first (`layerNorm`). */
  readonly norm?: { readonly gain: tf.Tensor1D; readonly bias: tf.Tensor1D; readonly epsilon: number }
  /** x·σ(1.702x), the reference's `quick_gelu`. */
  readonly activation?: "quick-gelu"
  /** Added to the (activated) output, (..., Cout). */
  readonly residual?: tf.Tensor
}

/**
 * A dense layer on the last axis: x (..., Cin), w (Cin, Cout), b (Cout) → (..., Cout), as
 * residual + activation(norm(x)·w + b) with `options`. While no tape records, with the native
 * kernels, one kernel whatever the options (a sampling step is mostly these): the same numbers as
 * the ops one by one, but for the activation's e^x (within 2 ulp).
 */
export const linear = (x: tf.Tensor, w: tf.Tensor2D, b?: tf.Tensor1D, options: LinearOptions = {}): tf.Tensor => {
  if (hasNativeKernels() && !tf.engine().isTapeOn()) return nativeLinear(x, w, b, options)
  const { norm, activation, residual } = options
  const rows = tf.reshape(norm === undefined ? x : layerNorm(x, norm.gain, norm.bias, norm.epsilon), [-1, w.shape[0]]) as tf.Tensor2D
  const y = tf.reshape(matMul(rows, w), [...x.shape.slice(0, -1), w.shape[1]])
  const biased = b === undefined ? y : addBias(y, b)
  const activated = activation === "quick-gelu" ? tf.mul(biased, tf.sigmoid(tf.mul(biased, 1.702))) : biased
  return residual === undefined ? activated : tf.add(residual, activated)
}

/**
 * LayerNorm over the last axis: x (…, W), gain and bias (W) → (x − mean)·gain / √(variance + ε) + bias,
 * the biased variance, as PyTorch's. With the native kernels one op each way (`nativeLayerNormOp`),
 * else tfjs's ops.
 */
export const layerNorm = <T extends tf.Tensor>(x: T, gain: tf.Tensor1D, bias: tf.Tensor1D, epsilon: number): T => {
  if (hasNativeKernels()) return nativeLayerNormOp(x, gain, bias, epsilon)
  const { mean, variance } = tf.moments(x, -1, true)
  return addBias(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, epsilon))), gain) as T, bias)
}

// ---------------------------------------------------------------------------------------------

const swapLastAxes = <T extends tf.Tensor>(t: T): T => {
  const axes = t.shape.map((_, i) => i)
  axes.push(...axes.splice(-2).reverse())
  return tf.transpose(t, axes)
}

/** Zeros before and after the time axis of (B, T, C). */
const padTime = <T extends tf.Tensor3D>(x: T, left: number, right: number): T =>
  left === 0 && right === 0 ? x : tf.pad(x, [[0, 0], [left, right], [0, 0]])

/** Cuts `left` and `right` samples off the time axis of (B, T, C). */
const cropTime = <T extends tf.Tensor3D>(x: T, left: number, right: number): T =>
  left === 0 && right === 0 ? x : tf.slice(x, [0, left, 0], [x.shape[0], x.shape[1] - left - right, x.shape[2]])

/** Zero-pads or cuts the time axis of (B, T, C) to `length`. */
const fitTime = (x: tf.Tensor3D, length: number): tf.Tensor3D => {
  const [batch, have, channels] = x.shape
  if (have === length) return x
  return have > length ? tf.slice(x, [0, 0, 0], [batch, length, channels]) : padTime(x, 0, length - have)
}

/** Valid cross-correlation: y[m] = Σ_k x[stride·m + dilation·k] · w[k]. */
const correlate = (x: tf.Tensor3D, w: tf.Tensor3D, stride: number, dilation: number): tf.Tensor3D =>
  tf.conv1d(x, w, stride, "valid", "NWC", dilation)

/**
 * The transpose of `correlate`, x (B, T, Cin), w (K, Cin, Cout): y[stride·m + dilation·k] += x[m] · w[k],
 * cut or zero-padded to `length`; with `transposeW`, w is (K, Cout, Cin) and each tap used
 * transposed. Written as one stride-1 conv: with stride s, output phase r
 * (positions s·m + r) only sees taps r, r + s, r + 2s, ..., so the s phase kernels, flipped, become
 * s·Cout output channels of one conv whose output reshapes to the interleaved signal.
 */
const transposedCorrelate = (x: tf.Tensor3D, w: tf.Tensor3D, stride: number, dilation: number, length: number, transposeW = false): tf.Tensor3D => {
  if (transposeW) return transposedCorrelate(x, tf.transpose(w, [0, 2, 1]), stride, dilation, length)
  const [kernel, inChannels, outChannels] = w.shape
  const phaseTaps = Math.ceil(kernel / stride)
  const taps = phaseTaps * stride > kernel ? tf.pad(w, [[0, phaseTaps * stride - kernel], [0, 0], [0, 0]]) : w
  const phases = tf.reverse(
    tf.reshape(tf.transpose(tf.reshape(taps, [phaseTaps, stride, inChannels, outChannels]), [0, 2, 1, 3]), [phaseTaps, inChannels, stride * outChannels]),
    0,
  ) as tf.Tensor3D
  const reach = (phaseTaps - 1) * dilation
  const interleaved = correlate(padTime(x, reach, reach), phases, 1, dilation) // (B, T + reach, s·Cout)
  return fitTime(tf.reshape(interleaved, [x.shape[0], -1, outChannels]), length)
}

/**
 * Gradient of `correlate` with respect to w: dw[k] = Σ_{b,m} x[b, stride·m + dilation·k]ᵀ dy[b, m].
 * im2col laid out (K·Cin, B·T') from a channels-first copy of x, so each tap is one contiguous
 * slice and the product is one plain matMul with dy (B·T', Cout).
 */
const filterGradient = (x: tf.Tensor3D, dy: tf.Tensor3D, kernel: number, stride: number, dilation: number): tf.Tensor3D => {
  const [batch, , inChannels] = x.shape
  const [, outLength, outChannels] = dy.shape
  const channelsFirst = tf.transpose(x, [2, 0, 1]) // (Cin, B, T)
  const taps: tf.Tensor3D[] = []
  for (let k = 0; k < kernel; k++) {
    const start = k * dilation
    taps.push(tf.stridedSlice(channelsFirst, [0, 0, start], [inChannels, batch, start + (outLength - 1) * stride + 1], [1, 1, stride]) as tf.Tensor3D)
  }
  const columns = tf.reshape(kernel === 1 ? taps[0]! : tf.concat(taps, 0), [kernel * inChannels, batch * outLength]) as tf.Tensor2D
  const gradient = tf.matMul(columns, tf.reshape(dy, [batch * outLength, outChannels]) as tf.Tensor2D)
  return tf.reshape(gradient, [kernel, inChannels, outChannels])
}
