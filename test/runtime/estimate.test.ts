/** A stage's `estimate` in `plan` (full and cached fast path), and a plan whose declared files are not there yet. */
import { afterEach, describe, expect, it, vi } from "vitest"
import { tryCachedRun } from "../../runtime/cli/fastpath.js"
import { makeProject, type Project, RUNTIME } from "./fixture.ts"

let project: Project | undefined
afterEach(() => project?.remove())

const files = {
  "stages/fit.ts": `import { Effect, Schema } from "effect"
import { readFileSync } from "node:fs"
import { Json, Stage } from "${RUNTIME}"
export const fit = Stage.define({
  name: "fit", version: 1,
  params: Schema.Struct({ width: Schema.Int, data: Schema.String }),
  output: Json(Schema.Number),
  files: ({ params }) => Effect.succeed([params.data]),
  estimate: (p) => {
    if (p.width < 1) throw new RangeError("width must be at least 1")
    return { parameters: p.width * 1_000_000, buffers: p.width }
  },
  run: (_inputs, p, ctx) => Effect.sync(() => readFileSync(ctx.resolve(p.data), "utf8").length * p.width),
})
export const count = Stage.define({
  name: "count", version: 1, inputs: { fitted: Json(Schema.Number) }, output: Json(Schema.Number),
  run: ({ fitted }) => Effect.succeed(fitted + 1),
})
`,
  "pipelines/fit.ts": `import { Pipeline, use } from "${RUNTIME}"
import { count, fit } from "../stages/fit.ts"
export default Pipeline.define("fit", {
  fit: use(fit, { params: { width: 3, data: "data/x.txt" } }),
  count: use(count, { inputs: { fitted: "fit" } }),
})
`,
}

describe("plan: model sizes and files still to come", () => {
  it("says a stage whose declared file is missing will run, with its model size; run fails on the file", async () => {
    project = makeProject(files)
    const plan = await project.cli(["plan", "pipelines/fit.ts", "--json"])
    expect(plan.code, plan.stderr).toBe(0)
    expect(JSON.parse(plan.stdout).stages).toEqual([
      { stage: "fit", action: "will run", reason: "file missing: data/x.txt", size: { parameters: 3_000_000, buffers: 3, weightBytes: 12_000_012, adamBytes: 24_000_000 } },
      { stage: "count", action: "will run", reason: "input changed: fit" },
    ])
    const text = await project.cli(["plan", "pipelines/fit.ts"])
    expect(text.stdout).toMatch(/^stage\s+plan\s+params\s+weights \+ Adam\s+reason\n/)
    expect(text.stdout).toMatch(/fit\s+will run\s+3M\s+34\.3 MB\s+file missing: data\/x\.txt/)
    expect(text.stdout).toMatch(/\nweights \+ Adam: float32, 4 bytes per weight \(and buffer\) \+ 8 per parameter/)
    const run = await project.cli(["run", "pipelines/fit.ts", "--json"])
    expect(run.code).toBe(1)
    expect(JSON.parse(run.stdout).stages[0].error).toBe(`stage "fit" failed: declared file data/x.txt is missing`)
  })

  it("prints the same sizes from a cached run's snapshot as from the full plan", async () => {
    project = makeProject(files)
    project.write("data/x.txt", "hello")
    expect((await project.cli(["run", "pipelines/fit.ts"])).code).toBe(0)
    for (const json of [[], ["--json"]]) {
      const full = await project.cli(["plan", "pipelines/fit.ts", "--set", "fit.width=3", ...json]) // --set takes the full path
      const written: string[] = []
      const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => (written.push(String(chunk)), true))
      const code = await tryCachedRun(["plan", project.path("pipelines/fit.ts"), ...json]).finally(() => spy.mockRestore())
      expect(code).toBe(0) // answered from the snapshot (undefined: handed to the full runner)
      expect(written.join("")).toBe(full.stdout)
    }
    expect((await project.cli(["plan", "pipelines/fit.ts"])).stdout).toMatch(/fit\s+cached\s+3M\s+34\.3 MB/)
  })

  it("reports an estimate that throws like a bad param, naming the stage", async () => {
    project = makeProject(files)
    const plan = await project.cli(["plan", "pipelines/fit.ts", "--set", "fit.width=0"])
    expect(plan.code).toBe(2)
    expect(plan.stderr).toMatch(/pipelines\/fit\.ts:4: stage "fit", its model size: width must be at least 1/)
  })
})
