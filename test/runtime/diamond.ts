/** The source of a six-stage pipeline with a diamond, used by the runtime tests. */
import { RUNTIME } from "./fixture.ts"

const header = `import { Effect, Schema } from "effect"\nimport { Col, Json, Stage, Table } from "${RUNTIME}"\nimport { Num, Count } from "./contracts.ts"\n`

/** Files of the diamond project: numbers → (evens, odds) → join; numbers → scale; (join, scale) → report. */
export const diamondFiles = (sleepMs = 0): Record<string, string> => ({
  "stages/contracts.ts": `import { Schema } from "effect"\nimport { Col } from "${RUNTIME}"\n` +
    `export const Num = Schema.Struct({ id: Col.int32, value: Col.float64, group: Col.dictionary })\n` +
    `export const Count = Schema.Struct({ count: Schema.Number, sum: Schema.Number })\n`,
  "stages/numbers.ts": header + `
export const numbers = Stage.define({
  name: "numbers", version: 1,
  params: Schema.Struct({ n: Schema.Int, groups: Schema.optionalWith(Schema.Int, { default: () => 4 }) }),
  output: Table(Num),
  run: (_inputs, p) => Effect.gen(function* () {
    yield* Effect.sleep(${sleepMs})
    return Array.from({ length: p.n }, (_, id) => ({ id, value: id, group: "g" + (id % p.groups) }))
  }),
})
`,
  "stages/filter.ts": header + `
const keep = (odd: boolean) => ({ numbers }: { numbers: import("${RUNTIME}").TableReader<typeof Num.Type> }) =>
  Effect.map(numbers.all(), (rows) => rows.filter((r) => (r.id % 2 === 1) === odd))
export const evens = Stage.define({ name: "evens", version: 1, inputs: { numbers: Table(Num) }, output: Table(Num), run: keep(false) })
export const odds = Stage.define({ name: "odds", version: 1, inputs: { numbers: Table(Num) }, output: Table(Num), run: keep(true) })
`,
  "stages/join.ts": header + `
export const join = Stage.define({
  name: "join", version: 1,
  inputs: { evens: Table(Num), odds: Table(Num) },
  output: Json(Count),
  run: ({ evens, odds }) => Effect.gen(function* () {
    const rows = [...(yield* evens.all()), ...(yield* odds.all())]
    return { count: rows.length, sum: rows.reduce((a, r) => a + r.value, 0) }
  }),
})
`,
  "stages/scale.ts": header + `
export const scale = Stage.define({
  name: "scale", version: 1,
  params: Schema.Struct({ factor: Schema.Number }),
  inputs: { numbers: Table(Num) },
  output: Table(Num),
  run: ({ numbers }, p) => Effect.map(numbers.all(), (rows) => rows.map((r) => ({ ...r, value: r.value * p.factor }))),
})
`,
  "stages/report.ts": header + `
export const report = Stage.define({
  name: "report", version: 1,
  inputs: { join: Json(Count), scaled: Table(Num) },
  output: Json(Count),
  shows: ["*.json"],
  run: ({ join, scaled }) => Effect.map(scaled.all(), (rows) => ({ count: join.count + rows.length, sum: join.sum + rows.reduce((a, r) => a + r.value, 0) })),
})
`,
  "pipelines/diamond.ts": `import { Pipeline, use } from "${RUNTIME}"
import { numbers } from "../stages/numbers.ts"
import { evens, odds } from "../stages/filter.ts"
import { join } from "../stages/join.ts"
import { scale } from "../stages/scale.ts"
import { report } from "../stages/report.ts"

export default Pipeline.define("diamond", {
  numbers: use(numbers, { params: { n: 20 } }),
  evens: use(evens, { inputs: { numbers: "numbers" } }),
  odds: use(odds, { inputs: { numbers: "numbers" } }),
  join: use(join, { inputs: { evens: "evens", odds: "odds" } }),
  scale: use(scale, { params: { factor: 2 }, inputs: { numbers: "numbers" } }),
  report: use(report, { inputs: { join: "join", scaled: "scale" } }),
})
`,
})
