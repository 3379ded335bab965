/**
 * `ingest`, one partition per song: decodes the mix and the Spleeter stems once, resamples them to
 * the pipeline's rate (stereo kept, so training can downmix at random) and stores them with their
 * level and clipping stats. Later stages never decode again. A song that cannot be decoded is set
 * aside with the reason.
 */
import { Effect, Schema } from "effect"
import { readAudioFile } from "../audio/decode.ts"
import { resample } from "../audio/resample.ts"
import { audioStats } from "../audio/stats.ts"
import { Ingested, type IngestedAudio } from "../schemas/audio.ts"
import { Songs, type Song } from "../schemas/songs.ts"
import { Stage } from "../runtime/index.ts"
import { describe } from "../runtime/errors.ts"

/** The sources of a song: the mix, and the stems when it has them. */
const sourcesOf = (song: Song): Array<[IngestedAudio["source"], string]> => [
  ["mix", song.audio],
  ...(song.vocals ? [["vocals", song.vocals] as [string, string]] : []),
  ...(song.accompaniment ? [["accompaniment", song.accompaniment] as [string, string]] : []),
]

/** Decodes and resamples one source. */
const ingestSource = (song: Song, source: string, path: string, sampleRate: number, resolve: (p: string) => string) =>
  Effect.tryPromise({ try: () => readAudioFile(resolve(path)), catch: (error) => describe(error).replace(resolve(path), path) }).pipe(
    Effect.map((decoded): IngestedAudio => {
      const [left, right = left] = resample(decoded.channels, decoded.sampleRate, sampleRate)
      const stats = audioStats(decoded.channels, decoded.sampleRate)
      return {
        song: song.id, source, sampleRate, channels: Math.min(decoded.channels.length, 2), seconds: left!.length / sampleRate,
        peakDbfs: stats.peakDbfs, rmsDbfs: stats.rmsDbfs, clippedFraction: stats.clippedFraction,
        warnings: decoded.warnings.map((w) => w.replace(resolve(path), path)), left: left!, right: right!,
      }
    }),
  )

/** Decodes, resamples and measures each song's audio. */
export const ingest = Stage.define({
  name: "ingest",
  version: 1,
  description: "each song's mix and stems, decoded once and resampled, with level stats",
  params: Schema.Struct({
    sampleRate: Schema.optionalWith(Schema.Int.pipe(Schema.between(8000, 192000)), { default: () => 22050 }),
  }),
  inputs: { songs: Songs },
  partitionBy: { input: "songs", column: "id" },
  files: ({ inputs }) => Effect.map(inputs.songs.all(), (songs) => songs.flatMap((s) => sourcesOf(s).map(([, path]) => path))),
  output: Ingested,
  cores: 1,
  run: ({ songs }, { sampleRate }, ctx) =>
    Effect.gen(function* () {
      const rows: IngestedAudio[] = []
      for (const song of yield* songs.all()) {
        const decoded = yield* Effect.either(Effect.forEach(sourcesOf(song), ([source, path]) => ingestSource(song, source, path, sampleRate, ctx.resolve)))
        if (decoded._tag === "Left") {
          yield* ctx.reject(song.id, `${decoded.left} (${song.source})`)
          continue
        }
        const [mix, ...stems] = decoded.right
        const mismatch = stems.find((stem) => Math.abs(stem.seconds - mix!.seconds) > 0.1)
        if (mismatch) {
          yield* ctx.reject(song.id, `the ${mismatch.source} stem lasts ${mismatch.seconds.toFixed(2)} s but the mix lasts ${mix!.seconds.toFixed(2)} s: stems must come from this mix (${song.source})`)
          continue
        }
        for (const row of decoded.right) for (const warning of row.warnings) yield* ctx.log(warning)
        rows.push(...decoded.right)
      }
      return rows
    }),
})
