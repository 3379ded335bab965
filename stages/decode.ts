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
import { useBestBackend } from "../models/backend.ts"
import { autoencoderVariables, decodeCodes, type Autoencoder } from "../models/vqvae.ts"
import { TokenShards, type TokenWindow } from "../schemas/tokens.ts"
import { VqvaeCheckpoint } from "../schemas/vqvae.ts"
import { Files, Stage } from "../runtime/index.ts"
import { loadAutoencoder } from "./vqvae-checkpoint.ts"

/** Codes decoded at once. */
const SEGMENT_CODES = 4096

/** Audio of a code sequence, decoded segment by segment. */
const audioOf = (model: Autoencoder, codes: Int16Array, hop: number): Float32Array => {
  const out = new Float32Array(codes.length * hop)
  for (let start = 0; start < codes.length; start += SEGMENT_CODES) {
    const segment = codes.subarray(start, Math.min(codes.length, start + SEGMENT_CODES))
    const audio = tf.tidy(() => decodeCodes(model, tf.tensor2d(Int32Array.from(segment), [1, segment.length], "int32")))
    out.set(audio.dataSync() as Float32Array, start * hop)
    audio.dispose()
  }
  return out
}

/** The code sequence of one song at one level, from its windows in order. */
const sequenceOf = (windows: ReadonlyArray<TokenWindow>): Int16Array => {
  const sorted = [...windows].sort((a, b) => a.start - b.start)
  const out = new Int16Array(sorted.reduce((n, w) => Math.max(n, w.start + w.tokens.length), 0))
  for (const w of sorted) out.set(w.tokens, w.start)
  return out
}

/** Decodes every song's codes to one WAV per level. */
export const decode = Stage.define({
  name: "decode",
  version: 1,
  description: "codes back to audio, a WAV per song and level",
  inputs: { tokens: TokenShards, bottom: VqvaeCheckpoint, middle: VqvaeCheckpoint, top: VqvaeCheckpoint },
  partitionBy: { input: "tokens", column: "song_id" },
  output: Files("wav"),
  run: ({ tokens, bottom, middle, top }, _params, ctx) =>
    Effect.gen(function* () {
      const backend = yield* Effect.promise(() => useBestBackend())
      yield* ctx.reportBackend(backend.name)
      const checkpoints = [bottom, middle, top]
      const models = yield* Effect.promise(() => Promise.all(checkpoints.map(loadAutoencoder)))
      const windows = yield* tokens.all()
      for (const song of [...new Set(windows.map((w) => w.song_id))]) {
        yield* Effect.promise(() => mkdir(join(ctx.outDir, song), { recursive: true }))
        for (const [level, checkpoint] of checkpoints.entries()) {
          const codes = sequenceOf(windows.filter((w) => w.song_id === song && w.level === level))
          if (codes.length === 0) continue
          const audio = audioOf(models[level]!, codes, checkpoint.config.hop)
          yield* Effect.promise(() => writeFile(join(ctx.outDir, song, `level-${level}.wav`), encodeWav([audio], checkpoint.config.sampleRate)))
        }
      }
      for (const model of models) tf.dispose([...autoencoderVariables(model).values()])
    }),
})
