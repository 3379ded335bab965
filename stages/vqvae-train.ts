/**
 * `vqvae-train`: trains one level's autoencoder on clips of the training chunks (shifted and
 * downmixed at random). Checkpoints go to the scratch folder every `checkpointEvery` steps, so a
 * killed run resumes where it stopped and, every random draw being a function of (seed, step),
 * follows the same loss curve. A NaN or infinite loss stops the stage and keeps the last good
 * checkpoint. The output is a checkpoint folder: `model.safetensors`, `optimizer.safetensors`,
 * `config.json` and the per-step `metrics` table.
 */
import * as tf from "@tensorflow/tfjs-core"
import { Effect, Schema } from "effect"
import { join } from "node:path"
import { clipSampler } from "../dataset/batches.ts"
import { adamVariables, createAdam } from "../models/adam.ts"
import { describeBackend, useBestBackend } from "../models/backend.ts"
import { measureLossScale } from "../models/losses.ts"
import { seededRandom } from "../models/random.ts"
import { trainConfig, trainStep } from "../models/train-step.ts"
import {
  autoencoderParameterCount, autoencoderVariables, bottleneckStateSize, createAutoencoder, DEMO_VQVAE, hopLength, JUKEBOX_VQVAE, levelConfig,
} from "../models/vqvae.ts"
import { Ingested } from "../schemas/audio.ts"
import { Chunks } from "../schemas/chunks.ts"
import { TrainMetric, VqvaeCheckpoint, type VqvaeConfig } from "../schemas/vqvae.ts"
import { Stage, Table, writeTable } from "../runtime/index.ts"
import { StageFailed } from "../runtime/errors.ts"
import { loadTrainingState, saveTrainingState, writeWeights } from "./training-state.ts"

const Params = Schema.Struct({
  /** 0 = bottom (hop 8 in the paper), 1 = middle, 2 = top. */
  level: Schema.Int.pipe(Schema.between(0, 2)),
  /** Sizes: the demo's (narrow, fast on a CPU) or the paper's. */
  preset: Schema.optionalWith(Schema.Literal("demo", "jukebox"), { default: () => "demo" as const }),
  steps: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 200 }),
  batch: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 4 }),
  /** Samples per training clip; a multiple of the level's hop. */
  clipSamples: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 8192 }),
  learningRate: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 3e-4 }),
  warmupSteps: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { default: () => 50 }),
  clipNorm: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 10 }),
  checkpointEvery: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 50 }),
  seed: Schema.optionalWith(Schema.Int, { default: () => 0 }),
})

/** The VQ-VAE of each `preset`; the sample rate is the ingested audio's. */
const PRESETS = { demo: DEMO_VQVAE, jukebox: JUKEBOX_VQVAE } as const

/** Trains one level of the VQ-VAE. */
export const vqvaeTrain = Stage.define({
  name: "vqvae-train",
  version: 1,
  description: "one level's VQ-VAE, trained on random clips of the training chunks",
  params: Params,
  inputs: { chunks: Chunks, audio: Ingested },
  output: VqvaeCheckpoint,
  device: "gpu",
  estimate: (p) => {
    const level = levelConfig(PRESETS[p.preset], p.level)
    return { parameters: autoencoderParameterCount(level), buffers: bottleneckStateSize(level) }
  },
  run: ({ chunks, audio }, p, ctx) =>
    Effect.gen(function* () {
      const backend = yield* Effect.promise(() => useBestBackend())
      yield* ctx.reportBackend(describeBackend(backend))
      const mixes = (yield* audio.all()).filter((r) => r.source === "mix")
      const train = (yield* chunks.all()).filter((c) => c.split === "train")
      const fail = (reason: string) => new StageFailed({ stage: ctx.stage, reason })
      if (mixes.length === 0 || train.length === 0) return yield* fail("no training audio: every song was set aside or held out")
      const sampleRate = mixes[0]!.sampleRate
      const vqvae = { ...PRESETS[p.preset], sampleRate }
      const level = levelConfig(vqvae, p.level)
      const hop = hopLength(level)
      if (p.clipSamples % hop !== 0) return yield* fail(`clipSamples ${p.clipSamples} is not a multiple of level ${p.level}'s hop (${hop})`)
      const songs = new Map(mixes.map((r) => [r.song, { left: r.left, right: r.right }]))
      // every draw is a function of (seed, step): a resumed run sees the batches it would have seen
      const batchAt = (step: number) => {
        const random = seededRandom(p.seed, 7, step)
        const clips = clipSampler(train, songs, sampleRate, p.clipSamples, random.uniform)(p.batch)
        return tf.tensor3d(clips, [p.batch, p.clipSamples, 1])
      }
      const model = createAutoencoder(level, p.seed)
      const optimizer = createAdam(model.weights)
      const scaleBatch = batchAt(-1)
      const lossScale = measureLossScale(scaleBatch, trainConfig(vqvae).stfts)
      scaleBatch.dispose()
      const config = trainConfig(vqvae, { learningRate: p.learningRate, warmupSteps: p.warmupSteps, clipNorm: p.clipNorm, seed: p.seed, lossScale })
      const modelVars = autoencoderVariables(model)
      const optimizerVars = adamVariables(optimizer)
      const saved = join(ctx.scratchDir, "checkpoint")
      const metrics: TrainMetric[] = []
      const resumed = yield* loadTrainingState<TrainMetric>(saved, modelVars, optimizerVars)
      if (resumed) {
        optimizer.step = resumed.step
        metrics.push(...resumed.metrics)
        yield* ctx.log(`resuming from the checkpoint of step ${resumed.step}`)
      }
      while (optimizer.step < p.steps) {
        const started = Date.now()
        const batch = batchAt(optimizer.step)
        const m = trainStep(model, optimizer, batch, config)
        batch.dispose()
        if (!Number.isFinite(m.loss)) {
          const last = metrics.length > 0 ? Math.floor((m.step - 1) / p.checkpointEvery) * p.checkpointEvery : 0
          return yield* fail(`step ${m.step}: the loss is ${m.loss}; the last good checkpoint (step ${last}) is kept in ${saved}`)
        }
        metrics.push({ ...m, seconds: (Date.now() - started) / 1000 })
        yield* ctx.progress(m.step, p.steps, `steps, loss ${m.loss.toFixed(3)}, ${m.usage} codes`)
        if (m.step % p.checkpointEvery === 0 && m.step < p.steps) yield* saveTrainingState(saved, modelVars, optimizerVars, { step: optimizer.step, metrics })
      }
      yield* writeWeights(ctx.outDir, modelVars, optimizerVars, optimizer.step, { level: String(p.level) })
      yield* writeTable(Table(TrainMetric), metrics, ctx.outDir, { prefix: "metrics" }).pipe(Effect.mapError((e) => fail(e.message)))
      tf.dispose([...modelVars.values(), ...optimizerVars.values()])
      const { dilationCycle, ...sizes } = level
      return {
        level: p.level, sampleRate, hop, ...sizes, ...(dilationCycle === undefined ? {} : { dilationCycle }), steps: optimizer.step, seed: p.seed,
      } satisfies VqvaeConfig
    }),
})
