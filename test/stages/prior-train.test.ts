/** prior-train through the runtime, on a tiny corpus: the top prior with lyrics and an upsampler. */
import { Effect, Fiber } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { loadGraph } from "../../runtime/cli/load.ts"
import type { RunEvent } from "../../runtime/reporter.ts"
import { runGraph } from "../../runtime/runner.ts"
import { Store } from "../../runtime/store.ts"
import { writeDemoCorpus } from "../../stages/demo-corpus.ts"
import { makeProject, type Project } from "../runtime/fixture.ts"
import { pipelineSource } from "./pipeline-source.ts"

let project: Project | undefined
let other: Project | undefined
afterEach(() => {
  project?.remove()
  other?.remove()
})

const level = (name: string, n: number) =>
  `${name}: use(vqvaeTrain, { params: { level: ${n}, steps: 2, batch: 1, clipSamples: 2048, warmupSteps: 1 }, inputs: { chunks: "chunk", audio: "ingest" } }),`
const inputs = `{ tokens: "encode", chunks: "chunk", alignments: "align", vocab: "vocab", bottom: "bottom", middle: "middle", top: "top" }`

const pipeline = pipelineSource({
  chunk: "{ seconds: 2, heldOutPercent: 30 }",
  more: [
    level("bottom", 0), level("middle", 1), level("top", 2),
    `encode: use(encode, { params: { windowTokens: 4096 }, inputs: { songs: "songs", audio: "ingest", bottom: "bottom", middle: "middle", top: "top" } }),`,
    `"top-prior": use(priorTrain, { params: { level: 2, lyrics: true, context: 64, steps: 4, batch: 2, checkpointEvery: 2, evalEvery: 2 }, inputs: ${inputs} }),`,
    `"middle-upsampler": use(priorTrain, { params: { level: 1, context: 64, steps: 3, batch: 2 }, inputs: ${inputs} }),`,
  ],
})

describe("prior-train", () => {
  it("trains the top prior with lyrics and an upsampler from the token shards, with held-out and unigram figures and a metrics table", { timeout: 120_000 }, async () => {
    project = makeProject({ "pipelines/p.ts": pipeline })
    await writeDemoCorpus(project.path("data"), { songs: 4, seconds: 3, seed: 9 })
    const record = await project.run("pipelines/p.ts")
    expect(record.stages.filter((s) => s.error).map((s) => `${s.name}: ${s.error}`)).toEqual([])
    const config = (name: string) => {
      const stage = record.stages.find((s) => s.name === name)!
      return JSON.parse(readFileSync(`${project!.store.objectDir(stage.artifact!)}/config.json`, "utf8")) as Record<string, unknown>
    }
    const top = config("top-prior") as { level: number; steps: number; heldOutBits: number | null; unigramBits: number; heldOutLyricsBits: number | null; model: { lyrics?: unknown; transformer: { contextLength: number; vocab: number } } }
    expect(top).toMatchObject({ level: 2, steps: 4 })
    expect(top.model.lyrics).toBeDefined()
    expect(top.model.transformer).toMatchObject({ contextLength: 64, vocab: 256 })
    expect(top.unigramBits).toBeGreaterThan(0)
    expect(top.unigramBits).toBeLessThanOrEqual(8)
    expect(top.heldOutBits).toBeGreaterThan(0)
    expect(top.heldOutLyricsBits).toBeGreaterThan(0)
    const middle = config("middle-upsampler") as { model: { upsampler?: { upperVocab: number } } }
    expect(middle.model.upsampler).toMatchObject({ upperVocab: 256 })
    const metrics = JSON.parse((await project.cli(["inspect", "top-prior", "--sql", "SELECT step, priorBits, lyricsBits, heldOutBits FROM metrics ORDER BY step", "--json"])).stdout) as Array<{ step: number; heldOutBits: number | null }>
    expect(metrics.map((r) => r.step)).toEqual([1, 2, 3, 4])
  })
})

describe("prior-train, stopped mid-training", () => {
  it("resumes from its last checkpoint to the same losses and weights", { timeout: 180_000 }, async () => {
    const resumable = pipelineSource({
      chunk: "{ seconds: 2, heldOutPercent: 30 }",
      more: [
        level("bottom", 0), level("middle", 1), level("top", 2),
        `encode: use(encode, { params: { windowTokens: 4096 }, inputs: { songs: "songs", audio: "ingest", bottom: "bottom", middle: "middle", top: "top" } }),`,
        `"top-prior": use(priorTrain, { params: { level: 2, context: 64, steps: 6, batch: 2, checkpointEvery: 2, evalEvery: 3 }, inputs: ${inputs} }),`,
      ],
    })
    const setup = async () => {
      const p = makeProject({ "pipelines/p.ts": resumable })
      await writeDemoCorpus(p.path("data"), { songs: 4, seconds: 3, seed: 9 })
      return p
    }
    const losses = async (p: Project, artifact: string) =>
      JSON.parse((await p.cli(["inspect", artifact, "--sql", "SELECT step, loss FROM metrics ORDER BY step", "--json"])).stdout) as Array<{ step: number; loss: number }>
    project = await setup()
    const whole = (await project.run("pipelines/p.ts")).stages.find((s) => s.name === "top-prior")!
    expect(whole.status).toBe("ran")

    // the same pipeline, stopped after step 5 (its last checkpoint is step 4), then run again
    other = await setup()
    const { project: info, graph } = await Effect.runPromise(loadGraph(other.path("pipelines/p.ts")))
    let stop: (() => void) | undefined
    const reporter = { event: (e: RunEvent) => void (e._tag === "Progress" && e.stage === "top-prior" && e.done === 5 && stop?.()), close: () => {} }
    const fiber = Effect.runFork(runGraph(graph, new Store(info.storeDir), { command: "test", cores: 2, devices: [], reporter }))
    stop = () => void Effect.runFork(Fiber.interrupt(fiber))
    await Effect.runPromise(Fiber.await(fiber))
    const resumed = (await other.run("pipelines/p.ts")).stages.find((s) => s.name === "top-prior")!
    expect(resumed.error ?? resumed.status, resumed.error).toBe("ran")
    expect(await losses(other, resumed.artifact!)).toEqual(await losses(project, whole.artifact!))
    const weights = (q: Project, artifact: string) => readFileSync(join(q.store.objectDir(artifact), "model.safetensors"))
    expect(weights(other, resumed.artifact!).equals(weights(project, whole.artifact!))).toBe(true)
  })
})
