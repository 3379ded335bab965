import { afterEach, describe, expect, it } from "vitest"
import { makeProject, type Project, ran, RUNTIME } from "./fixture.ts"
import { visibleGpus } from "../../runtime/config.ts"
import type { RunEvent } from "../../runtime/reporter.ts"

let project: Project | undefined
afterEach(() => project?.remove())

/** Four independent stages that each sleep, two of them on a GPU, and one that joins them. */
const files = {
  "stages/work.ts": `import { Effect, Schema } from "effect"
import { Json, Stage } from "${RUNTIME}"
const Seen = Schema.Struct({ device: Schema.String, started: Schema.Number, finished: Schema.Number })
const work = (device: "cpu" | "gpu") => Stage.define({
  name: device + "-work", version: 1, device,
  params: Schema.Struct({ id: Schema.Int, ms: Schema.Int }),
  output: Json(Seen),
  run: (_i, p, ctx) => Effect.gen(function* () {
    const started = Date.now()
    yield* ctx.reportBackend("test-backend")
    yield* Effect.sleep(p.ms)
    return { device: ctx.device.kind === "gpu" ? "gpu:" + ctx.device.id : "cpu", started, finished: Date.now() }
  }),
})
export const cpuWork = work("cpu")
export const gpuWork = work("gpu")
export const gather = Stage.define({
  name: "gather", version: 1,
  inputs: { a: Json(Seen), b: Json(Seen), c: Json(Seen), d: Json(Seen) },
  output: Json(Schema.Array(Seen)),
  run: ({ a, b, c, d }) => Effect.succeed([a, b, c, d]),
})
`,
  "pipelines/p.ts": `import { Pipeline, use } from "${RUNTIME}"
import { cpuWork, gpuWork, gather } from "../stages/work.ts"
export default Pipeline.define("p", {
  a: use(cpuWork, { params: { id: 1, ms: 400 } }),
  b: use(cpuWork, { params: { id: 2, ms: 400 } }),
  c: use(gpuWork, { params: { id: 3, ms: 400 } }),
  d: use(gpuWork, { params: { id: 4, ms: 400 } }),
  all: use(gather, { inputs: { a: "a", b: "b", c: "c", d: "d" } }),
})
`,
}

type Seen = { device: string; started: number; finished: number }
const overlaps = (x: Seen, y: Seen) => x.started < y.finished && y.started < x.finished

describe("scheduler", () => {
  it("runs independent stages concurrently up to the cores, and hands each GPU stage its own device", async () => {
    project = makeProject(files)
    const record = await project.run("pipelines/p.ts", { cores: 4, devices: ["0", "1"] })
    expect(ran(record)).toEqual(["a", "all", "b", "c", "d"])
    const byName = Object.fromEntries(record.stages.map((s) => [s.name, s]))
    expect([byName.c!.device, byName.d!.device].sort()).toEqual(["0", "1"])
    expect(byName.a!.device).toBe("cpu")
    expect(byName.c!.backend).toEqual(["test-backend"])
    const { readFileSync } = await import("node:fs")
    const seen = JSON.parse(readFileSync(project.store.objectDir(byName.all!.artifact!) + "/value.json", "utf8")) as Seen[]
    expect(seen.map((s) => s.device).sort()).toEqual(["cpu", "cpu", "gpu:0", "gpu:1"])
    expect(overlaps(seen[0]!, seen[1]!) && overlaps(seen[2]!, seen[3]!)).toBe(true)
  })

  it("never runs more stages at once than it has cores", async () => {
    project = makeProject(files)
    const record = await project.run("pipelines/p.ts", { cores: 1, devices: ["0", "1"] })
    const { readFileSync } = await import("node:fs")
    const all = record.stages.find((s) => s.name === "all")!
    const seen = JSON.parse(readFileSync(project.store.objectDir(all.artifact!) + "/value.json", "utf8")) as Seen[]
    for (let i = 0; i < seen.length; i++) for (let j = i + 1; j < seen.length; j++) expect(overlaps(seen[i]!, seen[j]!)).toBe(false)
  })

  it("queues GPU stages when there are fewer devices than stages", async () => {
    project = makeProject(files)
    const record = await project.run("pipelines/p.ts", { cores: 4, devices: ["7"] })
    const { readFileSync } = await import("node:fs")
    const all = record.stages.find((s) => s.name === "all")!
    const seen = JSON.parse(readFileSync(project.store.objectDir(all.artifact!) + "/value.json", "utf8")) as Seen[]
    expect(seen[2]!.device).toBe("gpu:7")
    expect(seen[3]!.device).toBe("gpu:7")
    expect(overlaps(seen[2]!, seen[3]!)).toBe(false)
  })

  it("runs GPU stages on the CPU when there is no GPU, and says so", async () => {
    project = makeProject(files)
    const events: RunEvent[] = []
    const record = await project.run("pipelines/p.ts", { cores: 4, devices: [], reporter: { event: (e) => events.push(e), close: () => {} } })
    expect(record.stages.find((s) => s.name === "c")!.device).toBe("cpu")
    expect(events).toContainEqual({ _tag: "Note", message: "no GPU found: c, d run on the CPU" })
  })

  it("reads GPUs from CUDA_VISIBLE_DEVICES", () => {
    expect(visibleGpus({ CUDA_VISIBLE_DEVICES: "0,2" })).toEqual(["0", "2"])
    expect(visibleGpus({ CUDA_VISIBLE_DEVICES: "" })).toEqual([])
    expect(visibleGpus({ CUDA_VISIBLE_DEVICES: "-1" })).toEqual([])
    expect(visibleGpus({})).toEqual([])
  })
})
