/**
 * Lyrics: the character vocabulary the priors read (paper-notes: transliterated to ASCII, a fixed
 * vocabulary of about 80 characters, 0 = unknown), NUS AutoLyricsAlign's word normalisation, and
 * the mapping of its aligned words back onto the characters of the original lyrics.
 */
import anyAscii from "any-ascii"

/** The lyric characters, in id order from 1 (0 is "unknown"). */
export const LYRIC_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 \n'\"!?,.:;-()[]&+/*"

const CHARACTER_IDS = new Map([...LYRIC_CHARACTERS].map((c, i) => [c, i + 1]))

/** Size of the lyric vocabulary, "unknown" included. */
export const LYRIC_VOCABULARY_SIZE = LYRIC_CHARACTERS.length + 1

/** Transliterates to ASCII, unifies line breaks and collapses runs of spaces — what the priors read. */
export const normaliseLyrics = (text: string): string =>
  anyAscii(text.normalize("NFC")).replace(/\r\n?/g, "\n").replace(/[ \t]+/g, " ")

/** Character ids of normalised lyrics (0 for characters outside the vocabulary). */
export const lyricIds = (normalised: string): Int32Array => Int32Array.from(normalised, (c) => CHARACTER_IDS.get(c) ?? 0)

/** The characters of `text` that are outside the vocabulary, each once. */
export const unknownCharacters = (normalised: string): string[] => [...new Set([...normalised].filter((c) => !CHARACTER_IDS.has(c)))]

/** A word NUS AutoLyricsAlign would align, with the span of original characters it came from. */
export interface ExpectedWord {
  /** The word as NUS writes it: upper-case, no `,.!?"`. */
  readonly word: string
  /** Span in the (normalised) lyrics: [charStart, charEnd). */
  readonly charStart: number
  readonly charEnd: number
}

/**
 * The words NUS AutoLyricsAlign aligns for these lyrics, in order, each with its character span.
 * Its preprocessing lower-cases, strips `,.!?"` and newlines, drops words containing
 * parentheses, turns `-` into a space and upper-cases; we keep track of where each word was.
 */
export const nusWords = (lyrics: string): ExpectedWord[] => {
  const out: ExpectedWord[] = []
  for (const token of lyrics.matchAll(/\S+/g)) {
    const text = token[0]
    if (/[()]/.test(text)) continue
    for (const part of text.matchAll(/[^-]+/g)) {
      const start = token.index! + part.index!
      const raw = part[0]
      const word = raw.replace(/[,.!?"]/g, "").toUpperCase()
      if (word === "") continue
      // the span covers the word's letters, not the punctuation NUS stripped around them
      const lead = raw.length - raw.replace(/^[,.!?"]+/, "").length
      const trail = raw.length - raw.replace(/[,.!?"]+$/, "").length
      out.push({ word, charStart: start + lead, charEnd: start + raw.length - trail })
    }
  }
  return out
}

/** One line of a NUS AutoLyricsAlign output file. */
export interface AlignedWord {
  readonly start: number
  readonly end: number
  readonly word: string
  /** 1-based line in the alignment file. */
  readonly line: number
}

/**
 * Parses a NUS AutoLyricsAlign output (`START END WORD` per line, float seconds). Throws an Error
 * whose message names `name` and the line for a malformed line, times out of order, or times
 * outside `[0, duration]`.
 */
export const parseNusAlignment = (text: string, name: string, duration: number): AlignedWord[] => {
  const words: AlignedWord[] = []
  text.split(/\r?\n/).forEach((source, i) => {
    if (source.trim() === "") return
    const line = i + 1
    const match = /^\s*(-?[\d.]+(?:e-?\d+)?)\s+(-?[\d.]+(?:e-?\d+)?)\s+(\S+)\s*$/i.exec(source)
    if (!match) throw new Error(`${name}:${line}: expected "START END WORD", found ${JSON.stringify(source.slice(0, 60))}`)
    const start = Number(match[1])
    const end = Number(match[2])
    if (!Number.isFinite(start) || !Number.isFinite(end) || start < 0 || end > duration + 0.05) {
      throw new Error(`${name}:${line}: times ${match[1]}–${match[2]} s are outside the song (0–${duration.toFixed(2)} s)`)
    }
    if (end < start) throw new Error(`${name}:${line}: word ends (${match[2]} s) before it starts (${match[1]} s)`)
    const previous = words.at(-1)
    if (previous && start < previous.start) {
      throw new Error(`${name}:${line}: times out of order (${match[1]} s after ${previous.start} s on line ${previous.line})`)
    }
    words.push({ start, end: Math.min(end, duration), word: match[3]!, line })
  })
  return words
}

/** A word of the lyrics with the time it is sung. */
export interface TimedWord {
  readonly start: number
  readonly end: number
  readonly charStart: number
  readonly charEnd: number
}

/**
 * Maps NUS's aligned words back onto the lyrics: an edit-distance alignment of the words NUS
 * would produce from the lyrics against the words it did produce, so a word it skipped or
 * spelled differently costs one word, not the rest of the song.
 */
export const mapAlignment = (lyrics: string, aligned: ReadonlyArray<AlignedWord>): { words: TimedWord[]; total: number } => {
  const expected = nusWords(lyrics)
  const n = expected.length
  const m = aligned.length
  // cost[i][j]: edit distance of expected[i..] against aligned[j..]
  const cost = new Int32Array((n + 1) * (m + 1))
  const at = (i: number, j: number) => i * (m + 1) + j
  for (let i = n; i >= 0; i--) {
    for (let j = m; j >= 0; j--) {
      if (i === n) cost[at(i, j)] = m - j
      else if (j === m) cost[at(i, j)] = n - i
      else {
        const match = expected[i]!.word === aligned[j]!.word.toUpperCase() ? 0 : 2
        cost[at(i, j)] = Math.min(cost[at(i + 1, j + 1)]! + match, cost[at(i + 1, j)]! + 1, cost[at(i, j + 1)]! + 1)
      }
    }
  }
  const words: TimedWord[] = []
  let i = 0
  let j = 0
  while (i < n && j < m) {
    const same = expected[i]!.word === aligned[j]!.word.toUpperCase()
    if (same && cost[at(i, j)] === cost[at(i + 1, j + 1)]) {
      words.push({ start: aligned[j]!.start, end: aligned[j]!.end, charStart: expected[i]!.charStart, charEnd: expected[i]!.charEnd })
      i++
      j++
    } else if (cost[at(i, j)] === cost[at(i + 1, j)]! + 1) i++
    else if (cost[at(i, j)] === cost[at(i, j + 1)]! + 1) j++
    else (i++, j++)
  }
  return { words, total: n }
}

/**
 * The paper's simple alignment: the characters spread linearly over the song. Returns the time
 * at which character `index` of `length` is sung.
 */
export const linearCharacterTime = (index: number, length: number, duration: number): number =>
  length === 0 ? 0 : ((index + 0.5) / length) * duration

/**
 * The start of a window of `size` characters centred on the lyrics sung between `start` and
 * `end` seconds: on the aligned words in that span when there are any, else where a linear
 * spread puts that time. Clamped to the lyrics.
 */
export const lyricWindowStart = (
  words: ReadonlyArray<TimedWord>,
  length: number,
  duration: number,
  start: number,
  end: number,
  size: number,
): number => {
  const sung = words.filter((w) => w.end > start && w.start < end)
  let centre: number
  if (sung.length > 0) centre = (sung[0]!.charStart + sung.at(-1)!.charEnd) / 2
  else if (words.length > 0) {
    // between sung words: interpolate between the neighbours, so the window follows the song
    const before = [...words].reverse().find((w) => w.end <= start)
    const after = words.find((w) => w.start >= end)
    centre = before && after
      ? before.charEnd + ((after.charStart - before.charEnd) * ((start + end) / 2 - before.end)) / Math.max(after.start - before.end, 1e-9)
      : before ? before.charEnd : after!.charStart
  } else centre = (((start + end) / 2) / Math.max(duration, 1e-9)) * length
  return Math.max(0, Math.min(Math.round(centre - size / 2), Math.max(0, length - size)))
}
