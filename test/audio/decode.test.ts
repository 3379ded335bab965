import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { decodeAudio, readAudioFile } from "../../audio/decode.ts"
import { db, encodeWith, ENCODERS, fitSine, gridNoise, hasTool, musicLike, rms, tone, wavVariant, type WavSampleFormat } from "./signals.ts"

const RATE = 44_100
const TMP = mkdtempSync(join(tmpdir(), "jukeflow-audio-"))
afterAll(() => rmSync(TMP, { recursive: true, force: true }))

/** Which encoders are here; each missing one skips its tests, and says so once. */
const HAS = Object.fromEntries(Object.entries(ENCODERS).map(([codec, { tool }]) => {
  const found = hasTool(tool)
  if (!found) console.warn(`${tool} is not installed: its ${codec} decode tests are skipped (apt-get install flac vorbis-tools lame)`)
  return [codec, found]
})) as Record<keyof typeof ENCODERS, boolean>

const BITS: Readonly<Record<WavSampleFormat, number>> = { int8: 8, int16: 16, int24: 24, int32: 32, float32: 24, float64: 24 }

describe("decodeAudio: WAV", () => {
  for (const format of Object.keys(BITS) as WavSampleFormat[]) {
    for (const extensible of [false, true]) {
      it(`decodes ${format}${extensible ? " (WAVE_FORMAT_EXTENSIBLE)" : ""} exactly`, async () => {
        const source = gridNoise(2, 2000, BITS[format])
        const decoded = await decodeAudio(wavVariant(source, RATE, format, { extensible, channelMask: extensible ? 0x3 : 0 }), "grid.wav")
        expect(decoded.sampleRate).toBe(RATE)
        expect(decoded.codec).toBe("wav")
        expect(decoded.channels).toEqual(source)
        expect(decoded.warnings).toEqual([])
      })
    }
  }

  it("keeps mono as one channel and reads the rate from the header", async () => {
    const source = gridNoise(1, 500, 16)
    const decoded = await decodeAudio(wavVariant(source, 22_050, "int16"), "mono.wav")
    expect(decoded.sampleRate).toBe(22_050)
    expect(decoded.channels).toEqual(source)
  })

  it("skips other chunks, odd-sized ones included (they are padded to even lengths)", async () => {
    const source = gridNoise(2, 300, 16)
    const bytes = wavVariant(source, RATE, "int16", { extraChunks: [["LIST", new Uint8Array(7)], ["junk", new Uint8Array(3)]] })
    expect((await decodeAudio(bytes, "chunks.wav")).channels).toEqual(source)
  })

  it("reads to the end, with a warning, when the data size is a streaming placeholder", async () => {
    const source = gridNoise(2, 300, 16)
    const decoded = await decodeAudio(wavVariant(source, RATE, "int16", { claimedDataBytes: 0xffffffff }), "piped.wav")
    expect(decoded.channels).toEqual(source)
    expect(decoded.warnings).toEqual([expect.stringMatching(/^piped\.wav: its data chunk gives no length/)])
  })

  it("reads a file from disk (readAudioFile)", async () => {
    const source = gridNoise(2, 300, 24)
    const path = join(TMP, "s001.wav")
    writeFileSync(path, wavVariant(source, 48_000, "int24", { extensible: true, channelMask: 0x3 }))
    const decoded = await readAudioFile(path)
    expect(decoded.sampleRate).toBe(48_000)
    expect(decoded.channels).toEqual(source)
  })

  it("ignores the extension when it names nothing it knows", async () => {
    const decoded = await decodeAudio(wavVariant(gridNoise(1, 10, 16), RATE, "int16"), "take-3.bin")
    expect(decoded.codec).toBe("wav")
    expect(decoded.warnings).toEqual([])
  })
})

describe.skipIf(!HAS.flac)("decodeAudio: FLAC (needs Debian's flac)", () => {
  for (const bits of [8, 16, 24] as const) {
    it(`decodes ${bits}-bit FLAC exactly as the WAV it was made from`, async () => {
      const source = gridNoise(2, 5000, bits)
      const wav = wavVariant(source, RATE, `int${bits}`, { extensible: bits > 16, channelMask: 0x3 })
      const decoded = await decodeAudio(encodeWith("flac", wav), "grid.flac")
      expect(decoded.codec).toBe("flac")
      expect(decoded.sampleRate).toBe(RATE)
      expect(decoded.channels).toEqual(source)
    })
  }
})

/** Two tones (440 Hz left, 1 kHz right) and music, through a lossy codec and back. */
const lossyRoundTrip = (codec: "vorbis" | "mp3") => async () => {
  const frames = 2 * RATE
  const tones = [tone(440, RATE, frames, 0.4), tone(1000, RATE, frames, 0.4)]
  const decoded = await decodeAudio(encodeWith(codec, wavVariant(tones, RATE, "int16")), `tones.${ENCODERS[codec].ext}`)
  expect(decoded.codec).toBe(codec)
  expect(decoded.sampleRate).toBe(RATE)
  expect(decoded.channels[0]!.length).toBe(frames) // both decoders are gapless
  const [left, right] = decoded.channels
  expect(Math.abs(db(fitSine(left!, 440, RATE).amplitude / 0.4))).toBeLessThan(0.5)
  expect(Math.abs(db(fitSine(right!, 1000, RATE).amplitude / 0.4))).toBeLessThan(0.5)
  expect(fitSine(left!, 1000, RATE).amplitude).toBeLessThan(0.004) // the channels stay apart

  const music = musicLike(2, RATE)
  const back = (await decodeAudio(encodeWith(codec, wavVariant(music, RATE, "int16")), `music.${ENCODERS[codec].ext}`)).channels
  for (const c of [0, 1]) {
    expect(Math.abs(db(rms(back[c]!) / rms(music[c]!)))).toBeLessThan(0.5)
    const error = back[c]!.map((v, i) => v - music[c]![i]!)
    expect(db(rms(error) / rms(music[c]!))).toBeLessThan(-15) // time-aligned, not just similar
  }
}

describe.skipIf(!HAS.vorbis)("decodeAudio: Ogg Vorbis (needs Debian's vorbis-tools)", () => {
  it("decodes within the codec's tolerance, sample-aligned", lossyRoundTrip("vorbis"))
})

describe.skipIf(!HAS.mp3)("decodeAudio: MP3 (needs Debian's lame)", () => {
  it("decodes within the codec's tolerance, sample-aligned", lossyRoundTrip("mp3"))

  it("keeps a mono MP3 mono, and reads MPEG-2 (22.05 kHz) frames", async () => {
    const mono = wavVariant([tone(440, RATE, RATE)], RATE, "int16")
    const decoded = await decodeAudio(encodeWith("mp3", mono, ["--quiet", "-b", "64", "--resample", "22.05"]), "mono.mp3")
    expect(decoded.channels.length).toBe(1)
    expect(decoded.sampleRate).toBe(22_050)
    expect(decoded.channels[0]!.length).toBe(22_050)
  })

  it("finds the frames behind an ID3v2 tag, and reads VBR files", async () => {
    const music = wavVariant(musicLike(1, RATE), RATE, "int16")
    const tagged = encodeWith("mp3", music, ["--quiet", "--add-id3v2", "--tt", "A title", "--ta", "Ada"])
    expect(new TextDecoder().decode(tagged.subarray(0, 3))).toBe("ID3")
    expect((await decodeAudio(tagged, "tagged.mp3")).channels[0]!.length).toBe(RATE)
    expect((await decodeAudio(encodeWith("mp3", music, ["--quiet", "-V", "2"]), "vbr.mp3")).channels[0]!.length).toBe(RATE)
  })
})
