/**
 * The first Jukebox stages end to end on a small generated dataset: songs → ingest → vocab →
 * align → chunk, through the runtime, as a user's pipeline over a dataset folder would run.
 */
import { Effect } from "effect"
import { readFileSync, writeFileSync } from "node:fs"
import { encodeWav } from "../../audio/wav.ts"
import { afterEach, describe, expect, it } from "vitest"
import { linearCharacterTime, lyricWindowStart, mapAlignment, normaliseLyrics, parseNusAlignment } from "../../dataset/lyrics.ts"
import { writeDemoCorpus } from "../../stages/demo-corpus.ts"
import { inputValue } from "../../runtime/inputs.ts"
import type { RunRecord } from "../../runtime/record.ts"
import { Alignments } from "../../schemas/alignment.ts"
import { Ingested } from "../../schemas/audio.ts"
import { Chunks } from "../../schemas/chunks.ts"
import type { TableKind, TableReader } from "../../runtime/artifact.ts"
import { makeProject, type Project } from "../runtime/fixture.ts"
import { pipelineSource } from "./pipeline-source.ts"

let project: Project | undefined
afterEach(() => project?.remove())

const pipeline = pipelineSource({ chunk: "{ seconds: 3, lyricChars: 48, heldOutPercent: 30 }", sampleRate: 16000 })

const setup = async (songs = 3) => {
  project = makeProject({ "pipelines/p.ts": pipeline })
  await writeDemoCorpus(project.path("data"), { songs, seconds: 8, seed: 3 })
  return project
}

const rowsOf = async <Row>(p: Project, record: RunRecord, stage: string, kind: TableKind<Row>) => {
  const manifest = await Effect.runPromise(p.store.manifest(record.stages.find((s) => s.name === stage)!.artifact!))
  const reader = (await Effect.runPromise(inputValue(p.store, kind, manifest))) as TableReader<Row>
  return Effect.runPromise(reader.all())
}

describe("songs → ingest → align → chunk", () => {
  it("ingests each source once, aligns with NUS, and cuts labelled chunks", async () => {
    const p = await setup()
    const record = await p.run("pipelines/p.ts")
    expect(record.status).toBe("success")
    const ingested = await rowsOf(p, record, "ingest", Ingested)
    expect(ingested.map((r) => `${r.song}/${r.source}`).sort()).toEqual(
      ["s001", "s002", "s003"].flatMap((s) => [`${s}/accompaniment`, `${s}/mix`, `${s}/vocals`]))
    const mix = ingested.find((r) => r.source === "mix")!
    expect(mix.sampleRate).toBe(16000)
    expect(mix.left.length).toBe(8 * 16000)
    expect(mix.seconds).toBeCloseTo(8)
    expect(mix.peakDbfs).toBeLessThan(0)
    expect(mix.rmsDbfs).toBeLessThan(mix.peakDbfs)
    expect(mix.clippedFraction).toBe(0)

    const alignments = await rowsOf(p, record, "align", Alignments)
    for (const a of alignments) {
      expect(a.method).toBe("nus")
      expect(a.wordsAligned).toBe(a.wordsTotal)
      expect(a.vocalSeconds).toBeGreaterThan(1)
      expect(a.vocalSeconds).toBeLessThan(8)
      // every aligned word's span holds that word of the lyrics
      const first = a.lyrics.slice(a.charStart[0], a.charEnd[0]).toUpperCase()
      expect(readFileSync(p.path(`data/align/${a.song}.txt`), "utf8").split(/\s+/)[2]).toBe(first.replace(/[,.!?"]/g, ""))
    }

    const chunks = await rowsOf(p, record, "chunk", Chunks)
    expect(chunks).toHaveLength(3 * 2) // two whole 3 s chunks in an 8 s song
    const vocab = JSON.parse(readFileSync(`${p.store.objectDir(record.stages.find((s) => s.name === "vocab")!.artifact!)}/value.json`, "utf8"))
    for (const c of chunks) {
      expect(c.total).toBeCloseTo(8)
      expect(c.fraction).toBeCloseTo(c.start / 8)
      expect(vocab.artists[c.artist - 1]).toBeDefined()
      expect(c.lyricIds).toHaveLength(48)
      expect(["train", "heldout"]).toContain(c.split)
    }
    const again = await p.run("pipelines/p.ts")
    expect(again.stages.every((s) => s.status === "cached")).toBe(true)
    const longer = await p.run("pipelines/p.ts", { overrides: { chunk: { seconds: "9" } } })
    expect(longer.stages.find((s) => s.name === "chunk")!.rejected).toEqual(["s001", "s002", "s003"].map((item) => ({
      item, reason: "8.00 s is shorter than one 9 s chunk", skipped: true,
    })))
  })

  it("ingests a new song alone when one is added", async () => {
    const p = await setup(3)
    await p.run("pipelines/p.ts")
    await writeDemoCorpus(p.path("data"), { songs: 4, seconds: 8, seed: 3 })
    const record = await p.run("pipelines/p.ts")
    expect(record.stages.find((s) => s.name === "ingest")!.partitions).toMatchObject({ total: 4, ran: 1, cached: 3 })
    expect(record.stages.find((s) => s.name === "align")!.partitions).toMatchObject({ total: 4, ran: 1, cached: 3 })
  })

  it("sets aside a song whose stem does not match its mix, and one whose audio is truncated", async () => {
    const p = await setup(3)
    // a valid vocals file, but 2 s long against an 8 s mix
    writeFileSync(p.path("data/separated/s002/vocals.wav"), encodeWav([new Float32Array(44100), new Float32Array(44100)], 22050))
    const wav = readFileSync(p.path("data/audio/s003.wav"))
    writeFileSync(p.path("data/audio/s003.wav"), wav.subarray(0, wav.length / 2))
    const record = await p.run("pipelines/p.ts")
    expect(record.status).toBe("success")
    const rejected = record.stages.find((s) => s.name === "ingest")!.rejected!
    expect(rejected.map((r) => r.item)).toEqual(["s002", "s003"])
    expect(rejected[0]!.reason).toMatch(/the vocals stem lasts 2\.00 s but the mix lasts 8\.00 s: stems must come from this mix \(data\/manifest\.jsonl:2\)/)
    expect(rejected[1]!.reason).toMatch(/data\/audio\/s003\.wav/)
    const strict = await p.run("pipelines/p.ts", { strict: true })
    expect(strict.status).toBe("failed")
  })

  it("sets aside a song whose alignment file is out of order, naming the file and line", async () => {
    const p = await setup(2)
    writeFileSync(p.path("data/align/s001.txt"), "1.00 1.20 HELLO\n0.50 0.70 WORLD\n")
    const record = await p.run("pipelines/p.ts")
    expect(record.stages.find((s) => s.name === "align")!.rejected).toEqual([
      { item: "s001", reason: "data/align/s001.txt:2: times out of order (0.50 s after 1 s on line 1)" },
    ])
  })
})

describe("NUS and linear alignment", () => {
  it("agree on a song whose singing is spread evenly, and NUS follows the song where it is not", async () => {
    // An evenly sung song: one word per 0.4 s across the whole song.
    const lyrics = normaliseLyrics(Array.from({ length: 50 }, (_, i) => `word${i}`).join(" "))
    const duration = 20
    const nus = Array.from({ length: 50 }, (_, i) => `${(i * 0.4).toFixed(2)} ${(i * 0.4 + 0.3).toFixed(2)} WORD${i}`).join("\n")
    const { words } = mapAlignment(lyrics, parseNusAlignment(nus, "even.txt", duration))
    for (let start = 0; start + 2 <= duration; start += 2) {
      const withNus = lyricWindowStart(words, lyrics.length, duration, start, start + 2, 40)
      const linear = lyricWindowStart([], lyrics.length, duration, start, start + 2, 40)
      expect(Math.abs(withNus - linear)).toBeLessThanOrEqual(lyrics.length * 0.03)
    }
    expect(linearCharacterTime(lyrics.length - 1, lyrics.length, duration)).toBeCloseTo(duration, 0)
    // A demo song has an intro and breaks: there, NUS places the window where the words are sung.
    const p = await setup(1)
    const text = normaliseLyrics(readFileSync(p.path("data/lyrics/s001.txt"), "utf8"))
    const sung = mapAlignment(text, parseNusAlignment(readFileSync(p.path("data/align/s001.txt"), "utf8"), "s001", 8)).words
    const firstWord = sung[0]!
    expect(lyricWindowStart(sung, text.length, 8, firstWord.start, firstWord.end, 10)).toBeLessThanOrEqual(firstWord.charStart)
  })
})
