/**
 * Running a pipeline from a project command (`jukeflow sample`, `jukeflow compose`): the same run
 * as `jukeflow run`, on the pipeline of a file extended by the command's own stage uses, up to the
 * stages it names; then the artifact folder of any stage that ran or was cached.
 */
import { Effect } from "effect"
import { relative, resolve } from "node:path"
import { loadProject } from "../config.ts"
import type { ArtifactReadError } from "../artifact.ts"
import { describe, PipelineError, StoreError } from "../errors.ts"
import { inputValue } from "../inputs.ts"
import { buildGraph, type Overrides } from "../graph.ts"
import type { Pipeline } from "../pipeline.ts"
import type { RunRecord } from "../record.ts"
import { defaultReporter, silentReporter } from "../reporter.ts"
import { runGraph } from "../runner.ts"
import { Store } from "../store.ts"
import { importPipeline } from "./load.ts"
import { doneLine, rejectedLines, summaryTable } from "./format.js"

export interface PipelineRunOptions {
  /** The pipeline file. */
  readonly file: string
  /** Adds the command's uses to the file's pipeline (Pipeline.extend). */
  readonly extend?: (pipeline: Pipeline) => Pipeline
  /** Run these stages and what they need (default: all); a function reads them off the (extended) pipeline. */
  readonly until?: ReadonlyArray<string> | ((pipeline: Pipeline) => ReadonlyArray<string>)
  readonly overrides?: Overrides
  /** Progress bars and the summary table (default), or nothing. */
  readonly quiet?: boolean
}

export interface PipelineRun {
  readonly record: RunRecord
  /** The pipeline's uses, extended: for commands that read the wiring. */
  readonly pipeline: Pipeline
  /** The artifact folder of a stage of this run, or undefined when it has none (failed, not run). */
  readonly artifactDir: (stage: string) => string | undefined
  /**
   * What a stage of this run holds, as a stage's input of its kind receives it (a table reader,
   * a JSON value, files, a checkpoint's folder and config); fails for a stage without an artifact.
   */
  readonly value: (stage: string) => Effect.Effect<unknown, StoreError | ArtifactReadError | PipelineError>
  /** The store's root, for a command's own files (under it, as everything jukeflow writes). */
  readonly storeRoot: string
}

/** Runs a pipeline file (extended) up to some stages; fails with a PipelineError for a bad file or wiring. */
export const runPipeline = (options: PipelineRunOptions): Effect.Effect<PipelineRun, PipelineError | StoreError> =>
  Effect.gen(function* () {
    const file = resolve(options.file)
    const project = yield* loadProject(resolve(file, ".."))
    const base = yield* importPipeline(file)
    const pipeline = options.extend
      ? yield* Effect.try({ try: () => options.extend!(base), catch: (e) => (e instanceof PipelineError ? e : new PipelineError({ where: relative(process.cwd(), file), reason: describe(e) })) })
      : base
    const graph = yield* buildGraph(pipeline, file, project.root, options.overrides ?? {}).pipe(
      Effect.mapError((e) => (e.where.startsWith("/") ? new PipelineError({ where: relative(project.root, e.where), reason: e.reason }) : e)),
    )
    const until = typeof options.until === "function" ? options.until(pipeline) : options.until ?? []
    for (const stage of until) {
      if (!graph.nodes.has(stage)) return yield* new PipelineError({ where: relative(process.cwd(), file), reason: `no stage named "${stage}" (stages: ${graph.order.join(", ")})` })
    }
    const store = new Store(project.storeDir)
    const reporter = options.quiet ? silentReporter : defaultReporter()
    const started = Date.now()
    const record = yield* runGraph(graph, store, {
      until, command: ["jukeflow", ...process.argv.slice(2)].join(" "), cores: project.cores, devices: project.devices, reporter,
    })
    reporter.close()
    if (!options.quiet) process.stdout.write(`${summaryTable(record)}\n${rejectedLines(record)}\n${doneLine(record, (Date.now() - started) / 1000, relative(process.cwd(), store.root))}\n`)
    const artifacts = new Map(record.stages.flatMap((s) => (s.artifact ? [[s.name, store.objectDir(s.artifact)] as const] : [])))
    const value = (stage: string) =>
      Effect.gen(function* () {
        const stageRecord = record.stages.find((s) => s.name === stage)
        const node = graph.nodes.get(stage)
        if (!node || !stageRecord?.artifact) return yield* new PipelineError({ where: relative(process.cwd(), file), reason: `stage "${stage}" has no artifact in this run (${stageRecord?.error ?? stageRecord?.status ?? "not in the pipeline"})` })
        return yield* inputValue(store, node.stage.output, yield* store.manifest(stageRecord.artifact))
      })
    return { record, pipeline, artifactDir: (stage) => artifacts.get(stage), value, storeRoot: store.root }
  })
