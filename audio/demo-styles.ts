/**
 * The artists and genres of the demo corpus. A genre sets what a listener hears as style — tempo,
 * metre, swing, harmony (major, minor, modal or blues progressions), drum pattern and bass line;
 * an artist sets the accompanying instrument, the singing voice, the keys, the years and which
 * genre labels the songs carry. So both labels carry information a model can learn.
 */
import type { Voice } from "./formant.ts"
import type { Drum, Instrument } from "./synth.ts"

/** Chord qualities, and their intervals in semitones above the root. */
export const CHORD_INTERVALS = {
  maj: [0, 4, 7], min: [0, 3, 7], dom7: [0, 4, 7, 10], maj7: [0, 4, 7, 11], min7: [0, 3, 7, 10],
} as const

/** A chord quality. */
export type ChordQuality = keyof typeof CHORD_INTERVALS

/** One chord of a progression: its root in semitones above the key's tonic, and its quality. */
export interface Chord {
  readonly root: number
  readonly quality: ChordQuality
}

/** A harmonic world: the scale the melody uses and the progression the band cycles, one chord a bar. */
export interface Harmony {
  readonly name: string
  readonly scale: ReadonlyArray<number>
  readonly chords: ReadonlyArray<Chord>
}

/** How the bass plays a bar. */
export type BassStyle = "boogie" | "eighths" | "waltz" | "offbeat"

/** One drum of a pattern: the steps of the bar's grid it hits, and how hard. */
export interface DrumPart {
  readonly drum: Drum
  readonly steps: ReadonlyArray<number>
  readonly velocity: number
}

/** A genre: the style its songs are played in. */
export interface Genre {
  readonly name: string
  /** Range of tempi, in beats per minute. */
  readonly tempo: readonly [number, number]
  readonly beatsPerBar: number
  /** Drum grid steps per beat: 4 (sixteenths) or 3 (shuffle triplets). */
  readonly stepsPerBeat: number
  /** Where the off-beat eighth falls within the beat: 1/2 straight, 2/3 shuffled. */
  readonly swing: number
  readonly harmonies: ReadonlyArray<Harmony>
  readonly drums: ReadonlyArray<DrumPart>
  /** Extra hits in every fourth bar. */
  readonly fill: ReadonlyArray<DrumPart>
  readonly bass: BassStyle
  readonly bassInstrument: Instrument
  /** Whether the chords duck on every beat (side-chain pumping). */
  readonly pump: boolean
}

/** An artist of the demo corpus. */
export interface Artist {
  readonly name: string
  /** Genre labels of the artist's songs; the first one sets the style. */
  readonly genres: ReadonlyArray<string>
  readonly instrument: Instrument
  readonly voice: Voice
  /** Singing range, MIDI notes. */
  readonly range: readonly [number, number]
  /** Keys the artist sings in, as pitch classes (0 = C). */
  readonly keys: ReadonlyArray<number>
  /** Years the artist was active. */
  readonly years: readonly [number, number]
  /** Added to the genre's tempo. */
  readonly tempoShift: number
}

const IONIAN = [0, 2, 4, 5, 7, 9, 11]
const AEOLIAN = [0, 2, 3, 5, 7, 8, 10]
const DORIAN = [0, 2, 3, 5, 7, 9, 10]
const MIXOLYDIAN = [0, 2, 4, 5, 7, 9, 10]
const PHRYGIAN = [0, 1, 3, 5, 7, 8, 10]
const BLUES = [0, 3, 5, 6, 7, 10]

const NUMERALS = ["I", "II", "III", "IV", "V", "VI", "VII"]
const MAJOR_DEGREES = [0, 2, 4, 5, 7, 9, 11]

/** Parses a progression in Roman numerals: upper case major, lower case minor, `b` flat, `7` or `maj7` sevenths. */
const progression = (numerals: string): Chord[] =>
  numerals.split(" ").map((numeral) => {
    const match = /^(b?)([ivIV]+)(maj7|7)?$/.exec(numeral)
    const degree = match ? NUMERALS.indexOf(match[2]!.toUpperCase()) : -1
    if (!match || degree < 0) throw new TypeError(`progression: bad numeral "${numeral}"`)
    const major = match[2] === match[2]!.toUpperCase()
    const quality: ChordQuality = match[3] === "maj7" ? "maj7" : match[3] === "7" ? (major ? "dom7" : "min7") : major ? "maj" : "min"
    return { root: (MAJOR_DEGREES[degree]! - (match[1] ? 1 : 0) + 12) % 12, quality }
  })

const part = (drum: Drum, steps: ReadonlyArray<number>, velocity: number): DrumPart => ({ drum, steps, velocity })
const every = (from: number, step: number, until: number) => Array.from({ length: Math.ceil((until - from) / step) }, (_, i) => from + i * step)

/** The genres, by name. */
export const GENRES: Readonly<Record<string, Genre>> = {
  blues: {
    name: "blues", tempo: [76, 96], beatsPerBar: 4, stepsPerBeat: 3, swing: 2 / 3,
    harmonies: [{ name: "twelve-bar blues", scale: BLUES, chords: progression("I7 IV7 I7 I7 IV7 IV7 I7 I7 V7 IV7 I7 V7") }],
    drums: [part("kick", [0, 6], 0.9), part("snare", [3, 9], 0.7), part("ride", [0, 2, 3, 5, 6, 8, 9, 11], 0.35)],
    fill: [part("snare", [10, 11], 0.5)],
    bass: "boogie", bassInstrument: "bass", pump: false,
  },
  rock: {
    name: "rock", tempo: [112, 140], beatsPerBar: 4, stepsPerBeat: 4, swing: 1 / 2,
    harmonies: [
      { name: "major", scale: IONIAN, chords: progression("I V vi IV") },
      { name: "minor", scale: AEOLIAN, chords: progression("i bVI bIII bVII") },
      { name: "mixolydian", scale: MIXOLYDIAN, chords: progression("I bVII IV I") },
    ],
    drums: [part("kick", [0, 8, 10], 0.95), part("snare", [4, 12], 0.85), part("hat", every(0, 2, 16), 0.45)],
    fill: [part("snare", [13, 14, 15], 0.6)],
    bass: "eighths", bassInstrument: "bass", pump: false,
  },
  folk: {
    name: "folk", tempo: [84, 104], beatsPerBar: 3, stepsPerBeat: 4, swing: 1 / 2,
    harmonies: [
      { name: "major", scale: IONIAN, chords: progression("I IV I V") },
      { name: "major", scale: IONIAN, chords: progression("I vi IV V") },
      { name: "dorian", scale: DORIAN, chords: progression("i IV i bVII") },
    ],
    drums: [part("kick", [0], 0.6), part("rim", [4, 8], 0.45), part("shaker", every(0, 2, 12), 0.35)],
    fill: [],
    bass: "waltz", bassInstrument: "bass", pump: false,
  },
  electronic: {
    name: "electronic", tempo: [118, 128], beatsPerBar: 4, stepsPerBeat: 4, swing: 1 / 2,
    harmonies: [
      { name: "minor", scale: AEOLIAN, chords: progression("i7 bVImaj7 bIIImaj7 bVII") },
      { name: "dorian", scale: DORIAN, chords: progression("i7 IV7 i7 IV7") },
      { name: "phrygian", scale: PHRYGIAN, chords: progression("i bII i bII") },
    ],
    drums: [part("kick", [0, 4, 8, 12], 0.95), part("clap", [4, 12], 0.7), part("open-hat", [2, 6, 10, 14], 0.35),
      part("hat", every(1, 2, 16), 0.2)],
    fill: [part("clap", [14, 15], 0.45)],
    bass: "offbeat", bassInstrument: "synth-bass", pump: true,
  },
}

const voice = (formantScale: number, vibratoHz: number, vibratoCents: number, breath: number, openQuotient: number): Voice =>
  ({ formantScale, vibratoHz, vibratoCents, breath, openQuotient })

/** The artists, in the order songs are given to them. */
export const ARTISTS: ReadonlyArray<Artist> = [
  { name: "Ada Vale", genres: ["folk"], instrument: "pluck", voice: voice(1.16, 5.0, 30, 0.25, 0.7),
    range: [57, 72], keys: [2, 7, 9], years: [1968, 1976], tempoShift: 0 },
  { name: "Bo Carver", genres: ["blues"], instrument: "organ", voice: voice(1.0, 6.2, 55, 0.1, 0.55),
    range: [45, 62], keys: [4, 7, 9], years: [1956, 1965], tempoShift: -4 },
  { name: "Cy Ember", genres: ["rock"], instrument: "drive", voice: voice(1.04, 5.6, 25, 0.05, 0.45),
    range: [50, 67], keys: [2, 4, 9], years: [1977, 1986], tempoShift: 6 },
  { name: "Dee Neon", genres: ["electronic"], instrument: "pad", voice: voice(1.2, 5.5, 12, 0.08, 0.5),
    range: [60, 74], keys: [0, 5, 9], years: [2009, 2018], tempoShift: 0 },
  { name: "Eli Stone", genres: ["blues", "rock"], instrument: "drive", voice: voice(0.96, 5.8, 40, 0.12, 0.5),
    range: [43, 60], keys: [4, 9], years: [1969, 1974], tempoShift: 8 },
  { name: "Fay Lumen", genres: ["electronic", "folk"], instrument: "epiano", voice: voice(1.12, 4.8, 20, 0.3, 0.65),
    range: [55, 70], keys: [1, 6, 8], years: [2003, 2012], tempoShift: -6 },
]
