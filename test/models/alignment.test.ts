/**
 * The lyrics alignment read off attention weights: the head that moves through the lyrics wins over
 * a uniform head and a sink, a staircase gives its steps back as a monotone path (a stray backward
 * peak ignored, a skipped character given an empty span), windows stitch with the earliest window
 * holding each token and no path through padding, and the heat map averages the same weights.
 *
 *   npx vitest run test/models/alignment.test.ts
 */
import * as tf from "@tensorflow/tfjs-core"
import { beforeAll, describe, expect, it } from "vitest"
import { alignSong, alignWindow, attentionHeatMap, bestHead, headScores, sampleAttention, type AttentionWindow, type LyricAttention } from "../../models/alignment.ts"
import { onBackend } from "./helpers.ts"

/** Attention of `heads.length` heads over `tokens` × `characters`, head h's weight at (t, c) from heads[h]. */
const attentionOf = (tokens: number, characters: number, heads: ReadonlyArray<(t: number, c: number) => number>): LyricAttention => ({
  heads: heads.length,
  tokens,
  characters,
  weights: Float32Array.from({ length: heads.length * tokens * characters }, (_, i) => {
    const [h, t, c] = [Math.floor(i / (tokens * characters)), Math.floor(i / characters) % tokens, i % characters]
    return heads[h]!(t, c)
  }),
})

/** 0.7 on the character `sung(t)`, the rest spread evenly over the other characters. */
const peaked = (characters: number, sung: (t: number) => number, peak = 0.7) => (t: number, c: number) => (c === sung(t) ? peak : (1 - peak) / (characters - 1))

describe("choosing the head", () => {
  it("a staircase scores what its monotone path gains over staying on one character; a uniform head and a sink score 0", () => {
    const staircase = peaked(4, (t) => Math.floor(t / 3))
    const uniform = () => 0.25
    const sink = (_t: number, c: number) => (c === 0 ? 1 : 0)
    const attention = attentionOf(12, 4, [uniform, sink, staircase])
    const scores = headScores(attention)
    expect(scores[0]).toBeCloseTo(0, 6)
    expect(scores[1]).toBeCloseTo(0, 6)
    expect(scores[2]).toBeCloseTo((12 * 0.7 - (3 * 0.7 + 9 * 0.1)) / 12, 6) // path 0.7 per token; best column: 3 peaks and 9 × 0.1
    expect(bestHead([attention])).toBe(2)
    expect(bestHead([attentionOf(12, 4, [staircase, uniform])])).toBe(0)
  })

  it("over several windows, by the score weighted by each window's tokens", () => {
    const diagonal = peaked(8, (t) => t)
    const uniform = () => 1 / 8
    const long = attentionOf(8, 8, [uniform, diagonal]) // head 1 aligns over 8 tokens
    const short = attentionOf(2, 8, [peaked(8, (t) => 4 * t, 0.9), uniform]) // head 0 over 2
    expect(bestHead([long, short])).toBe(1)
  })
})

describe("aligning a window", () => {
  it("a staircase gives its steps, non-decreasing even where one token peaks on an earlier character", () => {
    const sung = (t: number) => Math.floor(t / 3)
    const stray = (t: number, c: number) => (t === 7 ? (c === 0 ? 0.5 : c === 2 ? 0.3 : 0.1) : peaked(4, sung)(t, c))
    const { character, start, end } = alignWindow(attentionOf(12, 4, [() => 0.25, stray]), 1)
    expect(character).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    expect(start).toEqual([0, 3, 6, 9])
    expect(end).toEqual([3, 6, 9, 12])
  })

  it("a character the path jumps over gets an empty span where the next one starts", () => {
    const sung = [0, 0, 1, 1, 3, 3, 4, 4]
    const { character, start, end } = alignWindow(attentionOf(8, 6, [peaked(6, (t) => sung[t]!)]), 0)
    expect(character).toEqual(sung)
    expect(start).toEqual([0, 2, 4, 4, 6, 8])
    expect(end).toEqual([2, 4, 4, 6, 8, 8])
  })
})

describe("stitching windows", () => {
  // A song of 16 tokens and 8 characters, character ⌊t/2⌋ sung at token t.
  const song = { tokens: 16, characters: 8 }
  const truth = (t: number) => Math.floor(t / 2)
  // Window A: tokens 0-11, lyric positions 0-7 = characters −2 … 5 (two padding positions in front).
  // Row 0 looks mostly at the padding: the path must not go there.
  const a: AttentionWindow = {
    tokenStart: 0,
    charStart: -2,
    attention: attentionOf(12, 8, [(t, c) => (t === 0 ? (c === 0 ? 0.9 : c === 2 ? 0.1 : 0) : peaked(8, (t) => truth(t) + 2)(t, c))]),
  }
  // Window B: tokens 4-15, lyric positions 0-7 = characters 2 … 9 (8 and 9 padding at the end). Over
  // the overlap (tokens 4-11) it disagrees with A, one character ahead; at token 12 it peaks on
  // character 4, behind where A ended (5).
  const bSung = (t: number) => (t < 12 ? truth(t) + 1 : t === 12 ? 4 : truth(t))
  const b: AttentionWindow = {
    tokenStart: 4,
    charStart: 2,
    attention: attentionOf(12, 8, [(t, c) => (t + 4 === 12 ? (c === 2 ? 0.6 : c === 4 ? 0.3 : 0.1 / 6) : peaked(8, (t) => bSung(t + 4) - 2)(t, c))]),
  }

  it("each token from the earliest window holding it, through real characters only, never going back across a window", () => {
    const { character, start, end } = alignSong([b, a], 0, song)
    expect(character).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7])
    expect(start).toEqual([0, 2, 4, 6, 8, 10, 12, 14])
    expect(end).toEqual([2, 4, 6, 8, 10, 12, 14, 16])
  })

  it("the heat map holds the same weights: at full size each cell is the owning window's, smaller the cells' means", () => {
    const full = attentionHeatMap([a, b], 0, song, { columns: 100, rows: 100 })
    expect([full.columns, full.rows]).toEqual([16, 8])
    const at = (map: { values: readonly number[]; columns: number }, row: number, column: number) => map.values[row * map.columns + column]!
    expect(at(full, 3, 6)).toBeCloseTo(0.7, 6) // token 6 from A: character 3
    expect(at(full, 4, 6)).toBeCloseTo(0.3 / 7, 6)
    expect(at(full, 6, 13)).toBeCloseTo(0.7, 6) // token 13 from B
    expect(at(full, 0, 0)).toBeCloseTo(0.1, 6) // A's row 0, the padding left out
    const small = attentionHeatMap([a, b], 0, song, { columns: 4, rows: 2 })
    expect([small.columns, small.rows]).toEqual([4, 2])
    for (let row = 0; row < 2; row++) {
      for (let column = 0; column < 4; column++) {
        let sum = 0
        for (let r = 4 * row; r < 4 * row + 4; r++) for (let c = 4 * column; c < 4 * column + 4; c++) sum += at(full, r, c)
        expect(at(small, row, column)).toBeCloseTo(sum / 16, 6)
      }
    }
  })

  it("refuses a song without lyrics, tokens no window holds, a head the windows lack", () => {
    expect(() => alignSong([a, b], 0, { tokens: 16, characters: 0 })).toThrow(/no lyrics/)
    expect(() => alignSong([a], 0, song)).toThrow(/tokens 12 … 15 are in no window/)
    expect(() => attentionHeatMap([a, b], 1, song)).toThrow(/head 1 is not one of 0 … 0/)
  })
})

describe("from the prior's weights", () => {
  beforeAll(() => onBackend("cpu"))

  it("takes one sample's (heads, T, Tl) out of (B, heads, T, Tl), or one head of it", () => {
    const weights = tf.tensor4d(Float32Array.from({ length: 2 * 3 * 4 * 5 }, (_, i) => i), [2, 3, 4, 5])
    const one = sampleAttention(weights, 1)
    expect([one.heads, one.tokens, one.characters]).toEqual([3, 4, 5])
    expect(Array.from(one.weights)).toEqual(Array.from({ length: 60 }, (_, i) => 60 + i))
    const head = sampleAttention(weights, 1, 2)
    expect([head.heads, head.tokens, head.characters]).toEqual([1, 4, 5])
    expect(Array.from(head.weights)).toEqual(Array.from({ length: 20 }, (_, i) => 100 + i))
  })
})
