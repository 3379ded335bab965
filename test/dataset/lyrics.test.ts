import { describe, expect, it } from "vitest"
import {
  LYRIC_VOCABULARY_SIZE, linearCharacterTime, lyricIds, lyricWindowStart, mapAlignment, normaliseLyrics, nusWords, parseNusAlignment,
  unknownCharacters,
} from "../../dataset/lyrics.ts"

const lyrics = 'Hold on, (hold on) to the well-worn "road"!\nWe\'re home.'

describe("lyric characters", () => {
  it("transliterates to ASCII and maps characters to ids, 0 for unknown", () => {
    expect(normaliseLyrics("Café  “naïve”\r\nnext")).toBe('Cafe "naive"\nnext')
    expect(LYRIC_VOCABULARY_SIZE).toBeGreaterThanOrEqual(80)
    const ids = lyricIds("Ab ~")
    expect(ids[0]).toBe(1)
    expect(ids[1]).toBe(28)
    expect(ids[3]).toBe(0)
    expect(unknownCharacters("a~b~{")).toEqual(["~", "{"])
  })
})

describe("NUS AutoLyricsAlign words", () => {
  it("normalises as NUS does, keeping each word's span in the original lyrics", () => {
    const words = nusWords(lyrics)
    expect(words.map((w) => w.word)).toEqual(["HOLD", "ON", "TO", "THE", "WELL", "WORN", "ROAD", "WE'RE", "HOME"])
    expect(words.map((w) => lyrics.slice(w.charStart, w.charEnd))).toEqual(["Hold", "on", "to", "the", "well", "worn", "road", "We're", "home"])
  })

  it("parses an alignment file and rejects bad ones naming the line", () => {
    expect(parseNusAlignment("36.06 36.45 PUT\n\n36.5 37 IT\n", "a.txt", 40)).toEqual([
      { start: 36.06, end: 36.45, word: "PUT", line: 1 },
      { start: 36.5, end: 37, word: "IT", line: 3 },
    ])
    expect(() => parseNusAlignment("1 2 A\n0.5 0.7 B\n", "a.txt", 10)).toThrow("a.txt:2: times out of order (0.5 s after 1 s on line 1)")
    expect(() => parseNusAlignment("1 12 A\n", "a.txt", 10)).toThrow("a.txt:1: times 1–12 s are outside the song (0–10.00 s)")
    expect(() => parseNusAlignment("-1 2 A\n", "a.txt", 10)).toThrow("a.txt:1: times -1–2 s are outside the song")
    expect(() => parseNusAlignment("2 1 A\n", "a.txt", 10)).toThrow("a.txt:1: word ends (1 s) before it starts (2 s)")
    expect(() => parseNusAlignment("1 A\n", "a.txt", 10)).toThrow('a.txt:1: expected "START END WORD"')
  })

  it("maps aligned words back onto the lyric characters", () => {
    const aligned = nusWords(lyrics).map((w, i) => ({ start: i, end: i + 0.5, word: w.word, line: i + 1 }))
    const { words, total } = mapAlignment(lyrics, aligned)
    expect(total).toBe(9)
    expect(words).toHaveLength(9)
    expect(words[4]).toEqual({ start: 4, end: 4.5, charStart: lyrics.indexOf("well"), charEnd: lyrics.indexOf("well") + 4 })
  })

  it("costs one word, not the rest of the song, when NUS skips or misspells a word", () => {
    const expected = nusWords(lyrics)
    const aligned = expected.filter((_, i) => i !== 2).map((w, i) => ({ start: i, end: i + 0.5, word: i === 5 ? "ROADS" : w.word, line: i + 1 }))
    const { words } = mapAlignment(lyrics, aligned)
    expect(words.map((w) => lyrics.slice(w.charStart, w.charEnd))).toEqual(["Hold", "on", "the", "well", "worn", "We're", "home"])
  })
})

describe("lyric windows", () => {
  it("spreads characters linearly when there is no alignment", () => {
    expect(linearCharacterTime(0, 100, 10)).toBeCloseTo(0.05)
    expect(linearCharacterTime(99, 100, 10)).toBeCloseTo(9.95)
    expect(lyricWindowStart([], 100, 10, 4, 6, 20)).toBe(40)
    expect(lyricWindowStart([], 100, 10, 0, 1, 20)).toBe(0)
    expect(lyricWindowStart([], 100, 10, 9, 10, 20)).toBe(80)
  })

  it("centres on the words sung in the chunk, and follows the song between them", () => {
    const words = [
      { start: 1, end: 2, charStart: 0, charEnd: 10 },
      { start: 5, end: 6, charStart: 50, charEnd: 60 },
    ]
    expect(lyricWindowStart(words, 200, 20, 4.5, 6.5, 20)).toBe(45)
    expect(lyricWindowStart(words, 200, 20, 3, 4, 20)).toBe(20) // halfway between the two words
  })
})
