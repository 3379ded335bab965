/**
 * The bottleneck: nearest codes, the straight-through gradient (also through a whole autoencoder),
 * commit loss, codebook initialisation, EMA updates and restarts, worked by hand.
 */
import * as tf from "@tensorflow/tfjs-core"
import { beforeAll, describe, expect, it } from "vitest"
import {
  createBottleneck,
  entropyBits,
  initCodebook,
  nearestCodes,
  quantize,
  updateCodebook,
  type BottleneckConfig,
} from "../../models/bottleneck.ts"
import { seededRandom } from "../../models/random.ts"
import { createAutoencoder, JUKEBOX_VQVAE, levelConfig } from "../../models/vqvae.ts"
import { analyticGradients, BACKENDS, expectClose, normal, onBackend } from "./helpers.ts"

const CONFIG: BottleneckConfig = { codebookSize: 4, embeddingWidth: 2, emaDecay: 0.9, restartThreshold: 0.5 }

/** A bottleneck with the codes (0, 0), (1, 0), (0, 1), (5, 5), each counted once. */
const handMade = () => {
  const bottleneck = createBottleneck(CONFIG)
  const codes = tf.tensor2d([[0, 0], [1, 0], [0, 1], [5, 5]])
  bottleneck.codebook.assign(codes)
  bottleneck.emaSum.assign(codes)
  bottleneck.emaCount.assign(tf.ones([4]))
  return bottleneck
}

describe.each(BACKENDS)("bottleneck on %s", (backend) => {
  beforeAll(() => onBackend(backend))

  it("assigns each vector its nearest code", () => {
    const x = tf.tensor2d([[0.1, 0.2], [0.9, 0.3], [-1, 2], [4, 6], [0.4, 0.45]])
    expect([...nearestCodes(handMade(), x).dataSync()]).toEqual([0, 1, 2, 3, 0])
  })

  it("passes the gradient straight through to x, and the commit loss's to x alone", () => {
    const bottleneck = handMade()
    const x = tf.tensor2d([[0.1, 0.2], [0.9, 0.3], [-1, 2]])
    const { codes, quantized, commitLoss } = quantize(bottleneck, x)
    expect([...codes.dataSync()]).toEqual([0, 1, 2])
    expect([...quantized.dataSync()]).toEqual([0, 0, 1, 0, 0, 1])
    const expectedCommit = (0.01 + 0.04 + 0.01 + 0.09 + 1 + 1) / 6
    expect(commitLoss.dataSync()[0]).toBeCloseTo(expectedCommit, 6)
    const weights = normal([3, 2], 1)
    const [throughQuantized] = analyticGradients((t) => tf.sum(tf.mul(quantize(bottleneck, t[0] as tf.Tensor2D).quantized, weights)), [x])
    expectClose(throughQuantized!, weights.dataSync(), 1e-6)
    const [throughCommit] = analyticGradients((t) => quantize(bottleneck, t[0] as tf.Tensor2D).commitLoss, [x])
    const nearest = tf.tensor2d([[0, 0], [1, 0], [0, 1]])
    expectClose(throughCommit!, tf.mul(tf.sub(x, nearest), 2 / 6).dataSync(), 1e-6)
  })

  it("gives every encoder weight a gradient through the quantised decoder", () => {
    const autoencoder = createAutoencoder(levelConfig({ ...JUKEBOX_VQVAE, codebookSize: 8, embeddingWidth: 4, levels: [{ downs: 2, width: 4, depth: 1, residualWidth: 4 }] }, 0), 1)
    const audio = normal([1, 64, 1], 2) as tf.Tensor3D
    tf.tidy(() => initCodebook(autoencoder.bottleneck, tf.reshape(autoencoder.encode(audio), [-1, 4]) as tf.Tensor2D, seededRandom(3)))
    const { grads } = tf.variableGrads(() => {
      const encoded = autoencoder.encode(audio)
      const { quantized } = quantize(autoencoder.bottleneck, tf.reshape(encoded, [-1, 4]) as tf.Tensor2D)
      return tf.mean(tf.square(tf.sub(autoencoder.decode(tf.reshape(quantized, encoded.shape)), audio))) as tf.Scalar
    }, [...autoencoder.weights.values()])
    const byName = new Map([...autoencoder.weights].map(([name, w]) => [name, grads[w.name]]))
    const encoderWeights = [...byName].filter(([name]) => name.startsWith("encoder.") && name.endsWith(".weight"))
    expect(encoderWeights.length).toBeGreaterThan(0)
    for (const [name, gradient] of encoderWeights) expect(tf.max(tf.abs(gradient!)).dataSync()[0], name).toBeGreaterThan(0)
    expect(Object.keys(grads)).not.toContain(autoencoder.bottleneck.codebook.name)
  })

  it("initialises the codebook with distinct rows of the encoder output, each counted once", () => {
    const bottleneck = createBottleneck(CONFIG)
    const x = tf.tensor2d([[1, 1], [2, 2], [3, 3], [4, 4], [5, 5], [6, 6]])
    initCodebook(bottleneck, x, seededRandom(4))
    const rows = [...bottleneck.codebook.dataSync()].filter((_, i) => i % 2 === 0)
    expect(new Set(rows).size).toBe(4)
    expect(rows.every((v) => Number.isInteger(v) && v >= 1 && v <= 6)).toBe(true)
    expect([...bottleneck.emaSum.dataSync()]).toEqual([...bottleneck.codebook.dataSync()])
    expect([...bottleneck.emaCount.dataSync()]).toEqual([1, 1, 1, 1])
  })

  it("moves codes to the EMA of their vectors, and restarts those whose count falls below the threshold", () => {
    const bottleneck = handMade()
    // code 0 gets two vectors, code 1 one, codes 2 and 3 none
    const x = tf.tensor2d([[0.2, 0], [0, 0.2], [1.2, 0.4]])
    const codes = tf.tensor1d([0, 0, 1], "int32")
    const metrics = updateCodebook(bottleneck, x, codes, seededRandom(5))
    // counts: 0.9·1 + 0.1·(2, 1, 0, 0) = (1.1, 1.0, 0.9, 0.9): codes 2 and 3 stay above 0.5
    expectClose(bottleneck.emaCount.dataSync(), [1.1, 1.0, 0.9, 0.9], 1e-6)
    const sum0 = [0.9 * 0 + 0.1 * 0.2, 0.9 * 0 + 0.1 * 0.2]
    const sum1 = [0.9 * 1 + 0.1 * 1.2, 0.9 * 0 + 0.1 * 0.4]
    expectClose(bottleneck.emaSum.dataSync(), [...sum0, ...sum1, 0, 0.9, 4.5, 4.5], 1e-6)
    expectClose(bottleneck.codebook.dataSync(), [sum0[0]! / 1.1, sum0[1]! / 1.1, sum1[0]!, sum1[1]!, 0, 1, 5, 5], 1e-6)
    expect(metrics).toEqual({ usage: 4, restarts: 0, entropy: entropyBits([2, 1, 0, 0]) })

    // seven more steps without codes 2 and 3: 0.9^8 < 0.5, so both restart at rows of x
    let last = metrics
    for (let step = 0; step < 7; step++) last = updateCodebook(bottleneck, x, codes, seededRandom(6, step))
    expect(last.restarts).toBe(2)
    expect(last.usage).toBe(2)
    const book = bottleneck.codebook.arraySync() as number[][]
    const rows = (x.arraySync() as number[][]).map((r) => r.join())
    expect(rows).toContain(book[2]!.join())
    expect(rows).toContain(book[3]!.join())
    expectClose(bottleneck.emaCount.dataSync().slice(2), [0.5, 0.5], 1e-6) // restarted with count = threshold
    expectClose(bottleneck.emaSum.dataSync().slice(4), [...book[2]!, ...book[3]!].map((v) => v * 0.5), 1e-6)
  })

  it("restarts the same codes the same way for the same seed", () => {
    const run = () => {
      const bottleneck = handMade()
      for (let step = 0; step < 10; step++) updateCodebook(bottleneck, normal([6, 2], 7) as tf.Tensor2D, tf.zeros([6], "int32") as tf.Tensor1D, seededRandom(8, step))
      return [...bottleneck.codebook.dataSync()]
    }
    expect(run()).toEqual(run())
  })
})

describe("code histogram entropy", () => {
  it("is log2 of the number of equally used codes, 0 for one code", () => {
    expect(entropyBits([5, 5, 5, 5])).toBeCloseTo(2, 12)
    expect(entropyBits([0, 7, 0])).toBe(0)
    expect(entropyBits(new Array(2048).fill(1))).toBeCloseTo(11, 10)
  })
})
