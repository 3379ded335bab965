/**
 * The priors' conditioners (paper-notes: "Labels per chunk", "Upsampler conditioning"; the
 * reference's jukebox/prior/conditioners.py). Each gives a part of the Transformer's per-position
 * conditioning input (B, T, W), which prior.ts sums:
 *
 *   labels     artist embedding + Σ genre embeddings (a bag, 0s left out)      → row 0, the start slot
 *              (either may be a weighted mix of rows, `LabelMix`: interpolated artists, genre blends)
 *   timing     song length; time of each position; fraction of the song elapsed at it — each clamped
 *              to its range, cut into `bins` equal buckets and embedded, summed → every row
 *   upsampler  upper-level codes (B, Tu) → embedding (B, Tu, W) → conv3 (B, Tu, Wc) → per stride s:
 *              residual stack (dilated, non-causal convs), transposed conv (kernel 2s, stride s)
 *              → LayerNorm → (B, Tu·Πs, W): the lower level's rate
 *
 * Timing is the reference's RangeEmbedding: bucket ⌊bins · (x − min) / (max − min)⌋ of [min, max),
 * values outside clamped to the end buckets (the reference asserts they are inside). The reference
 * spreads a window's [start, end) over its positions; here position t of a window starting at
 * `offset` seconds is at offset + t · hop / sampleRate, the same for a whole window.
 *
 * Weight names (prior.ts puts them in one map beside the Transformer's):
 *   labels.artist.weight (artists, W)     labels.genre.weight (genres, W)
 *   timing.total.weight, timing.time.weight, timing.fraction.weight (bins, W)
 *   conditioner.embedding.weight (upperVocab, W)    conditioner.in.weight (3, W, Wc), .bias
 *   conditioner.blocks.{i}.res.{j}.conv3.weight (3, Wc, Wc), .conv1.weight (1, Wc, Wc), biases
 *   conditioner.blocks.{i}.up.weight (2s, Wc, Wc; Wc, W for the last stride), .bias
 *   conditioner.ln.weight, .bias (W)
 */
import * as tf from "@tensorflow/tfjs-core"
import { convTranspose1d, conv1d } from "./ops.ts"
import type { Parameters } from "./parameters.ts"
import { layerNorm } from "./transformer.ts"
import { conv, residualBlock, residualDilations } from "./vqvae.ts"

/** Artist and genre vocabularies (schemas/chunks.ts: a name's id is its index + 1, 0 is unknown). */
export interface LabelConfig {
  /** Artist ids 0 … artists − 1, 0 an unknown artist (embedded like any other) [reference: 4111]. */
  readonly artists: number
  /** Genre ids 0 … genres − 1; 0 pads a bag and adds nothing [reference: 120]. */
  readonly genres: number
}

/** The timing signal's buckets [reference: 128 bins, songs of 60 s to 600 s]. */
export interface TimingConfig {
  readonly bins: number
  /** Range of the song length, in seconds; the time within the song has range [0, maxSeconds). */
  readonly minSeconds: number
  readonly maxSeconds: number
}

/** The upsampler conditioner's sizes (reference values for its 1B upsamplers in brackets). */
export interface UpsamplerConditionerConfig {
  /** The upper level's codebook size [2048]. */
  readonly upperVocab: number
  /** Upsampling stages, each even; their product is the hop ratio between the levels [2, 2]. */
  readonly strides: readonly number[]
  /** Conv channels Wc [1024]. */
  readonly width: number
  /** Residual blocks per stage [16]. */
  readonly depth: number
  /** Dilation factor between consecutive blocks [3]. */
  readonly dilationGrowth: number
  /** Dilations restart after this many blocks [8]. */
  readonly dilationCycle?: number
  /** Standard deviation of the conv weights [0.01, about PyTorch's default for Wc = 1024]. */
  readonly initScale: number
}

/** Lower-level positions per upper-level code: the product of the strides. */
export const upsamplingRatio = (c: Pick<UpsamplerConditionerConfig, "strides">): number => c.strides.reduce((a, s) => a * s, 1)

/** The bucket of `value` in [min, max) cut into `bins`; values outside go to the end buckets. */
export const timingBin = (value: number, min: number, max: number, bins: number): number =>
  Math.min(bins - 1, Math.max(0, Math.floor((bins * (value - min)) / (max - min))))

/** Each sequence's timing buckets: its song length (B), and per position its time and fraction elapsed (B·T, row-major). */
export interface TimingBins {
  readonly total: Int32Array
  readonly time: Int32Array
  readonly fraction: Int32Array
}

/**
 * The buckets of `length` positions of windows starting at `offset` seconds into songs of `total`
 * seconds, a position lasting `secondsPerToken`.
 */
export const timingBins = (c: TimingConfig, total: readonly number[], offset: readonly number[], length: number, secondsPerToken: number): TimingBins => {
  const batch = total.length
  const time = new Int32Array(batch * length)
  const fraction = new Int32Array(batch * length)
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < length; t++) {
      const seconds = offset[b]! + t * secondsPerToken
      time[b * length + t] = timingBin(seconds, 0, c.maxSeconds, c.bins)
      fraction[b * length + t] = timingBin(seconds / total[b]!, 0, 1, c.bins)
    }
  }
  return { total: Int32Array.from(total, (seconds) => timingBin(seconds, c.minSeconds, c.maxSeconds, c.bins)), time, fraction }
}

/**
 * Labels as a weighted mix of vocabulary ids: [[id, weight], …], embedded as Σ weight · row(id).
 * Weights are taken as given, not normalised: a plain artist is [[id, 1]], a plain genre bag
 * [[g, 1], …] (training sums a bag); an interpolation between artists a and b is [[a, 1 − t], [b, t]],
 * whose weights sum to 1 to stay among the embeddings training saw.
 */
export type LabelMix = ReadonlyArray<readonly [id: number, weight: number]>

/** Artist mixes (B) and genre mixes (B × any, genre 0 left out) → the start slot's conditioning (B, 1, W). */
export type LabelEmbedding = (artist: ReadonlyArray<LabelMix>, genres: ReadonlyArray<LabelMix>) => tf.Tensor3D

/** Artist and genre embeddings, N(0, s²) (the Parameters' scale). */
export const labelEmbedding = (p: Parameters, name: string, c: LabelConfig, width: number): LabelEmbedding => {
  const artists = p.normal(`${name}.artist.weight`, [c.artists, width]) as tf.Variable<tf.Rank.R2>
  const genres = p.normal(`${name}.genre.weight`, [c.genres, width]) as tf.Variable<tf.Rank.R2>
  return (artist, bags) => {
    const batch = artist.length
    const artistSum = weightedRows(artists, artist, batch, width, () => true) // (B, W)
    const genreSum = weightedRows(genres, bags, batch, width, (id) => id > 0) // (B, W)
    return tf.reshape(tf.add(artistSum, genreSum), [batch, 1, width])
  }
}

/** Timing buckets of B sequences × T positions → their conditioning (B, T, W). */
export type TimingEmbedding = (bins: TimingBins, batch: number, length: number) => tf.Tensor3D

/** The three range embeddings, N(0, s²). */
export const timingEmbedding = (p: Parameters, name: string, c: TimingConfig, width: number): TimingEmbedding => {
  const total = p.normal(`${name}.total.weight`, [c.bins, width]) as tf.Variable<tf.Rank.R2>
  const time = p.normal(`${name}.time.weight`, [c.bins, width]) as tf.Variable<tf.Rank.R2>
  const fraction = p.normal(`${name}.fraction.weight`, [c.bins, width]) as tf.Variable<tf.Rank.R2>
  return (bins, batch, length) => {
    const perPosition = tf.add(embed(time, bins.time), embed(fraction, bins.fraction)) // (B·T, W)
    return tf.add(tf.reshape(perPosition, [batch, length, width]), tf.reshape(embed(total, bins.total), [batch, 1, width])) as tf.Tensor3D
  }
}

/** Upper-level codes (B, Tu) int32 → conditioning (B, Tu · ratio, W) at the lower level's rate. */
export type UpsamplerConditioner = (upper: tf.Tensor2D) => tf.Tensor3D

/**
 * The upsampler conditioner: its convs from `p` (whose scale is `c.initScale`), the code embedding
 * N(0, embeddingScale²) like the prior's token embeddings.
 */
export const upsamplerConditioner = (p: Parameters, name: string, c: UpsamplerConditionerConfig, width: number, embeddingScale: number): UpsamplerConditioner => {
  const odd = c.strides.filter((s) => !(Number.isInteger(s) && s >= 2 && s % 2 === 0))
  if (odd.length > 0 || c.strides.length === 0) throw new RangeError(`upsampler conditioner: strides [${c.strides.join(", ")}] must be even integers ≥ 2, at least one`)
  const embedding = p.normal(`${name}.embedding.weight`, [c.upperVocab, width], embeddingScale) as tf.Variable<tf.Rank.R2>
  const input = conv(p, `${name}.in`, 3, width, c.width)
  const stages = c.strides.map((stride, i) => {
    const blocks = residualDilations(c).map((dilation, j) => residualBlock(p, `${name}.blocks.${i}.res.${j}`, c.width, c.width, dilation))
    const up = conv(p, `${name}.blocks.${i}.up`, 2 * stride, c.width, i === c.strides.length - 1 ? width : c.width)
    return (x: tf.Tensor3D) => convTranspose1d(blocks.reduce((h, block) => block(h), x), up.weight, up.bias, { stride, padding: stride / 2 }) // (B, T, Wc) → (B, T·s, ·)
  })
  const norm = layerNorm(p, `${name}.ln`, width)
  return (upper) => {
    const [batch, length] = upper.shape
    const x = tf.reshape(tf.gather(embedding, tf.reshape(upper, [-1])), [batch, length, width]) as tf.Tensor3D // (B, Tu, W)
    const h = conv1d(x, input.weight, input.bias, { padding: 1 }) // (B, Tu, Wc)
    return norm(stages.reduce((y, stage) => stage(y), h)) // (B, Tu·ratio, W)
  }
}

/** Σ weight · row(id) over each of B mixes (0-padded to the longest), ids failing `counts` weighing 0: (B, W). */
const weightedRows = (table: tf.Tensor2D, mixes: ReadonlyArray<LabelMix>, batch: number, width: number, counts: (id: number) => boolean): tf.Tensor2D => {
  const size = Math.max(1, ...mixes.map((m) => m.length))
  const ids = new Int32Array(batch * size) // (B, M), 0-padded
  const weights = new Float32Array(batch * size) // padding weighs 0
  mixes.forEach((mix, b) => mix.forEach(([id, weight], i) => {
    ids[b * size + i] = id
    weights[b * size + i] = counts(id) ? weight : 0
  }))
  const vectors = tf.reshape(embed(table, ids), [batch, size, width]) // (B, M, W)
  return tf.sum(tf.mul(vectors, tf.reshape(tf.tensor1d(weights), [batch, size, 1])), 1) // (B, W)
}

/** Rows `ids` of an embedding table: (N, W). */
const embed = (table: tf.Tensor2D, ids: Int32Array): tf.Tensor2D => tf.gather(table, tf.tensor1d(ids, "int32"))
