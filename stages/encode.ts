/**
 * `encode`, one partition per song: the codes of every VQ-VAE level, in windows of up to
 * `windowTokens`, as token shards. Deterministic: the same checkpoints and audio give the same
 * bytes. The song is downmixed to mono (an even blend) and encoded in segments, to bound memory.
 */
import * as tf from "@tensorflow/tfjs-core"
import { Effect, Schema } from "effect"
import { downmix } from "../audio/stats.ts"
import { useBestBackend } from "../models/backend.ts"
import { autoencoderVariables, encodeToCodes, type Autoencoder } from "../models/vqvae.ts"
import { Ingested } from "../schemas/audio.ts"
import { Songs } from "../schemas/songs.ts"
import { type TokenWindow, TokenShards } from "../schemas/tokens.ts"
import { VqvaeCheckpoint } from "../schemas/vqvae.ts"
import { Stage, StageFailed } from "../runtime/index.ts"
import { loadAutoencoder } from "./vqvae-checkpoint.ts"

/** Samples encoded at once: a multiple of every hop up to 2^16. */
const SEGMENT = 1 << 16

/** A song's codes at one level: encoded segment by segment, the tail zero-padded to the hop. */
const codesOf = (model: Autoencoder, mono: Float32Array, hop: number): Int16Array => {
  const padded = new Float32Array(Math.ceil(mono.length / hop) * hop)
  padded.set(mono)
  const out = new Int16Array(padded.length / hop)
  for (let start = 0; start < padded.length; start += SEGMENT) {
    const segment = padded.subarray(start, Math.min(padded.length, start + SEGMENT))
    const codes = tf.tidy(() => encodeToCodes(model, tf.tensor3d(segment, [1, segment.length, 1])))
    out.set(Int16Array.from(codes.dataSync()), start / hop)
    codes.dispose()
  }
  return out
}

/** Encodes every song at every level into token shards. */
export const encode = Stage.define({
  name: "encode",
  version: 1,
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
      yield* ctx.reportBackend(backend.name)
      const models = yield* Effect.promise(() => Promise.all([bottom, middle, top].map(loadAutoencoder)))
      const rows: TokenWindow[] = []
      for (const source of (yield* audio.all()).filter((r) => r.source === "mix")) {
        const trainedAt = bottom.config.sampleRate
        if (source.sampleRate !== trainedAt) {
          return yield* new StageFailed({ stage: ctx.stage, reason: `${source.song} is ingested at ${source.sampleRate} Hz but the VQ-VAE was trained at ${trainedAt} Hz` })
        }
        const mono = downmix([source.left, source.right], 0.5)
        ;[bottom, middle, top].forEach((checkpoint, level) => {
          const tokens = codesOf(models[level]!, mono, checkpoint.config.hop)
          for (let window = 0, start = 0; start < tokens.length; window++, start += p.windowTokens) {
            rows.push({ song_id: source.song, level, window, start, tokens: tokens.subarray(start, start + p.windowTokens) })
          }
        })
      }
      for (const model of models) tf.dispose([...autoencoderVariables(model).values()])
      return rows
    }),
})
