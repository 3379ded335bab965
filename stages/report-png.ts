/**
 * A PNG encoder for the run report's images: 8-bit indexed colour (a palette of up to 256
 * colours), one filter-free scanline per row, deflated with node:zlib. Small and exact; nothing
 * more of PNG is needed to put a spectrogram in a page as a data URI.
 */
import { deflateSync } from "node:zlib"

/** An indexed-colour image: `pixels[y · width + x]` indexes `palette` (r, g, b triples), top row first. */
export interface IndexedImage {
  readonly width: number
  readonly height: number
  readonly pixels: Uint8Array
  readonly palette: Uint8Array
}

/** The image as PNG bytes. */
export const encodePng = (image: IndexedImage): Uint8Array => {
  const { width, height, pixels, palette } = image
  if (!(width > 0 && height > 0) || pixels.length !== width * height) throw new RangeError(`encodePng: ${pixels.length} pixels for ${width} × ${height}`)
  if (palette.length % 3 !== 0 || palette.length === 0 || palette.length > 768) throw new RangeError(`encodePng: a palette of ${palette.length} bytes is not 1 to 256 colours`)
  const header = new Uint8Array(13)
  const view = new DataView(header.buffer)
  view.setUint32(0, width)
  view.setUint32(4, height)
  header.set([8, 3, 0, 0, 0], 8) // bit depth 8, colour type 3 (indexed), deflate, filter method 0, no interlace
  const scanlines = new Uint8Array(height * (width + 1)) // each row: filter type 0, then its pixels
  for (let y = 0; y < height; y++) scanlines.set(pixels.subarray(y * width, (y + 1) * width), y * (width + 1) + 1)
  return concat([
    Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a),
    chunk("IHDR", header),
    chunk("PLTE", palette),
    chunk("IDAT", deflateSync(scanlines, { level: 9 })),
    chunk("IEND", new Uint8Array(0)),
  ])
}

/** PNG bytes as a `data:` URI. */
export const pngDataUri = (png: Uint8Array): string => `data:image/png;base64,${Buffer.from(png).toString("base64")}`

// ---------------------------------------------------------------------------------------------

/** One chunk: length, type, data, CRC-32 of type and data. */
const chunk = (type: string, data: Uint8Array): Uint8Array => {
  const out = new Uint8Array(12 + data.length)
  const view = new DataView(out.buffer)
  view.setUint32(0, data.length)
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i)
  out.set(data, 8)
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)))
  return out
}

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) (out.set(p, at), (at += p.length))
  return out
}

/** CRC-32 (the polynomial PNG and zlib use), table-driven. */
const crc32 = (bytes: Uint8Array): number => {
  let c = 0xffffffff
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})
