/**
 * `sample` through the runtime and the `jukeflow sample` / `compose` commands, on a tiny corpus
 * with tiny VQ-VAEs and priors (context 64): determinism, a killed run's resume, primed and
 * upsample-only sampling, the files written, and bad requests refused in one sentence each.
 */
import { Effect, Fiber } from "effect"
import { spawn } from "node:child_process"
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { loadGraph } from "../../runtime/cli/load.ts"
import { openTableFiles } from "../../runtime/index.ts"
import { type RunEvent, silentReporter } from "../../runtime/reporter.ts"
import { runGraph } from "../../runtime/runner.ts"
import { Store } from "../../runtime/store.ts"
import { sequenceOf } from "../../dataset/tokens.ts"
import type { SampleIndex } from "../../schemas/sample.ts"
import { TokenShards, type TokenWindow } from "../../schemas/tokens.ts"
import { writeDemoCorpus } from "../../stages/demo-corpus.ts"
import { makeProject, REPO, type Project } from "../runtime/fixture.ts"
import { pipelineSource } from "./pipeline-source.ts"

const level = (name: string, n: number) =>
  `${name}: use(vqvaeTrain, { params: { level: ${n}, steps: 2, batch: 1, clipSamples: 2048, warmupSteps: 1 }, inputs: { chunks: "chunk", audio: "ingest" } }),`
const priorInputs = `{ tokens: "encode", chunks: "chunk", alignments: "align", vocab: "vocab", bottom: "bottom", middle: "middle", top: "top" }`
const sampleInputs = `{ topPrior: "top-prior", middlePrior: "middle-upsampler", bottomPrior: "bottom-upsampler", bottom: "bottom", middle: "middle", top: "top", vocab: "vocab", tokens: "encode" }`
/** A short request: 0.5 s is 86 top codes (2 windows of 64), 344 middle and 1,376 bottom codes. */
const REQUEST = `{ artist: "Ada Vale", genre: "folk", lyrics: "la la la, sing it slow", seconds: 0.5, hopFraction: { bottom: 0.5 }, n: 2, seed: 3 }`

const pipeline = pipelineSource({
  chunk: "{ seconds: 2, heldOutPercent: 30 }",
  more: [
    level("bottom", 0), level("middle", 1), level("top", 2),
    `encode: use(encode, { params: { windowTokens: 4096 }, inputs: { songs: "songs", audio: "ingest", bottom: "bottom", middle: "middle", top: "top" } }),`,
    `"top-prior": use(priorTrain, { params: { level: 2, lyrics: true, context: 64, steps: 3, batch: 2 }, inputs: ${priorInputs} }),`,
    `"middle-upsampler": use(priorTrain, { params: { level: 1, context: 64, steps: 3, batch: 2 }, inputs: ${priorInputs} }),`,
    `"bottom-upsampler": use(priorTrain, { params: { level: 0, context: 64, steps: 3, batch: 2 }, inputs: ${priorInputs} }),`,
    `sample: use(sample, { params: ${REQUEST}, inputs: ${sampleInputs} }),`,
  ],
})

let project: Project
beforeAll(async () => {
  project = makeProject({
    "pipelines/p.ts": pipeline,
    "jukeflow.config.json": JSON.stringify({ commands: { sample: join(REPO, "stages/sample-command.ts"), compose: join(REPO, "stages/compose-command.ts") } }),
  })
  await writeDemoCorpus(project.path("data"), { songs: 4, seconds: 3, seed: 9 })
}, 60_000)
afterAll(() => project?.remove())

/** The codes of an artifact folder (or a sample's), by song, level. */
const codesOf = async (dir: string) => {
  const files = readdirSync(dir).filter((f) => f.endsWith(".parquet") && (f.startsWith("codes") || f.startsWith("part"))).map((f) => join(dir, f))
  const rows = await Effect.runPromise(Effect.flatMap(openTableFiles(TokenShards, files), (t) => t.all()))
  return (song: string, level: number) => Array.from(sequenceOf(rows.filter((r: TokenWindow) => r.song_id === song && r.level === level)))
}
/** The codes `encode` gave a dataset song, by level. */
const encodedSong = async (song: string) => {
  const out = await project.cli(["inspect", "encode", "--sql", `SELECT level, start, tokens FROM encode WHERE song_id = '${song}' ORDER BY level, start`, "--json"])
  const rows = JSON.parse(out.stdout) as Array<{ level: number; start: number; tokens: number[] }>
  return (level: number) => rows.filter((r) => r.level === level).flatMap((r) => r.tokens)
}
/** The folder the last line naming one says the samples are in. */
const samplesDir = (stdout: string) => project.path(/samples in (\S+):/.exec(stdout)![1]!)

describe("sample", () => {
  it("samples every level for a seed, stops, resumes to the codes of a run never stopped, and writes codes, WAVs, pages", { timeout: 300_000 }, async () => {
    // Stopped once the bottom level has saved a window: the top and middle levels are saved whole.
    const { project: info, graph } = await Effect.runPromise(loadGraph(project.path("pipelines/p.ts")))
    const saved = (level: number) => readdirSync(join(project.store.root, "scratch"), { withFileTypes: true }).some((key) =>
      key.isDirectory() && existsSync(join(project.store.root, "scratch", key.name, "progress", `level-${level}.json`)))
    const fiber = Effect.runFork(runGraph(graph, new Store(info.storeDir), { command: "test", cores: 2, devices: [], reporter: silentReporter }))
    let stopped = false
    const watch = setInterval(() => {
      if (!stopped && existsSync(join(project.store.root, "scratch")) && saved(0)) {
        stopped = true
        Effect.runFork(Fiber.interrupt(fiber))
      }
    }, 5)
    await Effect.runPromise(Fiber.await(fiber))
    clearInterval(watch)
    expect(stopped).toBe(true)
    const progress = readdirSync(join(project.store.root, "scratch")).flatMap((key) => { try { return readdirSync(join(project.store.root, "scratch", key, "progress")) } catch { return [] } })
    expect(progress).toContain("level-2.json")

    const logs: string[] = []
    const listening = { event: (e: RunEvent) => void (e._tag === "Log" && logs.push(e.message)), close: () => {} }
    const resumed = (await project.run("pipelines/p.ts", { reporter: listening })).stages.find((s) => s.name === "sample")!
    expect(resumed.error ?? resumed.status, resumed.error).toBe("ran")
    expect(logs.join("\n")).toMatch(/resuming the bottom level at code \d+ of 1376/)
    const again = (await project.run("pipelines/p.ts", { force: ["sample"] })).stages.find((s) => s.name === "sample")!
    expect(again.status).toBe("ran")
    expect(again.artifact).toBe(resumed.artifact) // content-addressed: the same bytes, file for file

    const dir = project.store.objectDir(again.artifact!)
    const index = JSON.parse(readFileSync(join(dir, "samples.json"), "utf8")) as SampleIndex
    expect(index.levels.map((l) => l.codes)).toEqual([1376, 344, 86])
    expect(index.samples.map((s) => s.wav)).toEqual([0, 1].map((i) => [0, 1, 2].map((l) => `sample-${i}-level-${l}.wav`)))
    const files = readdirSync(dir)
    for (const s of index.samples) for (const f of [...s.wav, s.page]) expect(files).toContain(f)
    const wav = readFileSync(join(dir, "sample-1-level-0.wav"))
    expect(wav.readUInt32LE(40)).toBe(1376 * 8 * 2) // pcm16 mono: codes × hop samples
    const codes = await codesOf(dir)
    expect(codes("sample-0", 2)).toHaveLength(86)
    expect(codes("sample-0", 0)).not.toEqual(codes("sample-1", 0)) // two samples, not one twice
  })

  it("keeps a primer's codes as the prefix at every level: a dataset song, or an audio file", { timeout: 240_000 }, async () => {
    const song = JSON.parse(readFileSync(project.path("data/manifest.jsonl"), "utf8").split("\n")[0]!) as { id: string; audio: string }
    const common = ["sample", "pipelines/p.ts", "--artist", "Bo Carver", "--genre", "blues", "--seconds", "0.5", "--n", "1"]
    const primed = await project.cli([...common, "--prime", song.id, "--prime-seconds", "0.2"])
    expect(primed.code, primed.stderr).toBe(0)
    const encoded = await encodedSong(song.id)
    const codes = await codesOf(samplesDir(primed.stdout))
    const known = [544, 136, 34] // whole top codes of 0.2 s (34 × 128 samples), the levels below in step, bottom first
    for (const l of [0, 1, 2]) expect(codes("sample-0", l).slice(0, known[l])).toEqual(encoded(l).slice(0, known[l]))
    expect(codes("sample-0", 2)).toHaveLength(86)

    // The song's own audio file, encoded by the VQ-VAEs as `encode` did: the same codes.
    const fromFile = await project.cli([...common, "--prime", `data/${song.audio}`, "--prime-seconds", "0.2"])
    expect(fromFile.code, fromFile.stderr).toBe(0)
    const fileCodes = await codesOf(samplesDir(fromFile.stdout))
    for (const l of [0, 1, 2]) expect(fileCodes("sample-0", l).slice(0, known[l])).toEqual(encoded(l).slice(0, known[l]))
  })

  it("upsamples saved top-level codes, continues saved codes, and co-composes with --pick", { timeout: 240_000 }, async () => {
    const common = ["pipelines/p.ts", "--artist", "Cy Ember", "--genre", "rock", "--n", "1", "--seed", "4"]
    const first = await project.cli(["sample", ...common, "--seconds", "0.5"])
    expect(first.code, first.stderr).toBe(0)
    const firstDir = samplesDir(first.stdout)
    const source = await codesOf(firstDir)

    const upsampled = await project.cli(["sample", ...common, "--seconds", "0.5", "--upsample", firstDir, "--seed", "5"])
    expect(upsampled.code, upsampled.stderr).toBe(0)
    const up = await codesOf(samplesDir(upsampled.stdout))
    expect(up("sample-0", 2)).toEqual(source("sample-0", 2))
    expect(up("sample-0", 0)).toHaveLength(1376)
    expect(up("sample-0", 0)).not.toEqual(source("sample-0", 0)) // another seed below the top

    const continued = await project.cli(["sample", ...common, "--seconds", "0.8", "--continue", firstDir])
    expect(continued.code, continued.stderr).toBe(0)
    const more = await codesOf(samplesDir(continued.stdout))
    for (const l of [0, 1, 2]) expect(more("sample-0", l).slice(0, source("sample-0", l).length)).toEqual(source("sample-0", l))
    expect(more("sample-0", 2)).toHaveLength(138)

    // style controls: a blend of two artists, then a change of labels (a duet) from 0.25 s
    const blended = await project.cli(["sample", "pipelines/p.ts", "--artist", "Ada Vale=0.5,Bo Carver=0.5", "--genre", "folk", "--change", "0.25:Bo Carver:blues", "--seconds", "0.5", "--seed", "4"])
    expect(blended.code, blended.stderr).toBe(0)
    const index = JSON.parse(readFileSync(join(samplesDir(blended.stdout), "samples.json"), "utf8")) as SampleIndex
    expect(index.labels).toBe("Ada Vale 0.5 + Bo Carver 0.5, folk; from 0.25 s Bo Carver, blues")
    expect((await codesOf(samplesDir(blended.stdout)))("sample-0", 2)).not.toEqual(source("sample-0", 2))

    const composed = await project.cli(["compose", ...common, "--seconds", "0.5", "--step", "0.25", "--n", "2", "--pick", "1,0"])
    expect(composed.code, composed.stderr).toBe(0)
    expect(composed.stdout).toMatch(/round 1: took \[1\]/)
    expect(composed.stdout).toMatch(/round 2: took \[0\]/)
    expect(composed.stdout.match(/round-\d-candidate-\d\.wav/g)).toHaveLength(4)
    const result = await codesOf(samplesDir(composed.stdout))
    expect(result("sample-0", 2)).toHaveLength(86)
    expect(result("sample-0", 0)).toHaveLength(1376)
  })

  it("asks at a terminal which continuation to keep, and stops on q", { timeout: 240_000 }, async () => {
    // `script` gives the command a pseudo-terminal; the answers are typed into it: keep [1], then stop.
    const line = ["node", join(REPO, "bin/jukeflow.js"), "compose", "pipelines/p.ts", "--artist", "'Dee Neon'", "--genre", "electronic", "--seconds", "0.75", "--step", "0.25", "--n", "2"].join(" ")
    const child = spawn("script", ["-qec", line, "/dev/null"], { cwd: project.dir, stdio: ["pipe", "pipe", "pipe"] })
    let out = ""
    const answered: string[] = []
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString()
      const prompts = out.match(/pick 0–1 \(Enter: 0, q: stop here\) ›/g)?.length ?? 0
      if (prompts > answered.length) {
        const answer = answered.length === 0 ? "1" : "q"
        answered.push(answer)
        child.stdin.write(`${answer}\r`)
      }
    })
    const code = await new Promise<number | null>((done) => child.on("close", done))
    expect(code, out).toBe(0)
    expect(answered).toEqual(["1", "q"])
    expect(out).toMatch(/round 1: took \[1\]/)
    expect(out).toMatch(/upsampling the chosen 0\.2 s/)
    expect(out).toMatch(/samples in /)
  })

  it("refuses a bad request in one sentence", { timeout: 240_000 }, async () => {
    writeFileSync(project.path("lyrics.txt"), "sing # of @ things")
    writeFileSync(project.path("noise.wav"), "RIFF this is not audio at all")
    const sample = (...flags: string[]) => project.cli(["sample", "pipelines/p.ts", "--artist", "Ada Vale", "--genre", "folk", "--seconds", "0.5", ...flags])
    const cases: Array<[string[], number, RegExp]> = [
      [["--artist", "Nobody"], 1, /artist "Nobody" is not in the vocabulary; the artists are "Ada Vale", /],
      [["--change", "0.2:Ada Vale=0.5,Nobody=0.5:folk"], 1, /artist "Nobody" is not in the vocabulary/],
      [["--change", "soon:Ada Vale:folk"], 2, /--change soon:Ada Vale:folk: the second must be a number above 0/],
      [["--lyrics", "lyrics.txt"], 1, /the lyrics have characters outside the lyrics vocabulary: "#", "@"/],
      [["--seconds", "0"], 2, /--seconds must be a number above 0/],
      [["--seconds", "-3"], 2, /--seconds must be a number above 0/],
      [["--prime", "noise.wav"], 1, /the primer cannot be decoded: .*noise\.wav/],
      [["--prime", "nosuch.wav"], 2, /--prime nosuch\.wav: no such file/],
      [["--prime", "s999"], 1, /the primer song "s999" is not among the encoded songs/],
    ]
    for (const [flags, code, message] of cases) {
      const out = await sample(...flags)
      expect({ flags, code: out.code }).toEqual({ flags, code })
      expect(out.stdout + out.stderr).toMatch(message)
    }
  })
})
