/**
 * `inspect ARTIFACT|STAGE`: what an artifact holds — kind, schema, rows, shards and sizes, a preview,
 * column statistics and the table's own summaries (tables and bar charts) — and `--sql` over Parquet
 * artifacts through DuckDB, where the table is named after the stage (and `t`).
 */
import { Effect } from "effect"
import { promises as fs } from "node:fs"
import { basename, join, relative } from "node:path"
import type { TableSummary } from "../artifact.ts"
import { UsageError } from "../errors.ts"
import { members } from "../inputs.ts"
import { loadRecords } from "../record.ts"
import type { ArtifactManifest, Store } from "../store.ts"
import { objectHashes } from "../maintenance.ts"
import { type Args, flag } from "./args.ts"
import { type ExitCode, currentStore } from "./commands.ts"
import { barChart, formatBytes, table } from "./format.js"

const print = (text: string) => Effect.sync(() => process.stdout.write(`${text}\n`))

/** Finds an artifact by stage name (latest run that produced it) or by hash prefix. */
const resolveTarget = (store: Store, target: string) =>
  Effect.gen(function* () {
    for (const record of yield* loadRecords(store, { limit: 200 })) {
      const stage = record.stages.find((s) => s.name === target && s.artifact)
      if (stage) return { name: target, hash: stage.artifact! }
    }
    if (/^[0-9a-f]{4,64}$/.test(target)) {
      const matches = (yield* Effect.promise(() => objectHashes(store))).filter((h) => h.startsWith(target))
      if (matches.length === 1) return { name: "t", hash: matches[0]! }
      if (matches.length > 1) return yield* new UsageError({ reason: `artifact prefix ${target} is ambiguous (${matches.length} matches)` })
    }
    return yield* new UsageError({ reason: `no stage or artifact named "${target}" in the store; see \`jukeflow ls\`` })
  })

const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`

/** Runs SQL with `views` (name → Parquet files) defined, returning rows as JSON values. */
export const duckdb = (views: Readonly<Record<string, ReadonlyArray<string>>>, sql: string) =>
  Effect.tryPromise({
    try: async () => {
      const { DuckDBInstance } = await import("@duckdb/node-api")
      const instance = await DuckDBInstance.create(":memory:")
      const connection = await instance.connect()
      try {
        for (const [name, files] of Object.entries(views)) {
          await connection.run(`CREATE VIEW "${name.replace(/"/g, '""')}" AS SELECT * FROM read_parquet([${files.map(sqlString).join(", ")}])`)
        }
        const reader = await connection.runAndReadAll(sql)
        return { columns: reader.columnNames(), rows: reader.getRowObjectsJson() }
      } finally {
        connection.closeSync()
        instance.closeSync()
      }
    },
    catch: (error) => new UsageError({ reason: `SQL failed: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}` }),
  })

const cell = (value: unknown): string => {
  const text = typeof value === "string" ? value : JSON.stringify(value) ?? "null"
  return text.length > 40 ? `${text.slice(0, 37)}...` : text
}

const shardFiles = (store: Store, parts: ReadonlyArray<ArtifactManifest>) =>
  parts.flatMap((m) => (m.table?.shards ?? []).map((s) => join(store.objectDir(m.hash), s.path)))

/** A summary's result: its rows, or the sentence saying why it could not run. */
type SummaryResult = TableSummary & (
  | { readonly columns: ReadonlyArray<string>; readonly rows: ReadonlyArray<Record<string, unknown>> }
  | { readonly error: string }
)

/** Runs one summary over the table's shards; a failure becomes a sentence, not an error. */
const runSummary = (files: ReadonlyArray<string>, summary: TableSummary): Effect.Effect<SummaryResult> =>
  duckdb({ t: files }, summary.sql).pipe(
    Effect.map(({ columns, rows }): SummaryResult => ({ ...summary, columns, rows })),
    Effect.catchAll((e) => Effect.succeed<SummaryResult>({ ...summary, error: `summary "${summary.title}": ${e.reason}` })),
  )

/** A summary as text: its title over a table, or over a bar chart per group. */
const renderSummary = (result: SummaryResult): string => {
  if ("error" in result) return result.error
  const { title, chart, columns, rows } = result
  if (!chart) return `${title}\n${table(columns, rows.map((r) => columns.map((c) => cell(r[c]))))}`
  const missing = [chart.label, chart.value, chart.group].find((c) => c !== undefined && !columns.includes(c))
  if (missing !== undefined) return `summary "${title}": its chart needs a column "${missing}", which the query does not return.`
  if (rows.some((r) => !Number.isFinite(Number(r[chart.value])))) return `summary "${title}": column "${chart.value}" is not a number, so it cannot be drawn.`
  const groups = new Map<string, Array<{ label: string; value: number }>>()
  for (const r of rows) {
    const heading = chart.group === undefined ? title : `${title}, ${chart.group} ${cell(r[chart.group])}`
    const bars = groups.get(heading) ?? []
    bars.push({ label: cell(r[chart.label]), value: Number(r[chart.value]) })
    groups.set(heading, bars)
  }
  return [...groups].map(([heading, bars]) => `${heading}\n${barChart(bars)}`).join("\n\n")
}

/** `inspect ARTIFACT|STAGE [--sql QUERY] [--rows N] [--json]`. */
export const inspectCommand = (args: Args) =>
  Effect.gen(function* () {
    const target = args.positionals[0]
    if (!target) return yield* new UsageError({ reason: "inspect needs a stage name or an artifact hash, e.g. jukeflow inspect chunk" })
    const { store } = yield* currentStore()
    const { name, hash } = yield* resolveTarget(store, target)
    const manifest = yield* store.manifest(hash)
    const parts = yield* members(store, manifest)
    const files = shardFiles(store, parts)
    const asJson = args.flags.has("json")
    const sql = flag(args, "sql")
    if (sql !== undefined) {
      // a table is named after its stage; Parquet files inside other artifacts (a checkpoint's
      // metrics.parquet) are named after the file
      const views: Record<string, string[]> = files.length > 0 ? { [name]: files, t: files } : {}
      if (files.length === 0) {
        for (const m of parts) {
          for (const f of m.files.filter((f) => f.path.endsWith(".parquet"))) {
            const view = basename(f.path, ".parquet").replace(/-\d{5}$/, "") // metrics-00000.parquet → metrics
            ;(views[view] ??= []).push(join(store.objectDir(m.hash), f.path))
          }
        }
      }
      if (Object.keys(views).length === 0) return yield* new UsageError({ reason: `--sql works on table artifacts and Parquet files; ${target} is ${parts[0]?.kind ?? manifest.kind} with neither` })
      const result = yield* duckdb(views, sql)
      yield* print(asJson ? JSON.stringify(result.rows) : table(result.columns, result.rows.map((r) => result.columns.map((c) => cell(r[c])))))
      return 0 as ExitCode
    }
    const preview = Number(flag(args, "rows") ?? 5)
    const kind = parts[0]?.kind ?? manifest.kind
    const info: Record<string, unknown> = {
      artifact: hash,
      kind: manifest.kind === "Partitioned" ? `${kind}, ${parts.length} partitions` : kind,
      path: relative(process.cwd(), store.objectDir(hash)),
      bytes: manifest.bytes,
    }
    if (files.length > 0) {
      const columns = parts[0]!.table!.columns
      const shards = parts.flatMap((m) => (m.table?.shards ?? []).map((s) => ({ ...s, path: relative(process.cwd(), join(store.objectDir(m.hash), s.path)) })))
      const rows = shards.reduce((sum, s) => sum + s.rows, 0)
      // list columns (audio, token windows) are shown by their length, not their thousands of values
      const select = columns.map((c) => {
        const name = `"${c.name.replace(/"/g, '""')}"`
        return c.type.startsWith("list<") ? `'[' || len(${name}) || ' items]' AS ${name}` : name
      }).join(", ")
      const head = yield* duckdb({ t: files }, `SELECT ${select} FROM t LIMIT ${Math.max(0, preview)}`)
      const scalars = columns.filter((c) => !c.type.startsWith("list<")).map((c) => `"${c.name.replace(/"/g, '""')}"`)
      const stats = scalars.length === 0
        ? { columns: [], rows: [] }
        : yield* duckdb({ t: files }, `SELECT column_name, min, max, approx_unique, null_percentage FROM (SUMMARIZE SELECT ${scalars.join(", ")} FROM t)`)
      const summaries = yield* Effect.forEach(manifest.summaries ?? [], (summary) => runSummary(files, summary))
      Object.assign(info, { columns, rows, shards, preview: head.rows, statistics: stats.rows, summaries })
      if (asJson) return yield* Effect.as(print(JSON.stringify(info)), 0 as ExitCode)
      yield* print(`${name}: ${info.kind} ${hash.slice(0, 12)} — ${rows} rows in ${shards.length} shards, ${formatBytes(manifest.bytes)}\n${info.path}\n`)
      yield* print(table(["column", "type"], columns.map((c) => [c.name, c.type])))
      yield* print(`\nshards`)
      yield* print(table(["path", "rows", "row groups", "size"], shards.slice(0, 20).map((s) => [s.path, String(s.rows), String(s.rowGroups), formatBytes(s.bytes)]), 100))
      if (shards.length > 20) yield* print(`... and ${shards.length - 20} more`)
      yield* print(`\nfirst ${head.rows.length} rows`)
      yield* print(table(head.columns, head.rows.map((r) => head.columns.map((c) => cell(r[c])))))
      yield* print(`\ncolumn statistics`)
      yield* print(table(["column", "min", "max", "distinct≈", "null %"], stats.rows.map((r) => [
        cell(r.column_name), cell(r.min), cell(r.max), cell(r.approx_unique), cell(r.null_percentage),
      ])))
      for (const summary of summaries) yield* print(`\n${renderSummary(summary)}`)
      return 0 as ExitCode
    }
    const listing = parts.flatMap((m) => m.files.map((f) => ({
      path: manifest.kind === "Partitioned" ? relative(process.cwd(), join(store.objectDir(m.hash), f.path)) : f.path,
      bytes: f.bytes,
    })))
    if (kind === "Json") {
      info.value = JSON.parse(yield* Effect.promise(() => fs.readFile(join(store.objectDir(parts[0]!.hash), "value.json"), "utf8")))
    }
    if (kind === "Checkpoint") {
      info.config = JSON.parse(yield* Effect.promise(() => fs.readFile(join(store.objectDir(parts[0]!.hash), "config.json"), "utf8")))
    }
    info.files = listing
    if (asJson) return yield* Effect.as(print(JSON.stringify(info)), 0 as ExitCode)
    yield* print(`${name}: ${info.kind} ${hash.slice(0, 12)} — ${listing.length} files, ${formatBytes(manifest.bytes)}\n${info.path}`)
    if (info.value !== undefined) yield* print(`\nvalue\n${JSON.stringify(info.value, null, 2).slice(0, 4000)}`)
    if (info.config !== undefined) yield* print(`\nconfig\n${JSON.stringify(info.config, null, 2).slice(0, 4000)}`)
    yield* print(`\nfiles`)
    yield* print(table(["path", "size"], listing.slice(0, 50).map((f) => [f.path, formatBytes(f.bytes)]), 100))
    return 0 as ExitCode
  })
