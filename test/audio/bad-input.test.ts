import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { decodeAudio, isAudioDecodeError, readAudioFile } from "../../audio/decode.ts"
import { mpegFrame } from "../../audio/internal/mpeg.ts"
import { encodeWith, gridNoise, hasTool, musicLike, seeded, tone, wavVariant } from "./signals.ts"

const RATE = 44_100
const TMP = mkdtempSync(join(tmpdir(), "jukeflow-audio-"))
afterAll(() => rmSync(TMP, { recursive: true, force: true }))

/** The error a decode rejects with; fails the test when it resolves. */
const failure = async (decoding: Promise<unknown>) => {
  try {
    await decoding
  } catch (error) {
    expect(isAudioDecodeError(error), String(error)).toBe(true)
    return error as Error & { _tag: string }
  }
  throw new Error("the decode succeeded")
}

/** Each message is one sentence that names the file first. */
const expectOneSentence = (message: string, file: string) => {
  expect(message.startsWith(file), message).toBe(true)
  expect(message.endsWith("."), message).toBe(true)
  expect(/[.!?]\s+[A-Z]/.test(message), `one sentence: ${message}`).toBe(false)
}

const expectError = async (decoding: Promise<unknown>, tag: string, file: string, says: RegExp) => {
  const error = await failure(decoding)
  expect(error._tag).toBe(tag)
  expectOneSentence(error.message, file)
  expect(error.message).toMatch(says)
  return error
}

const music = () => wavVariant(musicLike(1, RATE), RATE, "int16")
const needs = (tool: string) => !hasTool(tool)

describe("bad audio input: one sentence naming the file for each case", () => {
  it("missing file", async () => {
    const path = join(TMP, "no-such-folder", "s001.flac")
    await expectError(readAudioFile(path), "AudioFileMissing", path, /does not exist/)
  })

  it("a folder where a file should be", async () => {
    await expectError(readAudioFile(TMP), "AudioFileUnreadable", TMP, /is a folder/)
  })

  it("truncated WAV: the file ends inside its header", async () => {
    await expectError(decodeAudio(music().subarray(0, 30), "cut.wav"), "AudioTruncated", "cut.wav",
      /its fmt chunk claims 16 bytes but the file ends after 10/)
    await expectError(decodeAudio(music().subarray(0, 40), "cut.wav"), "AudioTruncated", "cut.wav", /inside a chunk header/)
  })

  it("truncated WAV: a header that claims more data than there is", async () => {
    const wav = music()
    await expectError(decodeAudio(wav.subarray(0, wav.length - 1000), "short.wav"), "AudioTruncated", "short.wav",
      /claims 176,400 bytes of samples but only 175,400 follow/)
  })

  it.skipIf(needs("flac"))("truncated FLAC: STREAMINFO promises more samples than the frames hold", async () => {
    const flac = encodeWith("flac", music())
    await expectError(decodeAudio(flac.subarray(0, flac.length >> 1), "cut.flac"), "AudioTruncated", "cut.flac",
      /promises 44,100 samples per channel but the data ends after/)
  })

  it.skipIf(needs("lame"))("truncated MP3: the last frame is cut short", async () => {
    const mp3 = encodeWith("mp3", music())
    await expectError(decodeAudio(mp3.subarray(0, (mp3.length >> 1) + 7), "cut.mp3"), "AudioTruncated", "cut.mp3", /last frame needs/)
  })

  it.skipIf(needs("lame"))("truncated MP3: cut between frames, so its Xing header counts frames that are not there", async () => {
    const mp3 = encodeWith("mp3", music())
    let at = 0
    while (at < mp3.length / 2) at += mpegFrame(mp3, at)!.length
    await expectError(decodeAudio(mp3.subarray(0, at), "short.mp3"), "AudioTruncated", "short.mp3", /Xing header counts \d+ frames but only \d+ are there/)
  })

  it.skipIf(needs("oggenc"))("truncated Ogg Vorbis: the last page is cut short", async () => {
    const ogg = encodeWith("vorbis", music())
    await expectError(decodeAudio(ogg.subarray(0, ogg.length - 100), "cut.ogg"), "AudioTruncated", "cut.ogg", /claims [\d,]+ bytes but only/)
  })

  it.skipIf(needs("oggenc"))("damaged Ogg Vorbis: a page fails its checksum", async () => {
    const ogg = encodeWith("vorbis", music())
    ogg[ogg.length >> 1]! ^= 0xff
    await expectError(decodeAudio(ogg, "flipped.ogg"), "AudioMalformed", "flipped.ogg", /fails its checksum/)
  })

  it("unsupported codec: a text file named .wav", async () => {
    await expectError(decodeAudio(new TextEncoder().encode("id,audio\ns001,s001.wav\n"), "notes.wav"), "AudioUnsupportedCodec", "notes.wav",
      /looks like text, and only WAV, FLAC, Ogg Vorbis and MP3 are read/)
  })

  it("unsupported codec: AIFF", async () => {
    const aiff = new Uint8Array(64)
    aiff.set(new TextEncoder().encode("FORM\0\0\0\x38AIFFCOMM"))
    await expectError(decodeAudio(aiff, "take.aiff"), "AudioUnsupportedCodec", "take.aiff", /looks like AIFF/)
  })

  it("unsupported codec: random bytes", async () => {
    const random = seeded(3)
    const bytes = Uint8Array.from({ length: 4096 }, () => Math.floor(random() * 256))
    await expectError(decodeAudio(bytes, "noise.mp3"), "AudioUnsupportedCodec", "noise.mp3", /unrecognised bytes/)
  })

  it("unsupported codec: a WAV of A-law samples, and Ogg Opus", async () => {
    const wav = wavVariant(gridNoise(1, 100, 8), RATE, "int8")
    wav[20] = 6 // format tag 6: A-law
    await expectError(decodeAudio(wav, "phone.wav"), "AudioUnsupportedCodec", "phone.wav", /a WAV file of A-law samples/)
    const opus = new Uint8Array(64)
    opus.set(new TextEncoder().encode("OggS\0\x02"))
    opus.set([1, 19], 26)
    opus.set(new TextEncoder().encode("OpusHead"), 28)
    await expectError(decodeAudio(opus, "voice.ogg"), "AudioUnsupportedCodec", "voice.ogg", /looks like Ogg Opus/)
  })

  it("mislabelled extension: a WAV named .flac decodes, with a warning", async () => {
    const source = gridNoise(2, 100, 16)
    const decoded = await decodeAudio(wavVariant(source, RATE, "int16"), "s001.flac")
    expect(decoded.channels).toEqual(source)
    expect(decoded.warnings).toEqual(["s001.flac holds WAV audio, not FLAC as its extension says; it was decoded as WAV."])
  })

  it.skipIf(needs("flac"))("mislabelled extension: a FLAC named .mp3 decodes, with a warning", async () => {
    const source = gridNoise(2, 1000, 16)
    const decoded = await decodeAudio(encodeWith("flac", wavVariant(source, RATE, "int16")), "s002.mp3")
    expect(decoded.codec).toBe("flac")
    expect(decoded.channels).toEqual(source)
    expect(decoded.warnings).toEqual(["s002.mp3 holds FLAC audio, not MP3 as its extension says; it was decoded as FLAC."])
  })

  it("zero-length audio: an empty file, and a WAV with no samples", async () => {
    await expectError(decodeAudio(new Uint8Array(0), "empty.wav"), "AudioEmpty", "empty.wav", /holds no audio: it is an empty file \(0 bytes\)/)
    await expectError(decodeAudio(wavVariant([new Float32Array(0)], RATE, "int16"), "silent.wav"), "AudioEmpty", "silent.wav",
      /holds no audio: it is a WAV file with no samples/)
  })

  it("NaN and infinite samples in float WAV", async () => {
    for (const format of ["float32", "float64"] as const) {
      const channels = [tone(440, RATE, RATE), tone(550, RATE, RATE)]
      channels[1]![22_050] = Number.NaN
      channels[1]![30_000] = Number.POSITIVE_INFINITY
      channels[0]![40_000] = Number.NEGATIVE_INFINITY
      const error = await expectError(decodeAudio(wavVariant(channels, RATE, format), "hot.wav"), "AudioNotFinite", "hot.wav",
        /has 3 samples that are NaN or infinite, the first in channel 2 at 0\.500 s/)
      expect(error).toMatchObject({ count: 3, channel: 1, seconds: 0.5 })
    }
  })

  it("more than two channels: 5.1 is downmixed to stereo, with a warning", async () => {
    const frames = 1000
    const [fl, fr, fc, lfe, bl, br] = [1, 2, 3, 4, 5, 6].map((k) => tone(100 * k, RATE, frames, 0.1))
    const wav = wavVariant([fl!, fr!, fc!, lfe!, bl!, br!], RATE, "float32", { extensible: true, channelMask: 0x3f })
    const decoded = await decodeAudio(wav, "surround.wav")
    expect(decoded.channels.length).toBe(2)
    expect(decoded.warnings).toEqual(["surround.wav has 6 channels (FL FR FC LFE BL BR); they were downmixed to stereo."])
    // L = g·(FL + √½·FC + √½·BL), LFE dropped, g keeping the mix from clipping.
    const g = 1 / (1 + 2 * Math.SQRT1_2)
    for (const i of [0, 17, 500, 999]) {
      expect(decoded.channels[0]![i]).toBeCloseTo(g * (fl![i]! + Math.SQRT1_2 * (fc![i]! + bl![i]!)), 6)
      expect(decoded.channels[1]![i]).toBeCloseTo(g * (fr![i]! + Math.SQRT1_2 * (fc![i]! + br![i]!)), 6)
    }
  })

  it("more than two channels with no speaker mask: the usual layout for the count", async () => {
    const decoded = await decodeAudio(wavVariant(gridNoise(4, 100, 16), RATE, "int16"), "quad.wav")
    expect(decoded.channels.length).toBe(2)
    expect(decoded.warnings).toEqual(["quad.wav has 4 channels (FL FR BL BR); they were downmixed to stereo."])
  })

  it.skipIf(needs("flac"))("more than two channels in FLAC are downmixed too", async () => {
    const wav = wavVariant(gridNoise(6, 2000, 16), RATE, "int16", { extensible: true, channelMask: 0x3f })
    const decoded = await decodeAudio(encodeWith("flac", wav), "surround.flac")
    expect(decoded.channels.length).toBe(2)
    expect(decoded.warnings).toEqual(["surround.flac has 6 channels (FL FR FC LFE BL BR); they were downmixed to stereo."])
  })

  it.skipIf(needs("lame"))("damaged MP3: junk between frames is skipped, with a warning", async () => {
    const mp3 = encodeWith("mp3", music())
    let at = 0
    for (let n = 0; n < 10; n++) at += mpegFrame(mp3, at)!.length
    const damaged = new Uint8Array(mp3.length + 100)
    damaged.set(mp3.subarray(0, at))
    damaged.set(mp3.subarray(at), at + 100)
    const decoded = await decodeAudio(damaged, "junk.mp3")
    expect(decoded.warnings).toEqual(["junk.mp3: 100 bytes between its frames were not MPEG audio and were skipped."])
  })

  it("readAudioFile names the path it was given", async () => {
    const path = join(TMP, "notes.mp3")
    writeFileSync(path, "not audio at all\n")
    await expectError(readAudioFile(path), "AudioUnsupportedCodec", path, /looks like text/)
  })
})
