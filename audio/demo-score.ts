/**
 * Composes one demo song — no audio yet, only what is played and sung, and when: a tempo, key and
 * progression from the genre and artist; lines of lyrics laid out two bars each, with instrumental
 * bars between some lines; one melody note per syllable on the eighth-note grid (swung in a
 * shuffle), short gaps between words; chords, bass and drums under it all.
 */
import { parseLine, writeLine, type LyricLine } from "./demo-lyrics.ts"
import { CHORD_INTERVALS, type Artist, type Chord, type Genre, type Harmony } from "./demo-styles.ts"
import type { SungSyllable } from "./formant.ts"
import { seededRandom, type Arrangement, type DrumHit, type Note, type Random, type Track } from "./synth.ts"

/** One sung word and the exact times it sounds; `aligned` is its word in the NUS alignment, if NUS keeps it. */
export interface SungWord {
  readonly text: string
  readonly aligned: string | undefined
  readonly start: number
  readonly end: number
}

/** Everything a demo song plays and sings. */
export interface SongScore {
  readonly seconds: number
  readonly tempo: number
  /** Pitch class of the tonic (0 = C). */
  readonly key: number
  readonly harmony: string
  /** The lyrics file: lines in natural case, a blank line before each instrumental break. */
  readonly lyrics: string
  readonly words: ReadonlyArray<SungWord>
  readonly syllables: ReadonlyArray<SungSyllable>
  /** Sung span of each line, in seconds. */
  readonly lines: ReadonlyArray<{ readonly start: number; readonly end: number }>
  readonly arrangement: Arrangement
}

/** Composes a song of `seconds` by `artist` in `genre`, from `seed`. */
export const composeSong = (artist: Artist, genre: Genre, seconds: number, seed: number): SongScore => {
  const random = seededRandom(seed)
  const tempo = Math.round(genre.tempo[0] + random() * (genre.tempo[1] - genre.tempo[0])) + artist.tempoShift
  const key = pick(random, artist.keys)
  const harmony = pick(random, genre.harmonies)
  const grid = new Grid(genre, tempo)
  const slots = lineSlots(grid, seconds)
  const sung = slots.map((slot) => singLine(slot, grid, harmony, key, artist, random))
  const lyrics = sung.map((line, i) => (slots[i]!.breakAfter && i < sung.length - 1 ? `${line.text}\n` : line.text)).join("\n")
  return {
    seconds, tempo, key, harmony: harmony.name,
    lyrics: sung.length > 0 ? `${lyrics}\n` : "",
    words: sung.flatMap((line) => line.words),
    syllables: sung.flatMap((line) => line.syllables),
    lines: sung.filter((line) => line.words.length > 0)
      .map((line) => ({ start: line.words[0]!.start, end: line.words.at(-1)!.end })),
    arrangement: accompany(grid, harmony, key, artist, genre, seconds, random),
  }
}

// ---------------------------------------------------------------------------------------------
// Time.

const pick = <A>(random: Random, items: ReadonlyArray<A>): A => items[Math.floor(random() * items.length)]!

/** The song's metric grid: bars, beats, (swung) eighths and drum steps, in seconds. */
class Grid {
  readonly beat: number
  readonly bar: number
  readonly eighthsPerBar: number
  constructor(readonly genre: Genre, tempo: number) {
    this.beat = 60 / tempo
    this.bar = this.beat * genre.beatsPerBar
    this.eighthsPerBar = 2 * genre.beatsPerBar
  }
  /** Start of eighth `k` counted from the start of bar `bar` (k may run past the bar). */
  eighth(bar: number, k: number): number {
    return bar * this.bar + Math.floor(k / 2) * this.beat + (k % 2) * this.genre.swing * this.beat
  }
  /** Start of drum step `step` of bar `bar`. */
  step(bar: number, step: number): number {
    return bar * this.bar + (step * this.beat) / this.genre.stepsPerBeat
  }
  /** The bar sounding at `t` seconds. */
  barAt(t: number): number {
    return Math.floor(t / this.bar + 1e-9)
  }
}

/** Where a line of lyrics may go: from bar `bar`, `eighths` eighths long; `breakAfter` leaves an instrumental bar after it. */
interface LineSlot {
  readonly bar: number
  readonly eighths: number
  readonly breakAfter: boolean
}

const LINE_BARS = 2
/** Seconds at the end of a song left to the band. */
const OUTRO = 0.3

/** Lays out the lines: one intro bar, two bars a line, a break bar after every second line. */
const lineSlots = (grid: Grid, seconds: number): LineSlot[] => {
  const slots: LineSlot[] = []
  let bar = seconds >= 4 * grid.bar ? 1 : 0
  while ((bar + LINE_BARS) * grid.bar <= seconds - OUTRO) {
    const breakAfter = slots.length % 2 === 1
    slots.push({ bar, eighths: LINE_BARS * grid.eighthsPerBar, breakAfter })
    bar += LINE_BARS + (breakAfter ? 1 : 0)
  }
  if (slots.length === 0) {
    // A song too short for a whole line gets one short line from its start.
    let eighths = 0
    while (grid.eighth(0, eighths + 1) <= seconds - OUTRO) eighths++
    if (eighths >= 2) slots.push({ bar: 0, eighths, breakAfter: false })
  }
  return slots
}

// ---------------------------------------------------------------------------------------------
// The sung line.

/** A line as sung: its text, its words with times, its syllables with notes. */
interface SungLine {
  readonly text: string
  readonly words: SungWord[]
  readonly syllables: SungSyllable[]
}

/** Seconds of silence after the last syllable of a word, and between syllables of one word. */
const WORD_GAP = 0.09
const SYLLABLE_GAP = 0.012

/** Writes a line for a slot and sets it: one note per syllable, longer notes on word ends and at the end of the line. */
const singLine = (slot: LineSlot, grid: Grid, harmony: Harmony, key: number, artist: Artist, random: Random): SungLine => {
  const rest = Math.min(2 + Math.floor(random() * 2), slot.eighths - 1)
  const pickup = slot.eighths - rest >= 8 && random() < 0.4 ? 1 : 0
  const available = slot.eighths - rest - pickup
  const line: LyricLine = available > 1 ? writeLine(random, available - 1) : parseLine("Oh")
  const syllables = line.words.flatMap((word, w) => word.syllables.map((syllable, s) => ({
    syllable, word: w, wordEnd: s === word.syllables.length - 1,
  })))
  // Durations in eighths: one each, then the spare eighths go to the line's last note and to some word ends.
  const lengths = syllables.map(() => 1)
  let spare = available - syllables.length
  const lastExtra = Math.min(spare, 1 + Math.floor(random() * 3))
  lengths[lengths.length - 1]! += lastExtra
  spare -= lastExtra
  syllables.forEach((s, i) => {
    if (spare > 0 && s.wordEnd && i < syllables.length - 1 && random() < 0.5) {
      lengths[i]! += 1
      spare--
    }
  })
  const melody = new Melody(harmony, key, artist, random)
  const sung: SungSyllable[] = []
  const words: SungWord[] = []
  let k = pickup
  syllables.forEach((s, i) => {
    const start = grid.eighth(slot.bar, k)
    const next = grid.eighth(slot.bar, k + lengths[i]!)
    const end = next - (s.wordEnd ? Math.min(WORD_GAP, 0.35 * (next - start)) : SYLLABLE_GAP)
    const bar = grid.barAt(start)
    const chord = harmony.chords[bar % harmony.chords.length]!
    const midi = melody.next(chord, k % 2 === 0, i === syllables.length - 1)
    const previous = sung.at(-1)
    const firstOfWord = i === 0 || syllables[i - 1]!.word !== s.word
    sung.push({
      start, end, midi, glideFrom: firstOfWord ? undefined : previous?.midi,
      onset: s.syllable.onset, vowel: s.syllable.vowel, coda: s.syllable.coda,
      velocity: (k % grid.eighthsPerBar === 0 ? 0.95 : 0.8) + 0.05 * random(),
    })
    if (firstOfWord) {
      const word = line.words[s.word]!
      words.push({ text: word.text, aligned: word.aligned, start, end })
    } else {
      const word = words.pop()!
      words.push({ ...word, end })
    }
    k += lengths[i]!
  })
  return { text: line.text, words, syllables: sung }
}

/** A melody that walks the scale in the singer's range, landing on chord tones on the beat and on the root at a line's end. */
class Melody {
  private readonly ladder: number[]
  private index: number
  constructor(harmony: Harmony, private readonly key: number, artist: Artist, private readonly random: Random) {
    this.ladder = []
    for (let midi = artist.range[0]; midi <= artist.range[1]; midi++) {
      if (harmony.scale.includes((midi - key + 120) % 12)) this.ladder.push(midi)
    }
    this.index = Math.floor(this.ladder.length / 2) + Math.floor(random() * 5) - 2
  }
  next(chord: Chord, onBeat: boolean, last: boolean): number {
    const step = pick(this.random, [-2, -1, -1, 0, 1, 1, 2])
    this.index = Math.max(0, Math.min(this.ladder.length - 1, this.index + step))
    const tones = CHORD_INTERVALS[chord.quality].map((i) => (this.key + chord.root + i) % 12)
    const wanted = last ? [tones[0]!] : onBeat ? tones : undefined
    if (wanted) {
      for (const offset of [0, -1, 1, -2, 2, -3, 3, -4, 4]) {
        const midi = this.ladder[this.index + offset]
        if (midi !== undefined && wanted.includes(midi % 12)) {
          this.index += offset
          break
        }
      }
    }
    return this.ladder[this.index]!
  }
}

// ---------------------------------------------------------------------------------------------
// The band.

/** The midi note of pitch class `pc` in the octave from `low`. */
const inOctave = (pc: number, low: number) => low + ((pc - low) % 12 + 12) % 12

/** Chords, bass and drums for every bar of the song. */
const accompany = (
  grid: Grid, harmony: Harmony, key: number, artist: Artist, genre: Genre, seconds: number, random: Random,
): Arrangement => {
  const chordNotes: Note[] = []
  const bassNotes: Note[] = []
  const drums: DrumHit[] = []
  const bars = Math.ceil(seconds / grid.bar)
  for (let bar = 0; bar < bars; bar++) {
    const chord = harmony.chords[bar % harmony.chords.length]!
    const pc = (key + chord.root) % 12
    comp(artist.instrument, chordNotes, pc, chord, bar, grid, random)
    const root = inOctave(pc, 28)
    const note = (k: number, eighths: number, midi: number, velocity: number) =>
      bassNotes.push({ start: grid.eighth(bar, k), duration: 0.9 * (grid.eighth(bar, k + eighths) - grid.eighth(bar, k)), midi, velocity })
    switch (genre.bass) {
      case "boogie": [0, 4, 7, 9, 10, 9, 7, 4].forEach((interval, k) => note(k, 1, root + interval, k % 2 === 0 ? 0.9 : 0.7)); break
      case "eighths": for (let k = 0; k < grid.eighthsPerBar; k++) note(k, 1, k === grid.eighthsPerBar - 1 ? root + 12 : root, k % 2 === 0 ? 0.9 : 0.7); break
      case "waltz": note(0, 2, root, 0.9); note(4, 2, root + 7, 0.7); break
      case "offbeat": note(0, 1, root, 0.8); for (let k = 1; k < grid.eighthsPerBar; k += 2) note(k, 1, root + 12, 0.75); break
    }
    const hit = (parts: Genre["drums"]) => {
      for (const part of parts) {
        for (const step of part.steps) drums.push({ time: grid.step(bar, step), drum: part.drum, velocity: part.velocity * (0.9 + 0.2 * random()) })
      }
    }
    hit(genre.drums)
    if (bar % 4 === 3) hit(genre.fill)
  }
  const side = random() < 0.5 ? -1 : 1
  const tracks: Track[] = [
    { instrument: artist.instrument, notes: chordNotes, gain: 0.5, pan: 0.3 * side, width: 0.012, pumpBeat: genre.pump ? grid.beat : 0 },
    { instrument: genre.bassInstrument, notes: bassNotes, gain: 0.45, pan: 0, width: 0, pumpBeat: 0 },
  ]
  return { tracks, drums, drumGain: 0.5 }
}

/** How the artist's instrument plays a bar's chord. */
const comp = (instrument: Artist["instrument"], notes: Note[], pc: number, chord: Chord, bar: number, grid: Grid, random: Random) => {
  const root = inOctave(pc, 48)
  const tones = CHORD_INTERVALS[chord.quality].map((i) => root + i)
  const add = (k: number, eighths: number, midi: number, velocity: number, hold = 1) => {
    const start = grid.eighth(bar, k)
    notes.push({ start, duration: hold * (grid.eighth(bar, k + eighths) - start), midi, velocity: velocity * (0.92 + 0.08 * random()) })
  }
  switch (instrument) {
    case "pluck": {
      const arpeggio = [tones[0]!, tones[1]!, tones[2]!, tones[0]! + 12]
      const order = [0, 1, 2, 3, 2, 1]
      for (let k = 0; k < grid.eighthsPerBar; k++) add(k, 2, arpeggio[order[k % order.length]!]!, k === 0 ? 0.8 : 0.6)
      break
    }
    case "drive": {
      const low = inOctave(pc, 40)
      for (let k = 0; k < grid.eighthsPerBar; k++) for (const midi of [low, low + 7, low + 12]) add(k, 1, midi, k % 2 === 0 ? 0.9 : 0.65, 0.8)
      break
    }
    case "epiano":
      for (const midi of tones) {
        add(0, 3, midi, 0.8)
        add(3, grid.eighthsPerBar - 3, midi, 0.65)
      }
      break
    default:
      for (const midi of tones) add(0, grid.eighthsPerBar, midi, 0.7, 0.98)
  }
}
