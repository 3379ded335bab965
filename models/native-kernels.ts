/**
 * The native path: the hot kernels of ops.ts — convolution, its two gradients, and matrix products —
 * run on a real BLAS through the N-API addon in native/, on the tensors where they live. On `wasm`
 * that is the backend's heap (one ArrayBuffer, viewed without copying); on `cpu`, its typed arrays.
 *
 * `registerNativeKernels(backend)` registers three conv kernels of ours (`JukeflowCorrelate`,
 * `JukeflowTransposedCorrelate`, `JukeflowFilterGradient`) that ops.ts calls when they exist, ReLU
 * and its gradient (`JukeflowRelu`, `JukeflowReluGradient`, for ops.ts's `relu`) and Adam's update
 * (`JukeflowAdam`, for adam.ts), each one pass; column sums (`JukeflowColumnSums`, bias gradients),
 * LayerNorm and softmax cross-entropy, each with its gradient kernel, a row at a time
 * (native-rows.ts); the kernels of a sampling step, without gradients (native-sampling.ts); and
 * replaces the backend's `BatchMatMul` (falling
 * back to the backend's own for shapes it does not take). The conv kernels take padding, cropping
 * and bias themselves (`nativeCorrelate`, `nativeTransposedCorrelate` and `nativeFilterGradient` run
 * them), so a conv with bias is one kernel forward and two backward, with no pad, slice or bias-add
 * copies around them. Without the addon (no compiler or no BLAS at install) nothing is registered
 * and ops.ts and adam.ts keep their pure-tfjs formulations; `JUKEFLOW_NATIVE=0` turns the native path off.
 */
import * as tf from "@tensorflow/tfjs-core"
import { native, nativeUnavailable } from "../native/index.ts"
import { floats, memoryOf } from "./native-memory.ts"
import { rowKernels } from "./native-rows.ts"
import { samplingKernels } from "./native-sampling.ts"

export { COLUMN_SUMS, LAYER_NORM, LAYER_NORM_GRADIENT, SOFTMAX_CROSS_ENTROPY, SOFTMAX_CROSS_ENTROPY_GRADIENT } from "./native-rows.ts"
export { nativeColumnSums, nativeLayerNorm, nativeLayerNormGradient, nativeSoftmaxCrossEntropy, nativeSoftmaxCrossEntropyGradient } from "./native-rows.ts"
export { BLOCK_STEP, LINEAR, nativeBlockStep, nativeLinear } from "./native-sampling.ts"
export type { AttendStepAttrs, BlockWeights, DenseWeights, NormWeights, Run } from "./native-sampling.ts"

export const CORRELATE = "JukeflowCorrelate"
export const TRANSPOSED_CORRELATE = "JukeflowTransposedCorrelate"
export const FILTER_GRADIENT = "JukeflowFilterGradient"
export const RELU = "JukeflowRelu"
export const RELU_GRADIENT = "JukeflowReluGradient"
export const ADAM = "JukeflowAdam"

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

/** Whether a sampler's step of x (B, n, …) runs on the sampling kernels (native-sampling.ts): one position, no tape recording. */
export const stepsNatively = (x: tf.Tensor): boolean => x.shape[1] === 1 && hasNativeKernels() && !tf.engine().isTapeOn()

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
 * `native-layernorm`, `native-crossentropy`, `native-sampling`), empty when there is no native path.
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
    ...rowKernels(backendName),
    ...samplingKernels(backendName),
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
  return ["native-conv", "native-matmul", "native-relu", "native-adam", "native-sums", "native-layernorm", "native-crossentropy", "native-sampling"]
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
