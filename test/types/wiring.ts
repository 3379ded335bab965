import { Effect, Schema } from "effect"
import { Col } from "../../runtime/columns.ts"
import { Files, Json, Table } from "../../runtime/artifact.ts"
import { Stage } from "../../runtime/stage.ts"
import { Pipeline, use } from "../../runtime/pipeline.ts"

const Num = Schema.Struct({ id: Col.int32, value: Col.float32 })
const Summary = Schema.Struct({ total: Schema.Number })

const gen = Stage.define({
  name: "gen", version: 1,
  params: Schema.Struct({ n: Schema.Int }),
  output: Table(Num),
  run: (_i, p) => Effect.succeed(Array.from({ length: p.n }, (_, id) => ({ id, value: id }))),
})
const sum = Stage.define({
  name: "sum", version: 1,
  inputs: { numbers: Table(Num) },
  output: Json(Summary),
  run: ({ numbers }) => Effect.map(numbers.all(), (rows) => ({ total: rows.reduce((a, r) => a + r.value, 0) })),
})
const twice = Stage.define({
  name: "twice", version: 1,
  inputs: { summary: Json(Summary) },
  output: Json(Summary),
  run: ({ summary }) => Effect.succeed({ total: summary.total * 2 }),
})

export const ok = Pipeline.define("ok", {
  gen: use(gen, { params: { n: 3 } }),
  sum: use(sum, { inputs: { numbers: "gen" } }),
  twice: use(twice, { inputs: { summary: "sum" } }),
})

export const bad = Pipeline.define("bad", {
  gen: use(gen, { params: { n: 3 } }),
  // @ts-expect-error a table output wired into a JSON input
  sum: use(twice, { inputs: { summary: "gen" } }),
})

export const badParam = Pipeline.define("bad", {
  // @ts-expect-error param of the wrong type
  gen: use(gen, { params: { n: "3" } }),
})
export const missing = Pipeline.define("bad", {
  // @ts-expect-error missing inputs
  sum: use(sum, {}),
})

// Tables of different row schemas do not mix, nor do file sets with different labels.
const Other = Schema.Struct({ id: Col.int32 })
const narrow = Stage.define({
  name: "narrow", version: 1, inputs: { rows: Table(Other) }, output: Files("wav"),
  run: () => Effect.void,
})
const needsMidi = Stage.define({
  name: "needs-midi", version: 1, inputs: { files: Files("midi") }, output: Files("midi"),
  run: () => Effect.void,
})
export const mixedTables = Pipeline.define("mixed", {
  gen: use(gen, { params: { n: 3 } }),
  // @ts-expect-error Table(Num) wired into an input of Table(Other)
  narrow: use(narrow, { inputs: { rows: "gen" } }),
})
export const mixedFiles = Pipeline.define("mixed", {
  gen: use(gen, { params: { n: 3 } }),
  narrow: use(narrow, { inputs: { rows: "gen" as never } }),
  // @ts-expect-error Files("wav") wired into an input of Files("midi")
  midi: use(needsMidi, { inputs: { files: "narrow" } }),
})
