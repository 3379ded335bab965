import { afterEach, describe, expect, it } from "vitest"
import { Effect } from "effect"
import { makeProject, type Project, ran, RUNTIME } from "./fixture.ts"
import { materializeInputs } from "../../runtime/inputs.ts"
import { Col, Table } from "../../runtime/index.ts"
import { Schema } from "effect"

const RanRow = Schema.Struct({ id: Col.dictionary, n: Col.int32, pid: Col.int32, started: Col.float64, ended: Col.float64 })

let project: Project | undefined
afterEach(() => project?.remove())

/** Stages that run in processes of their own: each reports its pid and when it ran. */
const files = (extra = "") => ({
  "stages/work.ts": `import { Effect, Schema } from "effect"
import { Col, Json, Stage, Table } from "${RUNTIME}"
import { StageFailed } from "${RUNTIME.replace("index.ts", "errors.ts")}"
export const Item = Schema.Struct({ id: Col.dictionary, n: Col.int32 })
export const Ran = Schema.Struct({ id: Col.dictionary, n: Col.int32, pid: Col.int32, started: Col.float64, ended: Col.float64 })
export const items = Stage.define({
  name: "items", version: 1, output: Table(Item),
  run: () => Effect.succeed([{ id: "a", n: 1 }, { id: "a", n: 2 }, { id: "b", n: 3 }, { id: "c", n: -1 }]),
})
const busy = (ms: number) => { const end = Date.now() + ms; while (Date.now() < end); }
export const perItem = Stage.define({
  name: "per-item", version: 1, isolated: true,
  inputs: { items: Table(Item) },
  partitionBy: { input: "items", column: "id" },
  output: Table(Ran),
  run: ({ items }, _p, ctx) => Effect.gen(function* () {
    const rows = yield* items.all()
    yield* ctx.reportBackend("child-" + ctx.partition)
    yield* ctx.log("partition " + ctx.partition + " in pid " + process.pid)
    const out = []
    for (const r of rows) {
      if (r.n < 0) { yield* ctx.skip("item " + r.id, "negative"); continue }
      const started = Date.now(); busy(50)
      out.push({ ...r, pid: process.pid, started, ended: Date.now() })
      yield* ctx.progress(out.length, rows.length, "items")
    }
    return out
  }),
})
const Timing = Schema.Struct({ pid: Schema.Number, started: Schema.Number, ended: Schema.Number })
const spin = (name: string) => Stage.define({
  name, version: 1, isolated: true, inputs: { items: Table(Item) }, output: Json(Timing),
  run: () => Effect.sync(() => { const started = Date.now(); busy(700); return { pid: process.pid, started, ended: Date.now() } }),
})
export const left = spin("left")
export const right = spin("right")
export const broken = Stage.define({
  name: "broken", version: 1, isolated: true, inputs: { items: Table(Item) }, output: Json(Timing),
  run: (_i, _p, ctx) => Effect.fail(new StageFailed({ stage: ctx.stage, reason: "the model diverged at step 7" })),
})
export const crash = Stage.define({
  name: "crash", version: 1, isolated: true, inputs: { items: Table(Item) }, output: Json(Timing),
  run: () => Effect.sync(() => process.exit(3)),
})
`,
  "pipelines/work.ts": `import { Pipeline, use } from "${RUNTIME}"
import { items, perItem, left, right, broken, crash } from "../stages/work.ts"
export default Pipeline.define("work", {
  items: use(items),
  "per-item": use(perItem, { inputs: { items: "items" } }),
  left: use(left, { inputs: { items: "items" } }),
  right: use(right, { inputs: { items: "items" } }),
  ${extra}
})
`,
})

describe("isolated stages", () => {
  it("run each unit in a process of its own, relaying logs, progress, backend and skips", async () => {
    project = makeProject(files())
    const record = await project.run("pipelines/work.ts", { cores: 1 })
    expect(record.status).toBe("success")
    const perItem = record.stages.find((s) => s.name === "per-item")!
    expect(perItem.rows).toBe(3)
    expect(perItem.rejected).toEqual([{ item: "item c", reason: "negative", skipped: true }])
    expect([...perItem.backend].sort()).toEqual(["child-a", "child-b", "child-c"])
    const manifest = await Effect.runPromise(project.store.manifest(perItem.artifact!))
    const values = await Effect.runPromise(
      materializeInputs(project.store, { t: Table(RanRow) }, { t: { _tag: "Whole", hash: manifest.hash } }).pipe(
        Effect.flatMap((v) => (v.t as { all: () => Effect.Effect<Array<{ pid: number }>> }).all()),
      ),
    )
    const pids = new Set(values.map((r) => r.pid))
    expect(pids.size).toBe(1) // one core: the units ran one after another in one reused process
    expect(pids.has(process.pid)).toBe(false)
    expect(ran(await project.run("pipelines/work.ts"))).toEqual([])
  })

  it("puts independent isolated stages on separate cores at the same time", async () => {
    project = makeProject(files())
    const record = await project.run("pipelines/work.ts", { cores: 2 })
    const timing = async (name: string) => {
      const artifact = record.stages.find((s) => s.name === name)!.artifact!
      const { readFileSync } = await import("node:fs")
      return JSON.parse(readFileSync(`${project!.store.objectDir(artifact)}/value.json`, "utf8")) as { pid: number; started: number; ended: number }
    }
    const [l, r] = [await timing("left"), await timing("right")]
    expect(l.pid).not.toBe(r.pid)
    // both spin 700 ms on one thread each; run side by side, the spans overlap
    expect(Math.min(l.ended, r.ended) - Math.max(l.started, r.started)).toBeGreaterThan(300)
  })

  it("reports a failure in the process as the stage's failure, and a dead process as one sentence", async () => {
    project = makeProject(files(`broken: use(broken, { inputs: { items: "items" } }), crash: use(crash, { inputs: { items: "items" } }),`))
    const record = await project.run("pipelines/work.ts")
    expect(record.status).toBe("failed")
    expect(record.stages.find((s) => s.name === "broken")!.error).toBe('stage "broken" failed: the model diverged at step 7')
    expect(record.stages.find((s) => s.name === "crash")!.error).toMatch(/^stage "crash" failed: its process \(pid \d+\) ended with exit code 3 before finishing$/)
    expect(record.stages.find((s) => s.name === "left")!.status).toBe("ran")
  })

  it("runs in the runner's process under JUKEFLOW_INPROCESS=1", async () => {
    project = makeProject(files())
    process.env.JUKEFLOW_INPROCESS = "1"
    try {
      const record = await project.run("pipelines/work.ts", { only: ["items", "left"] })
      const artifact = record.stages.find((s) => s.name === "left")!.artifact!
      const { readFileSync } = await import("node:fs")
      expect(JSON.parse(readFileSync(`${project.store.objectDir(artifact)}/value.json`, "utf8")).pid).toBe(process.pid)
    } finally {
      delete process.env.JUKEFLOW_INPROCESS
    }
  })

  it("refuses to run code edited during the run under the key of the code before", { timeout: 60_000 }, async () => {
    // Two uses of one stage module, the second reading the first: the pooled process imports the
    // module for the first; the module is edited while it runs, so the second's key names the new
    // code while the process still holds the old.
    const chain = `import { Effect, Schema } from "effect"
import { Json, Stage, Table } from "${RUNTIME}"
import { Item } from "./work.ts"
const busy = (ms: number) => { const end = Date.now() + ms; while (Date.now() < end); }
export const first = Stage.define({
  name: "first", version: 1, isolated: true, inputs: { items: Table(Item) }, output: Json(Schema.Number),
  run: () => Effect.sync(() => (busy(1500), 1)),
})
export const second = Stage.define({
  name: "second", version: 1, isolated: true, inputs: { first: Json(Schema.Number) }, output: Json(Schema.Number),
  run: ({ first }) => Effect.succeed(first + 1),
})
`
    project = makeProject({
      ...files(),
      "stages/chain.ts": chain,
      "pipelines/chain.ts": `import { Pipeline, use } from "${RUNTIME}"
import { items } from "../stages/work.ts"
import { first, second } from "../stages/chain.ts"
export default Pipeline.define("chain", { items: use(items), first: use(first, { inputs: { items: "items" } }), second: use(second, { inputs: { first: "first" } }) })
`,
    })
    const running = project.run("pipelines/chain.ts", { cores: 1 })
    await new Promise((done) => setTimeout(done, 700))
    project.write("stages/chain.ts", `${chain}// edited while the run was going\n`)
    const record = await running
    expect(record.stages.find((s) => s.name === "first")!.status).toBe("ran")
    expect(record.stages.find((s) => s.name === "second")!.error).toBe(
      'stage "second" failed: its code changed during the run (stages/chain.ts), so it would not run the code its cache key names; run again')
    const again = await project.run("pipelines/chain.ts", { cores: 1 })
    expect(again.status).toBe("success")
    expect(ran(again)).toEqual(["first", "second"]) // the first's code changed too
  })
})
