/**
 * The Transformer's LayerNorm (transformer.ts's `layerNorm`) and its loss (`crossEntropyBits`) have a
 * native path (one fused kernel each way, ops.ts) and a tfjs one (when the native kernels are not
 * built, or JUKEFLOW_NATIVE=0): values and gradients must be the same on both, i.e. equal to the tfjs
 * formulation's autodiff, on both portable backends; and the native path must be the one that runs
 * when the kernels are there. `sumRows` (bias gradients) likewise.
 */
import * as tf from "@tensorflow/tfjs-core"
import { beforeAll, describe, expect, it } from "vitest"
import { hasNativeKernels, LAYER_NORM, LAYER_NORM_GRADIENT, SOFTMAX_CROSS_ENTROPY, SOFTMAX_CROSS_ENTROPY_GRADIENT, COLUMN_SUMS } from "../../models/native-kernels.ts"
import { addBias, sumRows } from "../../models/ops.ts"
import { Parameters } from "../../models/parameters.ts"
import { seededRandom } from "../../models/random.ts"
import { crossEntropyBits } from "../../models/transformer-train.ts"
import { layerNorm } from "../../models/transformer.ts"
import { native } from "../../native/index.ts"
import { analyticGradients, BACKENDS, expectClose, normal, numericGradient, onBackend, weighted } from "./helpers.ts"

/** The tfjs formulation of transformer.ts's LayerNorm (its path without the native kernels). */
const plainLayerNorm = (x: tf.Tensor, gain: tf.Tensor, bias: tf.Tensor): tf.Tensor => {
  const { mean, variance } = tf.moments(x, -1, true)
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), gain), bias)
}

/** The tfjs formulation of crossEntropyBits (its path without the native kernels). */
const plainCrossEntropyBits = (logits: tf.Tensor3D, tokens: tf.Tensor2D, mask?: tf.Tensor2D): tf.Scalar => {
  const picked = tf.sum(tf.mul(tf.logSoftmax(logits), tf.cast(tf.oneHot(tokens, logits.shape[2]), "float32")), -1)
  const nats = mask === undefined ? tf.neg(tf.mean(picked)) : tf.div(tf.neg(tf.sum(tf.mul(picked, mask))), tf.maximum(tf.sum(mask), 1))
  return tf.div(nats, Math.LN2) as tf.Scalar
}

/** The kernels `f` runs, forward and backward. */
const kernelsRun = async (f: () => tf.TensorContainer): Promise<string[]> => (await tf.profile(() => tf.tidy(f))).kernelNames

/** A LayerNorm module of `width` with random gain and bias, and them as tensors for the plain formulation. */
const randomLayerNorm = (width: number, seed: number) => {
  const p = new Parameters(seededRandom(seed), 0.02)
  const norm = layerNorm(p, "ln", width)
  const gain = p.variables.get("ln.weight")!
  const bias = p.variables.get("ln.bias")!
  gain.assign(tf.tidy(() => tf.add(1, normal([width], seed + 1, 0.5))))
  bias.assign(normal([width], seed + 2, 0.5))
  return { norm, gain, bias, dispose: () => tf.dispose([gain, bias]) }
}

/** Rows with their own means (up to a few standard deviations) and scales. */
const rows = (shape: number[], seed: number): tf.Tensor =>
  tf.tidy(() => {
    const [scale, shift] = [tf.exp(normal([...shape.slice(0, -1), 1], seed + 1)), normal([...shape.slice(0, -1), 1], seed + 2, 2)]
    return tf.mul(tf.add(normal(shape, seed), shift), scale)
  })

const LAYER_NORM_SHAPES = [[2, 5, 16], [3, 7, 33], [4, 3], [2, 3, 1], [1, 1, 257], [2, 300, 24]].map((shape) => ({ shape }))

describe.each(BACKENDS)("LayerNorm and cross-entropy on %s", (backend) => {
  beforeAll(() => onBackend(backend))

  it("take the native path when the native kernels are built", async () => {
    expect(hasNativeKernels()).toBe(native !== undefined)
    const { norm, gain, bias, dispose } = randomLayerNorm(8, 1)
    const x = normal([2, 3, 8], 2) as tf.Tensor3D
    const logits = normal([2, 3, 5], 3) as tf.Tensor3D
    const tokens = tf.tensor2d([[0, 4, 2], [1, 3, 3]], [2, 3], "int32")
    const ran = await kernelsRun(() => {
      const { grads } = tf.variableGrads(() => tf.add(weighted(norm(x), 4), crossEntropyBits(tf.add(logits, tf.slice(norm(x), [0, 0, 0], [2, 3, 5])), tokens)), [gain, bias])
      return Object.values(grads)
    })
    const ours = [LAYER_NORM, LAYER_NORM_GRADIENT, SOFTMAX_CROSS_ENTROPY, SOFTMAX_CROSS_ENTROPY_GRADIENT]
    for (const kernel of ours) expect(ran.includes(kernel), kernel).toBe(native !== undefined)
    // without them, tfjs's ops as before
    expect(ran.includes("LogSoftmax") || ran.includes("Exp")).toBe(native === undefined)
    dispose()
  })

  it.each(LAYER_NORM_SHAPES)("layerNorm of $shape: values and the gradients of x, gain and bias equal tfjs's formulation", ({ shape }) => {
    const width = shape.at(-1)!
    const { norm, gain, bias, dispose } = randomLayerNorm(width, 10)
    const x = rows(shape, 11)
    expectClose(norm(x as tf.Tensor3D).dataSync(), plainLayerNorm(x, gain, bias).dataSync(), 1e-5)
    const loss = (t: tf.Tensor, f: (t: tf.Tensor) => tf.Tensor) => weighted(f(t), 12)
    const [dx] = analyticGradients((t) => loss(t[0]!, (v) => norm(v as tf.Tensor3D)), [x])
    const [plainDx] = analyticGradients((t) => loss(t[0]!, (v) => plainLayerNorm(v, gain, bias)), [x])
    expectClose(dx!, plainDx!, width === 1 ? 1 : 1e-5) // width 1: both ≈ 0, rounding apart
    if (width === 1) expect(Math.max(...dx!.map(Math.abs))).toBeLessThan(1e-3)
    const ours = tf.variableGrads(() => loss(x, (v) => norm(v as tf.Tensor3D)), [gain, bias]).grads
    const plain = tf.variableGrads(() => loss(x, (v) => plainLayerNorm(v, gain, bias)), [gain, bias]).grads
    expectClose(ours[gain.name]!.dataSync(), plain[gain.name]!.dataSync(), 1e-5)
    expectClose(ours[bias.name]!.dataSync(), plain[bias.name]!.dataSync(), 1e-5)
    tf.dispose([x, ...Object.values(ours), ...Object.values(plain)])
    dispose()
  })

  it("layerNorm: the input gradient matches finite differences", () => {
    const { norm, dispose } = randomLayerNorm(6, 20)
    const x = rows([2, 3, 6], 21)
    const f = (t: tf.Tensor[]) => weighted(norm(t[0] as tf.Tensor3D), 22)
    expectClose(analyticGradients(f, [x])[0]!, numericGradient(f, [x], 0, 1e-2), 2e-2)
    dispose()
  })

  it.each([
    { name: "no mask", masked: false },
    { name: "a mask", masked: true },
  ])("crossEntropyBits with $name: value and the logits' gradient equal tfjs's formulation; tokens outside the vocabulary count 0", ({ masked }) => {
    const vocab = 11
    const logits = normal([2, 9, 11], 30, 3) as tf.Tensor3D
    const random = seededRandom(31)
    const tokens = tf.tensor2d(Int32Array.from({ length: 18 }, (_, i) => (i === 4 ? -1 : i === 13 ? vocab : random.int(vocab))), [2, 9], "int32")
    const mask = masked ? tf.tensor2d(Float32Array.from({ length: 18 }, (_, i) => (i % 3 === 1 ? 0 : 1)), [2, 9]) : undefined
    const value = crossEntropyBits(logits, tokens, mask).dataSync()[0]!
    const plain = plainCrossEntropyBits(logits, tokens, mask).dataSync()[0]!
    expect(Math.abs(value - plain)).toBeLessThan(1e-5 * Math.abs(plain))
    const [ours] = analyticGradients((t) => crossEntropyBits(t[0] as tf.Tensor3D, tokens, mask), [logits])
    const [reference] = analyticGradients((t) => plainCrossEntropyBits(t[0] as tf.Tensor3D, tokens, mask), [logits])
    expectClose(ours!, reference!, 1e-5)
    // the rows of the tokens outside the vocabulary get no gradient
    for (const row of [4, 13]) expect(ours!.slice(row * vocab, (row + 1) * vocab).every((g) => g === 0), `row ${row}`).toBe(true)
  })

  it("crossEntropyBits at the prior's vocabulary (2048): value and gradient equal tfjs's formulation", () => {
    const logits = normal([2, 5, 2048], 40, 4) as tf.Tensor3D
    const random = seededRandom(41)
    const tokens = tf.tensor2d(Int32Array.from({ length: 10 }, () => random.int(2048)), [2, 5], "int32")
    const value = crossEntropyBits(logits, tokens).dataSync()[0]!
    expect(Math.abs(value - plainCrossEntropyBits(logits, tokens).dataSync()[0]!)).toBeLessThan(1e-5 * value)
    const [ours] = analyticGradients((t) => crossEntropyBits(t[0] as tf.Tensor3D, tokens), [logits])
    const [reference] = analyticGradients((t) => plainCrossEntropyBits(t[0] as tf.Tensor3D, tokens), [logits])
    expectClose(ours!, reference!, 1e-5)
  })

  it("sumRows and addBias's bias gradient: the column sums, natively when the kernels are there", async () => {
    const t = normal([3, 257, 19], 50)
    const want = tf.sum(t, [0, 1]).dataSync()
    expectClose(sumRows(t, 19).dataSync(), want, 1e-5)
    const b = normal([19], 51) as tf.Tensor1D
    const [, db] = analyticGradients((inputs) => tf.sum(addBias(inputs[0]!, inputs[1] as tf.Tensor1D)), [t, b])
    expectClose(db!, new Float32Array(19).fill(3 * 257), 1e-6)
    expect((await kernelsRun(() => sumRows(t, 19))).includes(COLUMN_SUMS)).toBe(native !== undefined)
  })
})
