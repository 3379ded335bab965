import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { lyricIds } from "../../dataset/lyrics.ts"
import {
  drawWindows, evaluationWindows, lyricWindow, type PriorData, priorData, readWindow, songLabels, stackWindows, trainingBatch, type WindowSpec,
} from "../../dataset/prior-windows.ts"
import { indexTokens, type TokenReader, tokenReader } from "../../dataset/token-index.ts"
import { codesOf, HOPS, SAMPLE_RATE, type SongId, SONGS, writeTokenTables } from "./token-tables.ts"

const LYRICS = "one two three four five six seven eight nine ten"

/** Chunk rows: "c" is held out; "e" has no chunks. */
const chunks = (["a", "b", "c", "d"] as const).flatMap((song, s) =>
  [0, 1].map(() => ({ song, artist: s + 1, genres: Int32Array.of(s + 1, 9), split: song === "c" ? "heldout" : "train" })))

/** Alignments: "b" has aligned words, the others a linear spread. */
const alignments = (Object.keys(SONGS) as SongId[]).map((song) => {
  const words = song === "b" ? [{ start: 2, end: 3, charStart: 4, charEnd: 7 }, { start: 10, end: 11, charStart: 24, charEnd: 28 }] : []
  return {
    song, seconds: SONGS[song] / SAMPLE_RATE, lyrics: LYRICS,
    wordStart: Float32Array.from(words, (w) => w.start), wordEnd: Float32Array.from(words, (w) => w.end),
    charStart: Int32Array.from(words, (w) => w.charStart), charEnd: Int32Array.from(words, (w) => w.charEnd),
  }
})

const labels = songLabels(chunks, alignments, SAMPLE_RATE)
const spec = (level: number, context: number, lyricChars = 0): WindowSpec => ({ level, context, sampleRate: SAMPLE_RATE, lyricChars })

let reader: TokenReader
let cleanup = () => {}
beforeAll(async () => {
  const written = await writeTokenTables()
  cleanup = written.cleanup
  const samples = new Map([...labels].map(([song, l]) => [song, l.samples]))
  reader = tokenReader(await Effect.runPromise(indexTokens(written.tokens, samples, HOPS)))
})
afterAll(() => (reader.close(), cleanup()))

const batch = (data: PriorData, seed: number, step: number, size: number) => Effect.runPromise(trainingBatch(data, seed, step, size))

describe("prior windows", () => {
  it("takes labels from the chunks and the alignments, and plans which songs windows come from", () => {
    expect(labels.get("b")).toMatchObject({ artist: 2, genres: Int32Array.of(2, 9), samples: SONGS.b, split: "train" })
    expect(labels.get("c")!.split).toBe("heldout")
    expect(labels.has("e")).toBe(false)
    const mixed = songLabels([{ ...chunks[0]!, split: "train" }, { ...chunks[1]!, split: "heldout" }], alignments, SAMPLE_RATE)
    expect(mixed.get("a")!.split).toBe("heldout") // one held-out chunk keeps the whole song out of training
    const top = priorData(reader, labels, spec(2, 32, 8)).plan
    expect(top.grid).toBe(1)
    expect(top.train).toEqual([{ song: "a", offsets: 301 - 32 + 1 }, { song: "b", offsets: 101 - 32 + 1 }])
    expect(top.heldOut).toEqual([{ song: "c", offsets: 80 - 32 + 1 }])
    expect(top.skipped).toEqual([
      { song: "e", reason: "no chunks: shorter than one chunk, or set aside upstream" },
      { song: "d", reason: "20 codes at level 2 make less than one window of 32" },
    ])
    // bottom windows start on whole middle codes: 4 bottom codes apart
    const bottom = priorData(reader, labels, spec(0, 64)).plan
    expect(bottom.grid).toBe(4)
    expect(bottom.train.map((s) => s.song)).toEqual(["a", "b", "d"])
    expect(bottom.train[0]!.offsets).toBe(Math.floor((4807 - 64) / 4) + 1)
  })

  it("refuses a context that is not a whole number of codes of the level above", () => {
    expect(() => priorData(reader, labels, spec(0, 62))).toThrow("context 62 codes at level 0 is not a whole number of level-1 codes (hop 32 / 8 = 4): make it a multiple of 4")
  })

  it("draws the same windows for the same seed and step, whatever came before", async () => {
    const data = priorData(reader, labels, spec(1, 32))
    const first = await batch(data, 3, 10, 6)
    await batch(data, 3, 11, 6)
    expect(await batch(data, 3, 10, 6)).toEqual(first)
    expect(drawWindows(data.plan, 3, 10, 6)).toEqual(first.map(({ song, offset }) => ({ song, offset })))
    expect(drawWindows(data.plan, 3, 12, 6)).not.toEqual(drawWindows(data.plan, 3, 10, 6))
    expect(drawWindows(data.plan, 4, 10, 6)).not.toEqual(drawWindows(data.plan, 3, 10, 6))
  })

  it("never draws a held-out song, and draws offsets on the grid, inside the songs, as often as their length says", () => {
    const { plan } = priorData(reader, labels, spec(0, 64))
    const counts = new Map<string, number>()
    for (let step = 0; step < 400; step++) {
      for (const { song, offset } of drawWindows(plan, 1, step, 8)) {
        counts.set(song, (counts.get(song) ?? 0) + 1)
        expect(offset % 4).toBe(0)
        expect(offset + 64).toBeLessThanOrEqual(codesOf(song as SongId, 0).length)
      }
    }
    expect(counts.has("c")).toBe(false)
    // offsets: a 1186, b 385, d 65 of 1636
    expect(counts.get("a")! / 3200).toBeCloseTo(1186 / 1636, 1)
    expect(counts.get("d")! / 3200).toBeCloseTo(65 / 1636, 1)
  })

  it("gives each window the codes encode wrote, with its labels and timing", async () => {
    const data = priorData(reader, labels, spec(2, 32, 8))
    for (const w of await batch(data, 7, 0, 8)) {
      expect(w.tokens).toEqual(Int32Array.from(codesOf(w.song as SongId, 2).subarray(w.offset, w.offset + 32)))
      expect(w.upper).toBeUndefined()
      const song = labels.get(w.song)!
      expect(w).toMatchObject({ level: 2, artist: song.artist, genres: song.genres, totalSamples: SONGS[w.song as SongId], offsetSamples: w.offset * 128 })
      expect(w.totalSeconds).toBeCloseTo(SONGS[w.song as SongId] / SAMPLE_RATE, 9)
      expect(w.offsetSeconds).toBe(w.offset / 8)
      expect(w.lyrics).toHaveLength(8)
    }
  })

  it("stacks a batch into row-major arrays", async () => {
    const data = priorData(reader, labels, spec(1, 32, 4))
    const windows = await batch(data, 2, 0, 3)
    const stacked = stackWindows(windows)
    expect(stacked.size).toBe(3)
    expect(stacked.tokens.subarray(32, 64)).toEqual(windows[1]!.tokens)
    expect(stacked.upper!.subarray(8, 16)).toEqual(windows[1]!.upper)
    expect(stacked.lyrics).toHaveLength(12)
    expect(stacked.genres[2]).toEqual([...windows[2]!.genres])
    expect(stacked.offset).toEqual(windows.map((w) => w.offsetSeconds))
  })

  it("gives an upsampler the level above's codes of exactly the same samples", async () => {
    for (const [level, context] of [[0, 64], [1, 32]] as const) {
      const data = priorData(reader, labels, spec(level, context))
      const ratio = HOPS[level + 1]! / HOPS[level]!
      const windows = [...await batch(data, 5, 0, 12), ...await Effect.runPromise(Effect.forEach(evaluationWindows(data.plan), (p) => readWindow(data, p)))]
      for (const w of windows) {
        const upperOffset = w.offset / ratio
        expect(Number.isInteger(upperOffset)).toBe(true)
        // the same samples: [offset·hop, (offset + context)·hop) at both levels
        expect(upperOffset * HOPS[level + 1]!).toBe(w.offsetSamples)
        expect((context / ratio) * HOPS[level + 1]!).toBe(context * HOPS[level]!)
        expect(w.upper).toEqual(Int32Array.from(codesOf(w.song as SongId, level + 1).subarray(upperOffset, upperOffset + context / ratio)))
        // codes are numbered by their first sample, so each upper code matches the lower code that starts with it
        w.upper!.forEach((code, j) => expect(code).toBe(w.tokens[j * ratio]))
      }
    }
  })

  it("tiles the held-out songs for validation, the same every time", () => {
    const { plan } = priorData(reader, labels, spec(1, 32))
    const windows = evaluationWindows(plan)
    expect(windows).toEqual(Array.from({ length: 10 }, (_, k) => ({ song: "c", offset: k * 32 })))
    expect(evaluationWindows(plan)).toEqual(windows)
    expect(evaluationWindows(plan, 3)).toEqual([windows[0], windows[3], windows[6]])
  })
})

describe("lyric windows of prior windows", () => {
  const song = { lyrics: lyricIds(LYRICS), words: [], seconds: 10 }
  const ids = (text: string) => Int32Array.from(lyricIds(text))

  it("centres the characters on the window's middle, moved inward at the ends of the lyrics", () => {
    // 48 characters over 10 s: the middle of 4–6 s is character 24
    expect(lyricWindow(song, 4, 6, 8)).toEqual(ids(LYRICS.slice(20, 28)))
    expect(lyricWindow(song, 0, 1, 8)).toEqual(ids(LYRICS.slice(0, 8)))
    expect(lyricWindow(song, 9, 10, 8)).toEqual(ids(LYRICS.slice(40, 48)))
  })

  it("centres on the aligned words sung in the window", () => {
    const b = labels.get("b")!
    // "two" (characters 4–7) is sung at 2–3 s
    expect(lyricWindow(b, 1.5, 3.5, 6)).toEqual(ids(LYRICS.slice(3, 9)))
  })

  it("pads in front with 0 when the lyrics are shorter than the window, and gives no lyrics for none", () => {
    expect(lyricWindow({ ...song, lyrics: lyricIds("la la") }, 2, 4, 8)).toEqual(Int32Array.of(0, 0, 0, ...ids("la la")))
    expect(lyricWindow({ ...song, lyrics: new Int32Array(0) }, 2, 4, 4)).toEqual(new Int32Array(4))
    expect(lyricWindow(song, 2, 4, 0)).toEqual(new Int32Array(0))
  })
})
