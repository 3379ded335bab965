/**
 * A small deterministic song synthesiser for the demo corpus: a melody and a bass line over a
 * scale, a kick and a hi-hat on the beat, panned in stereo. Each artist has a timbre, so artist
 * labels carry information a prior can learn.
 */

/** A seeded pseudo-random generator (mulberry32): the same seed gives the same song. */
export const seededRandom = (seed: number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The timbres of the demo artists. */
export type Timbre = "sine" | "saw" | "square" | "pluck"

/** What a song is made of. */
export interface SongSpec {
  readonly seconds: number
  readonly sampleRate: number
  readonly timbre: Timbre
  readonly tempo: number
  readonly rootMidi: number
  readonly minor: boolean
  readonly seed: number
}

const MAJOR = [0, 2, 4, 5, 7, 9, 11]
const MINOR = [0, 2, 3, 5, 7, 8, 10]

const oscillator = (timbre: Timbre, phase: number): number => {
  const p = phase - Math.floor(phase)
  switch (timbre) {
    case "sine": return Math.sin(2 * Math.PI * p)
    case "saw": return 2 * p - 1
    case "square": return p < 0.5 ? 0.7 : -0.7
    case "pluck": return Math.sin(2 * Math.PI * p) + 0.5 * Math.sin(4 * Math.PI * p) + 0.25 * Math.sin(6 * Math.PI * p)
  }
}

const midiToHz = (midi: number) => 440 * 2 ** ((midi - 69) / 12)

/** Renders a song as two planar channels in [-1, 1]. */
export const synthesizeSong = (spec: SongSpec): [Float32Array, Float32Array] => {
  const random = seededRandom(spec.seed)
  const frames = Math.round(spec.seconds * spec.sampleRate)
  const left = new Float32Array(frames)
  const right = new Float32Array(frames)
  const scale = spec.minor ? MINOR : MAJOR
  const beat = 60 / spec.tempo
  const noteSeconds = beat / 2
  const notes = Math.ceil(spec.seconds / noteSeconds)
  let degree = 0
  const pan = 0.3 + 0.4 * random()
  for (let n = 0; n < notes; n++) {
    degree = Math.max(-7, Math.min(10, degree + Math.round((random() - 0.5) * 4)))
    const octave = Math.floor(degree / 7)
    const midi = spec.rootMidi + 12 + octave * 12 + scale[((degree % 7) + 7) % 7]!
    const bassMidi = spec.rootMidi - 12 + scale[(Math.floor(n / 8) * 3) % 7]!
    const start = Math.round(n * noteSeconds * spec.sampleRate)
    const end = Math.min(frames, Math.round((n + 1) * noteSeconds * spec.sampleRate))
    const f = midiToHz(midi)
    const fb = midiToHz(bassMidi)
    for (let i = start; i < end; i++) {
      const t = (i - start) / spec.sampleRate
      const envelope = spec.timbre === "pluck" ? Math.exp(-t * 8) : Math.min(1, t * 200) * Math.exp(-t * 2)
      const melody = 0.25 * envelope * oscillator(spec.timbre, f * t)
      const bass = 0.2 * Math.sin(2 * Math.PI * fb * (i / spec.sampleRate))
      left[i]! += melody * (1 - pan) + bass * 0.5
      right[i]! += melody * pan + bass * 0.5
    }
  }
  const beats = Math.ceil(spec.seconds / beat)
  for (let b = 0; b < beats; b++) {
    const start = Math.round(b * beat * spec.sampleRate)
    const length = Math.min(frames - start, Math.round(0.15 * spec.sampleRate))
    for (let i = 0; i < length; i++) {
      const t = i / spec.sampleRate
      const kick = b % 2 === 0 ? 0.35 * Math.sin(2 * Math.PI * (60 + 60 * Math.exp(-t * 30)) * t) * Math.exp(-t * 20) : 0
      const hat = 0.06 * (random() * 2 - 1) * Math.exp(-t * 60)
      left[start + i]! += kick + hat
      right[start + i]! += kick + hat * 0.8
    }
  }
  return [left, right]
}
