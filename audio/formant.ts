/**
 * A formant singing voice for the demo corpus. Vowels: a glottal-pulse source (the derivative of a
 * Rosenberg flow pulse, as the lips radiate it) at the note's pitch — with a scoop into the note,
 * vibrato and a little breath noise — through a cascade of four resonators tuned to the vowel's
 * formants, gliding for diphthongs. Consonants: short bursts of band-passed noise (s, t, k, ...),
 * or voiced glides from or into m, n, l, r, w, y. Each syllable sounds exactly from its `start` to
 * its `end`, so the demo corpus can write exact word times.
 */
import { midiToHz, seededRandom, type Random } from "./synth.ts"

/** Vowels, in ARPAbet: monophthongs then diphthongs. */
export type Vowel = "iy" | "ih" | "eh" | "ae" | "aa" | "ao" | "uh" | "uw" | "ah" | "er" | "ax" | "ey" | "ay" | "aw" | "ow" | "oy"

/** Consonants sung as band-passed noise. */
export type NoiseConsonant = "s" | "z" | "sh" | "ch" | "jh" | "f" | "v" | "th" | "h" | "p" | "b" | "t" | "d" | "k" | "g"
/** Consonants sung as voiced glides into or out of the vowel. */
export type Sonorant = "m" | "n" | "ng" | "l" | "r" | "w" | "y"
/** Consonants, in ARPAbet. */
export type Consonant = NoiseConsonant | Sonorant

/** One sung syllable: times in seconds, the note, and its sounds. */
export interface SungSyllable {
  /** The syllable's first sound (its onset consonant, or the vowel). */
  readonly start: number
  /** The syllable's last sound. */
  readonly end: number
  readonly midi: number
  /** The pitch the voice glides from (the previous note of the same word); undefined scoops from below. */
  readonly glideFrom: number | undefined
  readonly onset: ReadonlyArray<Consonant>
  readonly vowel: Vowel
  readonly coda: ReadonlyArray<Consonant>
  /** Loudness in [0, 1]. */
  readonly velocity: number
}

/** A singer: what makes one artist's voice sound unlike another's. */
export interface Voice {
  /** Scales every formant: 1 for an adult male voice, about 1.15 for a female one. */
  readonly formantScale: number
  readonly vibratoHz: number
  /** Vibrato depth, in cents either side of the note. */
  readonly vibratoCents: number
  /** Aspiration noise mixed into the source, in [0, 1]. */
  readonly breath: number
  /** Fraction of each glottal period the folds are open: small is pressed and bright, large is soft. */
  readonly openQuotient: number
}

/** Renders sung syllables as one mono buffer of `seconds` at `sampleRate`. */
export const renderVoice = (
  syllables: ReadonlyArray<SungSyllable>,
  voice: Voice,
  sampleRate: number,
  seconds: number,
  seed: number,
): Float32Array => {
  const out = new Float32Array(Math.round(seconds * sampleRate))
  const random = seededRandom(seed)
  const pulse = glottalPulse(voice.openQuotient)
  for (const syllable of syllables) {
    const length = syllable.end - syllable.start
    const onsetNoise = syllable.onset.filter(isNoise)
    const codaNoise = syllable.coda.filter(isNoise)
    const onsetSeconds = Math.min(sumSeconds(onsetNoise), 0.3 * length)
    const codaSeconds = Math.min(sumSeconds(codaNoise), 0.25 * length)
    const voiced = { start: syllable.start + onsetSeconds, end: syllable.end - codaSeconds }
    renderBursts(onsetNoise, syllable.start, onsetSeconds, syllable.velocity, sampleRate, out, random)
    renderBursts(codaNoise, voiced.end, codaSeconds, syllable.velocity, sampleRate, out, random)
    renderVowel(syllable, voiced, voice, pulse, sampleRate, out, random)
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Phonetic tables (formants of an adult male voice; Peterson & Barney's averages).

type Formants = readonly [number, number, number, number]

const F: Record<string, Formants> = {
  iy: [270, 2290, 3010, 3500], ih: [390, 1990, 2550, 3500], eh: [530, 1840, 2480, 3500], ae: [660, 1720, 2410, 3500],
  aa: [730, 1090, 2440, 3500], ao: [570, 840, 2410, 3500], uh: [440, 1020, 2240, 3500], uw: [300, 870, 2240, 3500],
  ah: [640, 1190, 2390, 3500], er: [490, 1350, 1690, 3500], ax: [500, 1500, 2500, 3500], oh: [480, 880, 2450, 3500],
}

/** Each vowel as a path from one formant target to another (the same one for monophthongs). */
const VOWELS: Record<Vowel, readonly [Formants, Formants]> = {
  iy: [F.iy!, F.iy!], ih: [F.ih!, F.ih!], eh: [F.eh!, F.eh!], ae: [F.ae!, F.ae!], aa: [F.aa!, F.aa!], ao: [F.ao!, F.ao!],
  uh: [F.uh!, F.uh!], uw: [F.uw!, F.uw!], ah: [F.ah!, F.ah!], er: [F.er!, F.er!], ax: [F.ax!, F.ax!],
  ey: [F.eh!, F.iy!], ay: [F.aa!, F.ih!], aw: [F.aa!, F.uh!], ow: [F.oh!, F.uh!], oy: [F.ao!, F.ih!],
}

/** Formant targets of the voiced consonants (nasal murmurs and glides). */
const SONORANTS: Record<Sonorant, Formants> = {
  m: [280, 1100, 2200, 3300], n: [280, 1600, 2600, 3300], ng: [280, 2000, 2700, 3300], l: [360, 1300, 2700, 3300],
  r: [420, 1300, 1600, 3300], w: [300, 700, 2200, 3300], y: [260, 2100, 3000, 3500],
}

/** Noise consonants: centre and bandwidth of the noise band (Hz), loudness, duration (s), and whether it is a burst. */
const NOISES: Record<NoiseConsonant, { hz: number; bandwidth: number; gain: number; seconds: number; burst: boolean }> = {
  s: { hz: 5500, bandwidth: 2500, gain: 0.175, seconds: 0.09, burst: false },
  z: { hz: 5000, bandwidth: 2500, gain: 0.11, seconds: 0.07, burst: false },
  sh: { hz: 2800, bandwidth: 1500, gain: 0.175, seconds: 0.09, burst: false },
  ch: { hz: 3000, bandwidth: 1800, gain: 0.175, seconds: 0.06, burst: false },
  jh: { hz: 2800, bandwidth: 1800, gain: 0.125, seconds: 0.05, burst: false },
  f: { hz: 4500, bandwidth: 5000, gain: 0.06, seconds: 0.08, burst: false },
  v: { hz: 4000, bandwidth: 5000, gain: 0.045, seconds: 0.06, burst: false },
  th: { hz: 5000, bandwidth: 5000, gain: 0.05, seconds: 0.07, burst: false },
  h: { hz: 1600, bandwidth: 2500, gain: 0.06, seconds: 0.07, burst: false },
  p: { hz: 900, bandwidth: 1000, gain: 0.2, seconds: 0.025, burst: true },
  b: { hz: 700, bandwidth: 900, gain: 0.125, seconds: 0.02, burst: true },
  t: { hz: 4000, bandwidth: 2500, gain: 0.2, seconds: 0.03, burst: true },
  d: { hz: 3500, bandwidth: 2500, gain: 0.125, seconds: 0.025, burst: true },
  k: { hz: 1900, bandwidth: 1000, gain: 0.2, seconds: 0.035, burst: true },
  g: { hz: 1700, bandwidth: 1000, gain: 0.125, seconds: 0.03, burst: true },
}

const BANDWIDTHS: Formants = [80, 100, 150, 250]

const isNoise = (c: Consonant): c is NoiseConsonant => c in NOISES
const isSonorant = (c: Consonant): c is Sonorant => c in SONORANTS
const sumSeconds = (cs: ReadonlyArray<NoiseConsonant>) => cs.reduce((sum, c) => sum + NOISES[c].seconds, 0)

// ---------------------------------------------------------------------------------------------
// Consonants.

/** Band-passed noise bursts one after another from `start`, sharing `seconds` in proportion to their lengths. */
const renderBursts = (
  consonants: ReadonlyArray<NoiseConsonant>, start: number, seconds: number, velocity: number,
  sampleRate: number, out: Float32Array, random: Random,
) => {
  const scale = seconds / (sumSeconds(consonants) || 1)
  let at = start
  for (const c of consonants) {
    const { hz, bandwidth, gain, burst } = NOISES[c]
    const length = NOISES[c].seconds * scale
    const from = Math.round(at * sampleRate)
    const n = Math.min(Math.round(length * sampleRate), out.length - from)
    at += length
    if (n <= 0) continue
    const band = new Float32Array(n)
    const r = Math.exp((-Math.PI * bandwidth) / sampleRate)
    const b = 2 * r * Math.cos((2 * Math.PI * Math.min(hz, 0.42 * sampleRate)) / sampleRate)
    let y1 = 0, y2 = 0, energy = 0
    for (let i = 0; i < n; i++) {
      const y = random() * 2 - 1 + b * y1 - r * r * y2
      y2 = y1
      y1 = y
      band[i] = y
      energy += y * y
    }
    const g = (velocity * gain) / Math.sqrt(energy / n || 1)
    for (let i = 0; i < n; i++) {
      const u = i / n
      const env = burst ? Math.min(1, u * 20) * Math.exp(-u * 4) : Math.min(1, u * 4, (1 - u) * 4)
      out[from + i]! += g * env * band[i]!
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Vowels.

const PULSE_SIZE = 2048

/** One period of Rosenberg's glottal flow, open for `openQuotient` of it (rising for 70%, closing for 30%). */
const glottalPulse = (openQuotient: number): Float32Array => {
  const rise = 0.7 * openQuotient, fall = 0.3 * openQuotient
  return Float32Array.from({ length: PULSE_SIZE + 1 }, (_, i) => {
    const p = (i % PULSE_SIZE) / PULSE_SIZE
    if (p < rise) return 0.5 * (1 - Math.cos((Math.PI * p) / rise))
    if (p < rise + fall) return Math.cos((Math.PI * (p - rise)) / (2 * fall))
    return 0
  })
}

/** A point on a syllable's formant and loudness path, `t` seconds after voicing starts. */
interface Keyframe {
  readonly t: number
  readonly formants: Formants
  readonly level: number
}

/** The formant path of a voiced stretch: from an onset glide through the vowel (or diphthong) into a coda glide. */
const keyframes = (syllable: SungSyllable, length: number): Keyframe[] => {
  const [from, to] = VOWELS[syllable.vowel]
  const onset = syllable.onset.filter(isSonorant).at(-1)
  const coda = syllable.coda.find(isSonorant)
  const glide = Math.min(0.07, 0.3 * length)
  const vowelStart = onset ? glide : 0
  const vowelEnd = coda ? length - glide : length
  const frames: Keyframe[] = []
  if (onset) frames.push({ t: 0, formants: SONORANTS[onset], level: 0.45 })
  frames.push({ t: vowelStart, formants: from, level: 1 })
  if (from !== to) frames.push({ t: vowelStart + 0.35 * (vowelEnd - vowelStart), formants: from, level: 1 })
  frames.push({ t: vowelEnd, formants: to, level: 1 })
  if (coda) frames.push({ t: length, formants: SONORANTS[coda], level: 0.45 })
  return frames
}

/** The formants and level of a path at `t` (held at the ends). */
const along = (frames: ReadonlyArray<Keyframe>, t: number, formants: number[]): number => {
  let k = 0
  while (k < frames.length - 2 && t > frames[k + 1]!.t) k++
  const a = frames[k]!, b = frames[Math.min(k + 1, frames.length - 1)]!
  const u = b.t > a.t ? Math.min(1, Math.max(0, (t - a.t) / (b.t - a.t))) : 1
  for (let i = 0; i < 4; i++) formants[i] = a.formants[i]! + u * (b.formants[i]! - a.formants[i]!)
  return a.level + u * (b.level - a.level)
}

const BLOCK = 32
const ATTACK = 0.025
const RELEASE = 0.03
/** Time the resonators are left to ring after the source stops. */
const RING = 0.03

/** The voiced part of a syllable: glottal source through four cascaded formant resonators, updated every block. */
const renderVowel = (
  syllable: SungSyllable, voiced: { start: number; end: number }, voice: Voice, pulse: Float32Array,
  sampleRate: number, out: Float32Array, random: Random,
) => {
  const length = voiced.end - voiced.start
  if (length <= 0) return
  const path = keyframes(syllable, length)
  const first = Math.round(voiced.start * sampleRate)
  const last = Math.min(out.length, Math.round((voiced.end + RING) * sampleRate))
  const base = midiToHz(syllable.midi)
  const glide = syllable.glideFrom === undefined ? -0.35 : syllable.glideFrom - syllable.midi // semitones
  const glideSeconds = syllable.glideFrom === undefined ? 0.07 : 0.05
  const vibratoPhase = random()
  const formants = [0, 0, 0, 0]
  const a = [0, 0, 0, 0], b = [0, 0, 0, 0], c = [0, 0, 0, 0]
  const level = (t: number) =>
    t >= length ? 0 : syllable.velocity * along(path, t, formants) * Math.min(1, t / ATTACK, (length - t) / RELEASE)
  let s11 = 0, s12 = 0, s21 = 0, s22 = 0, s31 = 0, s32 = 0, s41 = 0, s42 = 0
  let phase = random(), flowBefore = 0, drift = 0
  for (let block = first; block < last; block += BLOCK) {
    const t = (block - first) / sampleRate
    const end = Math.min(last, block + BLOCK)
    const levelEnd = level((end - first) / sampleRate)
    const levelStart = level(t) // also leaves the formants at time t in `formants`
    for (let k = 0; k < 4; k++) {
      const r = Math.exp((-Math.PI * BANDWIDTHS[k]!) / sampleRate)
      const hz = Math.min(formants[k]! * voice.formantScale, 0.45 * sampleRate)
      b[k] = 2 * r * Math.cos((2 * Math.PI * hz) / sampleRate)
      c[k] = -r * r
      a[k] = 1 - b[k]! - c[k]! // unity gain at DC, as in Klatt's cascade
    }
    drift = 0.97 * drift + 0.006 * (random() - 0.5)
    const vibrato = (voice.vibratoCents / 100) * Math.min(1, Math.max(0, (t - 0.12) / 0.2))
      * Math.sin(2 * Math.PI * (voice.vibratoHz * t + vibratoPhase))
    const semitones = glide * Math.max(0, 1 - t / glideSeconds) + vibrato + drift
    const step = (base * 2 ** (semitones / 12)) / sampleRate
    const sourceGain = 0.1 / step
    const a1 = a[0]!, b1 = b[0]!, c1 = c[0]!, a2 = a[1]!, b2 = b[1]!, c2 = c[1]!
    const a3 = a[2]!, b3 = b[2]!, c3 = c[2]!, a4 = a[3]!, b4 = b[3]!, c4 = c[3]!
    const slope = (levelEnd - levelStart) / (end - block)
    for (let i = block; i < end; i++) {
      phase += step
      if (phase >= 1) phase -= 1
      const x = phase * PULSE_SIZE
      const j = x | 0
      const flow = pulse[j]! + (x - j) * (pulse[j + 1]! - pulse[j]!)
      const source = (flow - flowBefore) * sourceGain + voice.breath * (random() * 2 - 1) * (0.2 + flow)
      flowBefore = flow
      const e = (levelStart + slope * (i - block)) * source
      const y1 = a1 * e + b1 * s11 + c1 * s12
      s12 = s11; s11 = y1
      const y2 = a2 * y1 + b2 * s21 + c2 * s22
      s22 = s21; s21 = y2
      const y3 = a3 * y2 + b3 * s31 + c3 * s32
      s32 = s31; s31 = y3
      const y4 = a4 * y3 + b4 * s41 + c4 * s42
      s42 = s41; s41 = y4
      out[i]! += y4
    }
  }
}
