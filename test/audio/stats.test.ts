import { describe, expect, it } from "vitest"
import { audioStats, dbfs, downmix } from "../../audio/stats.ts"
import { tone } from "./signals.ts"

describe("audioStats", () => {
  it("measures a full-scale sine: 0 dBFS peak, −3.01 dBFS RMS, no clipping below 0.999", () => {
    const sine = tone(441, 44_100, 44_100 * 2, 0.998)
    const stats = audioStats([sine, sine], 44_100)
    expect(stats.seconds).toBe(2)
    expect(stats.channels).toBe(2)
    expect(stats.peak).toBeCloseTo(0.998, 6)
    expect(stats.peakDbfs).toBeCloseTo(20 * Math.log10(0.998), 4)
    expect(stats.rmsDbfs).toBeCloseTo(20 * Math.log10(0.998 / Math.SQRT2), 3)
    expect(stats.clippedFraction).toBe(0)
  })

  it("counts clipped samples (|x| ≥ 0.999) over all channels", () => {
    const left = new Float32Array(100).fill(0.5)
    const right = new Float32Array(100).fill(0.5)
    left.fill(1, 0, 10)
    right.fill(-0.9995, 0, 5)
    const stats = audioStats([left, right], 100)
    expect(stats.clippedFraction).toBeCloseTo(15 / 200, 12)
    expect(stats.peak).toBe(1)
    expect(stats.peakDbfs).toBe(0)
  })

  it("gives −Infinity dBFS for digital silence", () => {
    const stats = audioStats([new Float32Array(10)], 10)
    expect(stats.peakDbfs).toBe(-Infinity)
    expect(stats.rmsDbfs).toBe(-Infinity)
    expect(dbfs(0.5)).toBeCloseTo(-6.0206, 4)
  })
})

describe("downmix", () => {
  it("blends left and right by the weight", () => {
    const left = Float32Array.from([1, 0.5, -1])
    const right = Float32Array.from([0, 0.5, 1])
    expect(Array.from(downmix([left, right], 1))).toEqual([1, 0.5, -1])
    expect(Array.from(downmix([left, right], 0))).toEqual([0, 0.5, 1])
    expect(Array.from(downmix([left, right], 0.25))).toEqual([0.25, 0.5, 0.5])
  })

  it("returns a mono channel as it is, and refuses weights outside [0, 1]", () => {
    const mono = Float32Array.from([0.1, 0.2])
    expect(downmix([mono], 0.3)).toBe(mono)
    expect(() => downmix([mono, mono], 1.5)).toThrow(RangeError)
    expect(() => downmix([mono, mono], Number.NaN)).toThrow(RangeError)
  })
})
