/**
 * `ctx.pipeline`: a stage sees the run it is part of — every stage with its inputs, and each
 * one's status and time so far — in the runner's process and in a process of its own.
 *
 *   npx vitest run test/runtime/pipeline-state.test.ts
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import type { PipelineState } from "../../runtime/index.ts"
import { makeProject, type Project, RUNTIME } from "./fixture.ts"

let project: Project | undefined
afterEach(() => project?.remove())

const files = {
  "stages/s.ts": `import { Effect, Schema } from "effect"
import { Json, Stage } from "${RUNTIME}"
export const source = Stage.define({ name: "source", version: 1, output: Json(Schema.Number), run: () => Effect.succeed(1) })
const State = Schema.Unknown
export const look = Stage.define({ name: "look", version: 1, inputs: { n: Json(Schema.Number) }, output: Json(State), run: (_i, _p, ctx) => Effect.succeed(ctx.pipeline) })
export const lookAlone = Stage.define({ name: "look-alone", version: 1, isolated: true, inputs: { n: Json(Schema.Number) }, output: Json(State), run: (_i, _p, ctx) => Effect.succeed(ctx.pipeline) })
`,
  "pipelines/p.ts": `import { Pipeline, use } from "${RUNTIME}"
import { look, lookAlone, source } from "../stages/s.ts"
export default Pipeline.define("states", {
  source: use(source),
  look: use(look, { inputs: { n: "source" } }),
  "look-alone": use(lookAlone, { inputs: { n: "source" } }),
})
`,
}

describe("ctx.pipeline", () => {
  it("gives every stage of the run with its inputs and its state when the stage started, in process and isolated", async () => {
    project = makeProject(files)
    const first = await project.run("pipelines/p.ts")
    const seen = (name: string) => JSON.parse(readFileSync(join(project!.store.objectDir(first.stages.find((s) => s.name === name)!.artifact!), "value.json"), "utf8")) as PipelineState
    for (const name of ["look", "look-alone"]) {
      const state = seen(name)
      expect(state.name).toBe("states")
      expect(state.stages.map((s) => [s.name, s.stage, s.inputs])).toEqual([
        ["source", "source", {}], ["look", "look", { n: "source" }], ["look-alone", "look-alone", { n: "source" }],
      ])
      const source = state.stages[0]!
      expect([source.status, source.reason]).toEqual(["ran", "no cached result"])
      expect(source.seconds).toBeGreaterThanOrEqual(0)
      expect(state.stages.find((s) => s.name === name)!.status).toBe("pending") // itself, still running
    }
    // a cached source is seen as cached
    const again = await project.run("pipelines/p.ts", { force: ["look"] })
    const state = JSON.parse(readFileSync(join(project.store.objectDir(again.stages.find((s) => s.name === "look")!.artifact!), "value.json"), "utf8")) as PipelineState
    expect(state.stages[0]!.status).toBe("cached")
  })
})
