/**
 * The native kernels (native/src, built by `node native/build.js`): conv and matrix products on a
 * real BLAS; ReLU, its gradient and Adam's update as single passes; column sums, LayerNorm and softmax
 * cross-entropy with their gradients, a row at a time. They run in place on Float32Arrays (targets:
 * Int32Arrays), views on the wasm heap included, so nothing is copied. `native` is undefined when they are not
 * built or no BLAS loads, and `nativeUnavailable` says why.
 *
 * All arrays are row-major and dense. Every shape argument is checked against the arrays' lengths:
 * a mismatch throws a RangeError, an output that overlaps an input too. A view on the wasm heap must
 * be taken after the last allocation before the call (a growing heap detaches old views).
 */
import { createRequire } from "node:module"
import { availableParallelism } from "node:os"
import { fileURLToPath } from "node:url"

/** The kernels, on the BLAS that `blas` names. */
export interface NativeKernels {
  /** The BLAS in use and its threading, e.g. "OpenBLAS 0.3.21 … (pthreads, 2 threads; libopenblas.so.0)". */
  readonly blas: string
  /** Sets the BLAS's thread count (a no-op for a BLAS that cannot be told). */
  setThreads(threads: number): void
  /** The thread count last set: JUKEFLOW_CORES or every core at load, then `setThreads`'s. */
  readonly threads: number
  /**
   * c[i] = alpha·op(a[i])·op(b[i]) + beta·c[i] for i < batch, op(a[i]) m × k, op(b[i]) k × n.
   * strideA/B/C: elements between batch items (0 repeats one matrix for every item; not for c).
   */
  sgemmBatched(
    batch: number, transA: boolean, transB: boolean, m: number, n: number, k: number,
    alpha: number, a: Float32Array, strideA: number, b: Float32Array, strideB: number,
    beta: number, c: Float32Array, strideC: number,
  ): void
  /**
   * Cross-correlation of x (B, T, Cin), seen zero-padded by padLeft and padRight (nothing is copied),
   * with w (K, Cin, Cout) → y (B, T', Cout), overwritten: y[b, m] = bias + Σ_k x[b, stride·m + dilation·k − padLeft] · w[k],
   * rows of x outside [0, T) read as zeros, T' = ⌊(T + padLeft + padRight − dilation·(K − 1) − 1) / stride⌋ + 1.
   * bias (Cout) or null (zero).
   */
  correlate(
    x: Float32Array, w: Float32Array, y: Float32Array,
    B: number, T: number, Cin: number, K: number, Cout: number, stride: number, dilation: number,
    padLeft: number, padRight: number, bias: Float32Array | null,
  ): void
  /**
   * The transpose of `correlate`, x (B, T, Cin) → y (B, L, Cout), overwritten: y = bias (or 0), then
   * y[b, stride·m + dilation·k − offset] += x[b, m] · W[k] for m < T, rows outside [0, L) dropped. W[k] = w[k]
   * with w (K, Cin, Cout), or with `transposeW` W[k] = w[k]ᵀ with w (K, Cout, Cin) — a conv's own weights
   * for its input gradient (offset = its padLeft, L = its unpadded T); offset = padding crops a transposed conv.
   */
  transposedCorrelate(
    x: Float32Array, w: Float32Array, y: Float32Array,
    B: number, T: number, Cin: number, K: number, Cout: number, stride: number, dilation: number,
    L: number, transposeW: boolean, offset: number, bias: Float32Array | null,
  ): void
  /**
   * The gradients of `correlate` with respect to w and bias, x (B, T, Cin) seen zero-padded by padLeft,
   * dy (B, Tout, Cout) → dw (K, Cin, Cout), overwritten: dw[k] = Σ_b Σ_{m < Tout} x[b, stride·m + dilation·k − padLeft]ᵀ · dy[b, m]
   * (rows of x outside [0, T) add nothing; Tout is at least the length with no right padding), and, unless
   * null, dbias (Cout) = Σ_b Σ_m dy[b, m].
   */
  filterGradient(
    x: Float32Array, dy: Float32Array, dw: Float32Array,
    B: number, T: number, Cin: number, Tout: number, Cout: number, K: number, stride: number, dilation: number,
    padLeft: number, dbias: Float32Array | null,
  ): void
  /** y = max(0, x), overwritten, bit for bit as tfjs's: −0 gives 0, NaN stays NaN. */
  relu(x: Float32Array, y: Float32Array): void
  /** dx = dy·step(y), overwritten (step 1 above 0, 0 at or below, NaN at NaN): ReLU's gradient from its output y, as tfjs's. */
  reluGradient(dy: Float32Array, y: Float32Array, dx: Float32Array): void
  /**
   * One Adam update into new arrays wOut, mOut, vOut (overwritten; none may overlap another array):
   * m' = β1·m + (1 − β1)·g, v' = β2·v + (1 − β2)·g², w' = w − learningRate·(m' / correction1) / (√(v' / correction2) + ε),
   * each operation in float32 in models/adam.ts's order, the scalars cast to float32 as tfjs does.
   */
  adam(
    w: Float32Array, m: Float32Array, v: Float32Array, g: Float32Array, wOut: Float32Array, mOut: Float32Array, vOut: Float32Array,
    learningRate: number, beta1: number, beta2: number, epsilon: number, correction1: number, correction2: number,
  ): void
  /**
   * Attention of one query per row, no mask: q and out (rows × width), keys and values (rows × length × width) →
   * out = softmax((q·scale)·kᵀ) v, overwritten (0 for no keys); the weights' sum in double, e^x as `softmaxCrossEntropy`'s.
   * q may be out itself (the same array), else no array may overlap out.
   */
  attendOne(q: Float32Array, keys: Float32Array, values: Float32Array, out: Float32Array, rows: number, length: number, width: number, scale: number): void
  /** y = x·σ(1.702·x), the reference's quick GELU, overwritten (e^x as `softmaxCrossEntropy`'s); y may be x itself. */
  quickGelu(x: Float32Array, y: Float32Array): void
  /** sums (cols) = the column sums of a (rows × cols), overwritten: float partial sums over blocks of 256 rows, added in double. */
  columnSums(a: Float32Array, sums: Float32Array, rows: number, cols: number): void
  /**
   * LayerNorm over the last axis of x (rows × width) → y = (x − mean)·rstd·gain + bias with rstd = 1/√(variance + epsilon),
   * the biased variance; y, and mean and rstd (rows) for the gradient, overwritten.
   */
  layerNorm(
    x: Float32Array, gain: Float32Array, bias: Float32Array, y: Float32Array, mean: Float32Array, rstd: Float32Array,
    rows: number, width: number, epsilon: number,
  ): void
  /**
   * LayerNorm's gradients, from dy and x (rows × width) and the forward's mean and rstd: with x̂ = (x − mean)·rstd and
   * g = dy·gain, dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) per row, dgain = Σ_rows dy·x̂, dbias = Σ_rows dy; overwritten.
   */
  layerNormGradient(
    dy: Float32Array, x: Float32Array, gain: Float32Array, mean: Float32Array, rstd: Float32Array,
    dx: Float32Array, dgain: Float32Array, dbias: Float32Array, rows: number, width: number,
  ): void
  /**
   * Softmax cross-entropy of each row of logits (rows × vocab) with its target (rows, int32): lse = log Σ exp(logits) and
   * loss = lse − logits[target] (nats), or 0 for a target outside [0, vocab) (tf.oneHot's zero row); both overwritten.
   */
  softmaxCrossEntropy(logits: Float32Array, targets: Int32Array, loss: Float32Array, lse: Float32Array, rows: number, vocab: number): void
  /** Its gradient, overwritten: dlogits = dloss[r]·(softmax(logits) − onehot(target)) from the forward's lse; zero rows for targets outside [0, vocab). */
  softmaxCrossEntropyGradient(
    dloss: Float32Array, logits: Float32Array, targets: Int32Array, lse: Float32Array, dlogits: Float32Array, rows: number, vocab: number,
  ): void
}

/** The functions the addon exports (native/src/addon.c). */
interface Addon extends Omit<NativeKernels, "blas"> {
  blas(): string | undefined
  blasError(): string | undefined
}

/** Where `node-gyp` puts the addon. */
const ADDON_PATH = fileURLToPath(new URL("./build/Release/jukeflow_native.node", import.meta.url))

const load = (): { kernels: NativeKernels; reason?: undefined } | { kernels?: undefined; reason: string } => {
  if (process.env.JUKEFLOW_NATIVE === "0") return { reason: "the native kernels are switched off (JUKEFLOW_NATIVE=0)." }
  let addon: Addon
  try {
    addon = createRequire(import.meta.url)(ADDON_PATH) as Addon
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND"
    return {
      reason: missing
        ? "the native kernels are not built (`node native/build.js` builds them; it needs a C compiler)."
        : `the native kernels did not load: ${(error as Error).message.split("\n")[0]}`,
    }
  }
  const problem = addon.blasError()
  if (problem !== undefined) return { reason: `the native kernels found no BLAS: ${problem}.` }
  let threads = defaultThreads()
  addon.setThreads(threads)
  const kernels: NativeKernels = {
    get blas() {
      return addon.blas() ?? ""
    },
    setThreads: (n) => {
      addon.setThreads(n)
      threads = n
    },
    get threads() {
      return threads
    },
    sgemmBatched: addon.sgemmBatched,
    correlate: addon.correlate,
    transposedCorrelate: addon.transposedCorrelate,
    filterGradient: addon.filterGradient,
    relu: addon.relu,
    reluGradient: addon.reluGradient,
    adam: addon.adam,
    columnSums: addon.columnSums,
    attendOne: addon.attendOne,
    quickGelu: addon.quickGelu,
    layerNorm: addon.layerNorm,
    layerNormGradient: addon.layerNormGradient,
    softmaxCrossEntropy: addon.softmaxCrossEntropy,
    softmaxCrossEntropyGradient: addon.softmaxCrossEntropyGradient,
  }
  return { kernels }
}

/** JUKEFLOW_CORES (set for a unit's process by the runtime) if it is a positive integer, else every core. */
const defaultThreads = (): number => {
  const cores = Number(process.env.JUKEFLOW_CORES)
  return Number.isInteger(cores) && cores >= 1 ? cores : availableParallelism()
}

const loaded = load()

/** The native kernels, or undefined when they are not built or no BLAS loads (`nativeUnavailable` says why). */
export const native: NativeKernels | undefined = loaded.kernels

/** Why `native` is undefined, in one sentence; undefined when the kernels are there. */
export const nativeUnavailable: string | undefined = loaded.reason
