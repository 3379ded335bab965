/**
 * `encode`, one partition per song: the codes of every VQ-VAE level, in windows of up to
 * `windowTokens`, as token shards. Deterministic: the same checkpoints and audio give the same
 * bytes. The song is downmixed to mono (an even blend).
 */
import * as tf from "@tensorflow/tfjs-core"
import { Effect, Schema } from "effect"
import { downmix } from "../audio/stats.ts"
import { describeBackend, useBestBackend } from "../models/backend.ts"
import { encodeSong } from "../models/segments.ts"
import { autoencoderVariables } from "../models/vqvae.ts"
import { Ingested } from "../schemas/audio.ts"
import { Songs } from "../schemas/songs.ts"
import { type TokenWindow, TokenShards } from "../schemas/tokens.ts"
import { VqvaeCheckpoint } from "../schemas/vqvae.ts"
import { Stage, StageFailed } from "../runtime/index.ts"
import { loadAutoencoder } from "./vqvae-checkpoint.ts"

/** Encodes every song at every level into token shards. */
export const encode = Stage.define({
  name: "encode",
  version: 1,
  isolated: true,
  description: "each song's codes at every level, as Parquet token shards",
  params: Schema.Struct({
    windowTokens: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 8192 }),
  }),
  inputs: { songs: Songs, audio: Ingested, bottom: VqvaeCheckpoint, middle: VqvaeCheckpoint, top: VqvaeCheckpoint },
  partitionBy: { input: "songs", column: "id", join: { audio: "song" } },
  output: TokenShards,
  run: ({ audio, bottom, middle, top }, p, ctx) =>
    Effect.gen(function* () {
      const backend = yield* Effect.promise(() => useBestBackend())
      yield* ctx.reportBackend(describeBackend(backend))
      const models = yield* Effect.promise(() => Promise.all([bottom, middle, top].map(loadAutoencoder)))
      const rows: TokenWindow[] = []
      for (const source of (yield* audio.all()).filter((r) => r.source === "mix")) {
        const trainedAt = bottom.config.sampleRate
        if (source.sampleRate !== trainedAt) {
          return yield* new StageFailed({ stage: ctx.stage, reason: `${source.song} is ingested at ${source.sampleRate} Hz but the VQ-VAE was trained at ${trainedAt} Hz` })
        }
        const mono = downmix([source.left, source.right], 0.5)
        ;[bottom, middle, top].forEach((checkpoint, level) => {
          const tokens = encodeSong(models[level]!, mono, checkpoint.config.hop)
          for (let window = 0, start = 0; start < tokens.length; window++, start += p.windowTokens) {
            rows.push({ song_id: source.song, level, window, start, tokens: tokens.subarray(start, start + p.windowTokens) })
          }
        })
      }
      for (const model of models) tf.dispose([...autoencoderVariables(model).values()])
      return rows
    }),
})
