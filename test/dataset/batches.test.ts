import { describe, expect, it } from "vitest"
import { clipSampler } from "../../dataset/batches.ts"
import { seededRandom } from "../../audio/synth.ts"

const ramp = (n: number, scale = 1) => Float32Array.from({ length: n }, (_, i) => i * scale)

describe("training clips", () => {
  it("draws shifted clips inside their song, downmixed, deterministic for a seed", () => {
    const audio = new Map([["a", { left: ramp(1000), right: ramp(1000, -1) }]])
    const chunks = [{ song: "a", start: 0.2, seconds: 0.2 }] // samples 200..400 at 1 kHz
    const draw = (seed: number) => clipSampler(chunks, audio, 1000, 100, seededRandom(seed))(20)
    const batch = draw(1)
    expect(batch).toHaveLength(2000)
    expect(draw(1)).toEqual(batch)
    expect(draw(2)).not.toEqual(batch)
    for (let b = 0; b < 20; b++) {
      const clip = batch.subarray(b * 100, b * 100 + 100)
      // a blend w·i + (1−w)·(−i) = (2w−1)·i: a line through 0 with slope in [−1, 1]
      const slope = clip[1]! - clip[0]!
      const start = clip[0]! / slope
      expect(Math.abs(slope)).toBeLessThanOrEqual(1)
      expect(start).toBeGreaterThanOrEqual(100 - 1e-3) // 200 − half a chunk
      expect(start).toBeLessThanOrEqual(300 + 1e-3)
    }
  })

  it("keeps clips inside short songs and refuses songs shorter than a clip", () => {
    const audio = new Map([["a", { left: ramp(150), right: ramp(150) }], ["b", { left: ramp(50), right: ramp(50) }]])
    const sample = clipSampler([{ song: "a", start: 0.1, seconds: 0.05 }, { song: "b", start: 0, seconds: 0.05 }], audio, 1000, 100, seededRandom(3))
    const batch = sample(10)
    for (let b = 0; b < 10; b++) expect(batch[b * 100 + 99]!).toBeLessThanOrEqual(149)
    expect(() => clipSampler([{ song: "b", start: 0, seconds: 0.05 }], audio, 1000, 100, seededRandom(3))).toThrow("no training chunk is long enough")
  })
})
