/**
 * What can be wrong with an audio file. Each error is a tagged value whose `message` is one
 * sentence naming the file, ready to print or to list in a stage's report of quarantined songs.
 */
import { Schema } from "effect"

/** The file does not exist. */
export class AudioFileMissing extends Schema.TaggedError<AudioFileMissing>()("AudioFileMissing", {
  file: Schema.String,
}) {
  override get message() {
    return `${this.file} does not exist.`
  }
}

/** The file exists but could not be read (a folder, no permission, an I/O error). */
export class AudioFileUnreadable extends Schema.TaggedError<AudioFileUnreadable>()("AudioFileUnreadable", {
  file: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `${this.file} could not be read: ${this.reason}.`
  }
}

/** The data stops before its end: a file cut short, or a header that claims more data than there is. */
export class AudioTruncated extends Schema.TaggedError<AudioTruncated>()("AudioTruncated", {
  file: Schema.String,
  codec: Schema.String,
  /** What is missing, as a clause: "its header claims 1,764,000 bytes of samples but 882,000 follow". */
  reason: Schema.String,
}) {
  override get message() {
    return `${this.file} is a truncated ${this.codec} file: ${this.reason}.`
  }
}

/** Not a codec jukeflow decodes: another audio format, or not audio at all. */
export class AudioUnsupportedCodec extends Schema.TaggedError<AudioUnsupportedCodec>()("AudioUnsupportedCodec", {
  file: Schema.String,
  /** What the bytes look like: "AIFF", "Ogg Opus", "text", "unrecognised bytes". */
  detected: Schema.String,
}) {
  override get message() {
    return `${this.file} is not audio jukeflow can decode: it looks like ${this.detected}, and only WAV, FLAC, Ogg Vorbis and MP3 are read.`
  }
}

/** The file has the right signature but its structure or coded data is damaged. */
export class AudioMalformed extends Schema.TaggedError<AudioMalformed>()("AudioMalformed", {
  file: Schema.String,
  codec: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `${this.file} is a damaged ${this.codec} file: ${this.reason}.`
  }
}

/** The file decodes to no samples at all. */
export class AudioEmpty extends Schema.TaggedError<AudioEmpty>()("AudioEmpty", {
  file: Schema.String,
  /** "an empty file (0 bytes)" or "a WAV file with no samples". */
  what: Schema.String,
}) {
  override get message() {
    return `${this.file} holds no audio: it is ${this.what}.`
  }
}

/** Some samples are NaN or ±Infinity (only float WAV can hold them). */
export class AudioNotFinite extends Schema.TaggedError<AudioNotFinite>()("AudioNotFinite", {
  file: Schema.String,
  count: Schema.Number,
  channel: Schema.Number,
  seconds: Schema.Number,
}) {
  override get message() {
    const what = this.count === 1 ? "1 sample that is" : `${this.count.toLocaleString("en-US")} samples that are`
    return `${this.file} has ${what} NaN or infinite, the first in channel ${this.channel + 1} at ${this.seconds.toFixed(3)} s.`
  }
}

/** Any reason an audio file could not be decoded. */
export type AudioDecodeError =
  | AudioFileMissing
  | AudioFileUnreadable
  | AudioTruncated
  | AudioUnsupportedCodec
  | AudioMalformed
  | AudioEmpty
  | AudioNotFinite

const TAGS = new Set<string>([
  "AudioFileMissing", "AudioFileUnreadable", "AudioTruncated", "AudioUnsupportedCodec", "AudioMalformed", "AudioEmpty", "AudioNotFinite",
])

/** Whether a thrown value is one of the errors above (decodeAudio rejects with nothing else). */
export const isAudioDecodeError = (error: unknown): error is AudioDecodeError =>
  typeof error === "object" && error !== null && "_tag" in error && TAGS.has(String(error._tag))
