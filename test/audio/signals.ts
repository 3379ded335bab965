/**
 * Test signals and fixture files for the audio tests (and the ingest bench): generated here, never
 * committed. WAV in every variant comes from `wavVariant`; FLAC, Ogg Vorbis and MP3 from Debian's
 * `flac`, `oggenc` and `lame`, when they are installed (`hasTool` says; tests skip without them).
 */
import { seededRandom } from "../../audio/synth.ts"
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** WAV sample encodings. */
export type WavSampleFormat = "int8" | "int16" | "int24" | "int32" | "float32" | "float64"

/** WAV writing options: WAVE_FORMAT_EXTENSIBLE (with a speaker mask), and a data size that lies. */
export interface WavOptions {
  readonly extensible?: boolean
  readonly channelMask?: number
  /** Written as the data chunk's size instead of the true one. */
  readonly claimedDataBytes?: number
  /** Chunks placed between fmt and data (a LIST of odd length, say), as id and body. */
  readonly extraChunks?: ReadonlyArray<readonly [string, Uint8Array]>
}

const WIDTH: Readonly<Record<WavSampleFormat, number>> = { int8: 1, int16: 2, int24: 3, int32: 4, float32: 4, float64: 8 }

/** Encodes planar channels as a WAV file; integers are round(x · 2^(bits−1)), clamped. */
export const wavVariant = (channels: ReadonlyArray<Float32Array>, sampleRate: number, format: WavSampleFormat, options: WavOptions = {}): Uint8Array => {
  const frames = channels[0]?.length ?? 0
  const count = channels.length
  const width = WIDTH[format]
  const isFloat = format.startsWith("float")
  const extensible = options.extensible ?? false
  const fmtSize = extensible ? 40 : 16
  const dataBytes = frames * count * width
  const extras = (options.extraChunks ?? []).map(([id, body]) => chunk(id, body))
  const fmt = new Uint8Array(fmtSize)
  const f = new DataView(fmt.buffer)
  f.setUint16(0, extensible ? 0xfffe : isFloat ? 3 : 1, true)
  f.setUint16(2, count, true)
  f.setUint32(4, sampleRate, true)
  f.setUint32(8, sampleRate * count * width, true)
  f.setUint16(12, count * width, true)
  f.setUint16(14, width * 8, true)
  if (extensible) {
    f.setUint16(16, 22, true)
    f.setUint16(18, width * 8, true)
    f.setUint32(20, options.channelMask ?? 0, true)
    fmt.set([isFloat ? 3 : 1, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71], 24)
  }
  const data = new Uint8Array(dataBytes)
  const d = new DataView(data.buffer)
  const top = 2 ** (width * 8 - 1)
  const int = (x: number) => Math.max(-top, Math.min(top - 1, Math.round(x * top)))
  for (let i = 0, at = 0; i < frames; i++) {
    for (let c = 0; c < count; c++, at += width) {
      const x = channels[c]![i]!
      if (format === "float32") d.setFloat32(at, x, true)
      else if (format === "float64") d.setFloat64(at, x, true)
      else if (format === "int8") d.setUint8(at, int(x) + 128)
      else if (format === "int16") d.setInt16(at, int(x), true)
      else if (format === "int24") { const v = int(x); d.setUint16(at, v & 0xffff, true); d.setInt8(at + 2, v >> 16) }
      else d.setInt32(at, int(x), true)
    }
  }
  const body = concat([ascii("WAVE"), chunk("fmt ", fmt), ...extras, chunkHeader("data", options.claimedDataBytes ?? dataBytes), data])
  return concat([chunkHeader("RIFF", body.length), body])
}

/** Random integer samples on the k / 2^(bits−1) grid of a `bits`-bit format, so every variant can be exact. */
export const gridNoise = (channels: number, frames: number, bits: number, seed = 1): Float32Array[] => {
  const random = seeded(seed)
  const top = 2 ** (bits - 1)
  return Array.from({ length: channels }, () => Float32Array.from({ length: frames }, () => Math.floor(random() * 2 * top - top) / top))
}

/** A sine of `frequency` Hz and amplitude `amplitude`, `frames` long. */
export const tone = (frequency: number, sampleRate: number, frames: number, amplitude = 0.5): Float32Array =>
  Float32Array.from({ length: frames }, (_, i) => amplitude * Math.sin((2 * Math.PI * frequency * i) / sampleRate))

/**
 * Stereo music-like audio: chords of harmonic notes with decaying envelopes on a beat, a bass line
 * and noise hats, panned apart, peaking near −6 dBFS. Deterministic from `seed`.
 */
export const musicLike = (seconds: number, sampleRate: number, seed = 7): [Float32Array, Float32Array] => {
  const random = seeded(seed)
  const frames = Math.round(seconds * sampleRate)
  const left = new Float32Array(frames)
  const right = new Float32Array(frames)
  const beat = Math.round(sampleRate * 0.25)
  const scale = [0, 2, 4, 5, 7, 9, 11]
  for (let start = 0, n = 0; start < frames; start += beat, n++) {
    const root = 48 + scale[Math.floor(random() * scale.length)]!
    const notes = n % 4 === 0 ? [root, root + 4, root + 7, root - 12] : [root + 12 + scale[Math.floor(random() * 7)]!]
    const length = Math.min(frames - start, beat * 4)
    for (const [k, midi] of notes.entries()) {
      const hz = 440 * 2 ** ((midi - 69) / 12)
      const pan = k % 2 === 0 ? 0.7 : 0.3
      const gain = 0.08
      for (let i = 0; i < length; i++) {
        const t = i / sampleRate
        const env = Math.exp(-3 * t) * Math.min(1, i / 64)
        const phase = 2 * Math.PI * hz * t
        const x = gain * env * (Math.sin(phase) + 0.5 * Math.sin(2 * phase) + 0.25 * Math.sin(3 * phase) + 0.12 * Math.sin(5 * phase))
        left[start + i]! += pan * x
        right[start + i]! += (1 - pan) * x
      }
    }
    const hat = Math.min(frames - start, Math.round(sampleRate * 0.03))
    for (let i = 0; i < hat; i++) {
      const x = 0.05 * (random() * 2 - 1) * Math.exp(-i / (sampleRate * 0.008))
      left[start + i]! += x
      right[start + i]! += 0.8 * x
    }
  }
  return [left, right]
}

/** Whether a command-line tool is on PATH. */
export const hasTool = (command: string): boolean => spawnSync("sh", ["-c", `command -v ${command}`]).status === 0

/** The encoders, by output codec, and their default options. */
export const ENCODERS = {
  flac: { tool: "flac", ext: "flac", options: ["-s", "-f", "--channel-map=none"] },
  vorbis: { tool: "oggenc", ext: "ogg", options: ["-Q", "-q", "6"] },
  mp3: { tool: "lame", ext: "mp3", options: ["--quiet", "-b", "192"] },
} as const

/** Encodes WAV bytes to FLAC, Ogg Vorbis or MP3 with the Debian tool (`options` replace the defaults); throws when it fails. */
export const encodeWith = (codec: keyof typeof ENCODERS, wav: Uint8Array, options?: ReadonlyArray<string>): Uint8Array => {
  const { tool, ext } = ENCODERS[codec]
  const dir = mkdtempSync(join(tmpdir(), "jukeflow-audio-"))
  try {
    writeFileSync(join(dir, "in.wav"), wav)
    const out = `out.${ext}`
    const output = codec === "mp3" ? [out] : ["-o", out]
    const run = spawnSync(tool, [...(options ?? ENCODERS[codec].options), "in.wav", ...output], { cwd: dir, encoding: "utf8" })
    if (run.status !== 0) throw new Error(`${tool} failed (${run.status}): ${run.stderr}`)
    return new Uint8Array(readFileSync(join(dir, out)))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Amplitude of the `frequency` component of y[from..to), and the RMS of what is left after removing it (least squares). */
export const fitSine = (y: Float32Array, frequency: number, sampleRate: number, from = 0, to = y.length) => {
  let ss = 0, cc = 0, sc = 0, ys = 0, yc = 0
  for (let i = from; i < to; i++) {
    const w = (2 * Math.PI * frequency * i) / sampleRate
    const s = Math.sin(w), c = Math.cos(w)
    ss += s * s; cc += c * c; sc += s * c; ys += y[i]! * s; yc += y[i]! * c
  }
  const det = ss * cc - sc * sc
  const a = (ys * cc - yc * sc) / det
  const b = (yc * ss - ys * sc) / det
  let residual = 0
  for (let i = from; i < to; i++) {
    const w = (2 * Math.PI * frequency * i) / sampleRate
    const e = y[i]! - a * Math.sin(w) - b * Math.cos(w)
    residual += e * e
  }
  return { amplitude: Math.hypot(a, b), residualRms: Math.sqrt(residual / (to - from)) }
}

/** RMS of x[from..to). */
export const rms = (x: Float32Array, from = 0, to = x.length): number => {
  let s = 0
  for (let i = from; i < to; i++) s += x[i]! * x[i]!
  return Math.sqrt(s / (to - from))
}

/** A ratio in dB. */
export const db = (ratio: number): number => 20 * Math.log10(ratio)

/** A seeded generator of numbers in [0, 1) (mulberry32), as the demo corpus uses. */
export const seeded = seededRandom

const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0))

const chunkHeader = (id: string, size: number) => {
  const out = new Uint8Array(8)
  out.set(ascii(id))
  new DataView(out.buffer).setUint32(4, size, true)
  return out
}

const chunk = (id: string, body: Uint8Array) => concat([chunkHeader(id, body.length), body, new Uint8Array(body.length & 1)])

const concat = (parts: ReadonlyArray<Uint8Array>) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}
