/**
 * Where every song's codes are in the token shards, and any range of them read back on demand.
 * The index comes from one pass over the small columns (never `tokens`), so its memory grows with
 * the number of stored windows, not of codes; the reader decodes only the rows a range lies in and
 * keeps the last few in an LRU cache.
 */
import { Effect, Stream } from "effect"
import { ArtifactReadError, type TableReader } from "../runtime/index.ts"
import type { TokenWindow } from "../schemas/tokens.ts"
import { shardFiles } from "./token-rows.ts"

/** One stored window (a row of the token shards): the codes it holds and where it lies. */
export interface StoredWindow {
  readonly window: number
  /** Index of its first code in the song's sequence at its level. */
  readonly start: number
  readonly length: number
  /** Its shard (an index into `TokenIndex.shards`), its row group in the shard and its row in the row group. */
  readonly shard: number
  readonly rowGroup: number
  readonly row: number
}

/** Where every song's codes are: its stored windows, per level, in order. */
export interface TokenIndex {
  /** Absolute paths of the shards, in table order. */
  readonly shards: ReadonlyArray<string>
  /** Samples per code of each level, bottom first. */
  readonly hops: ReadonlyArray<number>
  /** song → level → windows by start, covering the level's codes end to end (empty for a level it lacks). */
  readonly songs: ReadonlyMap<string, ReadonlyArray<ReadonlyArray<StoredWindow>>>
  /** Songs in the shards whose length in samples was not given: left out, as their last window's size is unknown. */
  readonly unmeasured: ReadonlyArray<string>
}

/** Reads ranges of codes through an index; `close` frees the decoder's memory. */
export interface TokenReader {
  readonly index: TokenIndex
  /** Codes [start, start + count) of `song` at `level`, decoding only the stored windows they lie in. */
  readonly read: (song: string, level: number, start: number, count: number) => Effect.Effect<Int16Array, ArtifactReadError>
  /** Reads from the shard files so far (one per run of adjacent rows not in the cache). */
  readonly reads: () => number
  readonly close: () => void
}

/** Codes `encode` writes for a song of `samples` at `hop`: it pads the song to whole hops (models/segments.ts). */
export const codesFor = (samples: number, hop: number): number => Math.ceil(samples / hop)

/** Number of codes of `song` at `level` (0 when it has none). */
export const codeCount = (index: TokenIndex, song: string, level: number): number => {
  const last = index.songs.get(song)?.[level]?.at(-1)
  return last === undefined ? 0 : last.start + last.length
}

/** Every column but `tokens`. */
const SMALL_COLUMNS = ["song_id", "level", "window", "start"] as const

/**
 * Indexes the token shards from one stream of their small columns and the shards' footers. The
 * rows do not say how long a song's last window is without reading its codes, so each song's
 * length in `samples` (the alignments' length × the sample rate) and each level's `hops` give it.
 */
export const indexTokens = (
  tokens: TableReader<TokenWindow>,
  samples: ReadonlyMap<string, number>,
  hops: ReadonlyArray<number>,
): Effect.Effect<TokenIndex, ArtifactReadError> =>
  Effect.gen(function* () {
    const shards = tokens.shards.map((shard) => shard.absolutePath)
    const files = shardFiles(shards)
    const groupRows = yield* Effect.forEach(shards, (_, shard) => fromPromise(() => files.rowGroupRows(shard), shards[shard]!), { concurrency: 8 })
      .pipe(Effect.ensuring(Effect.sync(files.close)))
    const places = rowPlaces(groupRows)
    const found = new Map<string, Array<Array<Omit<StoredWindow, "length">>>>()
    yield* Stream.runForEach(tokens.stream({ columns: SMALL_COLUMNS }), (row) =>
      Effect.suspend(() => {
        const place = places.next()
        if (place.done) return Effect.fail(new ArtifactReadError({ path: shards.at(-1) ?? "token shards", reason: "more rows than the shard footers hold" }))
        if (row.level >= hops.length) {
          return Effect.fail(new ArtifactReadError({ path: shards[place.value.shard]!, reason: `${row.song_id} has codes at level ${row.level}, but only ${hops.length} hops were given` }))
        }
        const levels = found.get(row.song_id) ?? hops.map(() => [])
        levels[row.level]!.push({ window: row.window, start: row.start, ...place.value })
        found.set(row.song_id, levels)
        return Effect.void
      }))
    if (!places.next().done) {
      // a reader over some of the rows (one partition) would misplace every row after the first it leaves out
      return yield* new ArtifactReadError({ path: shards[0] ?? "token shards", reason: "the stream gave fewer rows than the shard footers hold: index the whole token table" })
    }
    const songs = new Map<string, ReadonlyArray<ReadonlyArray<StoredWindow>>>()
    for (const [song, levels] of found) {
      const length = samples.get(song)
      if (length !== undefined) songs.set(song, yield* Effect.forEach(levels, (windows, level) => sized(song, level, windows, codesFor(length, hops[level]!), shards)))
    }
    return { shards, hops, songs, unmeasured: [...found.keys()].filter((song) => !samples.has(song)).sort() }
  })

/** A reader of code ranges through `index`, caching up to `cacheRows` decoded windows. */
export const tokenReader = (index: TokenIndex, options: { readonly cacheRows?: number } = {}): TokenReader => {
  const files = shardFiles(index.shards)
  const cache = new Lru<StoredWindow, Int16Array>(options.cacheRows ?? 256)
  let reads = 0

  /** The codes of `windows` (in storage order), from the cache or read in runs of adjacent rows. */
  const load = async (windows: ReadonlyArray<StoredWindow>, song: string, level: number): Promise<Map<StoredWindow, Int16Array>> => {
    const codes = new Map<StoredWindow, Int16Array>()
    const missing: StoredWindow[] = []
    for (const w of windows) {
      const cached = cache.get(w)
      if (cached) codes.set(w, cached)
      else missing.push(w)
    }
    for (const run of adjacentRuns(missing)) {
      reads++
      const rows = await files.tokenRows(run[0]!.shard, run[0]!.rowGroup, run[0]!.row, run.length)
      run.forEach((w, i) => {
        if (rows[i]!.length !== w.length) {
          throw new ArtifactReadError({
            path: index.shards[w.shard]!,
            reason: `${song} window ${w.window} at level ${level} holds ${rows[i]!.length} codes where the index expects ${w.length}: the token shards and the songs' lengths disagree (re-run encode?)`,
          })
        }
        cache.set(w, rows[i]!)
        codes.set(w, rows[i]!)
      })
    }
    return codes
  }

  const read: TokenReader["read"] = (song, level, start, count) =>
    Effect.suspend(() => {
      const windows = index.songs.get(song)?.[level] ?? []
      const total = codeCount(index, song, level)
      if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > total) {
        return Effect.die(new RangeError(`codes ${start}–${start + count} of ${song} at level ${level} are outside its ${total} codes`))
      }
      if (count === 0) return Effect.succeed(new Int16Array(0))
      const end = start + count
      const touched = windows.slice(lastAtOrBefore(windows, start), lastAtOrBefore(windows, end - 1) + 1)
      return fromPromise(async () => {
        const codes = await load(touched, song, level)
        const out = new Int16Array(count)
        for (const w of touched) {
          const from = Math.max(start, w.start)
          out.set(codes.get(w)!.subarray(from - w.start, Math.min(end, w.start + w.length) - w.start), from - start)
        }
        return out
      }, index.shards[touched[0]?.shard ?? 0] ?? "token shards")
    })

  return { index, read, reads: () => reads, close: files.close }
}

// ---------------------------------------------------------------------------------------------

const fromPromise = <A>(run: () => Promise<A>, path: string): Effect.Effect<A, ArtifactReadError> =>
  Effect.tryPromise({
    try: run,
    catch: (error) => error instanceof ArtifactReadError ? error : new ArtifactReadError({ path, reason: error instanceof Error ? error.message : String(error) }),
  })

/** Where each row of the table lies, in the order a `TableReader` streams them: shard by shard, row group by row group. */
function* rowPlaces(groupRows: ReadonlyArray<ReadonlyArray<number>>): Generator<{ shard: number; rowGroup: number; row: number }> {
  for (const [shard, groups] of groupRows.entries()) {
    for (const [rowGroup, rows] of groups.entries()) for (let row = 0; row < rows; row++) yield { shard, rowGroup, row }
  }
}

/**
 * One song's windows at one level, sorted, each with its length: up to the next window's start, and
 * for the last, up to the `codes` the song has. Fails when they do not cover the codes end to end.
 */
const sized = (song: string, level: number, found: ReadonlyArray<Omit<StoredWindow, "length">>, codes: number, shards: ReadonlyArray<string>) =>
  Effect.suspend(() => {
    const windows = [...found].sort((a, b) => a.start - b.start)
    const sizedWindows = windows.map((w, i) => ({ ...w, length: (windows[i + 1]?.start ?? codes) - w.start }))
    const last = sizedWindows.at(-1)
    const fail = (reason: string) => Effect.fail(new ArtifactReadError({ path: shards[windows[0]!.shard]!, reason: `${song} at level ${level}: ${reason}` }))
    if (last === undefined) return Effect.succeed(sizedWindows)
    if (windows[0]!.start !== 0) return fail(`its first window starts at code ${windows[0]!.start}, not 0`)
    const repeated = sizedWindows.find((w) => w.length === 0 && w !== last)
    if (repeated) return fail(`two windows start at code ${repeated.start}`)
    // encode's windows all have the same length but the last, which may be shorter
    if (last.length <= 0 || (sizedWindows.length > 1 && last.length > sizedWindows[0]!.length)) {
      return fail(`its last window starts at code ${last.start}, but its length makes ${codes} codes: the token shards and the songs' lengths disagree (re-run encode?)`)
    }
    return Effect.succeed(sizedWindows)
  })

/** Index of the last window starting at or before code `at` (windows sorted by start, the first at 0). */
const lastAtOrBefore = (windows: ReadonlyArray<StoredWindow>, at: number): number => {
  let lo = 0
  let hi = windows.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (windows[mid]!.start <= at) lo = mid
    else hi = mid - 1
  }
  return lo
}

/** Windows split into runs that are adjacent rows of one row group, each read in one go. */
const adjacentRuns = (windows: ReadonlyArray<StoredWindow>): StoredWindow[][] => {
  const runs: StoredWindow[][] = []
  for (const w of windows) {
    const previous = runs.at(-1)?.at(-1)
    if (previous && previous.shard === w.shard && previous.rowGroup === w.rowGroup && previous.row + 1 === w.row) runs.at(-1)!.push(w)
    else runs.push([w])
  }
  return runs
}

/** A map that forgets its least recently used entries beyond `capacity`. */
class Lru<K, V> {
  private readonly entries = new Map<K, V>()
  constructor(private readonly capacity: number) {}

  get(key: K): V | undefined {
    const value = this.entries.get(key)
    if (value !== undefined) {
      this.entries.delete(key)
      this.entries.set(key, value)
    }
    return value
  }

  set(key: K, value: V): void {
    this.entries.delete(key)
    this.entries.set(key, value)
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.capacity) break
      this.entries.delete(oldest)
    }
  }
}
