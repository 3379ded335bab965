/**
 * The row kernels of the native path: column sums (bias gradients), LayerNorm and softmax
 * cross-entropy, each with its gradient kernel, a row of the last axis at a time, in one pass over
 * the data where the backend keeps it. native-kernels.ts registers them; ops.ts runs them through
 * the functions at the bottom.
 */
import * as tf from "@tensorflow/tfjs-core"
import { native } from "../native/index.ts"
import { floats, int32s, memoryOf, rowsOf } from "./native-memory.ts"

export const COLUMN_SUMS = "JukeflowColumnSums"
export const LAYER_NORM = "JukeflowLayerNorm"
export const LAYER_NORM_GRADIENT = "JukeflowLayerNormGradient"
export const SOFTMAX_CROSS_ENTROPY = "JukeflowSoftmaxCrossEntropy"
export const SOFTMAX_CROSS_ENTROPY_GRADIENT = "JukeflowSoftmaxCrossEntropyGradient"

/** Attributes of our LayerNorm kernel. */
export interface LayerNormAttrs {
  /** Added to the variance under the square root. */
  readonly epsilon: number
}

/** Σ of x (…, C) over every axis but the last → (C). */
const columnSumsKernel = (backendName: string): tf.KernelFunc => ({ inputs, backend }) => {
  const memory = memoryOf(backendName, backend)
  const x = floats(inputs.x, "x")
  const [rows, width] = rowsOf(x, "x")
  const sums = memory.output([width])
  if (width > 0) native!.columnSums(memory.view(x), memory.view(sums), rows, width)
  return sums
}

/** LayerNorm over the last axis: x (…, W), gain and bias (W) → y (…, W), and each row's mean and rstd (…) for the gradient. */
const layerNormKernel = (backendName: string): tf.KernelFunc => ({ inputs, attrs, backend }) => {
  const memory = memoryOf(backendName, backend)
  const [x, gain, bias] = [floats(inputs.x, "x"), floats(inputs.gain, "gain"), floats(inputs.bias, "bias")]
  const [rows, width] = rowsOf(x, "x")
  const { epsilon } = attrs as unknown as LayerNormAttrs
  const [y, mean, rstd] = [memory.output(x.shape), memory.output(x.shape.slice(0, -1)), memory.output(x.shape.slice(0, -1))]
  native!.layerNorm(memory.view(x), memory.view(gain), memory.view(bias), memory.view(y), memory.view(mean), memory.view(rstd), rows, width, epsilon)
  return [y, mean, rstd]
}

/** LayerNorm's gradients with respect to x, gain and bias, from dy, x, gain and the forward's mean and rstd. */
const layerNormGradientKernel = (backendName: string): tf.KernelFunc => ({ inputs, backend }) => {
  const memory = memoryOf(backendName, backend)
  const [dy, x, gain] = [floats(inputs.dy, "dy"), floats(inputs.x, "x"), floats(inputs.gain, "gain")]
  const [mean, rstd] = [floats(inputs.mean, "mean"), floats(inputs.rstd, "rstd")]
  if (!tf.util.arraysEqual(dy.shape, x.shape)) throw new RangeError(`layerNormGradient: dy has shape [${dy.shape}], x [${x.shape}]`)
  const [rows, width] = rowsOf(x, "x")
  const [dx, dgain, dbias] = [memory.output(x.shape), memory.output([width]), memory.output([width])]
  native!.layerNormGradient(
    memory.view(dy), memory.view(x), memory.view(gain), memory.view(mean), memory.view(rstd), memory.view(dx), memory.view(dgain), memory.view(dbias), rows, width,
  )
  return [dx, dgain, dbias]
}

/** Softmax cross-entropy of logits (…, V) with int32 targets (…): the loss in nats (…) and each row's log Σ exp (…). */
const softmaxCrossEntropyKernel = (backendName: string): tf.KernelFunc => ({ inputs, backend }) => {
  const memory = memoryOf(backendName, backend)
  const [logits, targets] = [floats(inputs.logits, "logits"), int32s(inputs.targets, "targets")]
  const [rows, vocab] = rowsOf(logits, "logits")
  if (!tf.util.arraysEqual(targets.shape, logits.shape.slice(0, -1))) {
    throw new RangeError(`softmaxCrossEntropy: targets have shape [${targets.shape}], the logits [${logits.shape}]`)
  }
  const [loss, lse] = [memory.output(targets.shape), memory.output(targets.shape)]
  native!.softmaxCrossEntropy(memory.view(logits), memory.ints(targets), memory.view(loss), memory.view(lse), rows, vocab)
  return [loss, lse]
}

/** Its gradient with respect to the logits: dloss·(softmax − onehot), from the forward's lse. */
const softmaxCrossEntropyGradientKernel = (backendName: string): tf.KernelFunc => ({ inputs, backend }) => {
  const memory = memoryOf(backendName, backend)
  const [dloss, logits, lse] = [floats(inputs.dloss, "dloss"), floats(inputs.logits, "logits"), floats(inputs.lse, "lse")]
  const targets = int32s(inputs.targets, "targets")
  const [rows, vocab] = rowsOf(logits, "logits")
  const dlogits = memory.output(logits.shape)
  native!.softmaxCrossEntropyGradient(memory.view(dloss), memory.view(logits), memory.ints(targets), memory.view(lse), memory.view(dlogits), rows, vocab)
  return dlogits
}

/** The row kernels for `backendName`, by name. */
export const rowKernels = (backendName: string): Array<[string, tf.KernelFunc]> => [
  [COLUMN_SUMS, columnSumsKernel(backendName)],
  [LAYER_NORM, layerNormKernel(backendName)],
  [LAYER_NORM_GRADIENT, layerNormGradientKernel(backendName)],
  [SOFTMAX_CROSS_ENTROPY, softmaxCrossEntropyKernel(backendName)],
  [SOFTMAX_CROSS_ENTROPY_GRADIENT, softmaxCrossEntropyGradientKernel(backendName)],
]

// ---------------------------------------------------------------------------------------------
// Running them (ops.ts does, when `hasNativeKernels()`).

/** Σ of x (…, C) over every axis but the last, in one native pass → (C). */
export const nativeColumnSums = (x: tf.Tensor): tf.Tensor1D => tf.engine().runKernel(COLUMN_SUMS, { x }) as tf.Tensor1D

/** LayerNorm over the last axis of x (…, W) with gain and bias (W): y, and each row's mean and 1/√(variance + ε) (…). */
export const nativeLayerNorm = <T extends tf.Tensor>(x: T, gain: tf.Tensor1D, bias: tf.Tensor1D, attrs: LayerNormAttrs): [y: T, mean: tf.Tensor, rstd: tf.Tensor] =>
  tf.engine().runKernel(LAYER_NORM, { x, gain, bias }, attrs as unknown as tf.NamedAttrMap) as [T, tf.Tensor, tf.Tensor]

/** LayerNorm's gradients with respect to x, gain and bias, from dy, x, gain and the forward's mean and rstd. */
export const nativeLayerNormGradient = <T extends tf.Tensor>(dy: T, x: T, gain: tf.Tensor1D, mean: tf.Tensor, rstd: tf.Tensor): [dx: T, dgain: tf.Tensor1D, dbias: tf.Tensor1D] =>
  tf.engine().runKernel(LAYER_NORM_GRADIENT, { dy, x, gain, mean, rstd }) as [T, tf.Tensor1D, tf.Tensor1D]

/** Softmax cross-entropy of logits (…, V) with int32 targets (…): the loss in nats (…), 0 where a target is outside [0, V), and each row's log Σ exp (…). */
export const nativeSoftmaxCrossEntropy = (logits: tf.Tensor, targets: tf.Tensor): [loss: tf.Tensor, lse: tf.Tensor] =>
  tf.engine().runKernel(SOFTMAX_CROSS_ENTROPY, { logits, targets }) as [tf.Tensor, tf.Tensor]

/** Its gradient with respect to the logits, dloss (…) · (softmax − onehot), from the forward's lse. */
export const nativeSoftmaxCrossEntropyGradient = <T extends tf.Tensor>(dloss: tf.Tensor, logits: T, targets: tf.Tensor, lse: tf.Tensor): T =>
  tf.engine().runKernel(SOFTMAX_CROSS_ENTROPY_GRADIENT, { dloss, logits, targets, lse }) as T
