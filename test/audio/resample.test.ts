import { describe, expect, it } from "vitest"
import { resample, resampledLength } from "../../audio/resample.ts"
import { db, fitSine, rms, tone } from "./signals.ts"

/** Samples at each end where the filter sees the zeros beyond the input. */
const EDGE = 400

/** Output level of a tone at `frequency` resampled from `source` to `target`, relative to its input, in dB. */
const gainDb = (frequency: number, source: number, target: number) => {
  const [y] = resample([tone(frequency, source, source)], source, target)
  return db(rms(y!, EDGE, y!.length - EDGE) / (0.5 / Math.SQRT2))
}

/** How far (in dB below the tone) the output strays from the ideal sine at the output rate, sample by sample. */
const errorDb = (frequency: number, source: number, target: number) => {
  const [y] = resample([tone(frequency, source, source)], source, target)
  const ideal = tone(frequency, target, y!.length)
  const diff = y!.map((v, i) => v - ideal[i]!)
  return db(rms(diff, EDGE, diff.length - EDGE) / (0.5 / Math.SQRT2))
}

const CONVERSIONS = [
  { source: 44_100, target: 22_050, passband: [100, 1000, 5000, 9000, 9920], stopband: [11_100, 12_000, 16_000, 21_000] },
  { source: 48_000, target: 44_100, passband: [100, 1000, 10_000, 18_000, 19_840], stopband: [22_100, 23_000, 23_900] },
  { source: 22_050, target: 44_100, passband: [100, 1000, 5000, 9000, 9920], stopband: [] },
  // An odd pair: more phases than the table holds, so coefficients are interpolated between rows.
  { source: 44_100, target: 44_099, passband: [1000, 19_840], stopband: [22_060] },
]

describe("resample", () => {
  for (const { source, target, passband, stopband } of CONVERSIONS) {
    describe(`${source} → ${target} Hz`, () => {
      it("keeps passband tones within 0.1 dB, in phase, with everything else ≥ 90 dB down", () => {
        for (const f of passband) {
          expect(Math.abs(gainDb(f, source, target)), `${f} Hz gain`).toBeLessThan(0.1)
          expect(errorDb(f, source, target), `${f} Hz error`).toBeLessThan(-90)
        }
      })

      if (stopband.length > 0) {
        it("rejects tones above the output's Nyquist frequency by ≥ 90 dB (no aliases)", () => {
          for (const f of stopband) expect(gainDb(f, source, target), `${f} Hz`).toBeLessThan(-90)
        })
      }

      it("gives round(frames × target / source) frames for every length, odd and tiny ones too", () => {
        for (const frames of [0, 1, 2, 3, 5, 7, 10, 99, 1001, 44_101, 70_001]) {
          const [y] = resample([new Float32Array(frames).fill(0.25)], source, target)
          expect(y!.length, `${frames} frames`).toBe(Math.round((frames * target) / source))
          expect(resampledLength(frames, source, target)).toBe(y!.length)
          expect(y!.every((v) => Number.isFinite(v) && Math.abs(v) <= 0.4)).toBe(true) // band-limited edges ring a little
        }
      })
    })
  }

  it("rejects the image of an upsampled tone by ≥ 90 dB", () => {
    const [y] = resample([tone(9_900, 22_050, 22_050)], 22_050, 44_100)
    const fit = fitSine(y!, 9_900, 44_100, EDGE, y!.length - EDGE)
    expect(db(fit.residualRms / (fit.amplitude / Math.SQRT2))).toBeLessThan(-90)
  })

  it("passes a 23 kHz tone at 48 kHz to 44.1 kHz ≥ 90 dB down (where ffmpeg's default resampler aliases)", () => {
    expect(gainDb(23_000, 48_000, 44_100)).toBeLessThan(-90)
  })

  it("returns the same channels when the rates agree", () => {
    const left = tone(440, 44_100, 100)
    const right = tone(660, 44_100, 100)
    const out = resample([left, right], 44_100, 44_100)
    expect(out[0]).toBe(left)
    expect(out[1]).toBe(right)
  })

  it("resamples each channel on its own and keeps short inputs finite", () => {
    for (let frames = 1; frames <= 10; frames++) {
      const impulse = new Float32Array(frames)
      impulse[0] = 1
      const [a, b] = resample([impulse, new Float32Array(frames)], 44_100, 22_050)
      expect(a!.some((v) => v !== 0)).toBe(true)
      expect(b!.every((v) => v === 0)).toBe(true)
    }
  })

  it("refuses rates that are not positive integers", () => {
    expect(() => resample([new Float32Array(4)], 44_100.5, 22_050)).toThrow(RangeError)
    expect(() => resample([new Float32Array(4)], 0, 22_050)).toThrow(RangeError)
  })
})
