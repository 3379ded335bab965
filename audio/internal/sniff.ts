/**
 * Which codec a file holds, from its bytes (never its name), and a readable guess at what it is
 * when it is none that jukeflow decodes.
 */
import { id3Length, isMpegStream } from "./mpeg.ts"
import { firstOggPacket } from "./ogg.ts"
import { fourCC } from "./problem.ts"

/** The codecs jukeflow decodes. */
export type AudioCodec = "wav" | "flac" | "vorbis" | "mp3"

/** How people name each codec. */
export const CODEC_NAMES: Readonly<Record<AudioCodec, string>> = { wav: "WAV", flac: "FLAC", vorbis: "Ogg Vorbis", mp3: "MP3" }

/** A decodable codec and the byte its stream starts at (past an ID3 tag), or what the bytes look like. */
export type Sniffed =
  | { readonly codec: AudioCodec; readonly start: number }
  | { readonly codec: undefined; readonly looksLike: string }

/** Identifies the codec of a non-empty file from its leading bytes. */
export const sniff = (bytes: Uint8Array): Sniffed => {
  const tag = id3Length(bytes, 0)
  const head = fourCC(bytes, tag)
  if (head === "fLaC") return { codec: "flac", start: tag }
  if (tag === 0) {
    const form = fourCC(bytes, 8)
    if (head === "RIFF") return form === "WAVE" || bytes.length < 12 ? { codec: "wav", start: 0 } : { codec: undefined, looksLike: `a RIFF ${form.trim() || "file"}` }
    if (head === "OggS") return oggCodec(bytes)
    const other = OTHER_FORMATS.find(([matches]) => matches(bytes))
    if (other !== undefined) return { codec: undefined, looksLike: other[1] }
  }
  const mpeg = firstMpegFrame(bytes, tag)
  if (mpeg !== undefined) return mpeg.layer === 3 ? { codec: "mp3", start: mpeg.at } : { codec: undefined, looksLike: `MPEG Layer ${"I".repeat(mpeg.layer)} audio` }
  if (bytes[tag] === 0xff && ((bytes[tag + 1] ?? 0) & 0xf6) === 0xf0) return { codec: undefined, looksLike: "AAC (ADTS)" }
  if (tag > 0) return { codec: undefined, looksLike: "an ID3 tag followed by no audio jukeflow knows" }
  return { codec: undefined, looksLike: looksLikeText(bytes) ? "text" : "unrecognised bytes" }
}

/** The codec a file's extension names, for reporting a mislabelled file (undefined: no opinion). */
export const codecOfExtension = (name: string): string | undefined => {
  const dot = name.lastIndexOf(".")
  return dot < 0 || dot < name.lastIndexOf("/") ? undefined : EXTENSIONS[name.slice(dot + 1).toLowerCase()]
}

const EXTENSIONS: Readonly<Record<string, string>> = {
  wav: "WAV", wave: "WAV", flac: "FLAC", ogg: "Ogg Vorbis", oga: "Ogg Vorbis", mp3: "MP3",
  aif: "AIFF", aiff: "AIFF", aifc: "AIFF", m4a: "AAC", mp4: "AAC", aac: "AAC", opus: "Opus", wma: "WMA", webm: "WebM",
}

const OTHER_FORMATS: ReadonlyArray<readonly [(bytes: Uint8Array) => boolean, string]> = [
  [(b) => fourCC(b, 0) === "FORM" && ["AIFF", "AIFC"].includes(fourCC(b, 8)), "AIFF"],
  [(b) => fourCC(b, 0) === "RIFX" || fourCC(b, 0) === "RF64", "a big-endian or 64-bit WAV (RIFX/RF64)"],
  [(b) => fourCC(b, 4) === "ftyp", "an MP4/M4A file"],
  [(b) => fourCC(b, 0) === "caff", "a Core Audio (CAF) file"],
  [(b) => fourCC(b, 0) === "\x1aE\xdf\xa3", "a Matroska/WebM file"],
  [(b) => fourCC(b, 0) === "0&\xb2u", "a WMA/ASF file"],
  [(b) => fourCC(b, 0) === "wvpk", "WavPack"],
  [(b) => fourCC(b, 0) === ".snd", "a Sun/NeXT AU file"],
  [(b) => fourCC(b, 0) === "MThd", "a MIDI file"],
]

const OGG_CODECS: ReadonlyArray<readonly [string, string]> = [
  ["OpusHead", "Ogg Opus"], ["\x7fFLAC", "Ogg FLAC"], ["Speex   ", "Ogg Speex"], ["\x80theora", "Ogg Theora video"],
]

const oggCodec = (bytes: Uint8Array): Sniffed => {
  const packet = firstOggPacket(bytes)
  if (packet === undefined) return { codec: "vorbis", start: 0 } // a cut first page: let the page walk say so
  const text = new TextDecoder("latin1").decode(packet.subarray(0, 8))
  if (text.startsWith("\x01vorbis")) return { codec: "vorbis", start: 0 }
  return { codec: undefined, looksLike: OGG_CODECS.find(([magic]) => text.startsWith(magic))?.[1] ?? "an Ogg file of an unknown codec" }
}

/** The first MPEG audio frame at `from` or, after an ID3 tag's padding, within 64 KiB of it. */
const firstMpegFrame = (bytes: Uint8Array, from: number) => {
  const limit = from === 0 ? 1 : Math.min(bytes.length, from + 65536)
  for (let at = from; at < limit; at++) {
    const frame = isMpegStream(bytes, at)
    if (frame !== undefined) return { layer: frame.layer, at }
  }
  return undefined
}

const looksLikeText = (bytes: Uint8Array): boolean => {
  const sample = bytes.subarray(0, 1024)
  if (sample.some((b) => b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d)) return false
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(sample, { stream: true })
    return true
  } catch {
    return false
  }
}
