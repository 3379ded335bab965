import { Effect, Exit, Schema } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { makeProject, type Project, RUNTIME } from "./fixture.ts"
import { loadGraph } from "../../runtime/cli/load.ts"

let project: Project | undefined
afterEach(() => project?.remove())

const stages = `import { Effect, Schema } from "effect"
import { Col, Json, Stage, Table } from "${RUNTIME}"
export const Row = Schema.Struct({ id: Col.int32 })
export const source = Stage.define({
  name: "source", version: 1,
  params: Schema.Struct({ n: Schema.Int.pipe(Schema.positive()), label: Schema.optionalWith(Schema.String, { default: () => "x" }) }),
  output: Table(Row),
  run: (_i, p) => Effect.succeed(Array.from({ length: p.n }, (_, id) => ({ id }))),
})
export const pass = Stage.define({
  name: "pass", version: 1, inputs: { rows: Table(Row) }, output: Table(Row), run: ({ rows }) => rows.all(),
})
export const count = Stage.define({
  name: "count", version: 1, inputs: { rows: Table(Row) }, output: Json(Schema.Number), run: ({ rows }) => Effect.succeed(rows.rows),
})
`

/** The error message of loading `pipeline`, or "ok". */
const load = async (pipeline: string, overrides = {}) => {
  project = makeProject({ "stages/s.ts": stages, "pipelines/p.ts": pipeline })
  const exit = await Effect.runPromiseExit(loadGraph(project.path("pipelines/p.ts"), overrides))
  if (Exit.isSuccess(exit)) return "ok"
  const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  return failure ? failure.message : String(exit.cause)
}

const head = `import { Pipeline, use } from "${RUNTIME}"\nimport { source, pass, count } from "../stages/s.ts"\n`

describe("pipeline validation, before anything runs", () => {
  it("accepts a good pipeline", async () => {
    expect(await load(head + `export default Pipeline.define("p", { source: use(source, { params: { n: 3 } }) })\n`)).toBe("ok")
  })

  it("names the file, line, stage and field of a bad param", async () => {
    const message = await load(head + `export default Pipeline.define("p", {\n  source: use(source, { params: { n: -1 } }),\n})\n`)
    expect(message).toMatch(/^pipelines\/p\.ts:4: stage "source", param "n": Expected a positive number, actual -1/)
  })

  it("names a param set with --set that does not decode", async () => {
    const message = await load(head + `export default Pipeline.define("p", { source: use(source, { params: { n: 3 } }) })\n`, { source: { n: "many" } })
    expect(message).toMatch(/stage "source", param "n" \(from --set\): Expected number, actual "many"/)
  })

  it("rejects an unknown param", async () => {
    const message = await load(head + `export default Pipeline.define("p", { source: use(source, { params: { n: 3, size: 4 } as never }) })\n`)
    expect(message).toMatch(/stage "source", param "size": is unexpected/)
  })

  it("names a cycle", async () => {
    const message = await load(head + `export default Pipeline.define("p", {
  a: use(pass, { inputs: { rows: "c" } }),
  b: use(pass, { inputs: { rows: "a" } }),
  c: use(pass, { inputs: { rows: "b" } }),
} as never)\n`)
    expect(message).toMatch(/^pipelines\/p\.ts:\d+: pipeline "p" has a cycle: a → c → b → a$/)
  })

  it("names a missing input", async () => {
    const message = await load(head + `export default Pipeline.define("p", {\n  total: use(count, { inputs: { rows: "nowhere" } } as never),\n} as never)\n`)
    expect(message).toBe(`pipelines/p.ts:4: stage "total", input "rows": no stage named "nowhere" in pipeline "p"`)
  })

  it("names an unwired input", async () => {
    const message = await load(head + `export default Pipeline.define("p", {\n  total: use(count, { inputs: {} } as never),\n} as never)\n`)
    expect(message).toBe(`pipelines/p.ts:4: stage "total", input "rows": not wired; name the stage that produces it`)
  })

  it("names an input of the wrong kind", async () => {
    const message = await load(head + `export default Pipeline.define("p", {
  source: use(source, { params: { n: 3 } }),
  total: use(count, { inputs: { rows: "source" } }),
  again: use(pass, { inputs: { rows: "total" } } as never),
} as never)\n`)
    expect(message).toMatch(/stage "again", input "rows": expects Table\(id: int32\) but "total" outputs Json/)
  })

  it("names a duplicate stage name", async () => {
    const message = await load(head + `const base = Pipeline.define("base", { source: use(source, { params: { n: 3 } }) })
export default Pipeline.extend(base, "p", {
  source: use(source, { params: { n: 4 } }),
} as never)\n`)
    expect(message).toBe(`pipelines/p.ts:5: stage name "source" is used twice in pipeline "p" (first at pipelines/p.ts:3)`)
  })

  it("names a --set target that does not exist", async () => {
    const message = await load(head + `export default Pipeline.define("p", { source: use(source, { params: { n: 3 } }) })\n`, { chunk: { seconds: "4" } })
    expect(message).toBe(`--set: no stage named "chunk" in pipeline "p" (stages: source)`)
  })

  it("says when a file exports no pipeline", async () => {
    expect(await load(`export const x = 1\n`)).toMatch(/exports no pipeline/)
  })
})

describe("Schema contracts are Effect Schemas", () => {
  it("rejects a table that is not a struct", async () => {
    const { Table } = await import("../../runtime/artifact.ts")
    expect(() => Table(Schema.Number as never)).toThrow(/Schema.Struct/)
  })
})
