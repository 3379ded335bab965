/**
 * `evaluate`: how well each VQ-VAE level reconstructs the held-out songs — spectral convergence in
 * dB (paper-notes' definition) of `decode`'s WAVs against the ingested mix, beside Opus at the same
 * bitrate when opus-tools are installed — and how much of each codebook the songs use (codes used,
 * entropy in bits).
 */
import { Effect } from "effect"
import { readAudioFile } from "../audio/decode.ts"
import { levelBitrateKbps, opusAvailable, opusRoundTrip } from "../audio/opus.ts"
import { downmix } from "../audio/stats.ts"
import { entropyBits } from "../models/bottleneck.ts"
import { spectralConvergence } from "../models/losses.ts"
import { Ingested } from "../schemas/audio.ts"
import { Chunks } from "../schemas/chunks.ts"
import { TokenShards } from "../schemas/tokens.ts"
import { Evaluation, VqvaeCheckpoint } from "../schemas/vqvae.ts"
import { Files, Json, Stage } from "../runtime/index.ts"

/** The mean of the finite values, or null when there are none. */
const mean = (xs: ReadonlyArray<number>): number | null => {
  const finite = xs.filter(Number.isFinite)
  return finite.length === 0 ? null : finite.reduce((a, b) => a + b, 0) / finite.length
}

const db = (x: number | null) => (x === null ? "n/a" : `${x.toFixed(1)} dB`)

/** Evaluates the three levels on the held-out songs. */
export const evaluate = Stage.define({
  name: "evaluate",
  version: 1,
  isolated: true,
  description: "spectral convergence per level on held-out songs, beside Opus; codebook usage",
  inputs: {
    audio: Ingested, chunks: Chunks, tokens: TokenShards, decoded: Files("wav"),
    bottom: VqvaeCheckpoint, middle: VqvaeCheckpoint, top: VqvaeCheckpoint,
  },
  output: Json(Evaluation),
  run: ({ audio, chunks, tokens, decoded, bottom, middle, top }, _params, ctx) =>
    Effect.gen(function* () {
      const heldOut = [...new Set((yield* chunks.all()).filter((c) => c.split === "heldout").map((c) => c.song))].sort()
      const mixes = new Map((yield* audio.all()).filter((r) => r.source === "mix").map((r) => [r.song, downmix([r.left, r.right], 0.5)]))
      const windows = yield* tokens.all()
      const withOpus = yield* Effect.promise(() => opusAvailable())
      if (!withOpus) yield* ctx.log("opus-tools are not installed: no Opus comparison (apt-get install opus-tools)")
      const levels: Array<typeof Evaluation.Type["levels"][number]> = []
      for (const [level, checkpoint] of [bottom, middle, top].entries()) {
        const { hop, sampleRate, codebookSize } = checkpoint.config
        const counts = new Float64Array(codebookSize)
        for (const w of windows) if (w.level === level) for (const code of w.tokens) counts[code]! += 1
        const ours: number[] = []
        const opus: number[] = []
        const kbps = levelBitrateKbps(sampleRate, hop, codebookSize)
        let opusKbps: number | null = null
        for (const song of heldOut) {
          const reference = mixes.get(song)
          const wav = decoded.files.find((f) => f.endsWith(`/${song}/level-${level}.wav`))
          if (!reference || !wav) continue
          const reconstruction = new Float32Array(reference.length)
          reconstruction.set((yield* Effect.promise(() => readAudioFile(wav))).channels[0]!.subarray(0, reference.length))
          ours.push(spectralConvergence(reference, reconstruction, sampleRate))
          if (withOpus) {
            const trip = yield* Effect.promise(() => opusRoundTrip([reference], sampleRate, kbps))
            opusKbps = trip.kbps
            opus.push(spectralConvergence(reference, trip.channels[0]!, sampleRate))
          }
        }
        const result = {
          level, hop, bitrateKbps: kbps, spectralConvergenceDb: mean(ours),
          opusKbps, opusSpectralConvergenceDb: mean(opus),
          codesUsed: counts.filter((c) => c > 0).length, entropyBits: entropyBits(counts),
        }
        levels.push(result)
        const besideOpus = opusKbps === null ? "" : `; Opus at ${opusKbps.toFixed(1)} kb/s: ${db(result.opusSpectralConvergenceDb)}`
        yield* ctx.log(`level ${level} (hop ${hop}, ${kbps.toFixed(1)} kb/s): spectral convergence ${db(result.spectralConvergenceDb)}${besideOpus}; ${result.codesUsed} codes used, ${result.entropyBits.toFixed(2)} bits`)
      }
      return { heldOutSongs: heldOut, opus: withOpus ? "opus-tools" : "not installed", levels }
    }),
})
