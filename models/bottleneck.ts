/**
 * The VQ-VAE bottleneck: nearest-code quantisation with a straight-through gradient, a codebook
 * learned by exponential moving averages (not by gradients), commit loss, and random restarts of
 * codes that fall out of use (paper Appendix B.1; paper-notes "VQ-VAE").
 *
 * State, all non-trainable variables saved with the weights:
 *   bottleneck.codebook   (K, D)  the codes
 *   bottleneck.ema_sum    (K, D)  EMA of the sum of encoder vectors assigned to each code
 *   bottleneck.ema_count  (K)     EMA of how many were assigned (the code's "usage")
 * codebook = ema_sum / ema_count holds for every code at all times: a restarted code also restarts
 * its statistics (sum = vector · threshold, count = threshold).
 */
import * as tf from "@tensorflow/tfjs-core"
import { customGradient } from "./custom-gradient.ts"
import { matMul } from "./ops.ts"
import type { Random } from "./random.ts"

/** The bottleneck's sizes and update rule (paper defaults in brackets). */
export interface BottleneckConfig {
  /** Codes K [2048]. */
  readonly codebookSize: number
  /** Width D of a code and of the encoder's output [64]. */
  readonly embeddingWidth: number
  /** EMA decay of the codebook statistics [0.99]. */
  readonly emaDecay: number
  /** A code whose EMA count falls below this is restarted [1.0]. */
  readonly restartThreshold: number
}

/** A bottleneck's state. */
export interface Bottleneck {
  readonly config: BottleneckConfig
  readonly codebook: tf.Variable<tf.Rank.R2>
  readonly emaSum: tf.Variable<tf.Rank.R2>
  readonly emaCount: tf.Variable<tf.Rank.R1>
}

/** What one codebook update reports. */
export interface CodebookMetrics {
  /** Codes whose EMA count is at or above the threshold. */
  readonly usage: number
  /** Entropy of this batch's code histogram, in bits (log2 K at most). */
  readonly entropy: number
  /** Codes restarted by this update. */
  readonly restarts: number
}

/** What `quantize` returns for a batch of encoder vectors. */
export interface Quantized {
  /** Nearest code of each vector (N), int32; kept outside any tidy: the caller disposes it. */
  readonly codes: tf.Tensor1D
  /** The codes' vectors (N, D); their gradient passes straight through to the encoder's. */
  readonly quantized: tf.Tensor2D
  /** mean ‖x − code(x)‖² over vectors and channels; its gradient reaches x only. */
  readonly commitLoss: tf.Scalar
}

/** A bottleneck with an empty codebook; `initCodebook` fills it from the first batch. */
export const createBottleneck = (config: BottleneckConfig): Bottleneck => {
  const { codebookSize: k, embeddingWidth: d } = config
  const state = (shape: number[]): tf.Variable => tf.tidy(() => tf.variable(tf.zeros(shape), false))
  return {
    config,
    codebook: state([k, d]) as tf.Variable<tf.Rank.R2>,
    emaSum: state([k, d]) as tf.Variable<tf.Rank.R2>,
    emaCount: state([k]) as tf.Variable<tf.Rank.R1>,
  }
}

/** The bottleneck's variables by checkpoint name. */
export const bottleneckVariables = (bottleneck: Bottleneck): Map<string, tf.Variable> =>
  new Map<string, tf.Variable>([
    ["bottleneck.codebook", bottleneck.codebook],
    ["bottleneck.ema_sum", bottleneck.emaSum],
    ["bottleneck.ema_count", bottleneck.emaCount],
  ])

/** Nearest code of each vector of x (N, D) → (N) int32, by squared distance. */
export const nearestCodes = (bottleneck: Bottleneck, x: tf.Tensor2D): tf.Tensor1D =>
  tf.tidy(() => {
    const { codebook } = bottleneck
    // ‖x − c‖² = ‖x‖² − 2x·c + ‖c‖², and ‖x‖² does not change the argmin
    const distances = tf.sub(tf.sum(tf.square(codebook), 1), tf.mul(matMul(x, codebook, false, true), 2)) // (N, K)
    return tf.argMin(distances, 1) as tf.Tensor1D
  })

/** The vectors of codes (any shape of int32) → (..., D). */
export const codeVectors = (bottleneck: Bottleneck, codes: tf.Tensor): tf.Tensor => tf.gather(bottleneck.codebook, codes)

/**
 * Quantises x (N, D) for training: nearest codes (found off the gradient tape: argMin has no
 * gradient to give), their vectors with a straight-through gradient, and the commit loss.
 */
export const quantize = (bottleneck: Bottleneck, x: tf.Tensor2D): Quantized => {
  let codes: tf.Tensor1D | undefined
  // the code vectors as a constant: the codebook learns by EMA, x learns through the two lines below
  const vectors = customGradient<tf.Tensor2D>([x], () => {
    codes = tf.keep(nearestCodes(bottleneck, x))
    return { value: tf.gather(bottleneck.codebook, codes), gradFunc: (dy) => [tf.zerosLike(dy)] }
  })
  const commitLoss = tf.mean(tf.squaredDifference(x, vectors)) as tf.Scalar
  const quantized = customGradient<tf.Tensor2D>([x, vectors], () => ({
    value: tf.clone(vectors),
    gradFunc: (dy) => [dy, tf.zerosLike(dy)],
  }))
  return { codes: codes!, quantized, commitLoss }
}

/**
 * Fills the codebook with distinct random rows of x (N, D) (the encoder's output on the first
 * batch), each counted once. With fewer rows than codes, rows repeat with a little noise.
 */
export const initCodebook = (bottleneck: Bottleneck, x: tf.Tensor2D, random: Random): void => {
  const { codebookSize: k, embeddingWidth: d } = bottleneck.config
  const rows = randomRows(x.shape[0], k, random, true)
  tf.tidy(() => {
    let vectors = tf.gather(x, tf.tensor1d(rows, "int32"))
    if (x.shape[0] < k) {
      const noise = new Float32Array(k * d).map(() => (0.01 / Math.sqrt(d)) * random.normal())
      vectors = tf.add(vectors, tf.tensor2d(noise, [k, d]))
    }
    bottleneck.codebook.assign(vectors as tf.Tensor2D)
    bottleneck.emaSum.assign(vectors as tf.Tensor2D)
    bottleneck.emaCount.assign(tf.ones([k]))
  })
}

/**
 * One EMA step of the codebook from the vectors x (N, D) and the codes they were assigned, then
 * restarts: every code whose EMA count is below the threshold becomes a random row of x.
 * Runs outside the gradient tape.
 */
export const updateCodebook = (bottleneck: Bottleneck, x: tf.Tensor2D, codes: tf.Tensor1D, random: Random): CodebookMetrics => {
  const { codebookSize: k, emaDecay: decay, restartThreshold: threshold } = bottleneck.config
  const replacements = tf.tensor1d(randomRows(x.shape[0], k, random, false), "int32")
  const [batchCounts, usedCodes] = tf.tidy(() => {
    const batchSum = tf.unsortedSegmentSum(x, codes, k) // (K, D)
    const batchCount = tf.unsortedSegmentSum(tf.ones([x.shape[0]]), codes, k) // (K)
    const emaSum = tf.add(tf.mul(bottleneck.emaSum, decay), tf.mul(batchSum, 1 - decay))
    const emaCount = tf.add(tf.mul(bottleneck.emaCount, decay), tf.mul(batchCount, 1 - decay))
    const used = tf.greaterEqual(emaCount, threshold) // (K)
    const usedRows = tf.expandDims(used, 1)
    const fresh = tf.gather(x, replacements) // (K, D)
    bottleneck.codebook.assign(tf.where(usedRows, tf.div(emaSum, tf.expandDims(tf.maximum(emaCount, 1e-12), 1)), fresh) as tf.Tensor2D)
    bottleneck.emaSum.assign(tf.where(usedRows, emaSum, tf.mul(fresh, threshold)) as tf.Tensor2D)
    bottleneck.emaCount.assign(tf.where(used, emaCount, tf.fill([k], threshold)) as tf.Tensor1D)
    return [batchCount, tf.sum(tf.cast(used, "int32"))]
  })
  const counts = batchCounts.dataSync()
  const usage = usedCodes.dataSync()[0]!
  tf.dispose([batchCounts, usedCodes, replacements])
  return { usage, entropy: entropyBits(counts), restarts: k - usage }
}

/** Entropy in bits of a histogram of counts. */
export const entropyBits = (counts: ArrayLike<number>): number => {
  let total = 0
  for (let i = 0; i < counts.length; i++) total += counts[i]!
  let bits = 0
  for (let i = 0; i < counts.length; i++) {
    const p = counts[i]! / total
    if (p > 0) bits -= p * Math.log2(p)
  }
  return bits
}

/** `count` row indices of an n-row matrix: distinct while they last (a shuffle), else independent draws. */
const randomRows = (n: number, count: number, random: Random, distinct: boolean): number[] => {
  if (!distinct) return Array.from({ length: count }, () => random.int(n))
  const rows: number[] = []
  while (rows.length < count) {
    const order = Array.from({ length: n }, (_, i) => i)
    for (let i = 0; i < Math.min(n, count - rows.length); i++) {
      const j = i + random.int(n - i)
      ;[order[i], order[j]] = [order[j]!, order[i]!]
      rows.push(order[i]!)
    }
  }
  return rows
}
