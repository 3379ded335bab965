/**
 * vqvae-train through the runtime on a tiny generated dataset: a checkpoint PyTorch can read, a
 * metrics table, and a run interrupted mid-training that resumes to the same losses.
 */
import { Effect, Fiber } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { decodeSafetensors } from "../../models/safetensors.ts"
import { loadGraph } from "../../runtime/cli/load.ts"
import type { RunEvent } from "../../runtime/reporter.ts"
import { runGraph } from "../../runtime/runner.ts"
import { Store } from "../../runtime/store.ts"
import { writeDemoCorpus } from "../../stages/demo-corpus.ts"
import { makeProject, type Project } from "../runtime/fixture.ts"
import { pipelineSource } from "./pipeline-source.ts"

let projects: Project[] = []
afterEach(() => {
  for (const p of projects) p.remove()
  projects = []
})

const pipeline = pipelineSource({
  chunk: "{ seconds: 2, heldOutPercent: 0 }",
  more: [`top: use(vqvaeTrain, { params: { level: 2, steps: 6, batch: 2, clipSamples: 2048, checkpointEvery: 2, warmupSteps: 2 }, inputs: { chunks: "chunk", audio: "ingest" } }),`],
})

const setup = async () => {
  const p = makeProject({ "pipelines/p.ts": pipeline })
  projects.push(p)
  await writeDemoCorpus(p.path("data"), { songs: 2, seconds: 4, seed: 5 })
  return p
}

const losses = (p: Project, artifact: string) =>
  Effect.runPromise(Effect.gen(function* () {
    const { duckdb } = yield* Effect.promise(() => import("../../runtime/cli/inspect.ts"))
    const file = join(p.store.objectDir(artifact), "metrics-00000.parquet")
    const result = yield* duckdb({ m: [file] }, "SELECT step, loss FROM m ORDER BY step")
    return result.rows.map((r) => Number(r.loss))
  }))

describe("vqvae-train", () => {
  it("writes a checkpoint and its metrics, and a run stopped mid-training resumes to the same losses", async () => {
    const whole = await setup()
    const record = await whole.run("pipelines/p.ts")
    expect(record.status).toBe("success")
    const top = record.stages.find((s) => s.name === "top")!
    const dir = whole.store.objectDir(top.artifact!)
    const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"))
    expect(config).toMatchObject({ level: 2, hop: 128, steps: 6, sampleRate: 22050 })
    const { tensors } = decodeSafetensors(readFileSync(join(dir, "model.safetensors")))
    expect(tensors["encoder.blocks.0.down.weight"]!.shape[0]).toBe(4)
    expect(tensors["bottleneck.codebook"]!.shape).toEqual([config.codebookSize, config.embeddingWidth])
    const uninterrupted = await losses(whole, top.artifact!)
    expect(uninterrupted).toHaveLength(6)
    expect(uninterrupted.every(Number.isFinite)).toBe(true)

    // the same pipeline, interrupted after step 5 (its last checkpoint is step 4), then run again
    const broken = await setup()
    const { project, graph } = await Effect.runPromise(loadGraph(broken.path("pipelines/p.ts")))
    let stop: (() => void) | undefined
    const reporter = { event: (e: RunEvent) => void (e._tag === "Progress" && e.stage === "top" && e.done === 5 && stop?.()), close: () => {} }
    const fiber = Effect.runFork(runGraph(graph, new Store(project.storeDir), { command: "test", cores: 2, devices: [], reporter }))
    stop = () => void Effect.runFork(Fiber.interrupt(fiber))
    await Effect.runPromise(Fiber.await(fiber))
    const resumed = await broken.run("pipelines/p.ts")
    const resumedTop = resumed.stages.find((s) => s.name === "top")!
    expect(resumedTop.error ?? resumedTop.status).toBe("ran")
    expect(await losses(broken, resumedTop.artifact!)).toEqual(uninterrupted)
    // the same weights, byte for byte (the artifacts differ only in the metrics' wall times)
    const weights = (q: Project, artifact: string) => readFileSync(join(q.store.objectDir(artifact), "model.safetensors"))
    expect(weights(broken, resumedTop.artifact!).equals(weights(whole, top.artifact!))).toBe(true)
  })
})
