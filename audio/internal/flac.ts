/**
 * FLAC's STREAMINFO: the sample count it promises (to find a file cut short) and the bit depth
 * (to put decoded samples on the k / 2^(bits−1) scale WAV uses).
 */
import { AudioProblem, bytesText, fourCC } from "./problem.ts"

/** What STREAMINFO says. */
export interface FlacInfo {
  readonly sampleRate: number
  readonly channels: number
  readonly bitsPerSample: number
  /** Samples per channel; 0 when the encoder did not know. */
  readonly totalSamples: number
}

/** Reads STREAMINFO from a stream starting with "fLaC" at `at`; throws when the metadata is cut short. */
export const flacInfo = (bytes: Uint8Array, at: number): FlacInfo => {
  if (fourCC(bytes, at) !== "fLaC") throw new AudioProblem("malformed", "it does not start with the fLaC signature")
  let block = at + 4
  let info: FlacInfo | undefined
  for (;;) {
    if (block + 4 > bytes.length) throw new AudioProblem("truncated", `it ends after ${bytesText(bytes.length)} bytes, inside its metadata`)
    const last = (bytes[block]! & 0x80) !== 0
    const type = bytes[block]! & 0x7f
    const length = (bytes[block + 1]! << 16) | (bytes[block + 2]! << 8) | bytes[block + 3]!
    if (block + 4 + length > bytes.length) {
      throw new AudioProblem("truncated", `a metadata block claims ${bytesText(length)} bytes but only ${bytesText(bytes.length - block - 4)} follow`)
    }
    if (type === 0) {
      if (length < 34) throw new AudioProblem("malformed", `its STREAMINFO block is ${length} bytes, not 34`)
      const s = block + 4
      const b = (i: number) => bytes[s + i]!
      info = {
        sampleRate: (b(10) << 12) | (b(11) << 4) | (b(12) >> 4),
        channels: ((b(12) >> 1) & 7) + 1,
        bitsPerSample: (((b(12) & 1) << 4) | (b(13) >> 4)) + 1,
        totalSamples: (b(13) & 0x0f) * 2 ** 32 + (((b(14) << 24) | (b(15) << 16) | (b(16) << 8) | b(17)) >>> 0),
      }
    }
    block += 4 + length
    if (last) break
  }
  if (info === undefined) throw new AudioProblem("malformed", "it has no STREAMINFO block")
  if (info.sampleRate === 0) throw new AudioProblem("malformed", "its STREAMINFO gives a sample rate of 0")
  return info
}
