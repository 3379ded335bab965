/**
 * What `prior-train` feeds its models: windows of `context` codes of one level, drawn at random
 * from the training songs (the same for the same seed and step) or tiled over the held-out songs
 * for validation, each with its labels — artist, genres, timing, the lyric characters sung around
 * it — and, for the upsamplers, the level above's codes of exactly the same samples.
 */
import { Effect } from "effect"
import { seededRandom } from "../models/random.ts"
import type { ArtifactReadError } from "../runtime/index.ts"
import type { Alignment } from "../schemas/alignment.ts"
import type { Chunk } from "../schemas/chunks.ts"
import { lyricIds, lyricWindowStart, type TimedWord } from "./lyrics.ts"
import { codeCount, type TokenIndex, type TokenReader } from "./token-index.ts"

/** What a prior is conditioned on for one song, and which split the song is in. */
export interface SongLabels {
  readonly artist: number
  readonly genres: Int32Array
  /** The song's length, in samples and in seconds. */
  readonly samples: number
  readonly seconds: number
  /** "heldout" when any of its chunks is not a training chunk. */
  readonly split: "train" | "heldout"
  /** Character ids of the whole (normalised) lyrics, and when their words are sung. */
  readonly lyrics: Int32Array
  readonly words: ReadonlyArray<TimedWord>
}

/** How windows are cut for training the prior of one level. */
export interface WindowSpec {
  /** The level whose prior trains: 0 = bottom. */
  readonly level: number
  /** Codes per window: the prior's context. */
  readonly context: number
  readonly sampleRate: number
  /** Lyric characters per window; 0 for the upsamplers, which read no lyrics. */
  readonly lyricChars: number
}

/** A song windows are cut from, and how many window offsets it has. */
export interface WindowSong {
  readonly song: string
  readonly offsets: number
}

/** Which songs windows come from, with the grid their offsets lie on. */
export interface WindowPlan {
  readonly spec: WindowSpec
  /** Codes between allowed offsets: one code of the level above (1 at the top level). */
  readonly grid: number
  /** Training and held-out songs, by id. */
  readonly train: ReadonlyArray<WindowSong>
  readonly heldOut: ReadonlyArray<WindowSong>
  /** Songs no window is cut from, each with why. */
  readonly skipped: ReadonlyArray<{ readonly song: string; readonly reason: string }>
}

/** Where a window lies: its song, and the index of its first code at the plan's level. */
export interface WindowPlace {
  readonly song: string
  readonly offset: number
}

/** One window of a prior's training or validation data, with everything the prior is conditioned on. */
export interface PriorWindow extends WindowPlace {
  readonly level: number
  /** (context) int32: the codes. */
  readonly tokens: Int32Array
  readonly artist: number
  readonly genres: Int32Array
  /** Timing: the song's length and where the window starts, in samples (hop × code index) and in seconds. */
  readonly totalSamples: number
  readonly offsetSamples: number
  readonly totalSeconds: number
  readonly offsetSeconds: number
  /** (lyricChars) int32: the lyric characters sung around the window, 0 = padding. */
  readonly lyrics: Int32Array
  /** (context · hop / upper hop) int32: the level above's codes of the same samples; absent at the top level. */
  readonly upper?: Int32Array
}

/** The tokens, labels and plan windows are read with. */
export interface PriorData {
  readonly reader: TokenReader
  readonly labels: ReadonlyMap<string, SongLabels>
  readonly plan: WindowPlan
}

/**
 * Each song's labels: artist, genres and split from its chunks, length and lyrics from its
 * alignment. Songs without chunks (shorter than one, or set aside) are left out.
 */
export const songLabels = (
  chunks: Iterable<Pick<Chunk, "song" | "artist" | "genres" | "split">>,
  alignments: Iterable<Pick<Alignment, "song" | "seconds" | "lyrics" | "wordStart" | "wordEnd" | "charStart" | "charEnd">>,
  sampleRate: number,
): ReadonlyMap<string, SongLabels> => {
  const bySong = new Map<string, { artist: number; genres: Int32Array; heldOut: boolean }>()
  for (const chunk of chunks) {
    const known = bySong.get(chunk.song)
    bySong.set(chunk.song, { artist: chunk.artist, genres: chunk.genres, heldOut: (known?.heldOut ?? false) || chunk.split !== "train" })
  }
  const labels = new Map<string, SongLabels>()
  for (const a of alignments) {
    const chunked = bySong.get(a.song)
    if (chunked === undefined) continue
    labels.set(a.song, {
      artist: chunked.artist,
      genres: chunked.genres,
      // ingest measures seconds as samples / rate, so rounding recovers the samples
      samples: Math.round(a.seconds * sampleRate),
      seconds: a.seconds,
      split: chunked.heldOut ? "heldout" : "train",
      lyrics: lyricIds(a.lyrics),
      words: [...a.wordStart].map((start, i) => ({ start, end: a.wordEnd[i]!, charStart: a.charStart[i]!, charEnd: a.charEnd[i]! })),
    })
  }
  return labels
}

/**
 * Which songs windows of `spec` come from. Offsets lie on a grid of one code of the level above,
 * so an upsampler's window starts on a whole upper code; a song shorter than one window is skipped.
 * Throws a RangeError when the context is not a whole number of upper codes.
 */
export const planWindows = (index: TokenIndex, labels: ReadonlyMap<string, SongLabels>, spec: WindowSpec): WindowPlan => {
  const { level, context } = spec
  const hop = index.hops[level]
  if (hop === undefined) throw new RangeError(`level ${level}: the token shards have levels 0–${index.hops.length - 1}`)
  if (!Number.isInteger(context) || context <= 0) throw new RangeError(`context ${context}: expected a positive whole number of codes`)
  const grid = upperRatio(index.hops, level)
  if (context % grid !== 0) {
    throw new RangeError(`context ${context} codes at level ${level} is not a whole number of level-${level + 1} codes (hop ${index.hops[level + 1]} / ${hop} = ${grid}): make it a multiple of ${grid}`)
  }
  const train: WindowSong[] = []
  const heldOut: WindowSong[] = []
  const skipped: Array<{ song: string; reason: string }> = index.unmeasured.map((song) => ({ song, reason: "no chunks: shorter than one chunk, or set aside upstream" }))
  for (const song of [...labels.keys()].sort()) {
    const codes = codeCount(index, song, level)
    // an upsampler's window needs the level above over the same samples too
    const last = level + 1 < index.hops.length ? Math.min(codes, grid * codeCount(index, song, level + 1)) - context : codes - context
    if (codes === 0) skipped.push({ song, reason: `no codes at level ${level} in the token shards` })
    else if (last < 0) skipped.push({ song, reason: `${codes} codes at level ${level} make less than one window of ${context}` })
    else (labels.get(song)!.split === "train" ? train : heldOut).push({ song, offsets: Math.floor(last / grid) + 1 })
  }
  return { spec, grid, train, heldOut, skipped }
}

/** The plan for `spec` over `reader`'s token shards, with the labels windows take. */
export const priorData = (reader: TokenReader, labels: ReadonlyMap<string, SongLabels>, spec: WindowSpec): PriorData =>
  ({ reader, labels, plan: planWindows(reader.index, labels, spec) })

/**
 * Where the `batch` windows of training step `step` lie: uniform over every (training song, offset)
 * pair, so each second of training audio is drawn as often as any other. The same for the same
 * seed and step, whatever steps came before. Throws when no training song is long enough.
 */
export const drawWindows = (plan: WindowPlan, seed: number, step: number, batch: number): WindowPlace[] => {
  const ends: number[] = []
  for (const s of plan.train) ends.push((ends.at(-1) ?? 0) + s.offsets)
  const total = ends.at(-1) ?? 0
  if (total === 0) throw new RangeError(`no training song is long enough for a window of ${plan.spec.context} codes at level ${plan.spec.level}`)
  const random = seededRandom(seed, DATA_STREAM, step)
  return Array.from({ length: batch }, () => {
    const k = random.int(total)
    const i = firstAbove(ends, k)
    return { song: plan.train[i]!.song, offset: (k - (ends[i - 1] ?? 0)) * plan.grid }
  })
}

/**
 * The held-out windows validation loss is measured on: each held-out song tiled by windows end to
 * end from its start, songs in id order; `limit` keeps that many, evenly spread over the list.
 */
export const evaluationWindows = (plan: WindowPlan, limit = Infinity): WindowPlace[] => {
  const { context } = plan.spec
  const all = plan.heldOut.flatMap(({ song, offsets }) =>
    Array.from({ length: Math.floor(((offsets - 1) * plan.grid) / context) + 1 }, (_, k) => ({ song, offset: k * context })))
  if (all.length <= limit) return all
  return Array.from({ length: limit }, (_, i) => all[Math.floor((i * all.length) / limit)]!)
}

/** The window at `place`, read from the token shards, with its labels. */
export const readWindow = (data: PriorData, place: WindowPlace): Effect.Effect<PriorWindow, ArtifactReadError> =>
  Effect.gen(function* () {
    const { level, context, sampleRate, lyricChars } = data.plan.spec
    const { hops } = data.reader.index
    const labels = data.labels.get(place.song)
    if (labels === undefined) return yield* Effect.die(new RangeError(`${place.song} has no labels`))
    const tokens = Int32Array.from(yield* data.reader.read(place.song, level, place.offset, context))
    const upper = level + 1 < hops.length
      ? Int32Array.from(yield* data.reader.read(place.song, level + 1, place.offset / data.plan.grid, context / data.plan.grid))
      : undefined
    const offsetSamples = place.offset * hops[level]!
    const offsetSeconds = offsetSamples / sampleRate
    return {
      ...place,
      level,
      tokens,
      artist: labels.artist,
      genres: labels.genres,
      totalSamples: labels.samples,
      offsetSamples,
      totalSeconds: labels.seconds,
      offsetSeconds,
      lyrics: lyricWindow(labels, offsetSeconds, offsetSeconds + (context * hops[level]!) / sampleRate, lyricChars),
      ...(upper && { upper }),
    }
  })

/** The windows of training step `step`, read in the order drawn. */
export const trainingBatch = (data: PriorData, seed: number, step: number, batch: number): Effect.Effect<PriorWindow[], ArtifactReadError> =>
  Effect.forEach(drawWindows(data.plan, seed, step, batch), (place) => readWindow(data, place))

/** A batch of windows as flat row-major arrays: what `prior-train` makes the tensors of models/prior.ts's `PriorBatch` from. */
export interface WindowBatch {
  readonly size: number
  /** (B, context) codes. */
  readonly tokens: Int32Array
  /** (B, context / ratio) codes of the level above; absent at the top level. */
  readonly upper?: Int32Array
  /** (B, lyricChars) character ids. */
  readonly lyrics: Int32Array
  readonly artist: number[]
  readonly genres: number[][]
  /** Song lengths and window starts, in seconds (B). */
  readonly total: number[]
  readonly offset: number[]
}

/** Stacks windows of one plan into a batch. */
export const stackWindows = (windows: ReadonlyArray<PriorWindow>): WindowBatch => {
  const stack = (rows: ReadonlyArray<Int32Array>) => {
    const out = new Int32Array(rows.reduce((n, row) => n + row.length, 0))
    rows.reduce((at, row) => (out.set(row, at), at + row.length), 0)
    return out
  }
  const uppers = windows.flatMap((w) => (w.upper ? [w.upper] : []))
  return {
    size: windows.length,
    tokens: stack(windows.map((w) => w.tokens)),
    ...(uppers.length > 0 && { upper: stack(uppers) }),
    lyrics: stack(windows.map((w) => w.lyrics)),
    artist: windows.map((w) => w.artist),
    genres: windows.map((w) => [...w.genres]),
    total: windows.map((w) => w.totalSeconds),
    offset: windows.map((w) => w.offsetSeconds),
  }
}

/**
 * The `size` lyric character ids sung between `start` and `end` seconds, as the reference's
 * get_relevant_lyric_tokens takes them: centred on what is sung then (lyricWindowStart: the aligned
 * words, or a linear spread), moved inward at the lyrics' ends rather than padded, and padded
 * with 0 in front only when the lyrics are shorter than the window.
 */
export const lyricWindow = (labels: Pick<SongLabels, "lyrics" | "words" | "seconds">, start: number, end: number, size: number): Int32Array =>
  lyricWindowAt(labels, start, end, size).ids

/** `lyricWindow`, and where its first character lies in the lyrics (negative: padded in front). */
export const lyricWindowAt = (labels: Pick<SongLabels, "lyrics" | "words" | "seconds">, start: number, end: number, size: number): { ids: Int32Array; charStart: number } => {
  const ids = new Int32Array(size)
  if (size === 0) return { ids, charStart: 0 }
  const from = lyricWindowStart(labels.words, labels.lyrics.length, labels.seconds, start, end, size)
  const sung = labels.lyrics.subarray(from, from + size)
  ids.set(sung, size - sung.length)
  return { ids, charStart: from - (size - sung.length) }
}

// ---------------------------------------------------------------------------------------------

/** The random stream of data draws, apart from the streams weights are initialised from (as vqvae-train's clips). */
const DATA_STREAM = 7

/** Codes of `level` per code of the level above (1 at the top); throws unless the hops divide. */
const upperRatio = (hops: ReadonlyArray<number>, level: number): number => {
  const upper = hops[level + 1]
  if (upper === undefined) return 1
  if (upper % hops[level]! !== 0) throw new RangeError(`hop ${upper} of level ${level + 1} is not a multiple of hop ${hops[level]} of level ${level}`)
  return upper / hops[level]!
}

/** Index of the first of the increasing `ends` above `k`. */
const firstAbove = (ends: ReadonlyArray<number>, k: number): number => {
  let lo = 0
  let hi = ends.length - 1
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (ends[mid]! > k) hi = mid
    else lo = mid + 1
  }
  return lo
}
