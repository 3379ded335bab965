/**
 * Instruments and drums for the demo corpus: note events rendered to sample buffers — plucked
 * strings (Karplus–Strong), a drawbar organ, overdriven saw power chords, a detuned square pad,
 * an FM electric piano, two basses — and a synthesised drum kit, mixed to stereo. Everything is
 * deterministic from a seed, so the same score always gives the same samples.
 */
import { DRUM_PAN, DRUMS } from "./drums.ts"

/** A seeded pseudo-random generator (mulberry32) giving numbers in [0, 1): the same seed gives the same song. */
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

/** A random-number source as `seededRandom` makes it. */
export type Random = () => number

/** The frequency in Hz of a MIDI note number (A4 = 69 = 440 Hz). */
export const midiToHz = (midi: number): number => 440 * 2 ** ((midi - 69) / 12)

/** Pitched instruments of the accompaniment. */
export type Instrument = "pluck" | "organ" | "drive" | "pad" | "epiano" | "bass" | "synth-bass"

/** One note: start and duration in seconds, MIDI pitch, velocity in [0, 1]. */
export interface Note {
  readonly start: number
  readonly duration: number
  readonly midi: number
  readonly velocity: number
}

/** A pitched part of the accompaniment and where it sits in the stereo image. */
export interface Track {
  readonly instrument: Instrument
  readonly notes: ReadonlyArray<Note>
  readonly gain: number
  /** -1 (left) … 1 (right). */
  readonly pan: number
  /** Seconds by which the far channel is delayed (Haas widening); 0 keeps the part narrow. */
  readonly width: number
  /** Seconds per beat when the part ducks on every beat (side-chain pumping), else 0. */
  readonly pumpBeat: number
}

/** Drums of the synthesised kit. */
export type Drum = "kick" | "snare" | "hat" | "open-hat" | "clap" | "shaker" | "ride" | "rim"

/** One drum hit: time in seconds, velocity in [0, 1]. */
export interface DrumHit {
  readonly time: number
  readonly drum: Drum
  readonly velocity: number
}

/** Everything the accompaniment plays. */
export interface Arrangement {
  readonly tracks: ReadonlyArray<Track>
  readonly drums: ReadonlyArray<DrumHit>
  readonly drumGain: number
}

/** Renders an arrangement as two planar channels of `seconds` at `sampleRate`, fading out at the end. */
export const renderAccompaniment = (
  arrangement: Arrangement,
  sampleRate: number,
  seconds: number,
  seed: number,
): [Float32Array, Float32Array] => {
  const random = seededRandom(seed)
  const frames = Math.round(seconds * sampleRate)
  const left = new Float32Array(frames)
  const right = new Float32Array(frames)
  const part = new Float32Array(frames)
  for (const track of arrangement.tracks) {
    part.fill(0)
    const render = INSTRUMENTS[track.instrument]
    for (const note of track.notes) render(note, sampleRate, part, random)
    POST[track.instrument]?.(part, sampleRate)
    if (track.pumpBeat > 0) pump(part, sampleRate, track.pumpBeat)
    addStereo(part, left, right, track.gain, track.pan, Math.round(track.width * sampleRate))
  }
  const kit = new Map<Drum, Float32Array>()
  for (const hit of arrangement.drums) {
    if (!kit.has(hit.drum)) kit.set(hit.drum, DRUMS[hit.drum](sampleRate, random))
    const sample = kit.get(hit.drum)!
    const [gl, gr] = panGains(DRUM_PAN[hit.drum])
    const at = Math.round(hit.time * sampleRate)
    const g = arrangement.drumGain * hit.velocity
    const n = Math.min(sample.length, frames - at)
    for (let i = 0; i < n; i++) {
      const x = g * sample[i]!
      left[at + i]! += gl * x
      right[at + i]! += gr * x
    }
  }
  fadeEdges(left, sampleRate)
  fadeEdges(right, sampleRate)
  return [left, right]
}

// ---------------------------------------------------------------------------------------------
// Oscillators and envelopes.

const SINE_SIZE = 4096
const SINE = Float32Array.from({ length: SINE_SIZE + 1 }, (_, i) => Math.sin((2 * Math.PI * i) / SINE_SIZE))

/** sin(2π·phase) from a table, for any phase (in cycles). */
export const sine = (phase: number): number => {
  const x = (phase - Math.floor(phase)) * SINE_SIZE
  const i = x | 0
  const a = SINE[i]!
  return a + (x - i) * (SINE[i + 1]! - a)
}

/** The polyBLEP correction that removes most aliasing from a step at phase 0 (t in cycles, dt per sample). */
const polyBlep = (t: number, dt: number): number => {
  if (t < dt) {
    const x = t / dt
    return x + x - x * x - 1
  }
  if (t > 1 - dt) {
    const x = (t - 1) / dt
    return x * x + x + x + 1
  }
  return 0
}

/** Attack–decay–sustain–release gain of a note held for `held` seconds, stepped sample by sample (no exp per sample). */
class Envelope {
  private n = 0
  private decayed = 1
  private level = 0
  private readonly attack: number
  private readonly held: number
  private readonly decay: number
  private readonly releaseStep: number
  constructor(sampleRate: number, held: number, attack: number, decay: number, private readonly sustain: number, release: number) {
    this.attack = Math.max(1, Math.round(attack * sampleRate))
    this.held = Math.round(held * sampleRate)
    this.decay = Math.exp(-1 / (decay * sampleRate))
    this.releaseStep = 1 / Math.max(1, release * sampleRate)
  }
  next(): number {
    const n = this.n++
    if (n < this.held) {
      if (n < this.attack) return (this.level = n / this.attack)
      this.decayed *= this.decay
      return (this.level = this.sustain + (1 - this.sustain) * this.decayed)
    }
    return this.level * Math.max(0, 1 - (n - this.held) * this.releaseStep)
  }
}

/** The sample range a note with a release tail covers, clipped to the buffer. */
const span = (note: Note, sampleRate: number, release: number, out: Float32Array) => {
  const start = Math.max(0, Math.round(note.start * sampleRate))
  const end = Math.min(out.length, Math.round((note.start + note.duration + release) * sampleRate))
  return { start, end }
}

// ---------------------------------------------------------------------------------------------
// Instruments: each adds one note to a mono buffer.

type RenderNote = (note: Note, sampleRate: number, out: Float32Array, random: Random) => void

/** Karplus–Strong string: a noise burst circulating through a delay line with an averaging filter. */
const pluck: RenderNote = (note, sampleRate, out, random) => {
  const release = 0.08
  const { start, end } = span(note, sampleRate, release, out)
  const period = sampleRate / midiToHz(note.midi)
  const length = Math.max(2, Math.floor(period - 0.5))
  const frac = period - 0.5 - length
  const c = (1 - frac) / (1 + frac) // first-order allpass: the fractional part of the period
  const line = new Float32Array(length)
  let smooth = 0
  for (let i = 0; i < length; i++) line[i] = smooth = 0.6 * smooth + 0.4 * (random() * 2 - 1)
  let p = 0, last = 0, apIn = 0, apOut = 0
  const held = Math.round(note.duration * sampleRate)
  const damp = 1 / (release * sampleRate)
  const g = 2 * note.velocity
  for (let i = start, n = 0; i < end; i++, n++) {
    const x = line[p]!
    const avg = 0.5 * (x + last)
    last = x
    apOut = c * avg + apIn - c * apOut
    apIn = avg
    line[p] = 0.997 * apOut
    p = p + 1 === length ? 0 : p + 1
    out[i]! += g * x * (n < held ? 1 : Math.max(0, 1 - (n - held) * damp))
  }
}

/** Drawbar organ: five harmonics and a slow tremolo. */
const organ: RenderNote = (note, sampleRate, out) => {
  const release = 0.06
  const { start, end } = span(note, sampleRate, release, out)
  const step = midiToHz(note.midi) / sampleRate
  const tremolo = 6.3 / sampleRate
  const env = new Envelope(sampleRate, note.duration, 0.012, 1, 1, release)
  for (let i = start, n = 0; i < end; i++, n++) {
    const ph = n * step
    const tone = sine(ph) + 0.7 * sine(2 * ph) + 0.45 * sine(3 * ph) + 0.3 * sine(4 * ph) + 0.15 * sine(6 * ph)
    out[i]! += 0.22 * note.velocity * env.next() * (1 + 0.18 * sine(n * tremolo)) * tone
  }
}

/** Two detuned band-limited saws; `POST.drive` lowpasses and overdrives the whole part. */
const drive: RenderNote = (note, sampleRate, out) => {
  const release = 0.03
  const { start, end } = span(note, sampleRate, release, out)
  const f = midiToHz(note.midi)
  const dt1 = (f * 1.0035) / sampleRate, dt2 = (f * 0.9965) / sampleRate
  let t1 = 0, t2 = 0.37
  const env = new Envelope(sampleRate, note.duration, 0.004, 0.25, 0.7, release)
  for (let i = start; i < end; i++) {
    const saw = 2 * t1 - 1 - polyBlep(t1, dt1) + 2 * t2 - 1 - polyBlep(t2, dt2)
    t1 += dt1; if (t1 >= 1) t1 -= 1
    t2 += dt2; if (t2 >= 1) t2 -= 1
    out[i]! += 0.25 * note.velocity * env.next() * saw
  }
}

/** Two detuned band-limited squares with a slow attack. */
const pad: RenderNote = (note, sampleRate, out) => {
  const release = 0.3
  const { start, end } = span(note, sampleRate, release, out)
  const f = midiToHz(note.midi)
  const dt1 = (f * 1.005) / sampleRate, dt2 = (f * 0.995) / sampleRate
  let t1 = 0, t2 = 0.21
  const env = new Envelope(sampleRate, note.duration, 0.15, 1, 1, release)
  for (let i = start; i < end; i++) {
    const u1 = t1 + 0.5 >= 1 ? t1 - 0.5 : t1 + 0.5
    const u2 = t2 + 0.5 >= 1 ? t2 - 0.5 : t2 + 0.5
    const sq = (t1 < 0.5 ? 1 : -1) + polyBlep(t1, dt1) - polyBlep(u1, dt1) + (t2 < 0.5 ? 1 : -1) + polyBlep(t2, dt2) - polyBlep(u2, dt2)
    t1 += dt1; if (t1 >= 1) t1 -= 1
    t2 += dt2; if (t2 >= 1) t2 -= 1
    out[i]! += 0.2 * note.velocity * env.next() * sq
  }
}

/** Two-operator FM electric piano: a bright attack that mellows as the modulation decays. */
const epiano: RenderNote = (note, sampleRate, out) => {
  const release = 0.12
  const { start, end } = span(note, sampleRate, release, out)
  const step = midiToHz(note.midi) / sampleRate
  const env = new Envelope(sampleRate, note.duration, 0.003, 1, 1, release)
  const fade = Math.exp(-1 / (1.6 * sampleRate)), mellow = Math.exp(-1 / (0.25 * sampleRate))
  let level = 0.4 * note.velocity, brightness = 1.4 / (2 * Math.PI)
  for (let i = start, n = 0; i < end; i++, n++) {
    const tone = sine(n * step + (0.04 + brightness) * sine(n * step))
    out[i]! += level * env.next() * tone
    level *= fade
    brightness *= mellow
  }
}

/** Round electric bass: fundamental with two weak harmonics. */
const bass: RenderNote = (note, sampleRate, out) => {
  const release = 0.04
  const { start, end } = span(note, sampleRate, release, out)
  const step = midiToHz(note.midi) / sampleRate
  const env = new Envelope(sampleRate, note.duration, 0.006, 0.3, 0.6, release)
  for (let i = start, n = 0; i < end; i++, n++) {
    const ph = n * step
    out[i]! += 0.5 * note.velocity * env.next() * (sine(ph) + 0.35 * sine(2 * ph) + 0.12 * sine(3 * ph))
  }
}

/** Saw bass through a lowpass whose cutoff falls after the attack (a filter "pluck"). */
const synthBass: RenderNote = (note, sampleRate, out) => {
  const release = 0.03
  const { start, end } = span(note, sampleRate, release, out)
  const dt = midiToHz(note.midi) / sampleRate
  let t = 0, y = 0, a = 0
  const env = new Envelope(sampleRate, note.duration, 0.004, 0.2, 0.8, release)
  for (let i = start, n = 0; i < end; i++, n++) {
    if ((n & 15) === 0) a = 1 - Math.exp((-2 * Math.PI * (250 + 2200 * Math.exp(-n / sampleRate / 0.08))) / sampleRate)
    const saw = 2 * t - 1 - polyBlep(t, dt)
    t += dt; if (t >= 1) t -= 1
    y += a * (saw - y)
    out[i]! += 0.45 * note.velocity * env.next() * y
  }
}

const INSTRUMENTS: Record<Instrument, RenderNote> = { pluck, organ, drive, pad, epiano, bass, "synth-bass": synthBass }

/** One-pole lowpass in place. */
const lowpass = (x: Float32Array, sampleRate: number, hz: number) => {
  const a = 1 - Math.exp((-2 * Math.PI * hz) / sampleRate)
  let y = 0
  for (let i = 0; i < x.length; i++) x[i] = y += a * (x[i]! - y)
}

/** Processing of a whole part after its notes are rendered: the amp of a guitar, the filter of a pad. */
const POST: Partial<Record<Instrument, (x: Float32Array, sampleRate: number) => void>> = {
  drive: (x, sampleRate) => {
    lowpass(x, sampleRate, 3200)
    const norm = 1 / Math.tanh(2.5)
    for (let i = 0; i < x.length; i++) x[i] = 0.6 * norm * Math.tanh(2.5 * x[i]!)
  },
  pad: (x, sampleRate) => lowpass(x, sampleRate, 1800),
}

/** Ducks a part on every beat, as a compressor keyed by the kick would. */
const pump = (x: Float32Array, sampleRate: number, beat: number) => {
  for (let i = 0; i < x.length; i++) {
    const t = (i / sampleRate) % beat
    x[i]! *= 1 - 0.6 * Math.exp(-t / 0.09)
  }
}

/** Equal-power gains of a pan position in [-1, 1]. */
const panGains = (pan: number): [number, number] => {
  const angle = ((pan + 1) * Math.PI) / 4
  return [Math.cos(angle) * Math.SQRT2, Math.sin(angle) * Math.SQRT2]
}

/** Adds a mono part to the stereo mix; the channel away from the pan side is delayed by `delay` samples. */
const addStereo = (x: Float32Array, left: Float32Array, right: Float32Array, gain: number, pan: number, delay: number) => {
  const [gl, gr] = panGains(pan)
  const dl = pan > 0 ? delay : 0, dr = pan > 0 ? 0 : delay
  for (let i = 0; i < x.length; i++) {
    if (i >= dl) left[i]! += gain * gl * x[i - dl]!
    if (i >= dr) right[i]! += gain * gr * x[i - dr]!
  }
}

/** A 5 ms fade-in and a fade-out over the last 0.4 s (or tenth of the song), so the song ends cleanly. */
const fadeEdges = (x: Float32Array, sampleRate: number) => {
  const fadeIn = Math.min(x.length, Math.round(0.005 * sampleRate))
  for (let i = 0; i < fadeIn; i++) x[i]! *= i / fadeIn
  const fadeOut = Math.min(Math.round(0.4 * sampleRate), Math.floor(x.length / 10))
  for (let i = 0; i < fadeOut; i++) x[x.length - 1 - i]! *= i / fadeOut
}
