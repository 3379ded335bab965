/**
 * Audio files in: WAV (8/16/24/32-bit integer, 32/64-bit float, WAVE_FORMAT_EXTENSIBLE), FLAC,
 * Ogg Vorbis and MP3, to planar float channels, with no system tools. The codec is read from the
 * bytes, not the name. Every bad file rejects with one of the tagged errors of `audio/errors.ts`,
 * whose message is one sentence naming the file.
 *
 *   const { sampleRate, channels, warnings } = await readAudioFile("audio/s001.flac")
 */
import decoders from "audio-decode"
import { readFile } from "node:fs/promises"
import {
  type AudioDecodeError, AudioEmpty, AudioFileMissing, AudioFileUnreadable, AudioMalformed, AudioNotFinite, AudioTruncated,
  AudioUnsupportedCodec,
} from "./errors.ts"
import { flacInfo } from "./internal/flac.ts"
import { checkMpegFrames } from "./internal/mpeg.ts"
import { checkOggPages } from "./internal/ogg.ts"
import { AudioProblem, bytesText } from "./internal/problem.ts"
import { type AudioCodec, CODEC_NAMES, codecOfExtension, sniff } from "./internal/sniff.ts"
import { surroundToStereo } from "./internal/surround.ts"
import { parseWav } from "./internal/wav-parse.ts"

export * from "./errors.ts"
export type { AudioCodec } from "./internal/sniff.ts"

/** A decoded file: planar channels (one or two; more are downmixed to stereo) at its own rate. */
export interface DecodedAudio {
  readonly sampleRate: number
  /** Planar samples, all the same length, nominally in [−1, 1]. */
  readonly channels: Float32Array[]
  /** The codec found in the bytes. */
  readonly codec: AudioCodec
  /** Things a person should know that did not stop the decode, each a sentence naming the file. */
  readonly warnings: string[]
}

/** Reads and decodes the audio file at `path`; rejects with an `AudioDecodeError` naming it. */
export const readAudioFile = async (path: string): Promise<DecodedAudio> => {
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === "ENOENT" || code === "ENOTDIR") throw new AudioFileMissing({ file: path })
    throw new AudioFileUnreadable({ file: path, reason: code === "EISDIR" ? "it is a folder" : String((error as Error).message) })
  }
  return decodeAudio(bytes, path)
}

/** Decodes the bytes of an audio file called `name` (the name is for messages and the extension check). */
export const decodeAudio = async (bytes: Uint8Array, name: string): Promise<DecodedAudio> => {
  if (bytes.length === 0) throw new AudioEmpty({ file: name, what: "an empty file (0 bytes)" })
  const found = sniff(bytes)
  if (found.codec === undefined) throw new AudioUnsupportedCodec({ file: name, detected: found.looksLike })
  const codec = found.codec
  const warnings: string[] = []
  const named = codecOfExtension(name)
  if (named !== undefined && named !== CODEC_NAMES[codec]) {
    warnings.push(`${name} holds ${CODEC_NAMES[codec]} audio, not ${named} as its extension says; it was decoded as ${CODEC_NAMES[codec]}.`)
  }

  let raw: RawAudio
  try {
    raw = await DECODERS[codec](bytes, found.start)
  } catch (error) {
    throw asDecodeError(error, name, codec)
  }
  warnings.push(...raw.warnings.map((w) => `${name}: ${w}.`))

  const frames = raw.channels[0]?.length ?? 0
  if (frames === 0) throw new AudioEmpty({ file: name, what: `a ${CODEC_NAMES[codec]} file with no samples` })
  const bad = firstNonFinite(raw.channels)
  if (bad !== undefined) throw new AudioNotFinite({ file: name, count: bad.count, channel: bad.channel, seconds: bad.index / raw.sampleRate })

  let channels = raw.channels
  if (channels.length > 2) {
    const mix = surroundToStereo(channels, raw.channelMask)
    warnings.push(`${name} has ${channels.length} channels (${mix.layout}); they were downmixed to stereo.`)
    channels = mix.channels
  }
  return { sampleRate: raw.sampleRate, channels, codec, warnings }
}

// ---------------------------------------------------------------------------------------------

/** What each codec's decoder gives back before the common checks. */
interface RawAudio {
  readonly sampleRate: number
  readonly channels: Float32Array[]
  readonly channelMask?: number | undefined
  /** Clauses about the file ("its data chunk …"), made into sentences by `decodeAudio`. */
  readonly warnings: ReadonlyArray<string>
}

const DECODERS: Readonly<Record<AudioCodec, (bytes: Uint8Array, start: number) => Promise<RawAudio>>> = {
  wav: async (bytes) => parseWav(bytes),

  flac: async (bytes, start) => {
    const stream = bytes.subarray(start)
    const info = flacInfo(stream, 0)
    const decoded = await runDecoder(decoders.flac, stream)
    const frames = decoded.channels[0]?.length ?? 0
    if (info.totalSamples > 0 && frames < info.totalSamples) {
      throw new AudioProblem("truncated", `its header promises ${bytesText(info.totalSamples)} samples per channel but the data ends after ${bytesText(frames)}`)
    }
    decoded.channels.forEach((channel) => toWavScale(channel, info.bitsPerSample))
    return { ...decoded, warnings: [] }
  },

  vorbis: async (bytes) => {
    checkOggPages(bytes)
    return { ...(await runDecoder(decoders.oga, bytes)), warnings: [] }
  },

  mp3: async (bytes, start) => {
    const warnings = checkMpegFrames(bytes, start)
    return { ...(await runDecoder(decoders.mp3, bytes)), warnings }
  },
}

/** Feeds a whole file to one of audio-decode's stream decoders and joins what it gives back. */
const runDecoder = async (make: typeof decoders.flac, bytes: Uint8Array) => {
  const decoder = await make()
  const parts = [await decoder(bytes), await decoder()]
  const sampleRate = parts.find((p) => p.sampleRate > 0)?.sampleRate ?? 0
  const count = Math.max(...parts.map((p) => p.channelData.length))
  const channels = Array.from({ length: count }, (_, c) => {
    const pieces = parts.map((p) => p.channelData[c] ?? new Float32Array(0))
    if (pieces[1]!.length === 0) return pieces[0]!
    const joined = new Float32Array(pieces[0]!.length + pieces[1]!.length)
    joined.set(pieces[0]!)
    joined.set(pieces[1]!, pieces[0]!.length)
    return joined
  })
  return { sampleRate, channels }
}

/**
 * audio-decode's FLAC decoder scales integers by 1 / (2^(bits−1) − 1); this puts them on the
 * k / 2^(bits−1) scale of WAV, exactly up to 24 bits (the integer k is recovered by rounding).
 */
const toWavScale = (channel: Float32Array, bits: number) => {
  const top = 2 ** (bits - 1)
  const scale = top - 1
  if (bits > 24) {
    for (let i = 0; i < channel.length; i++) channel[i] = (channel[i]! * scale) / top
    return
  }
  // Adding and taking away 1.5·2^52 rounds a double to the nearest integer, 5× faster than Math.round.
  const ROUND = 1.5 * 2 ** 52
  for (let i = 0; i < channel.length; i++) channel[i] = (channel[i]! * scale + ROUND - ROUND) / top
}

/** The first NaN or infinite sample and how many there are, if any. */
const firstNonFinite = (channels: ReadonlyArray<Float32Array>) => {
  let first: { channel: number; index: number } | undefined
  let count = 0
  channels.forEach((samples, channel) => {
    for (let i = 0; i < samples.length; i++) {
      const x = samples[i]!
      if (x - x !== 0) {
        count++
        if (first === undefined || i < first.index) first = { channel, index: i }
      }
    }
  })
  return first === undefined ? undefined : { ...first, count }
}

const asDecodeError = (error: unknown, file: string, codec: AudioCodec): AudioDecodeError => {
  const name = CODEC_NAMES[codec]
  if (!(error instanceof AudioProblem)) {
    const reason = error instanceof Error ? error.message : String(error)
    return new AudioMalformed({ file, codec: name, reason: `the decoder failed with "${reason}"` })
  }
  switch (error.kind) {
    case "truncated": return new AudioTruncated({ file, codec: name, reason: error.reason })
    case "malformed": return new AudioMalformed({ file, codec: name, reason: error.reason })
    case "unsupported": return new AudioUnsupportedCodec({ file, detected: error.reason })
  }
}
