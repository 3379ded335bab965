/**
 * `prior-train`: one level's prior — the top prior (labels, timing and, optionally, lyrics) or an
 * upsampler (labels and the level above's codes of the same audio) — trained on windows of the
 * level's codes streamed from the token shards (dataset/prior-windows.ts: only the rows a window
 * needs are decoded). Checkpoints go to the scratch folder every `checkpointEvery` steps, so a
 * killed run resumes and, every draw being a function of (seed, step), follows the same curve.
 * The held-out loss is measured every `evalEvery` steps and at the end, beside the unigram entropy
 * of the level's training codes. The output is a checkpoint folder like `vqvae-train`'s.
 */
import * as tf from "@tensorflow/tfjs-core"
import { Effect, Schema } from "effect"
import { priorData, type PriorData, songLabels, stackWindows, trainingBatch, evaluationWindows, readWindow, type PriorWindow } from "../dataset/prior-windows.ts"
import { codeCount, indexTokens, tokenReader } from "../dataset/token-index.ts"
import { adamVariables, createAdam } from "../models/adam.ts"
import { describeBackend, useBestBackend } from "../models/backend.ts"
import { createPrior, type Prior, type PriorBatch, type PriorConfig, priorLosses, priorParameterCount, priorTrainStep, withLyrics } from "../models/prior.ts"
import { DEMO_LYRICS, DEMO_PRIORS, JUKEBOX_LYRICS, JUKEBOX_PRIORS } from "../models/prior-presets.ts"
import { transformerTrainConfig } from "../models/transformer-train.ts"
import { Alignments } from "../schemas/alignment.ts"
import { Chunks, Vocab } from "../schemas/chunks.ts"
import { PriorCheckpoint, type PriorCheckpointConfig, PriorMetric } from "../schemas/prior.ts"
import { TokenShards } from "../schemas/tokens.ts"
import { VqvaeCheckpoint } from "../schemas/vqvae.ts"
import { Stage, StageFailed, Table, writeTable } from "../runtime/index.ts"
import { loadTrainingState, saveTrainingState, writeWeights } from "./training-state.ts"

const LEVELS = ["bottom", "middle", "top"] as const

const Params = Schema.Struct({
  /** 2 = the top prior, 1 = the middle upsampler, 0 = the bottom upsampler. */
  level: Schema.Int.pipe(Schema.between(0, 2)),
  /** Sizes: the demo's (small, fast on a CPU) or the paper's. */
  preset: Schema.optionalWith(Schema.Literal("demo", "jukebox"), { default: () => "demo" as const }),
  /** Codes per window, instead of the preset's; a multiple of its block length (demo 32, paper 64). */
  context: Schema.optional(Schema.Int.pipe(Schema.positive())),
  /** The top prior reads the lyric window through a lyrics encoder. */
  lyrics: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  steps: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 200 }),
  batch: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 4 }),
  learningRate: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 1e-3 }),
  warmupSteps: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { default: () => 20 }),
  clipNorm: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 1 }),
  checkpointEvery: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 50 }),
  /** Held-out loss every this many steps (and at the end), over at most `evalWindows` windows. */
  evalEvery: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 50 }),
  evalWindows: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 16 }),
  seed: Schema.optionalWith(Schema.Int, { default: () => 0 }),
})
type Params = typeof Params.Type

/** Trains one level's prior on the token shards. */
export const priorTrain = Stage.define({
  name: "prior-train",
  version: 1,
  description: "one level's prior (top, or an upsampler), trained on windows of its codes",
  params: Params,
  inputs: {
    tokens: TokenShards, chunks: Chunks, alignments: Alignments, vocab: Vocab,
    bottom: VqvaeCheckpoint, middle: VqvaeCheckpoint, top: VqvaeCheckpoint,
  },
  output: PriorCheckpoint,
  device: "gpu",
  // from params alone: the preset's codebook and label vocabularies (for "jukebox" the reference's 4111 artists and 120 genres) stand in for the dataset's
  estimate: (p) => {
    const presets = priorPresets(p.preset)
    const levels = LEVELS.map((name) => ({ hop: presets[name].hopLength, sampleRate: presets[name].sampleRate, codebookSize: presets[name].transformer.vocab }))
    return { parameters: priorParameterCount(priorConfig(p, levels)) }
  },
  run: ({ tokens, chunks, alignments, vocab, bottom, middle, top }, p, ctx) =>
    Effect.gen(function* () {
      const fail = (reason: string) => new StageFailed({ stage: ctx.stage, reason })
      const backend = yield* Effect.promise(() => useBestBackend())
      yield* ctx.reportBackend(describeBackend(backend))
      const vqvaes = [bottom.config, middle.config, top.config]
      const sampleRate = bottom.config.sampleRate
      const config = yield* Effect.try({ try: () => priorConfig(p, vqvaes, vocab), catch: (e) => fail((e as Error).message) })
      const context = config.transformer.contextLength

      const labels = songLabels(
        yield* chunks.all(),
        yield* alignments.all(),
        sampleRate,
      )
      const index = yield* indexTokens(tokens, new Map([...labels].map(([song, l]) => [song, l.samples])), vqvaes.map((v) => v.hop))
      const reader = tokenReader(index)
      return yield* Effect.gen(function* () {
        const data = yield* Effect.try({
          try: () => priorData(reader, labels, { level: p.level, context, sampleRate, lyricChars: config.lyrics?.encoder.contextLength ?? 0 }),
          catch: (e) => fail((e as Error).message),
        })
        for (const { song, reason } of data.plan.skipped) yield* ctx.skip(song, reason)
        if (data.plan.train.length === 0) return yield* fail(`no training song has ${context} codes at level ${p.level}; lower the context or add songs`)
        const unigramBits = yield* unigramEntropy(data, p.level, config.transformer.vocab)
        const heldOut = evaluationWindows(data.plan, p.evalWindows)

        const prior = createPrior(config, p.seed)
        const optimizer = createAdam(prior.weights)
        const training = transformerTrainConfig({ learningRate: p.learningRate, warmupSteps: p.warmupSteps, clipNorm: p.clipNorm })
        const saved = `${ctx.scratchDir}/checkpoint`
        const modelVars = new Map(prior.weights)
        const optimizerVars = adamVariables(optimizer)
        const metrics: PriorMetric[] = []
        const resumed = yield* loadTrainingState<PriorMetric>(saved, modelVars, optimizerVars)
        if (resumed) {
          optimizer.step = resumed.step
          metrics.push(...resumed.metrics)
          yield* ctx.log(`resuming from the checkpoint of step ${resumed.step}`)
        }
        const evaluate = () => heldOutLosses(prior, data, heldOut, p.batch)
        while (optimizer.step < p.steps) {
          const started = Date.now()
          const windows = yield* trainingBatch(data, p.seed, optimizer.step, p.batch)
          const m = withBatch(windows, config, (batch) => priorTrainStep(prior, optimizer, batch, training))
          if (!Number.isFinite(m.loss)) {
            const last = Math.floor((m.step - 1) / p.checkpointEvery) * p.checkpointEvery
            return yield* fail(`step ${m.step}: the loss is ${m.loss}; the last good checkpoint (step ${last}) is kept in ${saved}`)
          }
          const evaluated = m.step % p.evalEvery === 0 || m.step === p.steps ? yield* evaluate() : undefined
          metrics.push({
            step: m.step, loss: m.loss, priorBits: m.priorBits, lyricsBits: m.lyricsBits ?? Number.NaN,
            heldOutBits: evaluated?.prior ?? Number.NaN, gradientNorm: m.gradientNorm, learningRate: m.learningRate, seconds: (Date.now() - started) / 1000,
          })
          const shown = evaluated?.prior === undefined ? "" : `, held out ${evaluated.prior.toFixed(3)}`
          yield* ctx.progress(m.step, p.steps, `steps, ${m.priorBits.toFixed(3)} bits/token${shown}`)
          if (m.step % p.checkpointEvery === 0 && m.step < p.steps) yield* saveTrainingState(saved, modelVars, optimizerVars, { step: optimizer.step, metrics })
        }
        const final = yield* evaluate()
        if (final.prior !== undefined) {
          yield* ctx.log(`held out: ${final.prior.toFixed(3)} bits/token (unigram entropy of the training codes: ${unigramBits.toFixed(3)})`)
        }
        yield* writeWeights(ctx.outDir, modelVars, optimizerVars, optimizer.step, { level: String(p.level) })
        yield* writeTable(Table(PriorMetric), metrics, ctx.outDir, { prefix: "metrics" }).pipe(Effect.mapError((e) => fail(e.message)))
        tf.dispose([...modelVars.values(), ...optimizerVars.values()])
        return {
          level: p.level, model: config as unknown as Record<string, unknown>, steps: optimizer.step, seed: p.seed,
          heldOutBits: final.prior ?? null, unigramBits, heldOutLyricsBits: final.lyrics ?? null,
          trainSongs: data.plan.train.length, heldOutWindows: heldOut.length,
        } satisfies PriorCheckpointConfig
      }).pipe(Effect.ensuring(Effect.sync(() => reader.close())))
    }),
})

/** The prior presets of a `preset` param. */
const priorPresets = (preset: Params["preset"]) => (preset === "demo" ? DEMO_PRIORS : JUKEBOX_PRIORS)

/**
 * The prior's config: the preset of the level, with the vocabularies of this dataset (labels, when
 * given, and codebooks), the VQ-VAE's clock, and the lyrics encoder when asked for (top level only).
 */
export const priorConfig = (
  p: Pick<Params, "level" | "preset" | "lyrics" | "context">,
  vqvaes: ReadonlyArray<{ readonly hop: number; readonly sampleRate: number; readonly codebookSize: number }>,
  vocab?: { readonly artists: ReadonlyArray<string>; readonly genres: ReadonlyArray<string> },
): PriorConfig => {
  const base: PriorConfig = priorPresets(p.preset)[LEVELS[p.level]!]
  const level = vqvaes[p.level]!
  const upper = vqvaes[p.level + 1]
  let config: PriorConfig = {
    ...base,
    hopLength: level.hop,
    sampleRate: level.sampleRate,
    transformer: { ...base.transformer, vocab: level.codebookSize, contextLength: p.context ?? base.transformer.contextLength },
    ...(vocab === undefined ? {} : { labels: { artists: vocab.artists.length + 1, genres: vocab.genres.length + 1 } }),
  }
  const { contextLength, blockLength } = config.transformer
  if (contextLength % blockLength !== 0) throw new RangeError(`context ${contextLength} is not a multiple of the block length ${blockLength}`)
  if (config.upsampler !== undefined && upper !== undefined) {
    const ratio = config.upsampler.strides.reduce((a, s) => a * s, 1)
    if (ratio !== upper.hop / level.hop) {
      throw new RangeError(`the ${LEVELS[p.level]} upsampler's conditioner upsamples ×${ratio} but the VQ-VAE's hops are ${level.hop} and ${upper.hop}`)
    }
    config = { ...config, upsampler: { ...config.upsampler, upperVocab: upper.codebookSize } }
  }
  if (p.lyrics) {
    if (p.level !== 2) throw new RangeError(`only the top prior reads lyrics; level ${p.level} was asked to`)
    config = withLyrics(config, p.preset === "demo" ? DEMO_LYRICS : JUKEBOX_LYRICS)
  }
  return config
}

/** Runs `f` on the tensors of a batch of windows, freeing them after. */
const withBatch = <A>(windows: ReadonlyArray<PriorWindow>, config: PriorConfig, f: (batch: PriorBatch) => A): A => {
  const stacked = stackWindows(windows)
  const size = stacked.size
  const length = stacked.tokens.length / size
  const tensors: tf.Tensor[] = []
  const tensor = (values: Int32Array, columns: number) => {
    const t = tf.tensor2d(values, [size, columns], "int32")
    tensors.push(t)
    return t
  }
  const batch: PriorBatch = {
    tokens: tensor(stacked.tokens, length),
    artist: stacked.artist,
    genres: stacked.genres,
    total: stacked.total,
    offset: stacked.offset,
    ...(config.upsampler && stacked.upper ? { upper: tensor(stacked.upper, stacked.upper.length / size) } : {}),
    ...(config.lyrics ? { lyrics: tensor(stacked.lyrics, stacked.lyrics.length / size) } : {}),
  }
  try {
    return f(batch)
  } finally {
    tf.dispose(tensors)
  }
}

/** Mean held-out losses over `windows`, read and scored `batch` at a time. */
const heldOutLosses = (prior: Prior, data: PriorData, windows: ReturnType<typeof evaluationWindows>, batch: number) =>
  Effect.gen(function* () {
    if (windows.length === 0) return { prior: undefined, lyrics: undefined }
    let priorSum = 0
    let lyricsSum = 0
    for (let i = 0; i < windows.length; i += batch) {
      const read = yield* Effect.forEach(windows.slice(i, i + batch), (place) => readWindow(data, place))
      const [priorBits, lyricsBits] = withBatch(read, prior.config, (b) =>
        tf.tidy(() => {
          const losses = priorLosses(prior, b)
          return [losses.prior.dataSync()[0]!, losses.lyrics?.dataSync()[0] ?? 0]
        }))
      priorSum += priorBits! * read.length
      lyricsSum += lyricsBits! * read.length
    }
    return { prior: priorSum / windows.length, lyrics: prior.config.lyrics ? lyricsSum / windows.length : undefined }
  })

/** Entropy in bits of the histogram of every training song's codes at `level`. */
const unigramEntropy = (data: PriorData, level: number, vocab: number) =>
  Effect.gen(function* () {
    const counts = new Float64Array(vocab)
    for (const { song } of data.plan.train) {
      const codes = yield* data.reader.read(song, level, 0, codeCount(data.reader.index, song, level))
      for (const code of codes) counts[code]! += 1
    }
    const total = counts.reduce((a, c) => a + c, 0)
    return counts.reduce((h, c) => (c === 0 ? h : h - (c / total) * Math.log2(c / total)), 0)
  })
