import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { generateDemoCorpus, nusAlignment, planDemoCorpus, type DemoCorpusParams } from "../../audio/demo-corpus.ts"
import { parseLine, syllabify } from "../../audio/demo-lyrics.ts"
import { GENRES } from "../../audio/demo-styles.ts"
import { writeDemoCorpus } from "../../stages/demo-corpus.ts"

const DEFAULTS: DemoCorpusParams = { songs: 24, seconds: 20, sampleRate: 22050, seed: 7 }
const SMALL: DemoCorpusParams = { songs: 4, seconds: 16, sampleRate: 22050, seed: 7 }

/** The corpus as a map from relative path to bytes. */
const generate = (params: DemoCorpusParams) => new Map([...generateDemoCorpus(params)].map((file) => [file.path, file.bytes]))
const small = generate(SMALL)
const text = (files: Map<string, Uint8Array>, path: string) => new TextDecoder().decode(files.get(path))

/** NUS AutoLyricsAlign's preprocessing, written from its description: lower-case, strip `,.!?"` and
 * newlines, drop words containing parentheses, `-` becomes a space, upper-case. */
const nus = (lyrics: string) =>
  lyrics.toLowerCase().replace(/[,.!?"]/g, "").replace(/\n/g, " ").split(" ")
    .filter((word) => !word.includes("(") && !word.includes(")"))
    .join(" ").replace(/-/g, " ").toUpperCase().split(" ").filter((word) => word !== "")

/** A 16-bit PCM WAV as `encodeWav` writes it: rate, channel count, planar samples in [-1, 1). */
const readWav = (bytes: Uint8Array) => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const ascii = (at: number) => String.fromCharCode(...bytes.subarray(at, at + 4))
  expect([ascii(0), ascii(8), ascii(12), ascii(36)]).toEqual(["RIFF", "WAVE", "fmt ", "data"])
  expect(view.getUint16(20, true)).toBe(1) // PCM
  expect(view.getUint16(34, true)).toBe(16)
  const channels = view.getUint16(22, true)
  const frames = view.getUint32(40, true) / (2 * channels)
  const data = Array.from({ length: channels }, (_, c) =>
    Float32Array.from({ length: frames }, (_, i) => view.getInt16(44 + 2 * (i * channels + c), true) / 32768))
  return { sampleRate: view.getUint32(24, true), channels, frames, data }
}

/** `START END WORD` lines of a NUS alignment file. */
const readAlignment = (alignment: string) =>
  alignment.trimEnd().split("\n").map((line) => {
    expect(line).toMatch(/^\d+\.\d\d \d+\.\d\d [A-Z']+$/)
    const [start, end, word] = line.split(" ")
    return { start: Number(start), end: Number(end), word: word! }
  })

const rms = (x: Float32Array, spans: ReadonlyArray<readonly [number, number]>, sampleRate: number) => {
  let sum = 0, n = 0
  for (const [from, to] of spans) {
    for (let i = Math.max(0, Math.round(from * sampleRate)); i < Math.min(x.length, Math.round(to * sampleRate)); i++, n++) sum += x[i]! * x[i]!
  }
  return Math.sqrt(sum / Math.max(1, n))
}

const manifest = (files: Map<string, Uint8Array>) => text(files, "manifest.jsonl").trimEnd().split("\n").map((line) => JSON.parse(line))

describe("demo corpus", () => {
  it("is deterministic: the same seed gives the same bytes, another seed other songs", () => {
    const params = { songs: 2, seconds: 5, sampleRate: 16000, seed: 11 }
    const a = generate(params), b = generate(params), c = generate({ ...params, seed: 12 })
    expect([...a.keys()]).toEqual([...b.keys()])
    for (const [path, bytes] of a) expect(Buffer.from(b.get(path)!).equals(Buffer.from(bytes)), path).toBe(true)
    expect(Buffer.from(c.get("audio/s001.wav")!).equals(Buffer.from(a.get("audio/s001.wav")!))).toBe(false)
    expect(text(c, "lyrics/s001.txt") + text(c, "lyrics/s002.txt")).not.toBe(text(a, "lyrics/s001.txt") + text(a, "lyrics/s002.txt"))
  })

  it("writes a JSONL manifest in jukeflow's dataset format whose every path is a generated file", () => {
    const entries = manifest(small)
    expect(entries.map((e) => e.id)).toEqual(["s001", "s002", "s003", "s004"])
    for (const entry of entries) {
      expect(Object.keys(entry)).toEqual(["id", "audio", "artist", "genre", "year", "lyrics", "stems", "alignment"])
      expect(entry).toMatchObject({
        audio: `audio/${entry.id}.wav`, lyrics: `lyrics/${entry.id}.txt`, stems: `separated/${entry.id}`, alignment: `align/${entry.id}.txt`,
      })
      expect(typeof entry.artist).toBe("string")
      expect(entry.genre.length).toBeGreaterThan(0)
      expect(Number.isInteger(entry.year)).toBe(true)
      for (const path of [entry.audio, entry.lyrics, entry.alignment, `${entry.stems}/vocals.wav`, `${entry.stems}/accompaniment.wav`]) {
        expect(small.has(path), path).toBe(true)
      }
    }
    expect(small.size).toBe(1 + 5 * entries.length)
  })

  it("gives the default corpus at least 4 artists and 3 genres, each artist with one set of genre labels", () => {
    const songs = planDemoCorpus(DEFAULTS)
    expect(songs).toHaveLength(24)
    expect(new Set(songs.map((s) => s.artist)).size).toBeGreaterThanOrEqual(4)
    expect(new Set(songs.flatMap((s) => s.genre)).size).toBeGreaterThanOrEqual(3)
    const byArtist = new Map(songs.map((s) => [s.artist, s.genre.join("/")]))
    for (const song of songs) expect(song.genre.join("/")).toBe(byArtist.get(song.artist))
    // Each genre's style is audibly its own: a drum kit, a metre and a tempo range.
    const kits = Object.values(GENRES).map((g) => `${g.beatsPerBar} ${g.drums.map((d) => d.drum).sort().join(",")}`)
    expect(new Set(kits).size).toBe(kits.length)
    const tempo = (genre: string) => songs.filter((s) => s.genre[0] === genre).map((s) => s.score.tempo)
    expect(Math.max(...tempo("blues"))).toBeLessThan(Math.min(...tempo("rock")))
  })

  it("writes lyrics with the punctuation NUS changes, and alignments whose words are NUS's words of the lyrics", () => {
    const songs = planDemoCorpus(DEFAULTS)
    const all = songs.map((s) => s.score.lyrics).join("\n")
    for (const mark of [",", "'", "-", "(", '"']) expect(all, mark).toContain(mark)
    for (const song of songs) {
      const words = readAlignment(nusAlignment(song.score.words))
      expect(words.map((w) => w.word)).toEqual(nus(song.score.lyrics))
    }
  })

  it("writes NUS alignment files: times increasing, inside the song, words in lyric order", () => {
    for (const entry of manifest(small)) {
      const words = readAlignment(text(small, entry.alignment))
      expect(words.length).toBeGreaterThan(0)
      expect(words.map((w) => w.word)).toEqual(nus(text(small, entry.lyrics)))
      words.forEach((w, i) => {
        expect(w.start).toBeGreaterThanOrEqual(0)
        expect(w.end).toBeGreaterThan(w.start)
        expect(w.end).toBeLessThanOrEqual(SMALL.seconds)
        if (i > 0) expect(w.start).toBeGreaterThanOrEqual(words[i - 1]!.end)
      })
    }
  })

  it("sings during the aligned words and is silent between lines; the song is not sung throughout", () => {
    let betweenLines = 0
    for (const entry of manifest(small)) {
      const vocals = readWav(small.get(`${entry.stems}/vocals.wav`)!)
      const words = readAlignment(text(small, entry.alignment))
      const inside = rms(vocals.data[0]!, words.map((w) => [w.start, w.end]), vocals.sampleRate)
      expect(inside).toBeGreaterThan(0.05)
      for (const w of words) expect(rms(vocals.data[0]!, [[w.start, w.end]], vocals.sampleRate), w.word).toBeGreaterThan(0.1 * inside)
      // Lines of the lyrics file, and the alignment words each holds; an echo in parentheses is sung after its line.
      const lines = text(small, entry.lyrics).split("\n").filter((line) => line.trim() !== "")
      const gaps: Array<[number, number]> = [[0, words[0]!.start - 0.01]]
      let at = 0
      for (const [i, line] of lines.entries()) {
        at += nus(line).length
        const next = words[at]
        if (next && !line.includes("(") && i < lines.length - 1) gaps.push([words[at - 1]!.end + 0.05, next.start - 0.01])
      }
      betweenLines += gaps.length - 1
      expect(rms(vocals.data[0]!, gaps, vocals.sampleRate)).toBeLessThan(1e-3 * inside)
      const sung = words.reduce((sum, w) => sum + w.end - w.start, 0)
      expect(sung / SMALL.seconds).toBeGreaterThan(0.15)
      expect(sung / SMALL.seconds).toBeLessThan(0.8)
    }
    expect(betweenLines).toBeGreaterThanOrEqual(manifest(small).length)
  })

  it("writes 16-bit stereo mixes and Spleeter-layout stems whose sum is the mix", () => {
    for (const entry of manifest(small)) {
      const mix = readWav(small.get(entry.audio)!)
      const vocals = readWav(small.get(`${entry.stems}/vocals.wav`)!)
      const band = readWav(small.get(`${entry.stems}/accompaniment.wav`)!)
      for (const wav of [mix, vocals, band]) {
        expect(wav).toMatchObject({ sampleRate: SMALL.sampleRate, channels: 2, frames: SMALL.seconds * SMALL.sampleRate })
      }
      let worst = 0, peak = 0
      for (let c = 0; c < 2; c++) {
        for (let i = 0; i < mix.frames; i++) {
          worst = Math.max(worst, Math.abs(mix.data[c]![i]! - vocals.data[c]![i]! - band.data[c]![i]!))
          peak = Math.max(peak, Math.abs(mix.data[c]![i]!))
        }
      }
      expect(worst).toBeLessThanOrEqual(2 / 32768)
      expect(peak).toBeLessThan(0.95)
      expect(rms(band.data[0]!, [[0, SMALL.seconds]], band.sampleRate)).toBeGreaterThan(0.05)
    }
  })

  it("writes stems at their own rate when asked, with the same timing", () => {
    const files = generate({ songs: 1, seconds: 6, sampleRate: 16000, seed: 7, stemSampleRate: 32000 })
    const mix = readWav(files.get("audio/s001.wav")!)
    const vocals = readWav(files.get("separated/s001/vocals.wav")!)
    expect(mix).toMatchObject({ sampleRate: 16000, frames: 6 * 16000 })
    expect(vocals).toMatchObject({ sampleRate: 32000, frames: 6 * 32000 })
    const words = readAlignment(text(files, "align/s001.txt")).map((w) => [w.start, w.end] as const)
    const inside = rms(vocals.data[0]!, words, 32000)
    expect(inside).toBeGreaterThan(0.05)
    expect(rms(vocals.data[0]!, [[0, words[0]![0] - 0.01]], 32000)).toBeLessThan(1e-3 * inside)
  })

  it("writeDemoCorpus writes the generated files to a folder", async () => {
    const dir = mkdtempSync(join(tmpdir(), "jukeflow-demo-"))
    try {
      const params = { songs: 2, seconds: 4, sampleRate: 16000, seed: 5 }
      await writeDemoCorpus(dir, params)
      for (const [path, bytes] of generate(params)) expect(readFileSync(join(dir, path)).equals(Buffer.from(bytes)), path).toBe(true)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe("demo lyrics", () => {
  it("splits words into syllables by vowel groups, with a silent final e", () => {
    const count = (word: string) => syllabify(word).length
    expect(["home", "light", "through", "we're", "don't", "sky"].map(count)).toEqual([1, 1, 1, 1, 1, 1])
    expect(["river", "window", "highway", "golden", "sunshine", "city"].map(count)).toEqual([2, 2, 2, 2, 2, 2])
    expect(syllabify("street")[0]).toEqual({ onset: ["s", "t", "r"], vowel: "iy", coda: ["t"] })
    expect(syllabify("shine")[0]).toEqual({ onset: ["sh"], vowel: "ay", coda: ["n"] })
  })

  it("sings hyphenated words as two words and parenthesised echoes without aligning them", () => {
    const line = parseLine(`I said "run", moon-lit road (hold on)`)
    expect(line.words.map((w) => [w.text, w.aligned])).toEqual([
      ["I", "I"], ["said", "SAID"], ["run", "RUN"], ["moon", "MOON"], ["lit", "LIT"], ["road", "ROAD"], ["hold", undefined], ["on", undefined],
    ])
    expect(line.words.flatMap((w) => (w.aligned ? [w.aligned] : []))).toEqual(nus(line.text))
  })
})
