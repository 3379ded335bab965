import { afterEach, describe, expect, it } from "vitest"
import { diamondFiles } from "./diamond.ts"
import { makeProject, type Project, ran, statuses } from "./fixture.ts"

let project: Project | undefined
afterEach(() => project?.remove())

describe("runner on a six-stage diamond", () => {
  it("runs everything once, then nothing", async () => {
    project = makeProject(diamondFiles())
    const first = await project.run("pipelines/diamond.ts")
    expect(first.status).toBe("success")
    expect(ran(first)).toEqual(["evens", "join", "numbers", "odds", "report", "scale"])
    const second = await project.run("pipelines/diamond.ts")
    expect(ran(second)).toEqual([])
    expect(Object.values(statuses(second)).every((s) => s === "cached")).toBe(true)
  })

  it("re-runs exactly the stages downstream of a changed param", async () => {
    project = makeProject(diamondFiles())
    await project.run("pipelines/diamond.ts")
    const changed = await project.run("pipelines/diamond.ts", { overrides: { scale: { factor: "3" } } })
    expect(ran(changed)).toEqual(["report", "scale"])
    expect(changed.stages.find((s) => s.name === "scale")!.reason).toBe("params changed: factor 2 → 3")
    expect(changed.stages.find((s) => s.name === "report")!.reason).toBe("input changed: scale")
  })

  it("changing the source param re-runs the whole diamond below it", async () => {
    project = makeProject(diamondFiles())
    await project.run("pipelines/diamond.ts")
    const changed = await project.run("pipelines/diamond.ts", { overrides: { numbers: { n: "21" } } })
    expect(ran(changed)).toEqual(["evens", "join", "numbers", "odds", "report", "scale"])
  })

  it("keeps downstream cached when a re-run produces identical bytes (early cut-off)", async () => {
    project = makeProject(diamondFiles())
    await project.run("pipelines/diamond.ts")
    // a comment changes odds' code but not its output
    project.write("stages/filter.ts", `${diamondFiles()["stages/filter.ts"]}\n// a comment\n`)
    const again = await project.run("pipelines/diamond.ts")
    expect(ran(again)).toEqual(["evens", "odds"])
    expect(statuses(again).join).toBe("cached")
    expect(again.stages.find((s) => s.name === "odds")!.reason).toBe("code changed: stages/filter.ts")
  })

  it("plans without running and says why", async () => {
    project = makeProject(diamondFiles())
    const plan = await project.run("pipelines/diamond.ts", { dryRun: true })
    expect(Object.values(statuses(plan)).every((s) => s === "will-run")).toBe(true)
    expect(plan.stages[0]!.reason).toBe("no cached result")
    expect(ran(await project.run("pipelines/diamond.ts"))).toHaveLength(6)
  })

  it("honours --only, --from, --until and --force", async () => {
    project = makeProject(diamondFiles())
    const until = await project.run("pipelines/diamond.ts", { until: ["join"] })
    expect(ran(until)).toEqual(["evens", "join", "numbers", "odds"])
    expect(statuses(until).scale).toBe("skipped")
    const only = await project.run("pipelines/diamond.ts", { only: ["report"] })
    expect(statuses(only).report).toBe("skipped")
    expect(only.status).toBe("failed")
    const from = await project.run("pipelines/diamond.ts", { from: ["scale"] })
    expect(ran(from)).toEqual(["report", "scale"])
    const forced = await project.run("pipelines/diamond.ts", { force: ["evens"] })
    expect(ran(forced)).toEqual(["evens"])
    expect(forced.stages.find((s) => s.name === "evens")!.reason).toBe("forced")
  })
})

describe("artifact kinds", () => {
  it("publishes a checkpoint folder and a file set, and hands them downstream", async () => {
    const { RUNTIME } = await import("./fixture.ts")
    project = makeProject({
      "stages/ckpt.ts": `import { Effect, Schema } from "effect"
import { writeFileSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { Checkpoint, Files, Json, Stage } from "${RUNTIME}"
const Config = Schema.Struct({ width: Schema.Int, step: Schema.Int })
export const train = Stage.define({
  name: "train", version: 1, output: Checkpoint(Config),
  run: (_i, _p, ctx) => Effect.sync(() => { writeFileSync(join(ctx.outDir, "weights.bin"), new Uint8Array([1, 2, 3])); return { width: 8, step: 100 } }),
})
export const render = Stage.define({
  name: "render", version: 1, inputs: { model: Checkpoint(Config) }, output: Files("wav"),
  run: ({ model }, _p, ctx) => Effect.sync(() => writeFileSync(join(ctx.outDir, "out.txt"), model.config.width + ":" + readFileSync(join(model.dir, "weights.bin")).length)),
})
export const list = Stage.define({
  name: "list", version: 1, inputs: { files: Files("wav") }, output: Json(Schema.Array(Schema.String)),
  run: ({ files }) => Effect.sync(() => files.files.map((f) => readFileSync(f, "utf8"))),
})
`,
      "pipelines/p.ts": `import { Pipeline, use } from "${RUNTIME}"
import { train, render, list } from "../stages/ckpt.ts"
export default Pipeline.define("p", { train: use(train), render: use(render, { inputs: { model: "train" } }), list: use(list, { inputs: { files: "render" } }) })
`,
    })
    const record = await project.run("pipelines/p.ts")
    expect(record.status).toBe("success")
    const { readFileSync } = await import("node:fs")
    const list = record.stages.find((s) => s.name === "list")!
    expect(JSON.parse(readFileSync(`${project.store.objectDir(list.artifact!)}/value.json`, "utf8"))).toEqual(["8:3"])
    const train = record.stages.find((s) => s.name === "train")!
    expect(JSON.parse(readFileSync(`${project.store.objectDir(train.artifact!)}/config.json`, "utf8"))).toEqual({ step: 100, width: 8 })
  })
})
