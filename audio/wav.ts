/**
 * WAV files: 16-bit PCM or 32-bit float, any channel count, from planar Float32Arrays.
 * (Decoding of every format is `audio/decode.ts`'s job.)
 */

/** Sample formats `encodeWav` writes. */
export type WavFormat = "pcm16" | "float32"

/** Encodes planar channels (all the same length) as a WAV file. */
export const encodeWav = (channels: ReadonlyArray<Float32Array>, sampleRate: number, format: WavFormat = "pcm16"): Uint8Array => {
  const frames = channels[0]?.length ?? 0
  const count = channels.length
  const bytesPerSample = format === "pcm16" ? 2 : 4
  const dataBytes = frames * count * bytesPerSample
  const out = new Uint8Array(44 + dataBytes)
  const view = new DataView(out.buffer)
  const ascii = (at: number, text: string) => [...text].forEach((c, i) => view.setUint8(at + i, c.charCodeAt(0)))
  ascii(0, "RIFF")
  view.setUint32(4, 36 + dataBytes, true)
  ascii(8, "WAVE")
  ascii(12, "fmt ")
  view.setUint32(16, 16, true)
  view.setUint16(20, format === "pcm16" ? 1 : 3, true) // 1 = PCM, 3 = IEEE float
  view.setUint16(22, count, true)
  view.setUint32(24, sampleRate, true)
  view.setUint32(28, sampleRate * count * bytesPerSample, true)
  view.setUint16(32, count * bytesPerSample, true)
  view.setUint16(34, bytesPerSample * 8, true)
  ascii(36, "data")
  view.setUint32(40, dataBytes, true)
  let at = 44
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < count; c++) {
      const x = channels[c]![i]!
      if (format === "pcm16") view.setInt16(at, Math.round(Math.max(-1, Math.min(1, x)) * 32767), true)
      else view.setFloat32(at, x, true)
      at += bytesPerSample
    }
  }
  return out
}
