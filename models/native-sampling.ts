/**
 * The kernels of a sampling step on the native path. A step of a small prior is a few dozen tiny
 * products, and tfjs spends more per kernel (3–5 µs) than the BLAS does on them, so these do whole
 * layers in one kernel each, from the addon's calls (sgemm, layerNorm, attendOne, quickGelu) on the
 * backend's memory, their intermediates in reused arrays outside it:
 *
 *   JukeflowLinear     residual + activation(LN(x)·w + b), each part optional (ops.ts's `linear`)
 *   JukeflowBlockStep  one position through a whole residual block (transformer.ts's sampler): LN,
 *                      the attention's input projection, its heads attending to the key/value run
 *                      grown by the position (attention.ts's cache keeps it), the output projection
 *                      and its residual, LN, the MLP and its residual
 *
 * None has a gradient: the models call them only while no tape records. Their numbers are the ops'
 * one by one (the same addon calls in the same order), but for the quick GELU's e^x (within 2 ulp).
 * native-kernels.ts registers them.
 */
import * as tf from "@tensorflow/tfjs-core"
import { native } from "../native/index.ts"
import { floats, memoryOf, rowsOf, type Memory } from "./native-memory.ts"
import type { LinearOptions } from "./ops.ts"

export const LINEAR = "JukeflowLinear"
export const BLOCK_STEP = "JukeflowBlockStep"

/** Attributes of our dense-layer kernel. */
export interface LinearAttrs {
  /** LayerNorm's ε when the input is normalised first (inputs gain and beta). */
  readonly epsilon: number
  readonly activation: "" | "quick-gelu"
}

/** Attributes of a block step's attention. */
export interface AttendStepAttrs {
  readonly heads: number
  /** 3: x is a packed [q | k | v] whose k and v grow the run; 1: x is q alone, attending to the run. */
  readonly parts: 1 | 3
  /** With parts 3: whether q attends to the grown run (else to `seen`, or, without it, to nothing: 0). */
  readonly attendsRun: boolean
}

/** Attributes of the block step: the attention step's, and the LayerNorms' ε. */
export interface BlockStepAttrs extends AttendStepAttrs {
  readonly epsilon: number
}

/** A key/value run (B·H, T, dh) each. */
export type Run = readonly [keys: tf.Tensor3D, values: tf.Tensor3D]

/** A dense layer's weights: (Cin, Cout) and (Cout). */
export interface DenseWeights {
  readonly weight: tf.Tensor2D
  readonly bias: tf.Tensor1D
}

/** A LayerNorm's weights. */
export interface NormWeights {
  readonly gain: tf.Tensor1D
  readonly bias: tf.Tensor1D
  readonly epsilon: number
}

/** A residual block's weights, as the block step takes them; `input` is the attention's qkv (parts 3) or q (parts 1). */
export interface BlockWeights {
  readonly norm1: NormWeights
  readonly input: DenseWeights
  readonly output: DenseWeights
  readonly norm2: NormWeights
  readonly fc: DenseWeights
  readonly proj: DenseWeights
}

/** residual + activation(norm(x) (…, Cin) · w (Cin, Cout) + bias (Cout)) in one kernel, without a gradient. */
export const nativeLinear = (x: tf.Tensor, w: tf.Tensor2D, bias: tf.Tensor1D | undefined, options: LinearOptions): tf.Tensor => {
  const { norm, activation = "", residual } = options
  const inputs: tf.NamedTensorMap = { x, w }
  if (bias !== undefined) inputs.bias = bias
  if (residual !== undefined) inputs.residual = residual
  if (norm !== undefined) Object.assign(inputs, { gain: norm.gain, beta: norm.bias })
  const attrs: LinearAttrs = { epsilon: norm?.epsilon ?? 0, activation }
  return tf.engine().runKernel(LINEAR, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor
}

/**
 * One position x (B, 1, W) through a residual block in one kernel → its output (B, 1, W), and with
 * parts 3 (self-attention: `input` is the packed qkv, its k and v grow `run`) the grown run, q
 * attending to it or to `seen`; with parts 1 (encoder-decoder: `input` is q) q attends to `run`.
 */
export const nativeBlockStep = (x: tf.Tensor3D, weights: BlockWeights, attrs: AttendStepAttrs, run?: Run, seen?: Run): tf.Tensor3D | [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D] => {
  const { norm1, input, output, norm2, fc, proj } = weights
  if (norm1.epsilon !== norm2.epsilon) throw new RangeError("blockStep: the two LayerNorms' ε differ")
  const inputs = {
    x, gain1: norm1.gain, beta1: norm1.bias, inW: input.weight, inB: input.bias, outW: output.weight, outB: output.bias,
    gain2: norm2.gain, beta2: norm2.bias, fcW: fc.weight, fcB: fc.bias, projW: proj.weight, projB: proj.bias, ...runInputs(run, seen),
  }
  const blockAttrs: BlockStepAttrs = { ...attrs, epsilon: norm1.epsilon }
  return tf.engine().runKernel(BLOCK_STEP, inputs, blockAttrs as unknown as tf.NamedAttrMap) as tf.Tensor3D | [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D]
}

/** The sampling kernels for `backendName`, by name. */
export const samplingKernels = (backendName: string): Array<[string, tf.KernelFunc]> => [
  [LINEAR, linearKernel(backendName)],
  [BLOCK_STEP, blockStepKernel(backendName)],
]

// ---------------------------------------------------------------------------------------------

const runInputs = (run?: Run, seen?: Run) => ({
  ...(run === undefined ? {} : { keys: run[0], values: run[1] }),
  ...(seen === undefined ? {} : { seenKeys: seen[0], seenValues: seen[1] }),
})

const linearKernel = (backendName: string): tf.KernelFunc => ({ inputs, attrs, backend }) => {
  const memory = memoryOf(backendName, backend)
  const { epsilon, activation } = attrs as unknown as LinearAttrs
  const [x, w] = [floats(inputs.x, "x"), floats(inputs.w, "w")]
  const [bias, residual, gain, beta] = (["bias", "residual", "gain", "beta"] as const).map((name) => inputs[name] && floats(inputs[name], name))
  const [rows, k] = rowsOf(x, "x")
  const n = checkDense("linear", w, bias, k)
  const shape = [...x.shape.slice(0, -1), n]
  if (residual !== undefined && !tf.util.arraysEqual(residual.shape, shape)) throw new RangeError(`linear: the residual has shape [${residual.shape}], the output [${shape}]`)
  if ((gain === undefined) !== (beta === undefined)) throw new RangeError("linear: a LayerNorm needs both its gain and its bias")
  if (gain !== undefined) checkNorm("linear", gain, beta!, k)
  const y = memory.output(shape)
  const view = (t: tf.TensorInfo | undefined) => (t === undefined ? undefined : memory.view(t))
  dense(memory.view(x), rows, memory.view(w), k, n, view(bias), memory.view(y), {
    ...(gain === undefined ? {} : { norm: [memory.view(gain), memory.view(beta!), epsilon] as const }),
    gelu: activation === "quick-gelu",
    ...(residual === undefined ? {} : { residual: memory.view(residual) }),
  })
  return y
}

const blockStepKernel = (backendName: string): tf.KernelFunc => ({ inputs, attrs, backend }) => {
  const memory = memoryOf(backendName, backend)
  const { heads, parts, attendsRun, epsilon } = attrs as unknown as BlockStepAttrs
  const x = floats(inputs.x, "x")
  const [batch, one, width] = x.shape as [number, number, number]
  const named = (name: string) => floats(inputs[name], name)
  const [inW, outW, fcW, projW] = [named("inW"), named("outW"), named("fcW"), named("projW")]
  const attention = checkDense("blockStep", inW, named("inB"), width) / parts
  const hidden = checkDense("blockStep", fcW, named("fcB"), width)
  if (one !== 1 || checkDense("blockStep", outW, named("outB"), attention) !== width || checkDense("blockStep", projW, named("projB"), hidden) !== width) {
    throw new RangeError(`blockStep: x [${x.shape}], in [${inW.shape}], out [${outW.shape}], fc [${fcW.shape}], proj [${projW.shape}] are not one block's`)
  }
  checkNorm("blockStep", named("gain1"), named("beta1"), width)
  checkNorm("blockStep", named("gain2"), named("beta2"), width)
  const projected = { ...x, shape: [batch, 1, parts * attention] } // what the input projection gives, for the attention step's checks
  const shapes = stepShapes("blockStep", projected, inputs, heads, parts)
  const y = memory.output([batch, 1, width])
  const grown = growOutputs(memory, shapes, parts)
  const view = (name: string) => memory.view(inputs[name]!)
  const xs = memory.view(x)
  const qkv = scratch("qkv", batch * parts * attention)
  dense(xs, batch, view("inW"), width, parts * attention, view("inB"), qkv, { norm: [view("gain1"), view("beta1"), epsilon] })
  const attended = scratch("attended", batch * attention)
  attend(qkv, shapes, { heads, parts, attendsRun }, runViews(memory, inputs, grown), attended)
  const h = scratch("residual", batch * width)
  dense(attended, batch, view("outW"), attention, width, view("outB"), h, { residual: xs })
  const mlp = scratch("mlp", batch * hidden)
  dense(h, batch, view("fcW"), width, hidden, view("fcB"), mlp, { norm: [view("gain2"), view("beta2"), epsilon], gelu: true })
  dense(mlp, batch, view("projW"), hidden, width, view("projB"), memory.view(y), { residual: h })
  return grown === undefined ? y : [y, ...grown]
}

/** What `dense` does around its product. */
interface DenseParts {
  /** LayerNorm the input first: gain, bias, ε. */
  readonly norm?: readonly [Float32Array, Float32Array, number]
  readonly gelu?: boolean
  readonly residual?: Float32Array
}

/**
 * out (rows, n) = residual + gelu(norm(x) (rows, k) · w (k, n) + bias): the LayerNorm into a scratch
 * array, the product started from the bias rows (β = 1), the activation in place, then the residual
 * added (rounded to float32 on the way in, as tfjs's add).
 */
const dense = (x: Float32Array, rows: number, w: Float32Array, k: number, n: number, bias: Float32Array | undefined, out: Float32Array, parts: DenseParts): void => {
  const kernels = native!
  if (bias !== undefined) for (let r = 0; r < rows; r++) out.set(bias, r * n)
  let input = x
  if (parts.norm !== undefined) {
    const [gain, beta, epsilon] = parts.norm
    const space = scratch("norm", rows * (k + 2))
    input = space.subarray(0, rows * k)
    kernels.layerNorm(x, gain, beta, input, space.subarray(rows * k, rows * (k + 1)), space.subarray(rows * (k + 1), rows * (k + 2)), rows, k, epsilon)
  }
  kernels.sgemmBatched(1, false, false, rows, n, k, 1, input, 0, w, 0, bias === undefined ? 0 : 1, out, 0)
  if (parts.gelu) kernels.quickGelu(out, out)
  const residual = parts.residual
  if (residual !== undefined) for (let i = 0; i < rows * n; i++) out[i] = residual[i]! + out[i]!
}

/** The attention step's sizes, checked: B, H, dh, A and the run's length (0 without one). */
interface StepShapes {
  readonly batch: number
  readonly heads: number
  readonly perHead: number
  readonly width: number
  readonly length: number
}

const stepShapes = (kernel: string, x: tf.TensorInfo, inputs: tf.NamedTensorInfoMap, heads: number, parts: number): StepShapes => {
  const [batch, one, packed] = x.shape as [number, number, number]
  const width = packed / parts
  const perHead = width / heads
  const present = (["keys", "values", "seenKeys", "seenValues"] as const).map((name) => inputs[name] && floats(inputs[name], name))
  const [keys, values, seenKeys, seenValues] = present
  const fits = (t: tf.TensorInfo | undefined) => t === undefined || (t.shape.length === 3 && t.shape[0] === batch * heads && t.shape[2] === perHead)
  const length = keys?.shape[1] ?? 0
  const seen = seenKeys?.shape[1] ?? 0
  if (one !== 1 || !Number.isInteger(perHead) || !present.every(fits) || (keys === undefined) !== (values === undefined) || (seenKeys === undefined) !== (seenValues === undefined)
    || (values?.shape[1] ?? 0) !== length || (seenValues?.shape[1] ?? 0) !== seen || (parts === 1 && keys === undefined)) {
    throw new RangeError(`${kernel}: x [${x.shape}] of ${parts} parts and ${heads} heads, run [${keys?.shape}] [${values?.shape}], seen [${seenKeys?.shape}] [${seenValues?.shape}]`)
  }
  return { batch, heads, perHead, width, length }
}

/** The grown run's two outputs (B·H, T + 1, dh) with parts 3. */
const growOutputs = (memory: Memory, s: StepShapes, parts: number) =>
  parts === 3 ? ([memory.output([s.batch * s.heads, s.length + 1, s.perHead]), memory.output([s.batch * s.heads, s.length + 1, s.perHead])] as const) : undefined

/** Views of the run, the seen keys and the grown run (taken after every output is allocated). */
const runViews = (memory: Memory, inputs: tf.NamedTensorInfoMap, grown: readonly [tf.TensorInfo, tf.TensorInfo] | undefined) => {
  const view = (t: tf.TensorInfo | undefined) => (t === undefined ? undefined : memory.view(t))
  return {
    run: inputs.keys && ([view(inputs.keys)!, view(inputs.values)!] as const),
    seen: inputs.seenKeys && ([view(inputs.seenKeys)!, view(inputs.seenValues)!] as const),
    grown: grown && ([view(grown[0])!, view(grown[1])!] as const),
  }
}

/**
 * The attention of one position: q of x (rows of parts·A; head h at h·dh of each part) copied to out
 * (B·H, dh) and attended there to the run (parts 1), or to the run grown by x's k and v, or to the
 * seen keys, or to nothing (0).
 */
const attend = (xs: Float32Array, s: StepShapes, attrs: AttendStepAttrs, views: ReturnType<typeof runViews>, out: Float32Array): void => {
  const { batch, heads, perHead, width, length } = s
  const packed = attrs.parts * width
  for (let b = 0; b < batch; b++) out.set(xs.subarray(b * packed, b * packed + width), b * width)
  const { run, seen, grown } = views
  if (grown !== undefined) {
    for (const part of [0, 1]) {
      const to = grown[part]!
      const from = run?.[part]
      for (let r = 0; r < batch * heads; r++) {
        const start = r * (length + 1) * perHead
        if (from !== undefined) to.set(from.subarray(r * length * perHead, (r + 1) * length * perHead), start)
        const at = Math.floor(r / heads) * packed + (part + 1) * width + (r % heads) * perHead // k or v of (b, h)
        to.set(xs.subarray(at, at + perHead), start + length * perHead)
      }
    }
  }
  const attended = attrs.parts === 1 ? run : attrs.attendsRun ? grown : seen
  if (attended === undefined) out.fill(0, 0, batch * width)
  else native!.attendOne(out, attended[0], attended[1], out, batch * heads, attended[0].length / (batch * heads * perHead), perHead, 1 / Math.sqrt(perHead))
}

/** w (k, n) and its bias (n): n, or a RangeError. */
const checkDense = (kernel: string, w: tf.TensorInfo, bias: tf.TensorInfo | undefined, k: number): number => {
  const n = w.shape[1]!
  if (w.shape.length !== 2 || w.shape[0] !== k || (bias !== undefined && !tf.util.arraysEqual(bias.shape, [n]))) {
    throw new RangeError(`${kernel}: w [${w.shape}] and bias [${bias?.shape}] do not take ${k} inputs`)
  }
  return n
}

const checkNorm = (kernel: string, gain: tf.TensorInfo, beta: tf.TensorInfo, width: number): void => {
  if (!tf.util.arraysEqual(gain.shape, [width]) || !tf.util.arraysEqual(beta.shape, [width])) {
    throw new RangeError(`${kernel}: a LayerNorm's gain [${gain.shape}] and bias [${beta.shape}] must be [${width}]`)
  }
}

/** A reused array of at least `size` floats for `slot`, outside the backend's memory; past SCRATCH_LIMIT a fresh one. */
const scratch = (slot: string, size: number): Float32Array => {
  if (size > SCRATCH_LIMIT) return new Float32Array(size)
  let space = scratchSpace.get(slot)
  if (space === undefined || space.length < size) scratchSpace.set(slot, (space = new Float32Array(size)))
  return space.subarray(0, size)
}

const scratchSpace = new Map<string, Float32Array>()
const SCRATCH_LIMIT = 1 << 20
