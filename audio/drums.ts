/** The demo's drum kit: one-shot samples synthesised once per song. */
import { type Drum, type Random, sine } from "./synth.ts"


/** White noise through a first difference (a gentle highpass). */
const hissFrom = (random: Random) => {
  let last = 0
  return () => {
    const x = random() * 2 - 1
    const y = x - last
    last = x
    return 0.5 * y
  }
}

/** A one-shot of `seconds` whose sample `i` at time `t` is `f(t, i)`. */
const oneShot = (sampleRate: number, seconds: number, f: (t: number) => number) =>
  Float32Array.from({ length: Math.round(seconds * sampleRate) }, (_, i) => f(i / sampleRate))

/** A one-shot of each drum, synthesised at a sample rate. */
export const DRUMS: Record<Drum, (sampleRate: number, random: Random) => Float32Array> = {
  kick: (sampleRate, random) => {
    let phase = 0
    return oneShot(sampleRate, 0.35, (t) => {
      phase += (45 + 110 * Math.exp(-t / 0.03)) / sampleRate
      return Math.exp(-t / 0.16) * sine(phase) + 0.3 * Math.exp(-t / 0.003) * (random() * 2 - 1)
    })
  },
  snare: (sampleRate, random) => {
    const a = 1 - Math.exp((-2 * Math.PI * 5000) / sampleRate) // the snare wires rattle below the cymbals' band
    let rattle = 0
    return oneShot(sampleRate, 0.25, (t) => {
      rattle += a * (random() * 2 - 1 - rattle)
      return 0.5 * Math.exp(-t / 0.05) * sine(190 * t) + 0.9 * Math.exp(-t / 0.08) * rattle
    })
  },
  hat: (sampleRate, random) => {
    const hiss = hissFrom(random)
    return oneShot(sampleRate, 0.08, (t) => 0.9 * Math.exp(-t / 0.016) * hiss())
  },
  "open-hat": (sampleRate, random) => {
    const hiss = hissFrom(random)
    return oneShot(sampleRate, 0.4, (t) => 0.7 * Math.exp(-t / 0.11) * hiss())
  },
  clap: (sampleRate, random) => {
    const r = Math.exp((-Math.PI * 900) / sampleRate), b = 2 * r * Math.cos((2 * Math.PI * 1100) / sampleRate)
    let y1 = 0, y2 = 0
    return oneShot(sampleRate, 0.25, (t) => {
      const env = [0, 0.011, 0.022].reduce((sum, at) => sum + (t >= at ? Math.exp(-(t - at) / 0.004) : 0), 0)
        + (t >= 0.03 ? 0.5 * Math.exp(-(t - 0.03) / 0.07) : 0)
      const y = 2 * (1 - r) * env * (random() * 2 - 1) + b * y1 - r * r * y2
      y2 = y1
      y1 = y
      return y
    })
  },
  shaker: (sampleRate, random) => {
    const hiss = hissFrom(random)
    return oneShot(sampleRate, 0.1, (t) => 0.8 * Math.min(1, t / 0.012) * Math.exp(-t / 0.035) * hiss())
  },
  ride: (sampleRate, random) => {
    const hiss = hissFrom(random)
    const partials = [1, 1.34, 1.82, 2.16, 2.75, 3.41].map((ratio) => 420 * ratio)
    return oneShot(sampleRate, 0.7, (t) =>
      Math.exp(-t / 0.25) * (0.05 * partials.reduce((sum, f) => sum + (sine(f * t) > 0 ? 1 : -1), 0) + 0.3 * hiss()))
  },
  rim: (sampleRate, random) => {
    const hiss = hissFrom(random)
    return oneShot(sampleRate, 0.06, (t) => 0.7 * Math.exp(-t / 0.008) * sine(1700 * t) + 0.8 * Math.exp(-t / 0.005) * hiss())
  },
}

/** Where each drum sits in the stereo image. */
export const DRUM_PAN: Record<Drum, number> = {
  kick: 0, snare: 0.05, hat: 0.35, "open-hat": 0.35, clap: -0.05, shaker: -0.4, ride: -0.3, rim: 0.15,
}
