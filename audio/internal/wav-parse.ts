/**
 * WAV files (RIFF/WAVE): integer PCM in 8/16/24/32-bit containers, IEEE float in 32/64 bits,
 * plain or WAVE_FORMAT_EXTENSIBLE. Integers map to k / 2^(bits−1), as libsndfile and ffmpeg read
 * them, so a FLAC of the same samples decodes to the same floats.
 */
import { AudioProblem, bytesText, fourCC } from "./problem.ts"

/** What a WAV file holds. */
export interface WavContents {
  readonly sampleRate: number
  readonly channels: Float32Array[]
  /** Speaker positions (WAVE_FORMAT_EXTENSIBLE's dwChannelMask), when the file says. */
  readonly channelMask: number | undefined
  readonly warnings: string[]
}

/** Parses and decodes a WAV file; throws an AudioProblem for anything it cannot trust. */
export const parseWav = (bytes: Uint8Array): WavContents => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (bytes.length < 12) throw new AudioProblem("truncated", `it ends after ${bytes.length} bytes, inside its RIFF header`)
  const { fmt, data } = chunks(bytes, view)
  if (fmt === undefined) throw new AudioProblem("malformed", "it has no fmt chunk describing its samples")
  const format = readFormat(bytes, view, fmt.at, fmt.size)
  if (data === undefined) throw new AudioProblem("malformed", "it has no data chunk")

  const warnings: string[] = []
  const available = bytes.length - data.at
  let size = data.size
  if (size === 0xffffffff) {
    // Written by a streaming tool that never went back to fill the size in.
    size = available
    warnings.push(`its data chunk gives no length (0x${data.size.toString(16)}), so everything after the header was read as samples`)
  } else if (size > available) {
    throw new AudioProblem("truncated", `its header claims ${bytesText(size)} bytes of samples but only ${bytesText(available)} follow`)
  }
  const frames = Math.floor(size / format.blockAlign)
  if (frames * format.blockAlign !== size) warnings.push(`its data chunk ends ${size - frames * format.blockAlign} bytes into a frame; the partial frame was dropped`)

  const channels = Array.from({ length: format.channels }, () => new Float32Array(frames))
  decodeSamples(bytes, data.at, frames, format, channels)
  return { sampleRate: format.sampleRate, channels, channelMask: format.channelMask, warnings }
}

interface Chunk {
  readonly at: number
  readonly size: number
}

/** Finds the fmt and data chunks; a cut-off chunk header is truncation, a cut-off data body is judged later. */
const chunks = (bytes: Uint8Array, view: DataView) => {
  let fmt: Chunk | undefined
  let data: Chunk | undefined
  let at = 12
  while (at < bytes.length && (fmt === undefined || data === undefined)) {
    if (at + 8 > bytes.length) throw new AudioProblem("truncated", `it ends after ${bytes.length} bytes, inside a chunk header`)
    const id = fourCC(bytes, at)
    const size = view.getUint32(at + 4, true)
    const chunk = { at: at + 8, size }
    if (id === "fmt ") {
      if (at + 8 + size > bytes.length) throw new AudioProblem("truncated", `its fmt chunk claims ${size} bytes but the file ends after ${bytes.length - at - 8}`)
      fmt = chunk
    } else if (id === "data") {
      data = chunk
    }
    at += 8 + size + (size & 1) // chunks are padded to an even length
  }
  return { fmt, data }
}

interface Format {
  readonly sampleFormat: "int" | "float"
  readonly channels: number
  readonly sampleRate: number
  readonly blockAlign: number
  /** Bytes per sample in the file (the container, which may be wider than the valid bits). */
  readonly bytesPerSample: number
  readonly channelMask: number | undefined
}

const PCM = 0x0001
const IEEE_FLOAT = 0x0003
const EXTENSIBLE = 0xfffe
/** The tail every standard KSDATAFORMAT_SUBTYPE GUID shares after its 2-byte format tag. */
const GUID_TAIL = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71]
const TAG_NAMES: Readonly<Record<number, string>> = {
  0x0002: "MS ADPCM", 0x0006: "A-law", 0x0007: "µ-law", 0x0011: "IMA ADPCM", 0x0031: "GSM 6.10",
  0x0050: "MPEG", 0x0055: "MP3", 0x0160: "WMA", 0x2000: "AC-3",
}

const readFormat = (bytes: Uint8Array, view: DataView, at: number, size: number): Format => {
  if (size < 16) throw new AudioProblem("malformed", `its fmt chunk is ${size} bytes, fewer than the 16 every WAV has`)
  let tag = view.getUint16(at, true)
  const channels = view.getUint16(at + 2, true)
  const sampleRate = view.getUint32(at + 4, true)
  const blockAlign = view.getUint16(at + 12, true)
  const bits = view.getUint16(at + 14, true)
  let channelMask: number | undefined
  if (tag === EXTENSIBLE) {
    if (size < 40) throw new AudioProblem("malformed", `its WAVE_FORMAT_EXTENSIBLE fmt chunk is ${size} bytes, not 40`)
    channelMask = view.getUint32(at + 20, true) || undefined
    tag = view.getUint16(at + 24, true)
    if (!GUID_TAIL.every((b, i) => bytes[at + 26 + i] === b)) {
      throw new AudioProblem("unsupported", "a WAV file whose extensible sub-format is not a standard one")
    }
  }
  if (tag !== PCM && tag !== IEEE_FLOAT) {
    const name = TAG_NAMES[tag] ?? `format tag 0x${tag.toString(16).padStart(4, "0")}`
    throw new AudioProblem("unsupported", `a WAV file of ${name} samples`)
  }
  if (channels === 0) throw new AudioProblem("malformed", "its fmt chunk says it has 0 channels")
  if (sampleRate === 0) throw new AudioProblem("malformed", "its fmt chunk gives a sample rate of 0")
  const bytesPerSample = blockAlign / channels
  const sampleFormat = tag === PCM ? "int" : "float"
  const fits = sampleFormat === "int"
    ? [1, 2, 3, 4].includes(bytesPerSample) && bits <= bytesPerSample * 8 && bits > (bytesPerSample - 1) * 8
    : (bytesPerSample === 4 && bits === 32) || (bytesPerSample === 8 && bits === 64)
  if (!fits) {
    throw new AudioProblem("unsupported", `a WAV file of ${bits}-bit ${sampleFormat === "int" ? "integer" : "float"} samples in ${blockAlign}-byte frames of ${channels} channels`)
  }
  return { sampleFormat, channels, sampleRate, blockAlign, bytesPerSample, channelMask }
}

/** Typed arrays read the host's byte order; WAV is little-endian, as are x86 and ARM hosts. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** De-interleaves `frames` frames starting at byte `at` into planar floats, through a typed view of the samples. */
const decodeSamples = (bytes: Uint8Array, at: number, frames: number, format: Format, channels: Float32Array[]) => {
  if (!LITTLE_ENDIAN) throw new AudioProblem("unsupported", "a WAV file, which this big-endian machine cannot read")
  const count = channels.length
  const width = format.bytesPerSample
  const size = frames * format.blockAlign
  // A view needs its offset aligned to the sample width; copy the samples when it is not.
  const aligned = (bytes.byteOffset + at) % width === 0 ? bytes.subarray(at, at + size) : bytes.slice(at, at + size)
  const { buffer, byteOffset } = aligned
  const n = frames * count
  for (let c = 0; c < count; c++) {
    const out = channels[c]!
    // One loop per sample format, each simple enough for the JIT to keep tight.
    if (format.sampleFormat === "float" && width === 4) {
      const samples = new Float32Array(buffer, byteOffset, n)
      for (let i = 0, k = c; i < frames; i++, k += count) out[i] = samples[k]!
    } else if (format.sampleFormat === "float") {
      const samples = new Float64Array(buffer, byteOffset, n)
      for (let i = 0, k = c; i < frames; i++, k += count) out[i] = samples[k]!
    } else if (width === 1) {
      for (let i = 0, k = c; i < frames; i++, k += count) out[i] = (aligned[k]! - 128) * 2 ** -7 // 8-bit WAV is unsigned
    } else if (width === 2) {
      const samples = new Int16Array(buffer, byteOffset, n)
      for (let i = 0, k = c; i < frames; i++, k += count) out[i] = samples[k]! * 2 ** -15
    } else if (width === 3) {
      for (let i = 0, k = 3 * c; i < frames; i++, k += 3 * count) {
        out[i] = (aligned[k]! | (aligned[k + 1]! << 8) | ((aligned[k + 2]! << 24) >> 8)) * 2 ** -23
      }
    } else {
      const samples = new Int32Array(buffer, byteOffset, n)
      for (let i = 0, k = c; i < frames; i++, k += count) out[i] = samples[k]! * 2 ** -31
    }
  }
}
