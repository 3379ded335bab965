/**
 * `report`: the run on one page. A self-contained HTML file (`report.html`; nothing fetched, audio
 * and images inline) with the pipeline's graph coloured by what each stage did and how long it
 * took, the VQ-VAE's loss curves and codebook use, a held-out song against each level's
 * reconstruction, spectral convergence beside Opus, the priors' curves, and each sample with a
 * player, its spectrogram and its lyrics (stages/report-page.ts draws it).
 *
 *   checkpoints' metrics tables → curves · evaluate → tables · ingest + decode → held-out clips
 *   samples.json + level-0 WAVs → samples · ctx.pipeline → the graph
 *
 * The graph is the run as it stood when the report ran (after all its inputs). It is not part of
 * the cache key: a report cached because its inputs did not change shows the run that made it.
 * Apart from those states and timings the page is the same bytes for the same inputs.
 *
 * Two sample inputs, because a stage's inputs are a fixed record; wire one sample stage to both
 * and it is shown once.
 */
import { Effect, Option, Schema, Stream } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { writeFile } from "node:fs/promises"
import { basename, join } from "node:path"
import { readAudioFile } from "../audio/decode.ts"
import { downmix } from "../audio/stats.ts"
import { encodeWav } from "../audio/wav.ts"
import { Ingested, type IngestedAudio } from "../schemas/audio.ts"
import { PriorCheckpoint, PriorMetric } from "../schemas/prior.ts"
import { SampleIndex, SampleRequest } from "../schemas/sample.ts"
import { Evaluation, TrainMetrics, VqvaeCheckpoint } from "../schemas/vqvae.ts"
import { type CheckpointValue, type FileSet, Files, Json, openTableFiles, Stage, StageFailed, Table, type TableKind, type TableReader } from "../runtime/index.ts"
import { type ReportClip, reportPage, type ReportPrior, type ReportSample, type ReportVqvae } from "./report-page.ts"
import { spectrogramImage } from "./report-spectrogram.ts"

/** What the report carries of each piece of audio. */
const ReportParams = Schema.Struct({
  /** Seconds of the held-out song played and drawn, against each level [4]. */
  clipSeconds: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 4 }),
  /** At most this many seconds of each sample [10]: the page embeds its audio. */
  sampleSeconds: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 10 }),
})

/** Writes `report.html`. */
export const report = Stage.define({
  name: "report",
  version: 1,
  description: "the run on one self-contained HTML page: graph, curves, reconstructions, samples",
  params: ReportParams,
  inputs: {
    audio: Ingested, evaluation: Json(Evaluation), decoded: Files("wav"),
    bottom: VqvaeCheckpoint, middle: VqvaeCheckpoint, top: VqvaeCheckpoint,
    topPrior: PriorCheckpoint, middlePrior: PriorCheckpoint, bottomPrior: PriorCheckpoint,
    sample: Files("sample"), secondSample: Files("sample"),
  },
  output: Files("report"),
  shows: ["report.html"],
  run: (inputs, p, ctx) =>
    Effect.gen(function* () {
      const wiredTo = ctx.pipeline.stages.find((s) => s.name === ctx.stage)?.inputs ?? {}
      const named = (input: string) => wiredTo[input] ?? input
      const vqvae = yield* Effect.forEach([inputs.bottom, inputs.middle, inputs.top], (checkpoint, level) =>
        Effect.map(metricsOf(TrainMetrics, checkpoint), (metrics): ReportVqvae => ({
          name: named(["bottom", "middle", "top"][level]!), level, hop: checkpoint.config.hop, codebookSize: checkpoint.config.codebookSize, metrics,
        })))
      const priors = yield* Effect.forEach([["topPrior", inputs.topPrior], ["middlePrior", inputs.middlePrior], ["bottomPrior", inputs.bottomPrior]] as const, ([input, checkpoint]) =>
        Effect.map(metricsOf(Table(PriorMetric), checkpoint), (metrics): ReportPrior => ({ name: named(input), ...checkpoint.config, metrics })))
      const song = inputs.evaluation.heldOutSongs[0]
      const heldOut = song === undefined ? undefined : { song, clips: yield* heldOutClips(song, inputs.audio, inputs.decoded, p.clipSeconds) }
      const samples = yield* sampleViews([["sample", inputs.sample], ["secondSample", inputs.secondSample]].map(([input, files]) => ({ source: named(input as string), files: files as FileSet })), p.sampleSeconds)
      const page = reportPage({ pipeline: ctx.pipeline, self: ctx.stage, vqvae, evaluation: inputs.evaluation, ...(heldOut ? { heldOut } : {}), priors, samples })
      yield* Effect.promise(() => writeFile(join(ctx.outDir, "report.html"), page))
      yield* ctx.log(`report.html: ${(Buffer.byteLength(page) / 1e6).toFixed(2)} MB, ${samples.length} sample${samples.length === 1 ? "" : "s"}${heldOut ? `, held-out song ${heldOut.song}` : ""}`)
    }).pipe(Effect.catchAllDefect((e) => Effect.fail(new StageFailed({ stage: ctx.stage, reason: (e as Error).message ?? String(e) })))),
})

// ---------------------------------------------------------------------------------------------

/** A checkpoint's `metrics-*.parquet` table, every row. */
const metricsOf = <Row>(kind: TableKind<Row>, checkpoint: CheckpointValue<unknown>) =>
  Effect.flatMap(
    openTableFiles(kind, readdirSync(checkpoint.dir).filter((f) => f.startsWith("metrics") && f.endsWith(".parquet")).sort().map((f) => join(checkpoint.dir, f))),
    (table) => table.all(),
  )

/** A piece of mono audio as a clip: its WAV as a data URI and its spectrogram (on `reference`'s scale when given). */
const clipOf = (label: string, signal: Float32Array, sampleRate: number, reference?: number): ReportClip => ({
  label,
  audio: `data:audio/wav;base64,${Buffer.from(encodeWav([signal], sampleRate)).toString("base64")}`,
  spectrogram: spectrogramImage(signal, sampleRate, reference === undefined ? {} : { reference }),
})

/** The first `seconds` of a held-out song's mix, then of each level's reconstruction of it, all on the mix's scale. */
const heldOutClips = (song: string, audio: TableReader<IngestedAudio>, decoded: FileSet, seconds: number) =>
  Effect.gen(function* () {
    const found = yield* audio.stream().pipe(Stream.filter((r) => r.song === song && r.source === "mix"), Stream.runHead)
    if (Option.isNone(found)) return []
    const mix = found.value
    const length = Math.min(mix.left.length, Math.round(seconds * mix.sampleRate))
    const original = clipOf("original", downmix([mix.left, mix.right], 0.5).subarray(0, length), mix.sampleRate)
    const levels = decoded.files
      .map((file) => ({ file, level: /\/level-(\d+)\.wav$/.exec(file)?.[1] }))
      .filter((f) => f.level !== undefined && f.file.endsWith(`/${song}/level-${f.level}.wav`))
      .sort((a, b) => Number(a.level) - Number(b.level))
    const reconstructions = yield* Effect.forEach(levels, ({ file, level }) =>
      Effect.map(Effect.promise(() => readAudioFile(file)), (wav) =>
        clipOf(`level ${level} (${["bottom", "middle", "top"][Number(level)] ?? "level"})`, wav.channels[0]!.subarray(0, Math.round(seconds * wav.sampleRate)), wav.sampleRate, original.spectrogram.peak)))
    return [original, ...reconstructions]
  })

/** Each sample of each sample stage (a stage wired twice, once): its bottom level, the finest, up to `seconds` of it. */
const sampleViews = (sources: ReadonlyArray<{ source: string; files: FileSet }>, seconds: number) =>
  Effect.gen(function* () {
    const seen = new Set<string>()
    const out: ReportSample[] = []
    for (const { source, files } of sources) {
      for (const dir of files.dirs) {
        if (seen.has(dir)) continue
        seen.add(dir)
        const index = Schema.decodeUnknownSync(SampleIndex)(JSON.parse(readFileSync(join(dir, "samples.json"), "utf8")))
        const request = Schema.decodeUnknownSync(SampleRequest)(index.request)
        const bottom = index.levels.find((l) => l.level === 0)
        for (const sample of index.samples) {
          const wav = yield* Effect.promise(() => readAudioFile(join(dir, sample.wav[0]!)))
          const signal = wav.channels[0]!
          out.push({
            source, id: sample.id, labels: index.labels, lyrics: index.lyrics, seed: request.seed,
            seconds: bottom ? (bottom.codes * bottom.hop) / index.sampleRate : signal.length / wav.sampleRate,
            ...(primerText(request) ? { primer: primerText(request)! } : {}),
            clip: clipOf("level 0 (bottom)", signal.subarray(0, Math.round(seconds * wav.sampleRate)), wav.sampleRate),
          })
        }
      }
    }
    return out
  })

/** What a sample continues, in words: "3 s of s003", "2 s of my-song.wav", "earlier codes". */
const primerText = (request: SampleRequest): string | undefined => {
  if (request.prime) return `${request.prime.seconds} s of ${"song" in request.prime ? request.prime.song : basename(request.prime.file)}`
  if (request.codes) return request.codes.mode === "continue" ? "earlier codes" : "earlier top-level codes, upsampled"
  return undefined
}
