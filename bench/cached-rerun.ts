/**
 * A fully cached re-run against its peer, Snakemake with everything up to date:
 *
 *   npm run bench -- cached-rerun
 *
 * Generates a 10-stage pipeline (a chain with a diamond; small tables and JSON), runs it once, then
 * times `jukeflow run pipelines/ten.ts` as a whole process (median of 9 after a warm-up), beside
 * `node -e 0` and `snakemake --cores 1 -q` on a 10-rule Snakefile of the same shape (median of 5).
 * Snakemake is installed with apt-get when missing and we are root; if it cannot be had, its
 * figures are null. Ends with one JSON line; `ratioVsSnakemake` is jukeflow time / Snakemake time.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { emit, ensureDebianTool, jukeflow, median, repeat, round3, RUNTIME, SPREAD, spread, table, timeProcess, type Timed, writeProject } from "./lib.ts"

const RUNS = 9
const SNAKEMAKE_RUNS = 5
const GOAL_SECONDS = 0.3

const header = `import { Effect, Schema } from "effect"\nimport { Col, Json, Stage, Table, type TableReader } from "${RUNTIME}"\n`

/** gen → double → (evens, odds) → merge → scale → top → bucket → stats → report. */
const jukeflowFiles: Record<string, string> = {
  "stages/ten.ts": header + `
export const Num = Schema.Struct({ id: Col.int32, value: Col.float64, group: Col.dictionary })
export const Summary = Schema.Struct({ count: Schema.Number, sum: Schema.Number })
type Nums = TableReader<typeof Num.Type>
const map = (f: (rows: ReadonlyArray<typeof Num.Type>) => ReadonlyArray<typeof Num.Type>) => ({ numbers }: { numbers: Nums }) =>
  Effect.map(numbers.all(), f)
const step = (name: string, f: (rows: ReadonlyArray<typeof Num.Type>) => ReadonlyArray<typeof Num.Type>) =>
  Stage.define({ name, version: 1, inputs: { numbers: Table(Num) }, output: Table(Num), run: map(f) })

export const gen = Stage.define({
  name: "gen", version: 1,
  params: Schema.Struct({ n: Schema.Int }),
  output: Table(Num),
  run: (_inputs, p) => Effect.succeed(Array.from({ length: p.n }, (_, id) => ({ id, value: id, group: "g" + (id % 4) }))),
})
export const double = step("double", (rows) => rows.map((r) => ({ ...r, value: r.value * 2 })))
export const evens = step("evens", (rows) => rows.filter((r) => r.id % 2 === 0))
export const odds = step("odds", (rows) => rows.filter((r) => r.id % 2 === 1))
export const merge = Stage.define({
  name: "merge", version: 1,
  inputs: { evens: Table(Num), odds: Table(Num) },
  output: Table(Num),
  run: ({ evens, odds }) => Effect.gen(function* () {
    return [...(yield* evens.all()), ...(yield* odds.all())].sort((a, b) => a.id - b.id)
  }),
})
export const scale = step("scale", (rows) => rows.map((r) => ({ ...r, value: r.value / 3 })))
export const top = step("top", (rows) => rows.filter((r) => r.value > 10))
export const bucket = step("bucket", (rows) => rows.map((r) => ({ ...r, group: "b" + Math.floor(r.value / 10) })))
export const stats = Stage.define({
  name: "stats", version: 1,
  inputs: { numbers: Table(Num) },
  output: Json(Summary),
  run: ({ numbers }) => Effect.map(numbers.all(), (rows) => ({ count: rows.length, sum: rows.reduce((a, r) => a + r.value, 0) })),
})
export const report = Stage.define({
  name: "report", version: 1,
  inputs: { stats: Json(Summary) },
  output: Json(Summary),
  run: ({ stats }) => Effect.succeed({ count: stats.count, sum: Math.round(stats.sum) }),
})
`,
  "pipelines/ten.ts": `import { Pipeline, use } from "${RUNTIME}"
import { bucket, double, evens, gen, merge, odds, report, scale, stats, top } from "../stages/ten.ts"

export default Pipeline.define("ten", {
  gen: use(gen, { params: { n: 200 } }),
  double: use(double, { inputs: { numbers: "gen" } }),
  evens: use(evens, { inputs: { numbers: "double" } }),
  odds: use(odds, { inputs: { numbers: "double" } }),
  merge: use(merge, { inputs: { evens: "evens", odds: "odds" } }),
  scale: use(scale, { inputs: { numbers: "merge" } }),
  top: use(top, { inputs: { numbers: "scale" } }),
  bucket: use(bucket, { inputs: { numbers: "top" } }),
  stats: use(stats, { inputs: { numbers: "bucket" } }),
  report: use(report, { inputs: { stats: "stats" } }),
})
`,
}

/** The same shape as rules (upstream rule → its inputs); each writes a small file from its input. */
const RULES: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  ["gen", []], ["double", ["gen"]], ["evens", ["double"]], ["odds", ["double"]], ["merge", ["evens", "odds"]],
  ["scale", ["merge"]], ["top", ["scale"]], ["bucket", ["top"]], ["stats", ["bucket"]], ["report", ["stats"]],
]
const SNAKEFILE = [
  `rule all:\n    input: "out/report.txt"\n`,
  ...RULES.map(([name, inputs]) => inputs.length === 0
    ? `rule ${name}:\n    output: "out/${name}.txt"\n    shell: "seq 0 199 > {output}"\n`
    : `rule ${name}:\n    input: ${inputs.map((i) => `"out/${i}.txt"`).join(", ")}\n    output: "out/${name}.txt"\n    shell: "sort -n {input} > {output}"\n`),
].join("\n")



/** Snakemake's up-to-date runs, or undefined when it is not available or does not work. */
const snakemakeRuns = (dir: string): Timed[] | undefined => {
  if (!ensureDebianTool("snakemake")) return undefined
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, "Snakefile"), SNAKEFILE)
  const args = ["--cores", "1", "-q"]
  const first = timeProcess("snakemake", args, dir)
  if (first.status !== 0) {
    console.log(`snakemake failed (exit ${first.status}): its figures are null\n${first.stderr.slice(-2000)}`)
    return undefined
  }
  const runs = repeat(SNAKEMAKE_RUNS, 1, () => timeProcess("snakemake", args, dir))
  const dryRun = timeProcess("snakemake", ["--cores", "1", "-n"], dir)
  if (!/Nothing to be done/i.test(dryRun.stdout + dryRun.stderr)) console.log("warning: snakemake does not say that everything is up to date")
  return runs
}

const main = () => {
  const root = mkdtempSync(join(tmpdir(), "jukeflow-bench-cached-"))
  try {
    const project = join(root, "jukeflow")
    writeProject(project, jukeflowFiles)
    const first = jukeflow(["run", "pipelines/ten.ts"], project)
    // Interleaved, so that a slow moment of the machine weighs on both alike.
    const pairs = repeat(RUNS, 1, () => [jukeflow(["run", "pipelines/ten.ts"], project), timeProcess(process.execPath, ["-e", "0"], root)] as const)
    const runs = pairs.map(([run]) => run)
    const node = pairs.map(([, bare]) => bare)
    const notCached = runs.filter((r) => !/\b0 ran, 10 cached\b/.test(r.stdout))
    const snakemake = snakemakeRuns(join(root, "snakemake"))

    const seconds = median(runs.map((r) => r.seconds))
    const nodeSeconds = median(node.map((r) => r.seconds))
    const snakemakeSeconds = snakemake ? median(snakemake.map((r) => r.seconds)) : null
    console.log(`10-stage pipeline (chain with a diamond), first full run ${first.seconds.toFixed(2)} s; cached re-runs as whole processes`)
    console.log(table(["command", ...SPREAD], [
      ["jukeflow run pipelines/ten.ts (cached)", ...spread(runs)],
      ["node -e 0", ...spread(node)],
      ["snakemake --cores 1 -q (up to date)", ...(snakemake ? spread(snakemake) : ["unavailable", "-", "-", "0"])],
    ], 80))
    console.log(`last re-run said: ${runs.at(-1)!.stdout.trim().split("\n").at(-1)}`)
    console.log(notCached.length === 0
      ? `cached: all ${runs.length} re-runs said "0 ran, 10 cached"`
      : `NOT CACHED: ${notCached.length} of ${runs.length} re-runs ran something`)
    console.log(`jukeflow above bare node: ${(seconds - nodeSeconds).toFixed(3)} s; goal ${GOAL_SECONDS} s: ${seconds <= GOAL_SECONDS ? "met" : "missed"}` +
      (snakemakeSeconds ? `; ${(snakemakeSeconds / seconds).toFixed(1)}x faster than Snakemake` : ""))
    emit({
      bench: "cached-rerun",
      seconds: round3(seconds),
      nodeSeconds: round3(nodeSeconds),
      snakemakeSeconds: snakemakeSeconds === null ? null : round3(snakemakeSeconds),
      ratioVsSnakemake: snakemakeSeconds === null ? null : round3(seconds / snakemakeSeconds),
      cached: notCached.length === 0,
    })
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

main()
