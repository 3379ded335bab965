/** Loading a pipeline file (`.ts`, run directly) and building its validated graph. */
import { Effect } from "effect"
import { existsSync } from "node:fs"
import { relative, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { type Project, loadProject } from "../config.ts"
import { describe, PipelineError } from "../errors.ts"
import { buildGraph, type Graph, type Overrides } from "../graph.ts"
import type { Pipeline } from "../pipeline.ts"

const isPipeline = (value: unknown): value is Pipeline =>
  typeof value === "object" && value !== null && (value as { _tag?: unknown })._tag === "Pipeline"

/** Imports `file` and returns its pipeline: the default export, or the only exported pipeline. */
export const importPipeline = (file: string): Effect.Effect<Pipeline, PipelineError> =>
  Effect.gen(function* () {
    if (!existsSync(file)) return yield* new PipelineError({ where: file, reason: "no such pipeline file" })
    const module = yield* Effect.tryPromise({
      try: () => import(pathToFileURL(file).href) as Promise<Record<string, unknown>>,
      catch: (error) => new PipelineError({ where: file, reason: `cannot load: ${describe(error).split("\n")[0]}` }),
    })
    if (isPipeline(module.default)) return module.default
    const found = Object.values(module).filter(isPipeline)
    if (found.length === 1) return found[0]!
    return yield* new PipelineError({
      where: file,
      reason: found.length === 0 ? "exports no pipeline: `export default Pipeline.define(...)`" : "exports several pipelines: make one the default export",
    })
  })

/** The project of a pipeline file and its validated graph. */
export const loadGraph = (path: string, overrides: Overrides = {}): Effect.Effect<{ project: Project; graph: Graph }, PipelineError> =>
  Effect.gen(function* () {
    const file = resolve(path)
    const project = yield* loadProject(resolve(file, ".."))
    const pipeline = yield* importPipeline(file)
    const graph = yield* buildGraph(pipeline, file, project.root, overrides).pipe(
      Effect.mapError((e) => (e.where.startsWith("/") ? new PipelineError({ where: relative(project.root, e.where), reason: e.reason }) : e)),
    )
    return { project, graph }
  })
