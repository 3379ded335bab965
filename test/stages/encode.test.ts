/** encode through the runtime: token shards of every level, deterministic, per song. */
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { afterEach, describe, expect, it } from "vitest"
import { duckdb } from "../../runtime/cli/inspect.ts"
import { writeDemoCorpus } from "../../stages/demo-corpus.ts"
import { makeProject, type Project } from "../runtime/fixture.ts"
import { pipelineSource } from "./pipeline-source.ts"

let project: Project | undefined
afterEach(() => project?.remove())

const level = (name: string, n: number) =>
  `${name}: use(vqvaeTrain, { params: { level: ${n}, steps: 2, batch: 1, clipSamples: 2048, warmupSteps: 1 }, inputs: { chunks: "chunk", audio: "ingest" } }),`

const pipeline = pipelineSource({
  chunk: "{ seconds: 2, heldOutPercent: 30 }",
  more: [
    level("bottom", 0), level("middle", 1), level("top", 2),
    `encode: use(encode, { params: { windowTokens: 4096 }, inputs: { songs: "songs", audio: "ingest", bottom: "bottom", middle: "middle", top: "top" } }),`,
    `decode: use(decode, { inputs: { tokens: "encode", bottom: "bottom", middle: "middle", top: "top" } }),`,
    `evaluate: use(evaluate, { inputs: { audio: "ingest", chunks: "chunk", tokens: "encode", decoded: "decode", bottom: "bottom", middle: "middle", top: "top" } }),`,
  ],
})

describe("encode, decode and evaluate", () => {
  it("encodes every level to token shards (the same bytes when forced again), decodes a WAV per level, and evaluates held-out songs beside Opus", async () => {
    project = makeProject({ "pipelines/p.ts": pipeline })
    await writeDemoCorpus(project.path("data"), { songs: 3, seconds: 3, seed: 9 }) // s003 is held out at 30%
    const first = await project.run("pipelines/p.ts")
    expect(first.stages.filter((s) => s.error).map((s) => `${s.name}: ${s.error}`)).toEqual([])
    expect(first.status).toBe("success")
    const encoded = first.stages.find((s) => s.name === "encode")!
    expect(encoded.partitions).toMatchObject({ total: 3, ran: 3 })
    const manifest = await Effect.runPromise(project.store.manifest(encoded.artifact!))
    const shards = await Promise.all(Object.values(manifest.partitions!).map(async (hash) => {
      const member = await Effect.runPromise(project!.store.manifest(hash))
      return member.table!.shards.map((s) => `${project!.store.objectDir(hash)}/${s.path}`)
    }))
    const { rows } = await Effect.runPromise(duckdb({ t: shards.flat() }, "SELECT song_id, level, count(*) AS windows, sum(len(tokens)) AS tokens, max(list_max(tokens)) AS top FROM t GROUP BY 1, 2 ORDER BY 1, 2"))
    // 3 s at 22.05 kHz = 66,150 samples: 8,269 codes at hop 8 (two windows of 4,096 and one of 77), 2,068 at hop 32, 517 at hop 128
    expect(rows.map((r) => [r.song_id, r.level, Number(r.windows), Number(r.tokens)])).toEqual([
      ["s001", 0, 3, 8269], ["s001", 1, 1, 2068], ["s001", 2, 1, 517],
      ["s002", 0, 3, 8269], ["s002", 1, 1, 2068], ["s002", 2, 1, 517],
      ["s003", 0, 3, 8269], ["s003", 1, 1, 2068], ["s003", 2, 1, 517],
    ])
    expect(rows.every((r) => Number(r.top) < 256)).toBe(true) // the demo codebook
    const inspect = JSON.parse((await project.cli(["inspect", "encode", "--json"])).stdout) as { summaries: Array<{ title: string; rows: Array<Record<string, unknown>> }> }
    const [perLevel, codes, usage] = inspect.summaries
    expect(perLevel!.rows.map((r) => [r.level, Number(r.songs), Number(r.windows), Number(r.tokens)])).toEqual([[0, 3, 9, 24807], [1, 3, 3, 6204], [2, 3, 3, 1551]])
    for (const r of codes!.rows) expect(Number(r["entropy bits"])).toBeLessThanOrEqual(Math.log2(Number(r["codes used"])) + 0.005) // rounded to 2 places
    expect(usage!.rows).toHaveLength(3 * 16)
    expect([0, 1, 2].map((l) => usage!.rows.filter((r) => r.level === l).reduce((sum, r) => sum + Number(r.tokens), 0))).toEqual([24807, 6204, 1551])
    const again = await project.run("pipelines/p.ts", { force: ["encode"] })
    expect(again.stages.find((s) => s.name === "encode")!.artifact).toBe(encoded.artifact)
    expect(again.stages.find((s) => s.name === "decode")!.status).toBe("cached") // identical tokens: early cut-off

    const decoded = first.stages.find((s) => s.name === "decode")!
    const wavs = await Effect.runPromise(Effect.gen(function* () {
      const composite = yield* project!.store.manifest(decoded.artifact!)
      const out: string[] = []
      for (const hash of Object.values(composite.partitions!)) {
        const member = yield* project!.store.manifest(hash)
        out.push(...member.files.filter((f) => f.path.endsWith(".wav")).map((f) => `${project!.store.objectDir(hash)}/${f.path}`))
      }
      return out
    }))
    expect(wavs.map((w) => w.split("/").slice(-2).join("/")).sort()).toEqual(
      ["s001", "s002", "s003"].flatMap((song) => [0, 1, 2].map((level) => `${song}/level-${level}.wav`)))
    const { readAudioFile } = await import("../../audio/decode.ts")
    const bottom = await readAudioFile(wavs.find((w) => w.endsWith("s001/level-0.wav"))!)
    expect(bottom.sampleRate).toBe(22050)
    expect(bottom.channels[0]!.length).toBe(8269 * 8)

    const evaluation = first.stages.find((s) => s.name === "evaluate")!
    const report = JSON.parse(readFileSync(`${project.store.objectDir(evaluation.artifact!)}/value.json`, "utf8"))
    expect(report.heldOutSongs).toEqual(["s003"])
    expect(report.levels.map((l: { hop: number }) => l.hop)).toEqual([8, 32, 128])
    for (const l of report.levels) {
      expect(Number.isFinite(l.spectralConvergenceDb)).toBe(true) // two training steps: poor, but measured
      expect(l.codesUsed).toBeGreaterThan(0)
      expect(l.entropyBits).toBeLessThanOrEqual(8) // a 256-code codebook
      if (report.opus === "opus-tools") expect(l.opusSpectralConvergenceDb).toBeLessThan(l.spectralConvergenceDb)
    }
  })
})
