/**
 * One level's prior (paper-notes "Priors and upsamplers"; the reference's SimplePrior): the Scalable
 * Transformer over the level's codes, and what conditions it.
 *
 *   conditioning (B, T, W) = labels at row 0 (the start slot)        conditioning.ts
 *                          + timing at every row
 *                          + upsampler conditioner of the upper codes of the same audio
 *   encoder output          = lyrics encoder states (B, Tl, We)      lyrics-encoder.ts
 *   logits (B, T, vocab)    = transformer(tokens, conditioning, encoder output)   transformer.ts
 *   lyric attention         = an encoder-decoder layer's weights (B, H, T, Tl): the alignment (alignment.ts)
 *   loss                    = (T · prior bits/token + f · Tl · lyric bits/char) / (T + Tl)   (the reference's)
 *
 * As in the reference: labels at every level, timing at the top only, the upsampler conditioner at
 * the levels below it, lyrics at the top — added to a trained top prior by `addLyrics` (paper B.3).
 * Where this differs from the reference: the label embedding is added to the start embedding
 * rather than replacing it (the start embedding becomes a learned bias of the label sum); the
 * upsampler conditioning is added at the input only (the reference's unmerged decoders add it again
 * after the last block); timing values outside their range are clamped, not refused; a genre bag
 * has any size; the lyrics loss leaves out character id 0.
 *
 * Weights, one map: `prior.*` (the Transformer's names), `labels.*`, `timing.*`, `conditioner.*`
 * (conditioning.ts), `lyrics_encoder.*` (the encoder Transformer's names).
 *
 * Call `useBestBackend()` (backend.ts) once before the first training step.
 */
import * as tf from "@tensorflow/tfjs-core"
import type { AdamState } from "./adam.ts"
import {
  labelEmbedding,
  timingBins,
  timingEmbedding,
  upsamplerConditioner,
  upsamplingRatio,
  type LabelConfig,
  type LabelMix,
  type TimingConfig,
  type UpsamplerConditionerConfig,
} from "./conditioning.ts"
import { checkLyricsConfig, encodeLyrics, lyricsBits, type LyricsConfig } from "./lyrics-encoder.ts"
import { Parameters } from "./parameters.ts"
import { seededRandom } from "./random.ts"
import { crossEntropyBits, gradientStep, type TransformerStepMetrics, type TransformerTrainConfig } from "./transformer-train.ts"
import {
  addEncoderDecoderLayers,
  createTransformer,
  encoderDecoderLayers,
  transformerParameterCount,
  type AttentionType,
  type Sampler,
  type Transformer,
  type TransformerConfig,
  type TransformerInputs,
} from "./transformer.ts"

export type { LabelConfig, LabelMix, TimingConfig, UpsamplerConditionerConfig } from "./conditioning.ts"
export type { LyricsConfig } from "./lyrics-encoder.ts"

/** One level's prior: plain data. */
export interface PriorConfig {
  /** Audio samples per token at this level [8, 32, 128] and the sample rate: the timing signal's clock. */
  readonly hopLength: number
  readonly sampleRate: number
  /** The Transformer; `conditioning` exactly when labels, timing or the upsampler conditioner are set. */
  readonly transformer: TransformerConfig
  readonly labels?: LabelConfig
  readonly timing?: TimingConfig
  /** The levels below the top: the upper level's codes, upsampled to this level's rate. */
  readonly upsampler?: UpsamplerConditionerConfig
  /** The top level after `addLyrics`: the lyrics encoder; the Transformer then has encoder-decoder layers of width encoder.width. */
  readonly lyrics?: LyricsConfig
}

/**
 * What conditions B sequences. Labels and timing are plain numbers per sequence (ignored by a
 * prior without labels or timing); the tensors are refused by a prior that does not take them.
 */
export interface PriorConditions {
  /** Artist id per sequence (B): vocabulary index + 1, 0 unknown. Needed with `labels`. */
  readonly artist?: readonly number[]
  /** Genre ids per sequence, any number each, 0s ignored (B × any). None when absent. */
  readonly genres?: ReadonlyArray<readonly number[]>
  /** Instead of `artist`: a weighted mix of artist ids per sequence (B), e.g. [[a, 1 − t], [b, t]]; weights as given (conditioning.ts `LabelMix`). */
  readonly artistMix?: ReadonlyArray<LabelMix>
  /** Instead of `genres`: a weighted mix of genre ids per sequence (B), 0s ignored; [[g, 1], …] is the plain bag. */
  readonly genreMix?: ReadonlyArray<LabelMix>
  /** Length of each song, in seconds (B). Needed with `timing`. */
  readonly total?: readonly number[]
  /** Where token 0 of each window starts in its song, in seconds (B). Needed with `timing`. */
  readonly offset?: readonly number[]
  /** The upper level's codes of the same audio, (B, T / ratio) int32. Needed with `upsampler`. */
  readonly upper?: tf.Tensor2D
  /** The lyric window's character ids (B, Tl) int32, Tl ≤ the encoder's context. Needed with `lyrics`. */
  readonly lyrics?: tf.Tensor2D
}

/** A training batch: windows of codes and what conditions them. */
export interface PriorBatch extends PriorConditions {
  /** (B, T) int32, T ≤ the context. */
  readonly tokens: tf.Tensor2D
  /** (B, T): 1 where a token counts in the loss, 0 for padding; every token counts when absent. */
  readonly mask?: tf.Tensor2D
}

/** The Transformer's inputs for some conditions, and the lyrics encoder's logits when it has one. */
export interface ConditionedInputs {
  readonly inputs: TransformerInputs
  /** (B, Tl, lyric vocab). */
  readonly lyricLogits?: tf.Tensor3D
}

/** What a forward pass gives. */
export interface PriorOutput {
  /** (B, T, vocab): row t is the distribution of token t. */
  readonly logits: tf.Tensor3D
  /** (B, Tl, lyric vocab): row t is the distribution of character t. */
  readonly lyricLogits?: tf.Tensor3D
}

/** A prior: weights, conditioning, forward pass and sampler. */
export interface Prior {
  readonly config: PriorConfig
  /** Every trainable weight, by prefixed name, in creation order. */
  readonly weights: ReadonlyMap<string, tf.Variable>
  readonly transformer: Transformer
  readonly lyricsEncoder: Transformer | undefined
  /** Conditions of `batch` sequences → the Transformer's inputs over `length` positions (call inside a tidy or a gradient tape). */
  readonly condition: (conditions: PriorConditions, batch: number, length: number) => ConditionedInputs
  readonly forward: (batch: PriorBatch) => PriorOutput
  /**
   * How the music tokens of `batch` read its lyrics: the softmax weights (B, heads, T, Tl) of
   * encoder-decoder layer `layer` (a Transformer layer index; the last encoder-decoder layer by
   * default). Paper 5.3: some head of these layers learns the lyrics-to-music alignment.
   */
  readonly lyricAttention: (batch: PriorBatch, layer?: number) => tf.Tensor4D
  /**
   * A cached decoder of `batch` sequences (transformer.ts `Sampler`), its conditioning and lyric
   * states computed once, over the whole context (or what `upper` covers); `dispose` frees them too.
   */
  readonly sampler: (batch: number, conditions: PriorConditions) => Sampler
}

/** A freshly initialised prior; the same seed gives the same weights on every backend. */
export const createPrior = (config: PriorConfig, seed: number): Prior => {
  checkPriorConfig(config)
  return assemble(config, seed, createTransformer(config.transformer, seed))
}

/** How `addLyrics` changes a top prior: its lyrics encoder, and the decoder's layers with encoder-decoder ones inserted. */
export interface LyricsSurgery {
  readonly lyrics: LyricsConfig
  /** The new depth and pattern: the old layers in order, encoder-decoder layers between them. */
  readonly depth: number
  readonly pattern: readonly AttentionType[]
}

/** The config `addLyrics` gives a prior of `config`. */
export const withLyrics = (config: PriorConfig, surgery: LyricsSurgery): PriorConfig => ({
  ...config,
  transformer: { ...config.transformer, depth: surgery.depth, pattern: surgery.pattern, encoderWidth: surgery.lyrics.encoder.width },
  lyrics: surgery.lyrics,
})

/**
 * Model surgery (paper B.3): `trained` (a prior without lyrics) with a fresh lyrics encoder and
 * encoder-decoder layers whose output projections are zero, holding copies of its weights: until
 * the new layers learn, its logits are `trained`'s whatever the lyrics.
 */
export const addLyrics = (trained: Prior, surgery: LyricsSurgery, seed: number): Prior => {
  if (trained.config.lyrics !== undefined) throw new RangeError("addLyrics: the prior already reads lyrics")
  const config = withLyrics(trained.config, surgery)
  checkPriorConfig(config)
  const prior = assemble(config, seed, addEncoderDecoderLayers(trained.transformer, config.transformer, seed))
  tf.tidy(() => {
    for (const [name, weight] of trained.weights) if (!name.startsWith(TRANSFORMER_PREFIX)) prior.weights.get(name)!.assign(weight)
  })
  return prior
}

/** Losses of one batch, scalars in bits: the total, the prior's per token, the lyrics encoder's per character. */
export interface PriorLosses {
  readonly loss: tf.Scalar
  readonly prior: tf.Scalar
  readonly lyrics?: tf.Scalar
}

/** The losses of `batch` (call inside a tidy or a gradient tape). */
export const priorLosses = (prior: Prior, batch: PriorBatch): PriorLosses => {
  const { tokens, mask } = batch
  const [size, length] = tokens.shape
  const { inputs, lyricLogits } = prior.condition(batch, size, length)
  const priorBits = crossEntropyBits(prior.transformer.forward(tokens, inputs), tokens, mask)
  if (lyricLogits === undefined) return { loss: priorBits, prior: priorBits }
  const lyrics = lyricsBits(lyricLogits, batch.lyrics!)
  const characters = lyricLogits.shape[1]
  const weighted = tf.add(tf.mul(priorBits, length), tf.mul(lyrics, prior.config.lyrics!.lossFraction * characters))
  return { loss: tf.div(weighted, length + characters) as tf.Scalar, prior: priorBits, lyrics }
}

/** What one training step reports: `loss` is the total, and its parts. */
export interface PriorStepMetrics extends TransformerStepMetrics {
  /** The prior's cross-entropy, bits per token. */
  readonly priorBits: number
  /** The lyrics encoder's, bits per known character; with lyrics only. */
  readonly lyricsBits?: number
}

/** Trains `weights` (all the prior's by default) on one batch; `optimizer` holds moments for exactly those weights. */
export const priorTrainStep = (
  prior: Prior,
  optimizer: AdamState,
  batch: PriorBatch,
  config: TransformerTrainConfig,
  weights: ReadonlyMap<string, tf.Variable> = prior.weights,
): PriorStepMetrics => {
  let parts: tf.Tensor1D | undefined
  const metrics = gradientStep(weights, optimizer, () => {
    const losses = priorLosses(prior, batch)
    parts = tf.keep(tf.stack(losses.lyrics === undefined ? [losses.prior] : [losses.prior, losses.lyrics]) as tf.Tensor1D)
    return losses.loss
  }, config)
  const [priorBits, lyrics] = parts!.dataSync()
  parts!.dispose()
  return { ...metrics, priorBits: priorBits!, ...(lyrics === undefined ? {} : { lyricsBits: lyrics }) }
}

/** Trainable numbers of a prior of `config`, without building it. */
export const priorParameterCount = (config: PriorConfig): number => {
  const width = config.transformer.width
  const labels = config.labels ? (config.labels.artists + config.labels.genres) * width : 0
  const timing = config.timing ? 3 * config.timing.bins * width : 0
  const lyrics = config.lyrics ? transformerParameterCount(config.lyrics.encoder) : 0
  return transformerParameterCount(config.transformer) + labels + timing + (config.upsampler ? conditionerParameterCount(config.upsampler, width) : 0) + lyrics
}

// ---------------------------------------------------------------------------------------------

/** The Transformer's weights' prefix in a prior's map. */
const TRANSFORMER_PREFIX = "prior."

/** A prior of `config` around `transformer`, its other parts fresh from `seed`. */
const assemble = (config: PriorConfig, seed: number, transformer: Transformer): Prior => {
  const { width, initScale, contextLength } = config.transformer
  const secondsPerToken = config.hopLength / config.sampleRate
  const p = new Parameters(seededRandom(seed, 1), initScale)
  const labels = config.labels && labelEmbedding(p, "labels", config.labels, width)
  const timing = config.timing && timingEmbedding(p, "timing", config.timing, width)
  const convs = new Parameters(seededRandom(seed, 2), config.upsampler?.initScale ?? initScale)
  const conditioner = config.upsampler && upsamplerConditioner(convs, "conditioner", config.upsampler, width, initScale)
  const lyricsEncoder = config.lyrics && createTransformer(config.lyrics.encoder, seededRandom(seed, 3).int(2 ** 31))
  const weights = new Map([
    ...prefixed(TRANSFORMER_PREFIX, transformer.weights),
    ...p.variables,
    ...convs.variables,
    ...(lyricsEncoder ? prefixed("lyrics_encoder.", lyricsEncoder.weights) : []),
  ])

  const condition = (c: PriorConditions, batch: number, length: number): ConditionedInputs => {
    checkConditions(config, c, batch, length)
    const parts: tf.Tensor3D[] = []
    if (labels) parts.push(tf.pad(labels(...labelMixes(c)), [[0, 0], [0, length - 1], [0, 0]])) // (B, 1, W) → row 0 of (B, T, W)
    if (timing) parts.push(timing(timingBins(config.timing!, c.total!, c.offset!, length, secondsPerToken), batch, length)) // (B, T, W)
    if (conditioner) {
      const upsampled = conditioner(c.upper!) // (B, Tu·ratio, W)
      parts.push(upsampled.shape[1] === length ? upsampled : tf.slice(upsampled, [0, 0, 0], [batch, length, width]))
    }
    const lyrics = lyricsEncoder && encodeLyrics(lyricsEncoder, c.lyrics!)
    const inputs: TransformerInputs = {
      ...(parts.length > 0 ? { conditioning: parts.length === 1 ? parts[0]! : (tf.addN(parts) as tf.Tensor3D) } : {}),
      ...(lyrics ? { encoderOutput: lyrics.states } : {}),
    }
    return lyrics ? { inputs, lyricLogits: lyrics.logits } : { inputs }
  }

  return {
    config,
    weights,
    transformer,
    lyricsEncoder,
    condition,
    forward: (batch) =>
      tf.tidy(() => {
        const [size, length] = batch.tokens.shape
        const { inputs, lyricLogits } = condition(batch, size, length)
        const logits = transformer.forward(batch.tokens, inputs)
        return lyricLogits ? { logits, lyricLogits } : { logits }
      }),
    lyricAttention: (batch, layer) => {
      const layers = encoderDecoderLayers(config.transformer)
      if (config.lyrics === undefined) throw new RangeError("lyricAttention: the prior reads no lyrics (a top prior after addLyrics does)")
      const chosen = layer ?? layers.at(-1)!
      if (!layers.includes(chosen)) throw new RangeError(`lyricAttention: layer ${chosen} is not an encoder-decoder layer; those are ${layers.join(", ")}`)
      return tf.tidy(() => {
        const [size, length] = batch.tokens.shape
        return transformer.attentionWeights(batch.tokens, chosen, condition(batch, size, length).inputs)
      })
    },
    sampler: (batch, conditions) => {
      const length = conditions.upper && config.upsampler ? Math.min(contextLength, conditions.upper.shape[1] * upsamplingRatio(config.upsampler)) : contextLength
      const inputs = tf.tidy(() => condition(conditions, batch, length).inputs as tf.NamedTensorMap) as TransformerInputs // once per window
      const sampler = transformer.sampler(batch, inputs)
      return {
        get length() {
          return sampler.length
        },
        start: () => sampler.start(),
        step: (tokens) => sampler.step(tokens),
        dispose: () => {
          sampler.dispose()
          tf.dispose([inputs.conditioning, inputs.encoderOutput].filter((t) => t !== undefined))
        },
      }
    },
  }
}

/** Throws, saying what is wrong, unless the parts of `config` fit together. */
const checkPriorConfig = (config: PriorConfig): void => {
  const { transformer, lyrics } = config
  const conditioned = config.labels !== undefined || config.timing !== undefined || config.upsampler !== undefined
  if (transformer.conditioning !== conditioned) {
    throw new RangeError(`prior: transformer.conditioning is ${transformer.conditioning}, but the prior ${conditioned ? "has" : "has no"} labels, timing or upsampler conditioner`)
  }
  const encoderDecoder = transformer.pattern.includes("encoder-decoder")
  if (encoderDecoder !== (lyrics !== undefined)) throw new RangeError(`prior: encoder-decoder layers go with a lyrics encoder; the config has ${encoderDecoder ? "layers but no encoder" : "an encoder but no layers"}`)
  if (lyrics) {
    checkLyricsConfig(lyrics)
    if (transformer.encoderWidth !== lyrics.encoder.width) throw new RangeError(`prior: encoderWidth ${transformer.encoderWidth} is not the lyrics encoder's width ${lyrics.encoder.width}`)
  }
  if (config.timing && !(config.timing.maxSeconds > config.timing.minSeconds && config.timing.minSeconds >= 0)) {
    throw new RangeError(`prior: timing range ${config.timing.minSeconds}-${config.timing.maxSeconds} s is empty`)
  }
}

/** Throws, saying what is wrong, unless `c` holds what `config` needs for `batch` sequences over `length` positions. */
const checkConditions = (config: PriorConfig, c: PriorConditions, batch: number, length: number): void => {
  const perSequence = (name: string, values: readonly unknown[] | undefined, why: string) => {
    if (values === undefined) throw new RangeError(`prior: ${name} is needed (${why})`)
    if (values.length !== batch) throw new RangeError(`prior: ${values.length} ${name} values for ${batch} sequences`)
  }
  const ids = (name: string, values: readonly number[], size: number) => {
    const bad = values.find((id) => !Number.isInteger(id) || id < 0 || id >= size)
    if (bad !== undefined) throw new RangeError(`prior: ${name} id ${bad} is outside 0 … ${size - 1}`)
  }
  const mixes = (name: string, values: ReadonlyArray<LabelMix>, size: number) => {
    perSequence(name, values, "the prior has labels")
    for (const mix of values) {
      ids(name, mix.map(([id]) => id), size)
      const bad = mix.find(([, weight]) => !Number.isFinite(weight))
      if (bad !== undefined) throw new RangeError(`prior: ${name} id ${bad[0]} has weight ${bad[1]}`)
    }
  }
  if (config.labels) {
    if (c.artistMix !== undefined) mixes("artistMix", c.artistMix, config.labels.artists)
    else {
      perSequence("artist", c.artist, "the prior has labels")
      ids("artist", c.artist!, config.labels.artists)
    }
    if (c.genreMix !== undefined) mixes("genreMix", c.genreMix, config.labels.genres)
    else if (c.genres !== undefined) {
      perSequence("genres", c.genres, "the prior has labels")
      for (const bag of c.genres) ids("genre", bag, config.labels.genres)
    }
  }
  if (config.timing) {
    perSequence("total", c.total, "the prior has timing")
    perSequence("offset", c.offset, "the prior has timing")
    const bad = c.total!.findIndex((seconds) => !(seconds > 0))
    if (bad >= 0) throw new RangeError(`prior: song ${bad} has a length of ${c.total![bad]} s`)
  }
  if ((c.upper !== undefined) !== (config.upsampler !== undefined)) throw new RangeError(`prior: the config ${config.upsampler ? "needs" : "takes no"} upper-level codes`)
  if (c.upper && config.upsampler) {
    const [b, codes] = c.upper.shape
    const ratio = upsamplingRatio(config.upsampler)
    if (b !== batch || codes * ratio < length) throw new RangeError(`prior: upper codes are [${c.upper.shape.join(", ")}], they must be [${batch}, ≥ ${Math.ceil(length / ratio)}] (${length} tokens ÷ ${ratio})`)
  }
  if ((c.lyrics !== undefined) !== (config.lyrics !== undefined)) throw new RangeError(`prior: the config ${config.lyrics ? "needs" : "takes no"} lyrics`)
  if (c.lyrics && config.lyrics) {
    const [b, characters] = c.lyrics.shape
    const most = config.lyrics.encoder.contextLength
    if (b !== batch || characters < 1 || characters > most) throw new RangeError(`prior: lyrics are [${c.lyrics.shape.join(", ")}], they must be [${batch}, 1 … ${most}]`)
  }
}

/** The labels of `c` as mixes: a mix where given, else each plain id weighing 1 (the same sums, bit for bit). */
const labelMixes = (c: PriorConditions): [artist: ReadonlyArray<LabelMix>, genres: ReadonlyArray<LabelMix>] => [
  c.artistMix ?? c.artist!.map((id) => [[id, 1]] as const),
  c.genreMix ?? (c.genres ?? []).map((bag) => bag.map((id) => [id, 1] as const)),
]

/** Trainable numbers of an upsampler conditioner feeding width W. */
const conditionerParameterCount = (c: UpsamplerConditionerConfig, width: number): number => {
  const convCount = (kernel: number, inputs: number, outputs: number) => kernel * inputs * outputs + outputs
  const stage = (i: number) =>
    c.depth * (convCount(3, c.width, c.width) + convCount(1, c.width, c.width)) + convCount(2 * c.strides[i]!, c.width, i === c.strides.length - 1 ? width : c.width)
  return c.upperVocab * width + convCount(3, width, c.width) + c.strides.reduce((n, _, i) => n + stage(i), 0) + 2 * width
}

const prefixed = (prefix: string, weights: ReadonlyMap<string, tf.Variable>): [string, tf.Variable][] => [...weights].map(([name, w]) => [prefix + name, w])
