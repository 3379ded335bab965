/** The `jukeflow` commands other than `inspect`: run, plan, status, ls, explain, verify, gc. */
import { Effect } from "effect"
import { relative, resolve } from "node:path"
import { chooseExecutor, loadProject, type Project } from "../config.ts"
import { PipelineError, UsageError } from "../errors.ts"
import { type Graph, modelSizes } from "../graph.ts"
import { differences, type KeyComponents } from "../keys.ts"
import { gcStore, verifyStore } from "../maintenance.ts"
import { lastComponents, loadRecords, type RunRecord, type StageRecord } from "../record.ts"
import { defaultReporter, silentReporter } from "../reporter.ts"
import { runGraph } from "../runner.ts"
import { shownFiles } from "../shows.ts"
import { dropSnapshot, writeSnapshot } from "../snapshot.ts"
import { Store } from "../store.ts"
import { type Args, flag, listFlag, overridesOf, parseSize } from "./args.ts"
import { doneLine, shownLines, formatBytes, formatSeconds, planLine, planTable, rejectedLines, stateLabel, summaryTable, table } from "./format.js"
import { loadGraph } from "./load.ts"

/** Exit codes: 0 success, 1 a stage failed, 2 bad pipeline or arguments. */
export type ExitCode = 0 | 1 | 2

const print = (text: string) => Effect.sync(() => process.stdout.write(`${text}\n`))
const json = (args: Args) => args.flags.has("json")

const pipelineArg = (args: Args): Effect.Effect<string, UsageError> => {
  const file = args.positionals[0]
  return file ? Effect.succeed(file) : Effect.fail(new UsageError({ reason: `${args.command} needs a pipeline file, e.g. jukeflow ${args.command} pipelines/demo.ts` }))
}

const checkStageNames = (graph: Graph, args: Args) =>
  Effect.forEach(["only", "from", "until", "force"], (name) =>
    Effect.forEach(listFlag(args, name), (stage) =>
      stage === "*" || graph.nodes.has(stage)
        ? Effect.void
        : Effect.fail(new UsageError({ reason: `--${name} ${stage}: no stage named "${stage}" in ${relative(process.cwd(), graph.file)} (stages: ${graph.order.join(", ")})` }))))

const runOrPlan = (args: Args, dryRun: boolean) =>
  Effect.gen(function* () {
    const file = yield* pipelineArg(args)
    const { project, graph } = yield* loadGraph(file, overridesOf(args))
    yield* checkStageNames(graph, args)
    const executor = yield* chooseExecutor(project, flag(args, "executor"))
    const sizes = dryRun ? yield* modelSizes(graph) : undefined
    const store = new Store(project.storeDir)
    const reporter = json(args) || dryRun ? silentReporter : defaultReporter()
    const started = Date.now()
    const record = yield* runGraph(graph, store, {
      only: listFlag(args, "only"), from: listFlag(args, "from"), until: listFlag(args, "until"), force: listFlag(args, "force"),
      dryRun, strict: args.flags.has("strict"), command: ["jukeflow", ...process.argv.slice(2)].join(" "), cores: project.cores, devices: project.devices, reporter, executor,
    })
    reporter.close()
    const shown = dryRun ? [] : yield* shownFiles(graph, store, record)
    if (!dryRun) {
      const complete = record.status === "success" && ["only", "from", "until", "force", "set"].every((f) => !args.flags.has(f))
      yield* complete ? writeSnapshot(graph, store, record, project.configFile, shown) : dropSnapshot(store, graph.file)
    }
    if (dryRun) {
      const stages = record.stages.map((s) => planLine(s, sizes?.[s.name]))
      yield* print(json(args) ? JSON.stringify({ pipeline: record.pipeline, file: record.file, stages }) : planTable(stages))
    } else if (json(args)) {
      yield* print(JSON.stringify(record))
    } else {
      yield* print(`${summaryTable(record)}\n${rejectedLines(record)}\n${doneLine(record, (Date.now() - started) / 1000, relative(process.cwd(), store.root))}${shown.length > 0 ? `\n${shownLines(shown, process.cwd())}` : ""}`)
    }
    return (record.status === "success" ? 0 : 1) as ExitCode
  })

/** `run PIPELINE`: runs what is out of date. */
export const runCommand = (args: Args) => runOrPlan(args, false)

/** `plan PIPELINE`: says, per stage, cached or will run and why. */
export const planCommand = (args: Args) => runOrPlan(args, true)

/** The project of the current folder and its store. */
export const currentStore = (): Effect.Effect<{ project: Project; store: Store }, PipelineError> =>
  Effect.map(loadProject(process.cwd()), (project) => ({ project, store: new Store(project.storeDir) }))

const recordsFor = (store: Store, args: Args, limit = 200) =>
  Effect.gen(function* () {
    const file = args.positionals[0]?.endsWith(".ts") ? relative((yield* loadProject(process.cwd())).root, resolve(args.positionals[0])) : undefined
    return yield* loadRecords(store, { limit, ...(file ? { file } : {}) })
  })

/** `status [PIPELINE]`: the last run, stage by stage. */
export const statusCommand = (args: Args) =>
  Effect.gen(function* () {
    const { store } = yield* currentStore()
    const [last] = yield* recordsFor(store, args, 1)
    if (!last) {
      yield* print(json(args) ? "null" : "no runs recorded yet: run `jukeflow run PIPELINE` first")
      return 0 as ExitCode
    }
    if (json(args)) yield* print(JSON.stringify(last))
    else {
      const seconds = (Date.parse(last.finished) - Date.parse(last.started)) / 1000
      yield* print(`pipeline ${last.pipeline} (${last.file}) — ${last.status}, ${last.started}, ${formatSeconds(seconds)}, ${last.cores} cores, devices: ${last.devices.join(", ") || "cpu only"}`)
      const jobs = last.stages.some((s) => s.job)
      yield* print(table(["stage", "state", "time", "output", "artifact", "device", "backend", ...(jobs ? ["job"] : [])], last.stages.map((s) => [
        s.name, stateLabel(s), formatSeconds(s.seconds), formatBytes(s.bytes), s.artifact?.slice(0, 12) ?? "-", s.device, s.backend.join(", ") || "-",
        ...(jobs ? [s.job ? `${s.job.id} ${s.job.state}` : "-"] : []),
      ])))
    }
    return 0 as ExitCode
  })

/** `ls [PIPELINE]`: the artifacts of the latest run of each stage. */
export const lsCommand = (args: Args) =>
  Effect.gen(function* () {
    const { store } = yield* currentStore()
    const latest = new Map<string, { record: RunRecord; stage: StageRecord }>()
    for (const record of yield* recordsFor(store, args)) {
      for (const stage of record.stages) {
        const id = `${record.pipeline}/${stage.name}`
        if (stage.artifact && !latest.has(id)) latest.set(id, { record, stage })
      }
    }
    const rows = yield* Effect.forEach([...latest.values()], ({ record, stage }) =>
      Effect.map(Effect.either(store.manifest(stage.artifact!)), (m) => ({
        pipeline: record.pipeline, stage: stage.name, kind: m._tag === "Right" ? m.right.kind : "missing", artifact: stage.artifact!,
        rows: stage.rows, bytes: stage.bytes, shards: m._tag === "Right" ? (m.right.table?.shards.length ?? 0) : 0,
        path: relative(process.cwd(), store.objectDir(stage.artifact!)),
      })))
    if (json(args)) yield* print(JSON.stringify(rows))
    else if (rows.length === 0) yield* print("no artifacts yet: run `jukeflow run PIPELINE` first")
    else {
      yield* print(table(["pipeline", "stage", "kind", "artifact", "rows", "size", "path"], rows.map((r) => [
        r.pipeline, r.stage, r.kind, r.artifact.slice(0, 12), r.rows === undefined ? "-" : String(r.rows), formatBytes(r.bytes), r.path,
      ]), 90))
    }
    return 0 as ExitCode
  })

/** `explain PIPELINE STAGE`: which part of the stage's key changed since its last run, old → new. */
export const explainCommand = (args: Args) =>
  Effect.gen(function* () {
    const [file, stage] = args.positionals
    if (!file || !stage) return yield* new UsageError({ reason: "explain needs a pipeline file and a stage, e.g. jukeflow explain pipelines/demo.ts chunk" })
    const { project, graph } = yield* loadGraph(file, overridesOf(args))
    if (!graph.nodes.has(stage)) return yield* new UsageError({ reason: `no stage named "${stage}" in ${file} (stages: ${graph.order.join(", ")})` })
    const store = new Store(project.storeDir)
    const previous = (yield* lastComponents(store, relative(project.root, graph.file), [stage])).get(stage)
    const plan = yield* runGraph(graph, store, { dryRun: true, until: [stage], command: "explain", cores: project.cores, devices: project.devices, reporter: silentReporter })
    const now = plan.stages.find((s) => s.name === stage)!
    const current = now.components as KeyComponents | undefined
    const lines = !previous
      ? ["no earlier run of this stage is recorded"]
      : !current
        ? [`its key cannot be computed yet: ${now.reason}`]
        : differences(previous.components, current)
    if (json(args)) yield* print(JSON.stringify({ stage, status: now.status, reason: now.reason, changes: lines }))
    else {
      yield* print(`${stage}: ${now.status === "cached" ? "cached" : `will run — ${now.reason}`}`)
      for (const l of lines.length ? lines : ["nothing changed since its last run"]) yield* print(`  ${l}`)
    }
    return 0 as ExitCode
  })

/** `verify`: re-hashes every artifact; quarantines bad ones. Exit 1 if any was bad. */
export const verifyCommand = (args: Args) =>
  Effect.gen(function* () {
    const { store } = yield* currentStore()
    const result = yield* verifyStore(store)
    if (json(args)) yield* print(JSON.stringify(result))
    else {
      for (const p of result.problems) yield* print(`BAD ${p.file}: ${p.reason} — moved to ${relative(process.cwd(), p.quarantinedTo)}`)
      yield* print(`${result.checked} artifacts checked, ${result.problems.length} bad`)
    }
    return (result.problems.length === 0 ? 0 : 1) as ExitCode
  })

/** `gc [--keep N] [--max-size SIZE] [--dry-run]`: removes what recent runs did not use. */
export const gcCommand = (args: Args) =>
  Effect.gen(function* () {
    const { project, store } = yield* currentStore()
    const keep = Number(flag(args, "keep") ?? project.config.keepRuns ?? 5)
    if (!Number.isInteger(keep) || keep < 1) return yield* new UsageError({ reason: `--keep ${flag(args, "keep")}: expected a whole number ≥ 1` })
    const maxSize = flag(args, "max-size")
    const report = yield* gcStore(store, { keepRuns: keep, dryRun: args.flags.has("dry-run"), ...(maxSize ? { maxBytes: parseSize(maxSize) } : {}) })
    if (json(args)) yield* print(JSON.stringify(report))
    else {
      const verb = args.flags.has("dry-run") ? "would remove" : "removed"
      yield* print(`${verb} ${report.removedObjects} artifacts (${formatBytes(report.removedBytes)}) and ${report.removedKeys} cache entries; kept ${report.keptObjects} (${formatBytes(report.keptBytes)}) used by the last ${keep} runs`)
    }
    return 0 as ExitCode
  })
