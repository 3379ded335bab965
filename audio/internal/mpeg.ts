/**
 * MPEG audio frames: the header of each frame gives its length, so walking them finds a file cut
 * mid-frame; LAME's Xing/Info frame gives the frame count, so a shorter walk is a cut file too.
 */
import { AudioProblem, bytesText, fourCC } from "./problem.ts"

/** One frame header. */
export interface MpegFrame {
  /** 1, 2 or 3 for Layer I, II or III. */
  readonly layer: 1 | 2 | 3
  readonly mpeg1: boolean
  readonly sampleRate: number
  /** Bytes from this header to the next. */
  readonly length: number
  readonly mono: boolean
  readonly crc: boolean
}

const BITRATES: Readonly<Record<string, ReadonlyArray<number>>> = {
  "1-1": [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
  "1-2": [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
  "1-3": [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  "2-1": [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
  "2-2": [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
  "2-3": [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
}
const RATES = [44100, 48000, 32000]

/** The frame header at `at`, or undefined when the bytes there are not one. */
export const mpegFrame = (bytes: Uint8Array, at: number): MpegFrame | undefined => {
  if (at + 4 > bytes.length || bytes[at] !== 0xff) return undefined
  const b1 = bytes[at + 1]!, b2 = bytes[at + 2]!, b3 = bytes[at + 3]!
  if ((b1 & 0xe0) !== 0xe0) return undefined
  const version = (b1 >> 3) & 3 // 0: MPEG 2.5, 1: reserved, 2: MPEG 2, 3: MPEG 1
  const layerBits = (b1 >> 1) & 3
  const bitrateIndex = b2 >> 4
  const rateIndex = (b2 >> 2) & 3
  if (version === 1 || layerBits === 0 || bitrateIndex === 0 || bitrateIndex === 15 || rateIndex === 3) return undefined
  const layer = (4 - layerBits) as 1 | 2 | 3
  const mpeg1 = version === 3
  const kbps = BITRATES[`${mpeg1 ? 1 : 2}-${layer}`]![bitrateIndex]!
  const sampleRate = RATES[rateIndex]! / (mpeg1 ? 1 : version === 2 ? 2 : 4)
  const padding = (b2 >> 1) & 1
  const length = layer === 1
    ? (Math.floor((12000 * kbps) / sampleRate) + padding) * 4
    : Math.floor(((layer === 3 && !mpeg1 ? 72000 : 144000) * kbps) / sampleRate) + padding
  return { layer, mpeg1, sampleRate, length, mono: b3 >> 6 === 3, crc: (b1 & 1) === 0 }
}

/** Whether a real frame starts at `at`: a header whose next frame (or the end of the file) follows it. */
export const isMpegStream = (bytes: Uint8Array, at: number): MpegFrame | undefined => {
  const frame = mpegFrame(bytes, at)
  if (frame === undefined) return undefined
  const next = at + frame.length
  if (next === bytes.length) return frame
  const after = mpegFrame(bytes, next)
  return after !== undefined && after.layer === frame.layer && after.sampleRate === frame.sampleRate ? frame : undefined
}

/** The length of an ID3v2 tag at `at` (0 when there is none). */
export const id3Length = (bytes: Uint8Array, at: number): number => {
  if (at + 10 > bytes.length || fourCC(bytes, at).slice(0, 3) !== "ID3") return 0
  const size = ((bytes[at + 6]! & 0x7f) << 21) | ((bytes[at + 7]! & 0x7f) << 14) | ((bytes[at + 8]! & 0x7f) << 7) | (bytes[at + 9]! & 0x7f)
  const footer = bytes[at + 5]! & 0x10 ? 10 : 0
  return 10 + size + footer
}

/** Trailing tags that may follow the last frame. */
const TRAILERS = ["TAG", "APETAGEX", "LYRICSBEGIN"]

/**
 * Walks the frames from `first` to the end: throws when the last frame is cut short, or when a
 * Xing/Info frame counts more frames than there are. Returns warnings for damaged stretches skipped.
 */
export const checkMpegFrames = (bytes: Uint8Array, first: number): string[] => {
  const warnings: string[] = []
  const declared = xingFrames(bytes, first)
  let at = first
  let frames = 0
  let skipped = 0
  while (at + 4 <= bytes.length) {
    const frame = mpegFrame(bytes, at)
    if (frame === undefined) {
      const rest = new TextDecoder("latin1").decode(bytes.subarray(at, at + 11))
      if (TRAILERS.some((t) => rest.startsWith(t))) break
      const next = resync(bytes, at + 1)
      if (next === undefined) break
      skipped += next - at
      at = next
      continue
    }
    if (at + frame.length > bytes.length) {
      throw new AudioProblem("truncated", `its last frame needs ${bytesText(frame.length)} bytes but the file ends ${bytesText(bytes.length - at)} bytes into it`)
    }
    at += frame.length
    frames++
  }
  if (declared !== undefined && frames - 1 < declared) {
    throw new AudioProblem("truncated", `its Xing header counts ${bytesText(declared)} frames but only ${bytesText(frames - 1)} are there`)
  }
  if (skipped > 0) warnings.push(`${bytesText(skipped)} bytes between its frames were not MPEG audio and were skipped`)
  return warnings
}

const resync = (bytes: Uint8Array, from: number): number | undefined => {
  for (let at = from; at + 4 <= bytes.length; at++) if (isMpegStream(bytes, at) !== undefined) return at
  return undefined
}

/** The frame count in a Xing/Info frame at `at` (LAME writes one first), when it has one. */
const xingFrames = (bytes: Uint8Array, at: number): number | undefined => {
  const frame = mpegFrame(bytes, at)
  if (frame === undefined || frame.layer !== 3) return undefined
  const sideInfo = frame.mpeg1 ? (frame.mono ? 17 : 32) : frame.mono ? 9 : 17
  const tag = at + 4 + (frame.crc ? 2 : 0) + sideInfo
  const id = fourCC(bytes, tag)
  if ((id !== "Xing" && id !== "Info") || tag + 12 > bytes.length) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return view.getUint32(tag + 4) & 1 ? view.getUint32(tag + 8) : undefined
}
