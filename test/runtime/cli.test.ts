import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { diamondFiles } from "./diamond.ts"
import { makeProject, type Project } from "./fixture.ts"

let project: Project | undefined
afterEach(() => project?.remove())

const listDeep = (dir: string): string[] =>
  existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listDeep(join(dir, e.name)) : [join(dir, e.name)])) : []

/** Resolves when `stream` has printed text matching `pattern`. */
const waitFor = (child: ReturnType<Project["spawnCli"]>, pattern: RegExp) =>
  new Promise<void>((resolve, reject) => {
    let seen = ""
    child.stderr!.on("data", (d) => {
      seen += d
      if (pattern.test(seen)) resolve()
    })
    child.on("close", () => reject(new Error(`exited before ${pattern}: ${seen}`)))
  })

const exited = (child: ReturnType<Project["spawnCli"]>) =>
  new Promise<number | null>((resolve) => child.on("close", (code, signal) => resolve(code ?? (signal ? -1 : null))))

describe("jukeflow CLI", () => {
  it("runs, prints a summary, and a second run is fully cached; exit codes", async () => {
    project = makeProject(diamondFiles())
    const first = await project.cli(["run", "pipelines/diamond.ts"])
    expect(first.code).toBe(0)
    expect(first.stdout).toMatch(/stage\s+state\s+time\s+output\s+rows\s+reason/)
    expect(first.stdout).toMatch(/done: 6 ran, 0 cached/)
    const shown = /to look at:\n  report  \.jukeflow\/objects\/[0-9a-f]{2}\/[0-9a-f]{64}\/value\.json\n/
    expect(first.stdout).toMatch(shown) // the files a stage's `shows` names, under the summary
    const second = await project.cli(["run", "pipelines/diamond.ts"])
    expect(second.stdout).toMatch(/done: 0 ran, 6 cached/)
    expect(second.stdout).toMatch(shown) // the cached fast path too
    const plan = await project.cli(["plan", "pipelines/diamond.ts", "--set", "scale.factor=5", "--json"])
    const planned = JSON.parse(plan.stdout) as { stages: Array<{ stage: string; action: string; reason: string }> }
    expect(planned.stages.filter((s) => s.action === "will run").map((s) => s.stage)).toEqual(["scale", "report"])
    expect(planned.stages.find((s) => s.stage === "scale")!.reason).toBe("params changed: factor 2 → 5")
    expect((await project.cli(["run", "pipelines/nope.ts"])).code).toBe(2)
    expect((await project.cli(["run", "pipelines/diamond.ts", "--set", "scale.factor=lots"])).code).toBe(2)
    expect((await project.cli(["run", "pipelines/diamond.ts", "--only", "nosuch"])).code).toBe(2)
    expect((await project.cli(["frobnicate"])).code).toBe(2)
  })

  it("re-runs a stage whose source was edited, and what depends on it", async () => {
    project = makeProject(diamondFiles())
    await project.cli(["run", "pipelines/diamond.ts"])
    const source = diamondFiles()["stages/scale.ts"]!.replace("r.value * p.factor", "r.value * p.factor + 1")
    project.write("stages/scale.ts", source)
    const plan = await project.cli(["plan", "pipelines/diamond.ts"])
    expect(plan.stdout).toMatch(/scale\s+will run\s+code changed: stages\/scale\.ts/)
    const explain = await project.cli(["explain", "pipelines/diamond.ts", "scale"])
    expect(explain.stdout).toMatch(/code changed: stages\/scale\.ts \([0-9a-f]{8} → [0-9a-f]{8}\)/)
    const run = await project.cli(["run", "pipelines/diamond.ts", "--json"])
    const record = JSON.parse(run.stdout) as { stages: Array<{ name: string; status: string }> }
    expect(record.stages.filter((s) => s.status === "ran").map((s) => s.name)).toEqual(["scale", "report"])
    const status = JSON.parse((await project.cli(["status", "--json"])).stdout) as { stages: unknown[] }
    expect(status.stages).toHaveLength(6)
  })

  it("a runner killed with SIGKILL mid-stage publishes nothing, and the next run completes", async () => {
    project = makeProject(diamondFiles(4000))
    const child = project.spawnCli(["run", "pipelines/diamond.ts"])
    await waitFor(child, /▶ numbers/)
    child.kill("SIGKILL")
    await exited(child)
    expect(listDeep(project.path(".jukeflow/keys"))).toEqual([])
    expect(listDeep(project.path(".jukeflow/objects"))).toEqual([])
    expect(listDeep(project.path(".jukeflow/locks"))).toHaveLength(1) // left by the dead runner
    const next = await project.cli(["run", "pipelines/diamond.ts"])
    expect(next.code).toBe(0)
    expect(next.stdout).toMatch(/done: 6 ran/)
    expect(listDeep(project.path(".jukeflow/locks"))).toEqual([])
  })

  it("SIGINT interrupts a running stage, publishes nothing, releases its lock and exits non-zero", async () => {
    project = makeProject(diamondFiles(4000))
    const child = project.spawnCli(["run", "pipelines/diamond.ts"])
    await waitFor(child, /▶ numbers/)
    child.kill("SIGINT")
    const code = await exited(child)
    expect(code).toBe(130)
    expect(listDeep(project.path(".jukeflow/keys"))).toEqual([])
    expect(listDeep(project.path(".jukeflow/locks"))).toEqual([])
    expect(listDeep(project.path(".jukeflow/tmp"))).toEqual([])
    const record = JSON.parse((await project.cli(["status", "--json"])).stdout) as { status: string }
    expect(record.status).toBe("interrupted")
  })

  it("two runners started together on one store both succeed with identical artifacts", async () => {
    project = makeProject(diamondFiles(500))
    const [a, b] = await Promise.all([
      project.cli(["run", "pipelines/diamond.ts", "--json"]),
      project.cli(["run", "pipelines/diamond.ts", "--json"]),
    ])
    expect(a.code).toBe(0)
    expect(b.code).toBe(0)
    const artifacts = (out: string) => (JSON.parse(out) as { stages: Array<{ name: string; artifact: string }> }).stages.map((s) => [s.name, s.artifact])
    expect(artifacts(a.stdout)).toEqual(artifacts(b.stdout))
  })

  it("verify names a flipped byte in a cached shard and quarantines it; the next run recomputes", async () => {
    project = makeProject(diamondFiles())
    await project.cli(["run", "pipelines/diamond.ts"])
    expect((await project.cli(["verify"])).code).toBe(0)
    const shard = listDeep(project.path(".jukeflow/objects")).find((f) => f.endsWith(".parquet"))!
    const bytes = readFileSync(shard)
    const at = Math.floor(bytes.length / 2)
    bytes[at] = bytes[at]! ^ 0xff
    writeFileSync(shard, bytes)
    const verify = await project.cli(["verify"])
    expect(verify.code).toBe(1)
    const relative = shard.slice(project.path(".jukeflow").length + 1)
    expect(verify.stdout).toContain(`BAD ${relative}: checksum mismatch`)
    expect(existsSync(shard)).toBe(false)
    const rerun = await project.cli(["run", "pipelines/diamond.ts"])
    expect(rerun.code).toBe(0)
    expect(rerun.stdout).not.toMatch(/done: 0 ran/)
  })

  it("inspects a table artifact, with SQL through DuckDB, and lists artifacts", async () => {
    project = makeProject(diamondFiles())
    await project.cli(["run", "pipelines/diamond.ts"])
    const inspect = await project.cli(["inspect", "numbers"])
    expect(inspect.code).toBe(0)
    expect(inspect.stdout).toMatch(/numbers: Table [0-9a-f]{12} — 20 rows in 1 shards/)
    expect(inspect.stdout).toMatch(/group\s+dictionary<string>/)
    expect(inspect.stdout).toMatch(/column statistics/)
    const sql = await project.cli(["inspect", "numbers", "--sql", "SELECT count(*) AS n, sum(value) AS s FROM numbers", "--json"])
    expect(JSON.parse(sql.stdout)).toEqual([{ n: "20", s: 190 }])
    const ls = JSON.parse((await project.cli(["ls", "--json"])).stdout) as Array<{ stage: string }>
    expect(ls.map((r) => r.stage).sort()).toEqual(["evens", "join", "numbers", "odds", "report", "scale"])
    const gc = await project.cli(["gc", "--keep", "1"])
    expect(gc.stdout).toMatch(/removed 0 artifacts/)
  })

  it("loads one instance of effect, shared by the runtime and the stages", async () => {
    const { RUNTIME } = await import("./fixture.ts")
    project = makeProject({
      "pipelines/p.ts": `import { Effect, Schema } from "effect"
import { Json, Pipeline, Stage, use } from "${RUNTIME}"
const probe = Stage.define({
  name: "probe", version: 1, output: Json(Schema.Boolean),
  run: () => Effect.succeed((globalThis as { __jukeflowEffect?: { Effect: unknown } }).__jukeflowEffect?.Effect === Effect),
})
export default Pipeline.define("p", { probe: use(probe) })
`,
    })
    const run = await project.cli(["run", "pipelines/p.ts", "--json"])
    const record = JSON.parse(run.stdout) as { stages: Array<{ artifact: string }> }
    expect(readFileSync(join(project.store.objectDir(record.stages[0]!.artifact), "value.json"), "utf8")).toBe("true")
  })

  it("runs SQL over a Parquet file inside a checkpoint, named after the file", async () => {
    const { RUNTIME } = await import("./fixture.ts")
    project = makeProject({
      "pipelines/p.ts": `import { Effect, Schema } from "effect"
import { Checkpoint, Col, Pipeline, Stage, Table, use, writeTable } from "${RUNTIME}"
const Metric = Schema.Struct({ step: Col.int32, loss: Col.float32 })
const train = Stage.define({
  name: "train", version: 1, output: Checkpoint(Schema.Struct({ steps: Schema.Int })),
  run: (_i, _p, ctx) => Effect.as(
    Effect.orDie(writeTable(Table(Metric), [1, 2, 3].map((step) => ({ step, loss: 1 / step })), ctx.outDir, { prefix: "metrics" })),
    { steps: 3 }),
})
export default Pipeline.define("p", { train: use(train) })
`,
    })
    expect((await project.cli(["run", "pipelines/p.ts"])).code).toBe(0)
    const sql = await project.cli(["inspect", "train", "--sql", "SELECT max(step) AS steps, min(loss) AS best FROM metrics", "--json"])
    expect(JSON.parse(sql.stdout)).toEqual([{ steps: 3, best: expect.closeTo(1 / 3, 5) }])
  })
})

