/**
 * The native path: the hot kernels of ops.ts — convolution, its two gradients, and matrix products —
 * run on a real BLAS through the N-API addon in native/, on the tensors where they live. On `wasm`
 * that is the backend's heap (one ArrayBuffer, viewed without copying); on `cpu`, its typed arrays.
 *
 * `registerNativeKernels(backend)` registers three conv kernels of ours (`JukeflowCorrelate`,
 * `JukeflowTransposedCorrelate`, `JukeflowFilterGradient`) that ops.ts calls when they exist, ReLU
 * and its gradient (`JukeflowRelu`, `JukeflowReluGradient`, for ops.ts's `relu`) and Adam's update
 * (`JukeflowAdam`, for adam.ts), each one pass; column sums (`JukeflowColumnSums`, bias gradients),
 * LayerNorm and softmax cross-entropy, each with its gradient kernel (`JukeflowLayerNorm`,
 * `JukeflowSoftmaxCrossEntropy` and their `…Gradient`s, for ops.ts's `layerNorm` and
 * `softmaxCrossEntropy`), a row at a time; and replaces the backend's `BatchMatMul` (falling
 * back to the backend's own for shapes it does not take). The conv kernels take padding, cropping
 * and bias themselves (`nativeCorrelate`, `nativeTransposedCorrelate` and `nativeFilterGradient` run
 * them), so a conv with bias is one kernel forward and two backward, with no pad, slice or bias-add
 * copies around them. Without the addon (no compiler or no BLAS at install) nothing is registered
 * and ops.ts and adam.ts keep their pure-tfjs formulations; `JUKEFLOW_NATIVE=0` turns the native path off.
 */
import * as tf from "@tensorflow/tfjs-core"
import { native, nativeUnavailable } from "../native/index.ts"

export const CORRELATE = "JukeflowCorrelate"
export const TRANSPOSED_CORRELATE = "JukeflowTransposedCorrelate"
export const FILTER_GRADIENT = "JukeflowFilterGradient"
export const RELU = "JukeflowRelu"
export const RELU_GRADIENT = "JukeflowReluGradient"
export const ADAM = "JukeflowAdam"
export const COLUMN_SUMS = "JukeflowColumnSums"
export const LAYER_NORM = "JukeflowLayerNorm"
export const LAYER_NORM_GRADIENT = "JukeflowLayerNormGradient"
export const SOFTMAX_CROSS_ENTROPY = "JukeflowSoftmaxCrossEntropy"
export const SOFTMAX_CROSS_ENTROPY_GRADIENT = "JukeflowSoftmaxCrossEntropyGradient"

/** Attributes of our conv kernels. */
export interface CorrelateAttrs {
  readonly stride: number
  readonly dilation: number
  /** Zeros seen before and after x's time axis (not copied). */
  readonly padLeft: number
  readonly padRight: number
}
export interface TransposedCorrelateAttrs {
  readonly stride: number
  readonly dilation: number
  /** Output length. */
  readonly length: number
  /** x's row m, tap k lands on output row stride·m + dilation·k − offset; rows outside [0, length) are dropped. */
  readonly offset: number
  /** w is (K, Cout, Cin) and used transposed. */
  readonly transposeW: boolean
}
export interface FilterGradientAttrs {
  readonly kernel: number
  readonly stride: number
  readonly dilation: number
  /** The forward conv's left padding (x is unpadded). */
  readonly padLeft: number
  /** Whether to return the bias gradient (the column sums of dy) too. */
  readonly bias: boolean
}

/** Attributes of our Adam kernel: the update's scalars, as models/adam.ts computes them. */
export interface AdamAttrs {
  readonly learningRate: number
  readonly beta1: number
  readonly beta2: number
  readonly epsilon: number
  /** 1 − β1^step and 1 − β2^step. */
  readonly correction1: number
  readonly correction2: number
}

/** Attributes of our LayerNorm kernel. */
export interface LayerNormAttrs {
  /** Added to the variance under the square root. */
  readonly epsilon: number
}

/** What the native path is, or why there is none. */
export type NativeStatus =
  | { readonly available: true; readonly blas: string }
  | { readonly available: false; readonly reason: string }

/** Whether the native kernels load here, with which BLAS (and its threads), or why not. */
export const nativeStatus = (): NativeStatus =>
  native ? { available: true, blas: native.blas } : { available: false, reason: nativeUnavailable ?? "unknown" }

/** Sets the BLAS's threads (no effect without the native path). */
export const setNativeThreads = (threads: number): void => native?.setThreads(threads)

/** Whether our conv kernels are registered for the backend in use (ops.ts asks on every call). */
export const hasNativeKernels = (): boolean => tf.getKernel(CORRELATE, tf.getBackend()) !== undefined

// ---------------------------------------------------------------------------------------------
// Reaching a backend's memory.

interface Memory {
  /** A Float32Array over the tensor's data, where the backend keeps it. */
  readonly view: (t: tf.TensorInfo) => Float32Array
  /** An Int32Array over an int32 tensor's data. */
  readonly ints: (t: tf.TensorInfo) => Int32Array
  /** A new float32 output of this shape. */
  readonly output: (shape: number[]) => tf.TensorInfo
}

interface WasmLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array
}
interface CpuLike {
  data: { get(dataId: unknown): { values: unknown } }
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo
}

const memoryOf = (backendName: string, backend: unknown): Memory => {
  if (backendName === "wasm") {
    const wasm = backend as WasmLike
    return {
      view: (t) => wasm.typedArrayFromHeap(t),
      ints: (t) => wasm.typedArrayFromHeap(t) as unknown as Int32Array,
      output: (shape) => wasm.makeOutput(shape, "float32"),
    }
  }
  const cpu = backend as CpuLike
  return {
    view: (t) => cpu.data.get(t.dataId).values as Float32Array,
    ints: (t) => cpu.data.get(t.dataId).values as Int32Array,
    output: (shape) => cpu.makeTensorInfo(shape, "float32", new Float32Array(tf.util.sizeFromShape(shape))),
  }
}

const floats = (t: tf.TensorInfo | undefined, name: string): tf.TensorInfo => {
  if (t === undefined || t.dtype !== "float32") throw new TypeError(`native kernel: input ${name} must be float32`)
  return t
}

const int32s = (t: tf.TensorInfo | undefined, name: string): tf.TensorInfo => {
  if (t === undefined || t.dtype !== "int32") throw new TypeError(`native kernel: input ${name} must be int32`)
  return t
}

/** The last axis of a tensor of at least one axis, and the number of rows before it. */
const rowsOf = (t: tf.TensorInfo, name: string): [rows: number, width: number] => {
  if (t.shape.length === 0) throw new RangeError(`native kernel: ${name} must have at least one axis`)
  const width = t.shape.at(-1)!
  return [width === 0 ? 0 : tf.util.sizeFromShape(t.shape) / width, width]
}

// ---------------------------------------------------------------------------------------------
// Kernels. Outputs are allocated first: on wasm an allocation can grow the heap, which detaches
// views taken before it.

const correlateKernel = (backendName: string): tf.KernelFunc => ({ inputs, attrs, backend }) => {
  const kernels = native!
  const memory = memoryOf(backendName, backend)
  const x = floats(inputs.x, "x")
  const w = floats(inputs.w, "w")
  const bias = inputs.bias === undefined ? undefined : floats(inputs.bias, "bias")
  const { stride, dilation, padLeft, padRight } = attrs as unknown as CorrelateAttrs
  const [batch, length, inChannels] = x.shape as [number, number, number]
  const [kernel, , outChannels] = w.shape as [number, number, number]
  const outLength = Math.floor((length + padLeft + padRight - dilation * (kernel - 1) - 1) / stride) + 1
  if (outLength < 1) {
    throw new RangeError(`correlate: ${length} samples padded by ${padLeft} + ${padRight} are fewer than the kernel's reach ${dilation * (kernel - 1) + 1}`)
  }
  const y = memory.output([batch, outLength, outChannels])
  kernels.correlate(
    memory.view(x), memory.view(w), memory.view(y), batch, length, inChannels, kernel, outChannels, stride, dilation,
    padLeft, padRight, bias === undefined ? null : memory.view(bias),
  )
  return y
}

const transposedCorrelateKernel = (backendName: string): tf.KernelFunc => ({ inputs, attrs, backend }) => {
  const kernels = native!
  const memory = memoryOf(backendName, backend)
  const x = floats(inputs.x, "x")
  const w = floats(inputs.w, "w")
  const bias = inputs.bias === undefined ? undefined : floats(inputs.bias, "bias")
  const { stride, dilation, length, offset, transposeW } = attrs as unknown as TransposedCorrelateAttrs
  const [batch, inLength, inChannels] = x.shape as [number, number, number]
  const kernel = w.shape[0]!
  const outChannels = transposeW ? w.shape[1]! : w.shape[2]!
  const y = memory.output([batch, length, outChannels])
  kernels.transposedCorrelate(
    memory.view(x), memory.view(w), memory.view(y), batch, inLength, inChannels, kernel, outChannels, stride, dilation,
    length, transposeW, offset, bias === undefined ? null : memory.view(bias),
  )
  return y
}

const filterGradientKernel = (backendName: string): tf.KernelFunc => ({ inputs, attrs, backend }) => {
  const kernels = native!
  const memory = memoryOf(backendName, backend)
  const x = floats(inputs.x, "x")
  const dy = floats(inputs.dy, "dy")
  const { kernel, stride, dilation, padLeft, bias } = attrs as unknown as FilterGradientAttrs
  const [batch, length, inChannels] = x.shape as [number, number, number]
  const [, outLength, outChannels] = dy.shape as [number, number, number]
  const dw = memory.output([kernel, inChannels, outChannels])
  const db = bias ? memory.output([outChannels]) : undefined
  kernels.filterGradient(
    memory.view(x), memory.view(dy), memory.view(dw), batch, length, inChannels, outLength, outChannels, kernel, stride, dilation,
    padLeft, db === undefined ? null : memory.view(db),
  )
  return db === undefined ? dw : [dw, db]
}

const reluKernel = (backendName: string): tf.KernelFunc => ({ inputs, backend }) => {
  const memory = memoryOf(backendName, backend)
  const x = floats(inputs.x, "x")
  const y = memory.output(x.shape)
  native!.relu(memory.view(x), memory.view(y))
  return y
}

const reluGradientKernel = (backendName: string): tf.KernelFunc => ({ inputs, backend }) => {
  const memory = memoryOf(backendName, backend)
  const dy = floats(inputs.dy, "dy")
  const y = floats(inputs.y, "y")
  const dx = memory.output(dy.shape)
  native!.reluGradient(memory.view(dy), memory.view(y), memory.view(dx))
  return dx
}

/** ReLU's gradient on the tape, from its saved output (the engine saves it only while recording). */
const reluGradient: tf.GradConfig = {
  kernelName: RELU,
  outputsToSave: [true],
  gradFunc: (dy, [y]) => ({ x: () => nativeReluGradient(dy as tf.Tensor, y!) }),
}

/** Adam's update as three new tensors (the weight, both moments): the inputs may be shared, so nothing is updated in place. */
const adamKernel = (backendName: string): tf.KernelFunc => ({ inputs, attrs, backend }) => {
  const memory = memoryOf(backendName, backend)
  const [w, m, v, g] = [floats(inputs.w, "w"), floats(inputs.m, "m"), floats(inputs.v, "v"), floats(inputs.g, "g")]
  for (const [name, t] of [["m", m], ["v", v], ["g", g]] as const) {
    if (!tf.util.arraysEqual(t.shape, w.shape)) throw new RangeError(`adam: ${name} has shape [${t.shape}], the weight [${w.shape}]`)
  }
  const { learningRate, beta1, beta2, epsilon, correction1, correction2 } = attrs as unknown as AdamAttrs
  const [wOut, mOut, vOut] = [memory.output(w.shape), memory.output(w.shape), memory.output(w.shape)]
  native!.adam(
    memory.view(w), memory.view(m), memory.view(v), memory.view(g), memory.view(wOut), memory.view(mOut), memory.view(vOut),
    learningRate, beta1, beta2, epsilon, correction1, correction2,
  )
  return [wOut, mOut, vOut]
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

/**
 * BatchMatMul on the BLAS: a (..., M, K) · b (..., K, N) with transposes as flags (no copies), when
 * both have the same batch or one has a batch of 1; other shapes go to the backend's own kernel, and
 * on wasm so do small row products while the BLAS runs several threads (`sendsToBackend`).
 */
const batchMatMulKernel = (backendName: string, fallback: tf.KernelFunc): tf.KernelFunc => (args) => {
  const { inputs, attrs, backend } = args
  const a = inputs.a!
  const b = inputs.b!
  const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs
  if (a.dtype !== "float32" || b.dtype !== "float32" || a.shape.length < 2 || b.shape.length < 2) return fallback(args)
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2))
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2))
  const batchShape = batchA >= batchB ? a.shape.slice(0, -2) : b.shape.slice(0, -2)
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) return fallback(args)
  if (batchA === batchB && a.shape.length !== b.shape.length) return fallback(args)
  const [aRows, aCols] = a.shape.slice(-2) as [number, number]
  const [bRows, bCols] = b.shape.slice(-2) as [number, number]
  const [m, k] = transposeA ? [aCols, aRows] : [aRows, aCols]
  const [k2, n] = transposeB ? [bCols, bRows] : [bRows, bCols]
  if (k !== k2) throw new RangeError(`matMul: inner sizes ${k} and ${k2} differ (shapes ${a.shape} and ${b.shape})`)
  const batch = Math.max(batchA, batchB)
  if (backendName === "wasm" && sendsToBackend(native!.threads, batch, m, n, k, transposeA, transposeB)) return fallback(args)
  const memory = memoryOf(backendName, backend)
  const c = memory.output([...batchShape, m, n])
  native!.sgemmBatched(
    batch, transposeA, transposeB, m, n, k, 1,
    memory.view(a), batchA === 1 ? 0 : m * k, memory.view(b), batchB === 1 ? 0 : k * n, 0, memory.view(c), m * n,
  )
  return c
}

/**
 * Whether wasm's own BatchMatMul takes this product rather than a BLAS running `threads` threads: one
 * row times one matrix of at most `ROW_PRODUCT_LIMIT` elements, untransposed (a sampler's token
 * through a linear layer; bias gradients, once rows of ones times dy, are column sums of ours now),
 * when the BLAS runs several threads.
 * Measured per call, with a training job on both cores: OpenBLAS splits these sgemvs over its
 * threads, and at 2 threads took longer than wasm (1×128 · 128×384: 6.0 µs against 5.8; 1×4096 ·
 * 4096×128: 70 µs against 59; 1×32768 · 32768×32: 323 µs against 163), while at one thread it is
 * faster than wasm (4.4, 49 and 165 µs). Larger matrices (1×4800 · 4800×4800) are 2× faster on
 * OpenBLAS, and wasm is 5–15× slower on batched or transposed products.
 */
export const sendsToBackend = (
  threads: number, batch: number, m: number, n: number, k: number, transposeA: boolean, transposeB: boolean,
): boolean => threads > 1 && batch === 1 && m === 1 && !transposeA && !transposeB && k * n <= ROW_PRODUCT_LIMIT

/** The largest matrix (k·n elements) that a row times it may go to wasm's own kernel. */
export const ROW_PRODUCT_LIMIT = 1 << 22

/**
 * Registers the native kernels for `backendName` (`wasm` or `cpu`); returns what to report as
 * kernels of ours (`native-conv`, `native-matmul`, `native-relu`, `native-adam`, `native-sums`,
 * `native-layernorm`, `native-crossentropy`), empty when there is no native path.
 */
export const registerNativeKernels = (backendName: string): string[] => {
  if (backendName !== "wasm" && backendName !== "cpu") return []
  if (native === undefined) return []
  const ours: Array<[string, tf.KernelFunc]> = [
    [CORRELATE, correlateKernel(backendName)],
    [TRANSPOSED_CORRELATE, transposedCorrelateKernel(backendName)],
    [FILTER_GRADIENT, filterGradientKernel(backendName)],
    [RELU, reluKernel(backendName)],
    [RELU_GRADIENT, reluGradientKernel(backendName)],
    [ADAM, adamKernel(backendName)],
    [COLUMN_SUMS, columnSumsKernel(backendName)],
    [LAYER_NORM, layerNormKernel(backendName)],
    [LAYER_NORM_GRADIENT, layerNormGradientKernel(backendName)],
    [SOFTMAX_CROSS_ENTROPY, softmaxCrossEntropyKernel(backendName)],
    [SOFTMAX_CROSS_ENTROPY_GRADIENT, softmaxCrossEntropyGradientKernel(backendName)],
  ]
  for (const [kernelName, kernelFunc] of ours) {
    if (tf.getKernel(kernelName, backendName) === undefined) tf.registerKernel({ kernelName, backendName, kernelFunc })
  }
  if (tf.getGradient(RELU) === undefined) tf.registerGradient(reluGradient)
  const existing = tf.getKernel("BatchMatMul", backendName)
  if (existing !== undefined && !replaced.has(existing.kernelFunc)) {
    const kernelFunc = batchMatMulKernel(backendName, existing.kernelFunc)
    replaced.add(kernelFunc)
    tf.unregisterKernel("BatchMatMul", backendName)
    tf.registerKernel({ kernelName: "BatchMatMul", backendName, kernelFunc })
  }
  return ["native-conv", "native-matmul", "native-relu", "native-adam", "native-sums", "native-layernorm", "native-crossentropy"]
}

const replaced = new WeakSet<tf.KernelFunc>()

// ---------------------------------------------------------------------------------------------
// Running the conv kernels (ops.ts does, when `hasNativeKernels()`).

/** y (B, T', Cout) = bias + x (B, T, Cin), zero-padded as attrs say, cross-correlated with w (K, Cin, Cout). */
export const nativeCorrelate = (x: tf.Tensor3D, w: tf.Tensor3D, bias: tf.Tensor1D | undefined, attrs: CorrelateAttrs): tf.Tensor3D =>
  tf.engine().runKernel(CORRELATE, bias === undefined ? { x, w } : { x, w, bias }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor3D

/** y (B, length, Cout) = bias + the transpose of `nativeCorrelate` applied to x (B, T, Cin), its rows shifted by −offset and cut to length. */
export const nativeTransposedCorrelate = (x: tf.Tensor3D, w: tf.Tensor3D, bias: tf.Tensor1D | undefined, attrs: TransposedCorrelateAttrs): tf.Tensor3D =>
  tf.engine().runKernel(TRANSPOSED_CORRELATE, bias === undefined ? { x, w } : { x, w, bias }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor3D

/** The gradients of `nativeCorrelate` (x unpadded, dy (B, T', Cout)) with respect to w (K, Cin, Cout) and, with attrs.bias, its bias. */
export const nativeFilterGradient = (x: tf.Tensor3D, dy: tf.Tensor3D, attrs: FilterGradientAttrs): { dw: tf.Tensor3D; db?: tf.Tensor1D } => {
  const result = tf.engine().runKernel(FILTER_GRADIENT, { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[]
  return Array.isArray(result) ? { dw: result[0] as tf.Tensor3D, db: result[1] as tf.Tensor1D } : { dw: result as tf.Tensor3D }
}

/** max(0, x) in one native pass, with its gradient. */
export const nativeRelu = <T extends tf.Tensor>(x: T): T => tf.engine().runKernel(RELU, { x }) as T

/** ReLU's gradient dy·step(y) in one native pass, from its output y. */
export const nativeReluGradient = <T extends tf.Tensor>(dy: T, y: T): T => tf.engine().runKernel(RELU_GRADIENT, { dy, y }) as T

/** One Adam update of w with gradient g and moments m, v, in one native pass: the new w, m and v. */
export const nativeAdam = <T extends tf.Tensor>(w: T, m: T, v: T, g: T, attrs: AdamAttrs): [T, T, T] =>
  tf.engine().runKernel(ADAM, { w, m, v, g }, attrs as unknown as tf.NamedAttrMap) as [T, T, T]

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
