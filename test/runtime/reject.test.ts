import { afterEach, describe, expect, it } from "vitest"
import { makeProject, type Project, RUNTIME } from "./fixture.ts"

let project: Project | undefined
afterEach(() => project?.remove())

const files = {
  "stages/s.ts": `import { Effect, Schema } from "effect"
import { Col, Stage, Table } from "${RUNTIME}"
const Row = Schema.Struct({ id: Col.int32 })
export const keepEven = Stage.define({
  name: "keep-even", version: 1,
  params: Schema.Struct({ n: Schema.Int, from: Schema.optionalWith(Schema.Int, { default: () => 0 }) }),
  output: Table(Row),
  run: (_i, p, ctx) => Effect.gen(function* () {
    const rows = []
    for (let id = p.from; id < p.n; id++) {
      if (id % 2 === 1) yield* ctx.reject("item-" + id, "odd numbers cannot be read")
      else if (id >= 10) yield* ctx.skip("item-" + id, "too big to keep")
      else rows.push({ id })
    }
    return rows
  }),
})
`,
  "pipelines/p.ts": `import { Pipeline, use } from "${RUNTIME}"
import { keepEven } from "../stages/s.ts"
export default Pipeline.define("p", { even: use(keepEven, { params: { n: 4 } }) })
`,
}

describe("rejected input items", () => {
  it("are set aside and listed, also when the result is cached; --strict fails on them", async () => {
    project = makeProject(files)
    const first = await project.run("pipelines/p.ts")
    expect(first.status).toBe("success")
    const expected = [{ item: "item-1", reason: "odd numbers cannot be read" }, { item: "item-3", reason: "odd numbers cannot be read" }]
    expect(first.stages[0]!.rejected).toEqual(expected)
    expect(first.stages[0]!.rows).toBe(2)
    const cached = await project.run("pipelines/p.ts")
    expect(cached.stages[0]!.status).toBe("cached")
    expect(cached.stages[0]!.rejected).toEqual(expected)
    const strict = await project.run("pipelines/p.ts", { strict: true })
    expect(strict.status).toBe("failed")
    expect(strict.stages[0]!.error).toBe("2 input items rejected under --strict; first: item-1: odd numbers cannot be read")
  })

  it("are printed under the summary by the CLI", async () => {
    project = makeProject(files)
    const run = await project.cli(["run", "pipelines/p.ts"])
    expect(run.code).toBe(0)
    expect(run.stdout).toContain("even: item-3: odd numbers cannot be read")
    const strict = await project.cli(["run", "pipelines/p.ts", "--strict"])
    expect(strict.code).toBe(1)
  })

  it("skipped items are listed but do not fail --strict", async () => {
    project = makeProject({ ...files, "pipelines/p.ts": files["pipelines/p.ts"].replace("{ n: 4 }", "{ n: 13 }") })
    const cli = await project.cli(["run", "pipelines/p.ts"])
    expect(cli.stdout).toContain("left out:\n  even: item-10: too big to keep\n  even: item-12: too big to keep")
    project.write("pipelines/only-big.ts", files["pipelines/p.ts"].replace("{ n: 4 }", "{ n: 11, from: 10 }"))
    const strict = await project.run("pipelines/only-big.ts", { strict: true })
    expect(strict.status).toBe("success")
    expect(strict.stages[0]!.rejected).toEqual([{ item: "item-10", reason: "too big to keep", skipped: true }])
  })
})
