/**
 * `decode`, one partition per song: token shards back to audio through each level's VQ-VAE
 * decoder, one WAV per song and level (`<song>/level-<n>.wav`). The tokens may come from `encode`
 * or from anywhere else with the same schema (a sampler).
 */
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { encodeWav } from "../audio/wav.ts"
import { describeBackend, useBestBackend } from "../models/backend.ts"
import { decodeSong } from "../models/segments.ts"
import { autoencoderVariables } from "../models/vqvae.ts"
import { sequenceOf } from "../dataset/tokens.ts"
import { TokenShards } from "../schemas/tokens.ts"
import { VqvaeCheckpoint } from "../schemas/vqvae.ts"
import { Files, Stage } from "../runtime/index.ts"
import { loadAutoencoder } from "./vqvae-checkpoint.ts"

/** Decodes every song's codes to one WAV per level. */
export const decode = Stage.define({
  name: "decode",
  version: 1,
  isolated: true,
  description: "codes back to audio, a WAV per song and level",
  inputs: { tokens: TokenShards, bottom: VqvaeCheckpoint, middle: VqvaeCheckpoint, top: VqvaeCheckpoint },
  partitionBy: { input: "tokens", column: "song_id" },
  output: Files("wav"),
  run: ({ tokens, bottom, middle, top }, _params, ctx) =>
    Effect.gen(function* () {
      const backend = yield* Effect.promise(() => useBestBackend())
      yield* ctx.reportBackend(describeBackend(backend))
      const checkpoints = [bottom, middle, top]
      const models = yield* Effect.promise(() => Promise.all(checkpoints.map(loadAutoencoder)))
      const windows = yield* tokens.all()
      for (const song of [...new Set(windows.map((w) => w.song_id))]) {
        yield* Effect.promise(() => mkdir(join(ctx.outDir, song), { recursive: true }))
        for (const [level, checkpoint] of checkpoints.entries()) {
          const codes = sequenceOf(windows.filter((w) => w.song_id === song && w.level === level))
          if (codes.length === 0) continue
          const audio = decodeSong(models[level]!, codes, checkpoint.config.hop)
          yield* Effect.promise(() => writeFile(join(ctx.outDir, song, `level-${level}.wav`), encodeWav([audio], checkpoint.config.sampleRate)))
        }
      }
      for (const model of models) tf.dispose([...autoencoderVariables(model).values()])
    }),
})
