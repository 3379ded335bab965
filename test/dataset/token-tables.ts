/**
 * Generated token shards for the dataset tests: songs encoded at three levels (hops 8/32/128) in
 * stored windows of 16 codes, written through the runtime as the real `TokenShards` kind — one
 * table per song or several songs per table, as partitioned `encode` runs leave them.
 */
import { Effect } from "effect"
import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { openTable, type TableReader, writeTable } from "../../runtime/index.ts"
import { TokenShards, type TokenWindow } from "../../schemas/tokens.ts"

export const HOPS = [8, 32, 128]
/** Samples per second: 8 bottom codes of a second each make one top code. */
export const SAMPLE_RATE = 1024
/** Codes per stored window (encode's `windowTokens`). */
export const STORED = 16

/** Songs and their lengths in samples: "a" fills two row groups, "d" is short, "e" has no labels. */
export const SONGS = { a: 300 * 128 + 50, b: 100 * 128 + 3, c: 80 * 128, d: 20 * 128, e: 30 * 128 } as const
export type SongId = keyof typeof SONGS

/**
 * What encode wrote for `song` at `level`: code i is the index of the first bottom code of its
 * samples (plus a number per song), so codes of the same samples agree across levels.
 */
export const codesOf = (song: SongId, level: number): Int16Array => {
  const count = Math.ceil(SONGS[song] / HOPS[level]!)
  const tag = Object.keys(SONGS).indexOf(song) * 7919
  return Int16Array.from({ length: count }, (_, i) => (tag + (i * HOPS[level]!) / HOPS[0]!) % 30000)
}

/** encode's rows for one song: every level in stored windows of `STORED` codes. */
const rowsOf = (song: SongId): TokenWindow[] =>
  HOPS.flatMap((_, level) => {
    const codes = codesOf(song, level)
    return Array.from({ length: Math.ceil(codes.length / STORED) }, (_, window) => ({
      song_id: song, level, window, start: window * STORED, tokens: codes.subarray(window * STORED, (window + 1) * STORED),
    }))
  })

/**
 * Writes the songs as three tables — "a" alone, "b", "c" and "e" together (rows reversed), "d"
 * alone — and opens them as one reader, like a partitioned artifact's shards. `cleanup` removes them.
 */
export const writeTokenTables = async (): Promise<{ tokens: TableReader<TokenWindow>; cleanup: () => void }> => {
  const root = mkdtempSync(join(tmpdir(), "jukeflow-tokens-"))
  const tables: TokenWindow[][] = [rowsOf("a"), [...rowsOf("b"), ...rowsOf("c"), ...rowsOf("e")].reverse(), rowsOf("d")]
  const shards = []
  for (const [i, rows] of tables.entries()) {
    const dir = join(root, `part-${i}`)
    mkdirSync(dir)
    const written = await Effect.runPromise(writeTable(TokenShards, rows, dir))
    shards.push(...written.shards.map((shard) => ({ ...shard, absolutePath: join(dir, shard.path) })))
  }
  return { tokens: openTable(TokenShards, shards), cleanup: () => rmSync(root, { recursive: true, force: true }) }
}

/** Song lengths in samples, for the songs that have labels (all but "e"). */
export const labelledSamples = (): Map<string, number> =>
  new Map(Object.entries(SONGS).filter(([song]) => song !== "e"))
