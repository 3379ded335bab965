import { describe, expect, it } from "vitest"
import { levelBitrateKbps, opusAvailable, opusRoundTrip } from "../../audio/opus.ts"

const available = await opusAvailable()

describe("Opus yardstick", () => {
  it("computes a level's bitrate from its code rate and codebook", () => {
    expect(levelBitrateKbps(44100, 128, 2048)).toBeCloseTo(3.79, 2)
    expect(levelBitrateKbps(22050, 8, 1024)).toBeCloseTo(27.56, 2)
  })

  it.skipIf(!available)("round-trips audio at the asked bitrate (raised to 6 kb/s), same rate and length", async () => {
    const sampleRate = 22050
    const tone = Float32Array.from({ length: sampleRate }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 440 * i) / sampleRate))
    const { channels, kbps } = await opusRoundTrip([tone], sampleRate, 2)
    expect(kbps).toBe(6)
    expect(channels).toHaveLength(1)
    expect(channels[0]!.length).toBe(sampleRate)
    const rms = (x: Float32Array) => Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length)
    expect(rms(channels[0]!)).toBeGreaterThan(0.2) // the tone survives, roughly at its level (0.354)
    expect(rms(channels[0]!)).toBeLessThan(0.5)
  })
})
if (!available) console.log("opus-tools not installed: the Opus round-trip test is skipped")
