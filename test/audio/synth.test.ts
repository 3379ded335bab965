import { describe, expect, it } from "vitest"
import { renderVoice, type SungSyllable, type Voice } from "../../audio/formant.ts"
import { midiToHz, renderAccompaniment, seededRandom, type Instrument, type Track } from "../../audio/synth.ts"

const RATE = 22050

const rms = (x: Float32Array, from: number, to: number) => {
  let sum = 0
  const a = Math.round(from * RATE), b = Math.round(to * RATE)
  for (let i = a; i < b; i++) sum += x[i]! * x[i]!
  return Math.sqrt(sum / (b - a))
}

/** The fundamental of `x` from `from` seconds: the first autocorrelation peak (50–1000 Hz) within 10% of the highest. */
const pitch = (x: Float32Array, from: number) => {
  const start = Math.round(from * RATE), n = 4096
  const at = (lag: number) => {
    let r = 0
    for (let i = 0; i < n; i++) r += x[start + i]! * x[start + i + lag]!
    return r
  }
  const lags = Array.from({ length: Math.ceil(RATE / 50) }, (_, lag) => (lag < RATE / 1000 ? -Infinity : at(lag)))
  const highest = Math.max(...lags)
  const lag = lags.findIndex((r, i) => r >= 0.9 * highest && r >= lags[i - 1]! && r >= lags[i + 1]!)
  const [a, b, c] = [lags[lag - 1]!, lags[lag]!, lags[lag + 1]!]
  return RATE / (lag + (0.5 * (a - c)) / (a - 2 * b + c)) // parabolic interpolation around the peak
}

/** Energy of `x` between `lo` and `hi` Hz over a Hann-windowed stretch of `n` samples from `from` seconds. */
const band = (x: Float32Array, from: number, lo: number, hi: number, n = 4096) => {
  const start = Math.round(from * RATE)
  let energy = 0
  for (let k = Math.ceil((lo / RATE) * n); k <= (hi / RATE) * n; k++) {
    let re = 0, im = 0
    for (let i = 0; i < n; i++) {
      const w = (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n)) * x[start + i]!
      re += w * Math.cos((2 * Math.PI * k * i) / n)
      im -= w * Math.sin((2 * Math.PI * k * i) / n)
    }
    energy += re * re + im * im
  }
  return energy
}

const track = (instrument: Instrument, midi: number): Track => ({
  instrument, notes: [{ start: 0.5, duration: 0.5, midi, velocity: 1 }], gain: 1, pan: 0, width: 0, pumpBeat: 0,
})

describe("synth", () => {
  it("seededRandom repeats for a seed and stays in [0, 1)", () => {
    const a = seededRandom(42), b = seededRandom(42)
    const xs = Array.from({ length: 1000 }, () => a())
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs)
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true)
  })

  it.each(["pluck", "organ", "drive", "pad", "epiano", "bass", "synth-bass"] as const)("%s sounds only while its note plays, in tune", (instrument) => {
    const midi = instrument.includes("bass") ? 40 : 57
    const [left, right] = renderAccompaniment({ tracks: [track(instrument, midi)], drums: [], drumGain: 0 }, RATE, 2.5, 1)
    expect(rms(left, 0, 0.49)).toBe(0)
    expect(rms(left, 0.55, 0.95)).toBeGreaterThan(0.01)
    expect(rms(left, 1.5, 2)).toBeLessThan(1e-3 * rms(left, 0.55, 0.95))
    expect(right).toEqual(left) // centred, no widening
    expect(Math.abs(pitch(left, 0.6) / midiToHz(midi) - 1)).toBeLessThan(0.01)
  })

  it("renders the same arrangement to the same samples, and drums at their times", () => {
    const arrangement = { tracks: [track("pluck", 60)], drums: [{ time: 1.2, drum: "snare" as const, velocity: 1 }], drumGain: 1 }
    const [a] = renderAccompaniment(arrangement, RATE, 2, 9)
    const [b] = renderAccompaniment(arrangement, RATE, 2, 9)
    expect(b).toEqual(a)
    expect(rms(a, 1.2, 1.3)).toBeGreaterThan(3 * rms(a, 1.1, 1.19))
  })
})

describe("formant voice", () => {
  const voice: Voice = { formantScale: 1, vibratoHz: 5, vibratoCents: 0, breath: 0, openQuotient: 0.6 }
  const sing = (vowel: SungSyllable["vowel"], onset: SungSyllable["onset"] = [], midi = 45): Float32Array =>
    renderVoice([{ start: 0.2, end: 1.2, midi, glideFrom: undefined, onset, vowel, coda: [], velocity: 1 }], voice, RATE, 1.5, 3)

  it("sounds exactly from a syllable's start to its end, at the note's pitch", () => {
    const x = sing("aa", [], 50)
    expect(rms(x, 0, 0.2)).toBe(0)
    expect(rms(x, 0.3, 1.1)).toBeGreaterThan(0.05)
    expect(rms(x, 1.25, 1.5)).toBe(0) // resonators rang out within 30 ms
    expect(Math.abs(pitch(x, 0.5) / midiToHz(50) - 1)).toBeLessThan(0.01)
  })

  it("shapes vowels with their formants: /i/ has a high second formant, /a/ a high first", () => {
    const [iy, aa] = [sing("iy"), sing("aa")]
    const ratio = (x: Float32Array, a: [number, number], b: [number, number]) => band(x, 0.5, ...a) / band(x, 0.5, ...b)
    expect(ratio(iy, [2000, 2600], [900, 1300])).toBeGreaterThan(10 * ratio(aa, [2000, 2600], [900, 1300]))
    expect(ratio(aa, [600, 850], [200, 350])).toBeGreaterThan(10 * ratio(iy, [600, 850], [200, 350]))
  })

  it("starts an /s/ with high-frequency noise before the vowel", () => {
    const x = sing("aa", ["s"])
    const share = (from: number) => band(x, from, 4000, 8000, 1024) / band(x, from, 100, 8000, 1024)
    expect(share(0.21)).toBeGreaterThan(0.5)
    expect(share(0.6)).toBeLessThan(0.01)
  })
})
