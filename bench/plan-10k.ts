/**
 * `plan` on a pipeline whose artifacts hold 10,000 Parquet shards, fully cached:
 *
 *   npm run bench -- plan-10k
 *
 * The pipeline: songs (one shard, 500 songs) → tokens, partitioned by song, 10 windows per song with
 * one window per shard (5,000 shards in 500 partitions) → windows, the same rows re-written as one
 * table of 5,000 one-row shards → summary (JSON). The project and its store are built once and kept
 * under the OS temp folder, keyed by VERSION. Times `jukeflow plan` as a whole process (median of 5)
 * on it and on a 1-shard pipeline of the same stage module (startup alone), then takes phase timings
 * and a CPU profile of one big plan to say where the time goes. Ends with one JSON line.
 */
import { Effect } from "effect"
import { existsSync, mkdtempSync, promises as fs, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { TableKind } from "../runtime/artifact.ts"
import { loadGraph } from "../runtime/cli/load.ts"
import { partitionReader, partitionsOf } from "../runtime/inputs.ts"
import { cacheKey, type KeyComponents } from "../runtime/keys.ts"
import { loadRecords } from "../runtime/record.ts"
import { silentReporter } from "../runtime/reporter.ts"
import { runGraph } from "../runtime/runner.ts"
import { Store } from "../runtime/store.ts"
import { BIN, emit, jukeflow, median, REPO, repeat, round3, RUNTIME, SPREAD, spread, table, type Timed, timeProcess, writeProject } from "./lib.ts"

/** Bump when the generated project changes, so a stale one is not reused. */
const VERSION = "1"
const SONGS = 500
const WINDOWS_PER_SONG = 10
const RUNS = 5
const GOAL_SECONDS = 1

const stageFile = `import { Effect, Schema } from "effect"
import { Col, Json, Stage, Table } from "${RUNTIME}"

export const Song = Schema.Struct({ song: Col.dictionary, windows: Col.int32 })
export const TokenWindow = Schema.Struct({ song: Col.dictionary, window: Col.int32, start: Col.int64, tokens: Col.int16List })
/** One window per shard: the most shards for the fewest rows. */
const OneWindowPerShard = Table(TokenWindow, { shardRows: 1, rowGroupRows: 1 })

export const songs = Stage.define({
  name: "songs", version: 1,
  params: Schema.Struct({ count: Schema.Int, windows: Schema.Int }),
  output: Table(Song),
  run: (_inputs, p) => Effect.succeed(Array.from({ length: p.count }, (_, i) => ({ song: "song-" + String(i).padStart(5, "0"), windows: p.windows }))),
})

export const tokens = Stage.define({
  name: "tokens", version: 1,
  inputs: { songs: Table(Song) },
  partitionBy: { input: "songs", column: "song" },
  output: OneWindowPerShard,
  run: ({ songs }) => Effect.map(songs.all(), (rows) => rows.flatMap((s) => Array.from({ length: s.windows }, (_, window) => ({
    song: s.song, window, start: window * 64, tokens: Int16Array.from({ length: 64 }, (_, t) => (window * 64 + t) % 2048),
  })))),
})

export const windows = Stage.define({
  name: "windows", version: 1,
  inputs: { tokens: OneWindowPerShard },
  output: OneWindowPerShard,
  run: ({ tokens }) => Effect.succeed(tokens.stream()),
})

export const summary = Stage.define({
  name: "summary", version: 1,
  inputs: { windows: OneWindowPerShard },
  output: Json(Schema.Struct({ windows: Schema.Number, tokens: Schema.Number })),
  run: ({ windows }) => Effect.map(windows.all(), (rows) => ({ windows: rows.length, tokens: rows.reduce((a, r) => a + r.tokens.length, 0) })),
})
`

const files = {
  "stages/tokens.ts": stageFile,
  "pipelines/big.ts": `import { Pipeline, use } from "${RUNTIME}"
import { songs, summary, tokens, windows } from "../stages/tokens.ts"

export default Pipeline.define("big", {
  songs: use(songs, { params: { count: ${SONGS}, windows: ${WINDOWS_PER_SONG} } }),
  tokens: use(tokens, { inputs: { songs: "songs" } }),
  windows: use(windows, { inputs: { tokens: "tokens" } }),
  summary: use(summary, { inputs: { windows: "windows" } }),
})
`,
  "pipelines/one.ts": `import { Pipeline, use } from "${RUNTIME}"
import { songs } from "../stages/tokens.ts"

export default Pipeline.define("one", {
  songs: use(songs, { params: { count: 1, windows: 1 } }),
})
`,
  // Start-up as bin/jukeflow.js does it, one import at a time; then the phases below, in-process.
  "phases.mjs": `const marks = [performance.now()]
await import("effect"); marks.push(performance.now())
const { register } = await import("tsx/esm/api"); register(); marks.push(performance.now())
await import("${join(REPO, "runtime/cli/main.ts")}"); marks.push(performance.now())
const { phases } = await import("${join(REPO, "bench/plan-10k.ts")}")
await phases(marks)
`,
}

/** Parquet shards held by the artifacts of the last run of the big pipeline, counted from their manifests. */
const countShards = (dir: string): number => {
  const last = JSON.parse(jukeflow(["status", "pipelines/big.ts", "--json"], dir).stdout) as { stages: Array<{ artifact?: string }> }
  const manifest = (hash: string) => JSON.parse(readFileSync(join(dir, ".jukeflow", "objects", hash.slice(0, 2), hash, "artifact.json"), "utf8")) as {
    table?: { shards: unknown[] }
    partitions?: Record<string, string>
  }
  const shardsOf = (hash: string): number => {
    const m = manifest(hash)
    return (m.table?.shards.length ?? 0) + Object.values(m.partitions ?? {}).reduce((sum, member) => sum + shardsOf(member), 0)
  }
  return last.stages.reduce((sum, s) => sum + (s.artifact ? shardsOf(s.artifact) : 0), 0)
}

const allCached = (dir: string, pipeline: string) => {
  const plan = JSON.parse(jukeflow(["plan", pipeline, "--json"], dir).stdout) as { stages: Array<{ stage: string; action: string }> }
  return plan.stages.every((s) => s.action === "cached")
}

/** The project folder with every stage cached, built on first use (minutes) and reused after. */
const project = (): string => {
  const dir = join(tmpdir(), `jukeflow-bench-plan-10k-v${VERSION}-${SONGS}x${WINDOWS_PER_SONG}`)
  const ready = join(dir, "READY")
  writeProject(dir, files)
  if (existsSync(ready) && allCached(dir, "pipelines/big.ts") && allCached(dir, "pipelines/one.ts")) {
    // A cached run refreshes the run snapshot, which any change to the runtime's own files invalidates.
    for (const pipeline of ["pipelines/big.ts", "pipelines/one.ts"]) jukeflow(["run", pipeline], dir)
    console.log(`reusing ${dir}`)
    return dir
  }
  console.log(`building ${dir}: ${SONGS} partitions × ${WINDOWS_PER_SONG} one-window shards, then the same rows as one table (a few minutes, once)`)
  const big = jukeflow(["run", "pipelines/big.ts"], dir)
  const one = jukeflow(["run", "pipelines/one.ts"], dir)
  console.log(`built in ${(big.seconds + one.seconds).toFixed(1)} s`)
  writeFileSync(ready, VERSION)
  return dir
}

/** Self time of one CPU profile by where the code comes from, in seconds, and the busiest functions. */
const profileSummary = (file: string) => {
  interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }
  const profile = JSON.parse(readFileSync(file, "utf8")) as { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1e6))
  const origin = ({ functionName, url }: ProfileNode["callFrame"]): string => {
    if (!url) return functionName === "(garbage collector)" ? "garbage collection" : functionName === "(program)" ? "V8 native (compile, parse JSON, ...)" : functionName === "(idle)" ? "idle (waiting on I/O)" : "other native"
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
    if (pkg) return `package ${pkg[1]}`
    if (url.startsWith("node:")) return /modules|loader/.test(url) ? "node: module loading" : "node: other internals"
    const runtime = /\/runtime\/(.+)$/.exec(url)
    if (runtime) return `runtime/${runtime[1]}`
    return url.replace(/^file:\/\//, "")
  }
  const byOrigin = new Map<string, number>()
  const byFunction = new Map<string, number>()
  for (const [id, seconds] of self) {
    const frame = byId.get(id)!.callFrame
    const where = origin(frame)
    byOrigin.set(where, (byOrigin.get(where) ?? 0) + seconds)
    const fn = `${frame.functionName || "(anonymous)"} ${where.startsWith("runtime/") || where.startsWith("node:") ? `${frame.url.split("/").pop()}:${frame.lineNumber + 1}` : where}`
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + seconds)
  }
  const top = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n)
  return { total: (profile.endTime - profile.startTime) / 1e6, origins: top(byOrigin, 14), functions: top(byFunction, 14) }
}

const main = () => {
  const dir = project()
  const shards = countShards(dir)
  // Interleaved, so that a slow moment of the machine weighs on all three alike.
  // `--set` with the value the pipeline already has keeps every key, but skips the run snapshot:
  // the pipeline is loaded, validated and every key computed and looked up.
  const full = (pipeline: string, set: string) => jukeflow(["plan", pipeline, "--set", set], dir)
  const rounds = repeat(RUNS, 1, () => [
    full("pipelines/big.ts", `songs.windows=${WINDOWS_PER_SONG}`),
    full("pipelines/one.ts", "songs.windows=1"),
    jukeflow(["plan", "pipelines/big.ts"], dir),
    timeProcess(process.execPath, ["-e", "0"], dir),
  ] as const)
  const [big, one, snapshot, node] = [0, 1, 2, 3].map((i) => rounds.map((r) => r[i]!)) as [Timed[], Timed[], Timed[], Timed[]]
  const seconds = median(big.map((r) => r.seconds))
  const startup = median(one.map((r) => r.seconds))

  console.log(`\nplan, fully cached, as whole processes (${shards} shards in the store's artifacts)`)
  console.log(table(["command", ...SPREAD], [
    [`jukeflow plan pipelines/big.ts --set ... (${shards} shards, full)`, ...spread(big)],
    ["jukeflow plan pipelines/one.ts --set ... (1 shard, full)", ...spread(one)],
    [`jukeflow plan pipelines/big.ts (from the run snapshot)`, ...spread(snapshot)],
    ["node -e 0", ...spread(node)],
  ], 80))
  console.log(`${((seconds - startup) / shards * 1e6).toFixed(0)} µs per shard above the 1-shard plan (500 partitions among them); goal ${GOAL_SECONDS} s: ${seconds <= GOAL_SECONDS ? "met" : "missed"}`)
  console.log(big.at(-1)!.stdout.trim())

  const phased = timeProcess(process.execPath, ["phases.mjs"], dir)
  if (phased.status !== 0) throw new Error(`phases.mjs failed:\n${phased.stderr}`)
  const { steps, operations } = JSON.parse(phased.stdout) as { steps: Array<[string, number]>; operations: Array<[string, number]> }
  console.log("\nphases of one plan in one process (start-up as bin/jukeflow.js does it)")
  console.log(table(["phase", "s"], steps.map(([name, s]) => [name, s.toFixed(3)]), 80))
  console.log("\nthe store operations that plan makes on this pipeline, each timed alone afterwards (same process, warm)")
  console.log(table(["operation", "s"], operations.map(([name, s]) => [name, s.toFixed(3)]), 100))

  const profileDir = mkdtempSync(join(tmpdir(), "jukeflow-bench-profile-"))
  try {
    const profiled = timeProcess(process.execPath, ["--cpu-prof", "--cpu-prof-dir", profileDir, BIN, "plan", "pipelines/big.ts", "--set", `songs.windows=${WINDOWS_PER_SONG}`], dir)
    if (profiled.status !== 0) throw new Error(`profiled plan failed:\n${profiled.stderr}`)
    const summary = profileSummary(join(profileDir, readdirSync(profileDir)[0]!))
    console.log(`\nCPU profile of one big plan (${summary.total.toFixed(2)} s profiled): self time by origin`)
    console.log(table(["origin", "s", "%"], summary.origins.map(([o, s]) => [o, s.toFixed(3), (100 * s / summary.total).toFixed(0)]), 80))
    console.log("\nbusiest functions (self time)")
    console.log(table(["function", "s"], summary.functions.map(([f, s]) => [f, s.toFixed(3)]), 100))
  } finally {
    rmSync(profileDir, { recursive: true, force: true })
  }
  emit({
    bench: "plan-10k", seconds: round3(seconds), shards, startupSeconds: round3(startup),
    snapshotSeconds: round3(median(snapshot.map((r) => r.seconds))), nodeSeconds: round3(median(node.map((r) => r.seconds))),
  })
}

/**
 * Run by phases.mjs in the project folder after the start-up imports (`marks` are their end times):
 * times loading and planning the big pipeline, then each kind of store operation the plan makes.
 */
export const phases = async (marks: number[]): Promise<void> => {
  const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)
  const mark = () => marks.push(performance.now())
  const { project, graph } = await run(loadGraph("pipelines/big.ts")); mark()
  const store = new Store(project.storeDir)
  const options = { dryRun: true, command: "bench", cores: 2, devices: [], reporter: silentReporter }
  const plan = await run(runGraph(graph, store, options)); mark()
  await run(runGraph(graph, store, options)); mark()
  const names = ["import effect", "import tsx, register its hooks", "import the runtime CLI (all runtime modules, apache-arrow)",
    "load pipeline file and stage modules, build graph", "plan: runGraph dry run", "plan again in the same process"]
  const steps = names.map((name, i) => [name, (marks[i + 1]! - marks[i]!) / 1000])

  const stage = (name: string) => plan.stages.find((s) => s.name === name)!
  const keys = Object.values(stage("tokens").partitions!.keys)
  const members = Object.values((await run(store.manifest(stage("tokens").artifact!))).partitions!)
  const songs = await run(store.manifest(stage("songs").artifact!))
  const kind = graph.nodes.get("tokens")!.stage.inputs.songs as TableKind<any>
  const parts = await run(partitionsOf(store, kind, songs, "song"))
  const common = stage("tokens").components as KeyComponents
  const windows = join(store.objectDir(stage("windows").artifact!), "artifact.json")
  const each = <A>(xs: ReadonlyArray<string>, f: (x: string) => Effect.Effect<A, unknown>) => run(Effect.forEach(xs, f, { concurrency: "unbounded" }))
  const n = keys.length
  const operations: Array<[string, () => Promise<unknown>]> = [
    ["loadRecords: run records of the pipeline file (limit 50)", () => run(loadRecords(store, { file: "pipelines/big.ts", limit: 50 }))],
    [`partitionsOf: ${parts.length} partitions of songs (index file cached)`, () => run(partitionsOf(store, kind, songs, "song"))],
    [`${n} × partitionReader: reads the songs manifest again for each partition`, () => run(Effect.forEach(parts, (p) => partitionReader(store, kind, p, "song"), { concurrency: "unbounded" }))],
    [`${n} × cacheKey: canonical JSON + SHA-256 of the components`, async () => parts.forEach((p) => cacheKey({ ...common, inputs: { songs: p.rowsHash }, partition: p.value }))],
    [`${n} × store.lookup: read + Schema-decode the key entry, access its artifact`, () => each(keys, (k) => store.lookup(k))],
    [`${n} × store.manifest of a partition's artifact (10 shards each)`, () => each(members, (h) => store.manifest(h))],
    [`${n} × readFileSync + JSON.parse of the key entries (for comparison)`, async () => keys.forEach((k) => JSON.parse(readFileSync(store.keyPath(k), "utf8")))],
    ["store.manifest of windows (one manifest of 5,000 shards)", () => run(store.manifest(stage("windows").artifact!))],
    ["  the same, readFile + JSON.parse only", async () => JSON.parse(await fs.readFile(windows, "utf8"))],
  ]
  const timed: Array<[string, number]> = []
  for (const [name, f] of operations) {
    const start = performance.now()
    await f()
    timed.push([name, (performance.now() - start) / 1000])
  }
  console.log(JSON.stringify({ steps, operations: timed }))
}

if (!process.argv[1]?.endsWith("phases.mjs")) main()
