import { Cause, Effect, Exit } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { codeCount, indexTokens, type TokenIndex, tokenReader } from "../../dataset/token-index.ts"
import type { TableReader } from "../../runtime/index.ts"
import type { TokenWindow } from "../../schemas/tokens.ts"
import { codesOf, HOPS, labelledSamples, SONGS, STORED, writeTokenTables } from "./token-tables.ts"

let tokens: TableReader<TokenWindow>
let cleanup = () => {}
let index: TokenIndex
const streamed: Array<ReadonlyArray<string> | undefined> = []

beforeAll(async () => {
  ;({ tokens, cleanup } = await writeTokenTables())
  // a reader that records which columns are read, and refuses to load whole rows
  const spy: TableReader<TokenWindow> = {
    ...tokens,
    stream: (options) => (streamed.push(options?.columns), tokens.stream(options)),
    all: () => Effect.die(new Error("the index loaded whole rows")),
  }
  index = await Effect.runPromise(indexTokens(spy, labelledSamples(), HOPS))
})
afterAll(() => cleanup())

const read = (reader: ReturnType<typeof tokenReader>, song: string, level: number, start: number, count: number) =>
  Effect.runPromise(reader.read(song, level, start, count))

describe("token index", () => {
  it("indexes every stored window from the small columns alone", () => {
    expect(streamed).toEqual([["song_id", "level", "window", "start"]])
    expect([...index.songs.keys()].sort()).toEqual(["a", "b", "c", "d"])
    expect(index.unmeasured).toEqual(["e"])
    expect(index.shards).toHaveLength(3)
    for (const song of ["a", "b", "c", "d"] as const) {
      HOPS.forEach((_, level) => expect(codeCount(index, song, level)).toBe(codesOf(song, level).length))
    }
    // "a" fills more than one row group of 256 rows; the other songs share a shard, written backwards
    const a = index.songs.get("a")![0]!
    expect(a.map((w) => w.rowGroup)).toContain(1)
    expect(a.at(-1)).toMatchObject({ window: 300, start: 300 * STORED, length: codesOf("a", 0).length - 300 * STORED })
    expect(index.songs.get("b")![0]![0]).toMatchObject({ shard: 1, window: 0, start: 0, length: STORED })
  })

  it("reads any range as the concatenated codes, decoding only the rows it lies in", async () => {
    const reader = tokenReader(index)
    expect(reader.reads()).toBe(0)
    // rows 255 and 256 of song "a": the last of row group 0 and the first of row group 1
    const across = await read(reader, "a", 0, 255 * STORED + 3, 20)
    expect(across).toEqual(codesOf("a", 0).subarray(255 * STORED + 3, 255 * STORED + 23))
    expect(reader.reads()).toBe(2)
    await read(reader, "a", 0, 255 * STORED + 5, 10)
    expect(reader.reads()).toBe(2) // from the cache
    for (const song of ["a", "b", "c", "d"] as const) {
      for (const level of [0, 1, 2]) {
        const codes = codesOf(song, level)
        expect(await read(reader, song, level, 0, codes.length)).toEqual(codes)
        const start = Math.floor(codes.length / 3)
        expect(await read(reader, song, level, start, codes.length - start)).toEqual(codes.subarray(start))
      }
    }
    expect(await read(reader, "b", 2, 5, 0)).toEqual(new Int16Array(0))
    reader.close()
  })

  it("refuses a range outside the song", async () => {
    const reader = tokenReader(index)
    const exit = await Effect.runPromiseExit(reader.read("c", 2, 70, 11))
    expect(Exit.isFailure(exit) && Cause.pretty(exit.cause)).toMatch("codes 70–81 of c at level 2 are outside its 80 codes")
    reader.close()
  })

  it("fails, naming the song, when the shards and the songs' lengths disagree", async () => {
    const longer = await Effect.runPromise(Effect.flip(indexTokens(tokens, new Map([["a", SONGS.a + 100]]), HOPS)))
    expect(longer.reason).toMatch(/^a at level 0: its last window starts at code 4800, but its length makes 4819 codes/)
    // 40 samples short: the index expects 2 codes in "a"'s last bottom window, which holds 7
    const shorter = await Effect.runPromise(indexTokens(tokens, new Map([["a", SONGS.a - 40]]), HOPS))
    const reader = tokenReader(shorter)
    const error = await Effect.runPromise(Effect.flip(reader.read("a", 0, 4790, 12)))
    expect(error.reason).toMatch("a window 300 at level 0 holds 7 codes where the index expects 2")
    reader.close()
  })
})
