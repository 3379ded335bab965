/**
 * `sample`: new music from the trained priors (paper 4.4). The top prior samples the top level's
 * codes window by window (conditioned on artist, genre, timing and the lyrics), each upsampler
 * the level below given the codes above, and each level's VQ-VAE decodes its codes to a WAV.
 *
 *   request (params) → primer / earlier codes → top → middle → bottom codes → codes-*.parquet,
 *   sample-<i>-level-<l>.wav, sample-<i>.html (players, lyrics, their alignment), samples.json
 *
 * Deterministic for a seed: every window draws from its own stream (models/sampling.ts). After
 * each window the codes so far go to the scratch folder, so a killed run resumes at the window it
 * was in and ends with the same codes as a run never stopped.
 */
import * as tf from "@tensorflow/tfjs-core"
import { Effect, Schema } from "effect"
import { mkdirSync } from "node:fs"
import { writeFile } from "node:fs/promises"
import { join } from "node:path"
import { encodeWav } from "../audio/wav.ts"
import { lyricIds, normaliseLyrics, unknownCharacters } from "../dataset/lyrics.ts"
import { lyricWindowAt } from "../dataset/prior-windows.ts"
import { describeBackend, useBestBackend } from "../models/backend.ts"
import { upsamplingRatio } from "../models/conditioning.ts"
import { alignSong, attentionHeatMap, bestHead, sampleAttention } from "../models/alignment.ts"
import type { LabelMix, Prior, PriorConditions } from "../models/prior.ts"
import { type AncestralLevel, ancestralSteps, drive, labelSchedule, levelWindows, type WindowSpan } from "../models/sampling.ts"
import { encoderDecoderLayers } from "../models/transformer.ts"
import { decodeSong } from "../models/segments.ts"
import { autoencoderVariables } from "../models/vqvae.ts"
import { Vocab } from "../schemas/chunks.ts"
import { PriorCheckpoint } from "../schemas/prior.ts"
import { type SampleIndex, type SampleLabel, SampleRequest } from "../schemas/sample.ts"
import { TokenShards, type TokenWindow } from "../schemas/tokens.ts"
import { VqvaeCheckpoint } from "../schemas/vqvae.ts"
import { Files, Stage, StageFailed, writeTable } from "../runtime/index.ts"
import { loadPrior } from "./prior-checkpoint.ts"
import { isFolder, LEVEL_NAMES, levelLengths, loadLevel, saveLevel, startingCodes } from "./sample-codes.ts"
import { samplePage, type SamplePageInput } from "./sample-page.ts"
import { loadAutoencoder } from "./vqvae-checkpoint.ts"

/** Codes per row of the codes table, as `encode` writes them. */
const ROW_CODES = 8192

/** Samples music from the priors and decodes it. */
export const sample = Stage.define({
  name: "sample",
  version: 1,
  description: "new music from the priors: codes, a WAV per level and an HTML page per sample",
  params: SampleRequest,
  inputs: {
    topPrior: PriorCheckpoint, middlePrior: PriorCheckpoint, bottomPrior: PriorCheckpoint,
    bottom: VqvaeCheckpoint, middle: VqvaeCheckpoint, top: VqvaeCheckpoint,
    vocab: Vocab, tokens: TokenShards,
  },
  output: Files("sample"),
  device: "gpu",
  files: ({ params }) => Effect.succeed([params.prime && "file" in params.prime ? params.prime.file : undefined, params.codes?.file].filter((f): f is string => f !== undefined && !isFolder(f))),
  shows: ["sample-*.html", "sample-*-level-0.wav"],
  run: (inputs, p, ctx) =>
    Effect.gen(function* () {
      const fail = (reason: string) => new StageFailed({ stage: ctx.stage, reason })
      const attempt = <A>(f: () => A) => Effect.try({ try: f, catch: (e) => fail((e as Error).message) })
      // The request against the vocabularies, before anything heavy loads.
      const labels = yield* attempt(() => requestLabels(p, inputs.vocab))
      const backend = yield* Effect.promise(() => useBestBackend())
      yield* ctx.reportBackend(describeBackend(backend))

      const priorInputs = [inputs.bottomPrior, inputs.middlePrior, inputs.topPrior]
      const vqvaeInputs = [inputs.bottom, inputs.middle, inputs.top]
      for (const [level, input] of priorInputs.entries()) {
        if (input.config.level !== level) return yield* fail(`the ${LEVEL_NAMES[level]} prior input is a level-${input.config.level} prior; wire the level-${level} one`)
      }
      const priors = yield* Effect.promise(() => Promise.all(priorInputs.map(loadPrior)))
      const vqvaes = yield* Effect.promise(() => Promise.all(vqvaeInputs.map(loadAutoencoder)))
      const hops = vqvaeInputs.map((v) => v.config.hop)
      const sampleRate = vqvaeInputs[0]!.config.sampleRate
      for (const [level, prior] of priors.entries()) {
        if (prior.config.hopLength !== hops[level]) return yield* fail(`the ${LEVEL_NAMES[level]} prior reads codes of ${prior.config.hopLength} samples, its VQ-VAE makes codes of ${hops[level]}`)
      }
      const lyricChars = priors[2]!.config.lyrics?.encoder.contextLength ?? 0
      if (labels.lyrics.length > 0 && lyricChars === 0) yield* ctx.log("the top prior reads no lyrics: the lyrics only go to the page")

      // What every level starts from: nothing, a primer, or earlier codes; (n, length) per level, bottom first.
      const ratios = [upsamplingRatio(priors[0]!.config.upsampler!), upsamplingRatio(priors[1]!.config.upsampler!)]
      const start = yield* startingCodes(inputs.tokens, p, { vqvaes, hops, sampleRate, ratios, fail })
      const topLength = start.topLength ?? Math.max(1, Math.round((p.seconds * sampleRate) / hops[2]!))
      const lengths = levelLengths(topLength, ratios)
      const primed = start.codes.map((codes, level) => (codes ? codes.length / p.n : 0))
      for (const [level, known] of primed.entries()) {
        if (start.mode !== "upsample" && known >= lengths[level]!) {
          return yield* fail(`the ${start.mode === "continue" ? "earlier codes" : "primer"} (${seconds(known, hops[level]!, sampleRate)} s) is not shorter than the sample of ${p.seconds} s; ask for more seconds`)
        }
      }
      const totalSeconds = Math.max(p.totalSeconds ?? p.seconds, (lengths[2]! * hops[2]!) / sampleRate)

      // Resume: each level's codes so far, saved after every window.
      const progressDir = join(ctx.scratchDir, "progress")
      mkdirSync(progressDir, { recursive: true })
      const resumed = lengths.map((length, level) => loadLevel(progressDir, level, p.n, length))
      for (const [level, saved] of resumed.entries()) {
        if (saved && saved.filled > 0) yield* ctx.log(`resuming the ${LEVEL_NAMES[level]} level at code ${saved.filled} of ${lengths[level]}`)
      }

      const plans: AncestralLevel[] = [2, 1, 0].map((level) => {
        const prefix = resumed[level]?.filled ? resumed[level]!.codes : start.codes[level]
        return {
          prior: priors[level]!,
          hopFraction: p.hopFraction[LEVEL_NAMES[level]!],
          temperature: p.temperature[LEVEL_NAMES[level]!],
          topK: p.topK,
          topP: p.topP,
          conditionsFor: windowConditions({ ...labels, n: p.n, totalSeconds, lyricChars: level === 2 ? lyricChars : 0, hop: hops[level]!, sampleRate }),
          ...(prefix ? { prefix } : {}),
        }
      })

      // Sampling, with progress per level and the codes saved after each window.
      const speed = lengths.map(() => ({ tokens: 0, seconds: 0 }))
      let levelStarted = Date.now()
      let lastShown = 0
      let shownLevel = -1
      const sampled = yield* Effect.tryPromise({
        try: (signal) => drive(ancestralSteps(plans, {
          batch: p.n,
          topLength,
          seed: p.seed,
          onProgress: (level, done, total) => {
            const now = Date.now()
            if (level === shownLevel && done < total && now - lastShown < 200) return // a level's first and last always show
            lastShown = now
            shownLevel = level
            const elapsed = (now - levelStarted) / 1000
            const rate = (done * p.n) / Math.max(elapsed, 1e-3)
            const left = done > 0 ? ((total - done) * elapsed) / done : Number.NaN
            Effect.runSync(ctx.progress(done, total, `${LEVEL_NAMES[level]} codes, ${Math.round(rate)} tokens/s, ${Number.isFinite(left) ? `${Math.ceil(left)} s left` : "…"}`))
            speed[level] = { tokens: done * p.n, seconds: elapsed }
          },
          onWindow: (level, _window, codes, filled) => saveLevel(progressDir, level, codes, p.n, lengths[level]!, filled),
          onLevel: (level, codes) => {
            saveLevel(progressDir, level, codes, p.n, lengths[level]!, lengths[level]!)
            levelStarted = Date.now()
          },
        }), { signal }),
        catch: (e) => fail((e as Error).message),
      })
      const codes = [sampled[2]!, sampled[1]!, sampled[0]!] // bottom first

      // Codes as a token-shard table, one song per sample.
      const rows: TokenWindow[] = []
      for (let i = 0; i < p.n; i++) {
        for (const [level, levelCodes] of codes.entries()) {
          const length = lengths[level]!
          for (let at = 0, window = 0; at < length; at += ROW_CODES, window++) {
            const end = Math.min(length, at + ROW_CODES)
            rows.push({ song_id: sampleId(i), level, window, start: at, tokens: Int16Array.from(levelCodes.subarray(i * length + at, i * length + end)) })
          }
        }
      }
      yield* writeTable(TokenShards, rows, ctx.outDir, { prefix: "codes" }).pipe(Effect.mapError((e) => fail(e.message)))

      // A WAV per sample and level, and the page.
      const files: Array<{ id: string; wav: string[]; page: string }> = []
      for (let i = 0; i < p.n; i++) {
        const wav: string[] = []
        for (const [level, levelCodes] of codes.entries()) {
          const length = lengths[level]!
          const audio = decodeSong(vqvaes[level]!, Int16Array.from(levelCodes.subarray(i * length, (i + 1) * length)), hops[level]!)
          const name = `${sampleId(i)}-level-${level}.wav`
          yield* Effect.promise(() => writeFile(join(ctx.outDir, name), encodeWav([audio], sampleRate)))
          wav.push(name)
        }
        files.push({ id: sampleId(i), wav, page: `${sampleId(i)}.html` })
      }
      yield* writePages(ctx.outDir, files, { priors, codes, lengths, labels, request: p, sampleRate, hops, totalSeconds, lyricChars })

      const index: SampleIndex = {
        request: Schema.encodeSync(SampleRequest)(p), labels: stylesText(p), lyrics: labels.text, sampleRate,
        levels: lengths.map((codesPerSample, level) => ({
          level, hop: hops[level]!, codes: codesPerSample, sampled: codesPerSample - primed[level]!,
        })),
        primed,
        samples: files,
      }
      yield* Effect.promise(() => writeFile(join(ctx.outDir, "samples.json"), `${JSON.stringify(index, null, 2)}\n`))
      for (const level of [2, 1, 0]) {
        const { tokens, seconds: spent } = speed[level]!
        if (tokens > 0) yield* ctx.log(`${LEVEL_NAMES[level]} level: ${tokens} codes in ${spent.toFixed(1)} s, ${Math.round(tokens / spent)} tokens/s`)
      }
      for (const prior of priors) tf.dispose([...prior.weights.values()])
      for (const model of vqvaes) tf.dispose([...autoencoderVariables(model).values()])
    }),
})

// ---------------------------------------------------------------------------------------------

/** The request's ids: labels from the vocabulary (as a schedule, with its changes), the lyrics as character ids. */
export const requestLabels = (p: Pick<SampleRequest, "artist" | "genre" | "changes" | "lyrics">, vocab: { readonly artists: ReadonlyArray<string>; readonly genres: ReadonlyArray<string> }) => {
  const label = (kind: "artist" | "genre", value: SampleLabel): LabelMix => {
    const names = kind === "artist" ? vocab.artists : vocab.genres
    return (typeof value === "string" ? [{ name: value, weight: 1 }] : value).map(({ name, weight }) => {
      const id = names.indexOf(name) + 1
      if (id === 0) throw new Error(`${kind} "${name}" is not in the vocabulary; the ${kind}s are ${listed(names)}`)
      return [id, weight] as const
    })
  }
  const seconds = p.changes.map((c) => c.second)
  if (seconds.some((s, i) => i > 0 && !(s > seconds[i - 1]!))) throw new Error(`the label changes at ${seconds.join(", ")} s are not in order`)
  const styles = [{ second: 0, artist: p.artist, genre: p.genre }, ...p.changes].map((c) => ({ second: c.second, artist: label("artist", c.artist), genre: label("genre", c.genre) }))
  const text = normaliseLyrics(p.lyrics)
  const unknown = unknownCharacters(text)
  if (unknown.length > 0) throw new Error(`the lyrics have characters outside the lyrics vocabulary: ${unknown.map((c) => JSON.stringify(c)).join(", ")}`)
  return { styles, text, lyrics: lyricIds(text) }
}

/** A label in words: "Ada Vale", or "Ada Vale 0.7 + Bo Carver 0.3". */
export const labelText = (value: SampleLabel): string => (typeof value === "string" ? value : value.map((v) => `${v.name} ${v.weight}`).join(" + "))

/** The request's labels over time in words: "Ada Vale, folk; from 4 s Bo Carver, blues". */
const stylesText = (p: Pick<SampleRequest, "artist" | "genre" | "changes">) =>
  [`${labelText(p.artist)}, ${labelText(p.genre)}`, ...p.changes.map((c) => `from ${c.second} s ${labelText(c.artist)}, ${labelText(c.genre)}`)].join("; ")

/**
 * A `conditionsFor` of a request's level: the same labels and song length for all n sequences
 * and, when `lyricChars` > 0 (the top prior with lyrics), the characters a linear spread of the
 * lyrics over the song puts under the window (no alignment exists for music not yet made).
 */
export const windowConditions = (c: {
  readonly styles: ReadonlyArray<{ readonly second: number; readonly artist: LabelMix; readonly genre: LabelMix }>
  readonly lyrics: Int32Array; readonly n: number
  readonly totalSeconds: number; readonly lyricChars: number; readonly hop: number; readonly sampleRate: number
}) => {
  // One label stays a plain id (bit-identical to training's conditioning); a blend is a weighted mix.
  const labels = labelSchedule(c.styles.map((s) => ({
    second: s.second,
    ...(s.artist.length === 1 && s.artist[0]![1] === 1 ? { artist: Array(c.n).fill(s.artist[0]![0]) } : { artistMix: Array(c.n).fill(s.artist) }),
    ...(s.genre.length === 1 && s.genre[0]![1] === 1 ? { genres: Array.from({ length: c.n }, () => [s.genre[0]![0]]) } : { genreMix: Array(c.n).fill(s.genre) }),
  })), c.hop, c.sampleRate)
  return (window: WindowSpan): PriorConditions => {
    const base: PriorConditions = { ...labels(window), total: Array(c.n).fill(c.totalSeconds) }
    if (c.lyricChars === 0) return base
    const { ids } = lyricWindowAt({ lyrics: c.lyrics, words: [], seconds: c.totalSeconds }, (window.start * c.hop) / c.sampleRate, ((window.start + window.length) * c.hop) / c.sampleRate, c.lyricChars)
    const rows = new Int32Array(c.n * c.lyricChars)
    for (let i = 0; i < c.n; i++) rows.set(ids, i * c.lyricChars)
    return { ...base, lyrics: tf.tensor2d(rows, [c.n, c.lyricChars], "int32") }
  }
}

const listed = (names: ReadonlyArray<string>) => (names.length > 12 ? `${names.slice(0, 12).map((n) => `"${n}"`).join(", ")} and ${names.length - 12} more` : names.map((n) => `"${n}"`).join(", "))

const sampleId = (i: number) => `sample-${i}`
const seconds = (codes: number, hop: number, sampleRate: number) => ((codes * hop) / sampleRate).toFixed(2)

// ---------------------------------------------------------------------------------------------
// Pages

interface PageContext {
  readonly priors: ReadonlyArray<Prior>
  /** (n, length) row-major per level, bottom first. */
  readonly codes: ReadonlyArray<Int32Array>
  readonly lengths: ReadonlyArray<number>
  readonly labels: ReturnType<typeof requestLabels>
  readonly request: SampleRequest
  readonly sampleRate: number
  readonly hops: ReadonlyArray<number>
  readonly totalSeconds: number
  readonly lyricChars: number
}

/**
 * Each sample's page. With lyrics, the alignment is read off the top prior's last
 * encoder-decoder layer: its attention over each window's lyric characters, run again over the
 * sampled codes, the head that moves through the lyrics best (models/alignment.ts), stitched
 * over the windows as they were sampled.
 */
const writePages = (dir: string, files: ReadonlyArray<{ id: string; wav: string[]; page: string }>, c: PageContext) =>
  Effect.promise(async () => {
    const top = c.priors[2]!
    const lyricsByWindow = c.lyricChars > 0 && c.labels.lyrics.length > 0 ? topAttention(top, c) : undefined
    for (const [i, sample] of files.entries()) {
      let lyrics: SamplePageInput["lyrics"]
      if (lyricsByWindow) {
        const windows = lyricsByWindow.map((w) => ({ attention: sampleAttention(w.weights, i), tokenStart: w.tokenStart, charStart: w.charStart }))
        const head = bestHead(windows.map((w) => w.attention))
        const song = { tokens: c.lengths[2]!, characters: c.labels.lyrics.length }
        const alignment = alignSong(windows, head, song)
        lyrics = { text: c.labels.text, start: alignment.start, end: alignment.end, heatMap: attentionHeatMap(windows, head, song), layer: lyricsByWindow[0]!.layer, head }
      }
      const page = samplePage({
        sample: i, artist: [c.request.artist, ...c.request.changes.map((ch) => ch.artist)].map(labelText).join(", then "), genre: [c.request.genre, ...c.request.changes.map((ch) => ch.genre)].map(labelText).join(", then "), seconds: (c.lengths[0]! * c.hops[0]!) / c.sampleRate, seed: c.request.seed,
        audio: sample.wav.map((file, level) => ({ level, name: LEVEL_NAMES[level]!, file, temperature: c.request.temperature[LEVEL_NAMES[level]!] })),
        hopLength: c.hops[2]!, sampleRate: c.sampleRate,
        ...(lyrics ? { lyrics } : {}),
      })
      await writeFile(join(dir, sample.page), page)
    }
    lyricsByWindow?.forEach((w) => w.weights.dispose())
  })

/** The top prior's lyric attention (n, heads, T, Tl) over each top-level window of the sampled codes, with where the window lies. */
const topAttention = (top: Prior, c: PageContext) => {
  const context = top.config.transformer.contextLength
  const length = c.lengths[2]!
  const layer = encoderDecoderLayers(top.config.transformer).at(-1)!
  const conditionsFor = windowConditions({ ...c.labels, n: c.request.n, totalSeconds: c.totalSeconds, lyricChars: c.lyricChars, hop: c.hops[2]!, sampleRate: c.sampleRate })
  return levelWindows(length, context, Math.max(1, Math.floor(c.request.hopFraction.top * context))).map((window) => {
    const tokens = new Int32Array(c.request.n * window.length)
    for (let i = 0; i < c.request.n; i++) tokens.set(c.codes[2]!.subarray(i * length + window.start, i * length + window.start + window.length), i * window.length)
    const conditions = conditionsFor(window)
    const offset = (window.start * c.hops[2]!) / c.sampleRate
    const batch = { ...conditions, offset: Array(c.request.n).fill(offset), tokens: tf.tensor2d(tokens, [c.request.n, window.length], "int32") }
    const weights = top.lyricAttention(batch, layer)
    tf.dispose([batch.tokens, conditions.lyrics!])
    const { charStart } = lyricWindowAt({ lyrics: c.labels.lyrics, words: [], seconds: c.totalSeconds }, offset, ((window.start + window.length) * c.hops[2]!) / c.sampleRate, c.lyricChars)
    return { weights, tokenStart: window.start, charStart, layer }
  })
}
