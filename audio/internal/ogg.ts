/**
 * Ogg pages: each has a length and a CRC, and a stream's last page carries the end-of-stream flag,
 * so walking them finds a file cut short or damaged.
 */
import { AudioProblem, bytesText, fourCC } from "./problem.ts"

/** The first packet's bytes of the first page (which names the codec), if the page is complete. */
export const firstOggPacket = (bytes: Uint8Array): Uint8Array | undefined => {
  if (bytes.length < 27) return undefined
  const segments = bytes[26]!
  const start = 27 + segments
  if (start > bytes.length) return undefined
  let length = 0
  for (let s = 0; s < segments; s++) {
    length += bytes[27 + s]!
    if (bytes[27 + s]! < 255) break
  }
  return bytes.subarray(start, Math.min(bytes.length, start + length))
}

/** Walks every page: throws when one is cut short, fails its CRC, or the stream never ends. */
export const checkOggPages = (bytes: Uint8Array): void => {
  let at = 0
  let lastFlags = 0
  while (at < bytes.length) {
    if (at + 27 > bytes.length) throw new AudioProblem("truncated", `it ends ${bytesText(bytes.length - at)} bytes into the header of a page at byte ${bytesText(at)}`)
    if (fourCC(bytes, at) !== "OggS") throw new AudioProblem("malformed", `there is no Ogg page where one should start, at byte ${bytesText(at)}`)
    const segments = bytes[at + 26]!
    let body = 0
    for (let s = 0; s < segments && at + 27 + s < bytes.length; s++) body += bytes[at + 27 + s]!
    const length = 27 + segments + body
    if (at + length > bytes.length) {
      throw new AudioProblem("truncated", `its page at byte ${bytesText(at)} claims ${bytesText(length)} bytes but only ${bytesText(bytes.length - at)} remain`)
    }
    if (pageCrc(bytes, at, length) !== new DataView(bytes.buffer, bytes.byteOffset + at + 22, 4).getUint32(0, true)) {
      throw new AudioProblem("malformed", `its page at byte ${bytesText(at)} fails its checksum`)
    }
    lastFlags = bytes[at + 5]!
    at += length
  }
  if ((lastFlags & 0x04) === 0) throw new AudioProblem("truncated", "its last page does not end the stream, so pages are missing")
}

/** Ogg's CRC-32 (polynomial 0x04C11DB7, not reflected) over a page with its CRC field as zeros. */
const pageCrc = (bytes: Uint8Array, at: number, length: number): number => {
  let crc = 0
  for (let i = 0; i < length; i++) {
    const byte = i >= 22 && i < 26 ? 0 : bytes[at + i]!
    crc = (crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ byte) & 0xff]!
  }
  return crc >>> 0
}

const CRC_TABLE = (() => {
  const table = new Int32Array(256)
  for (let i = 0; i < 256; i++) {
    let r = i << 24
    for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1
    table[i] = r
  }
  return table
})()
