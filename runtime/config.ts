/**
 * The project: its root folder (where `package.json` or `jukeflow.config.json` is), its config
 * file, and where the store lives (`JUKEFLOW_STORE`, then the config's `store`, then `.jukeflow/`).
 */
import { Effect, ParseResult, Schema } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { findRoot, storeDirOf, visibleGpus } from "./internal/project.js"
import { availableParallelism } from "node:os"
import { join } from "node:path"
import { PipelineError, UsageError } from "./errors.ts"
import { ExecutorConfig } from "./executor.ts"

/** `jukeflow.config.json`: every field optional. */
export const Config = Schema.Struct({
  /** Store folder, relative to the project root (a shared filesystem on a cluster). */
  store: Schema.optional(Schema.String),
  /** GPU ids for `gpu` stages; default from `CUDA_VISIBLE_DEVICES`. */
  devices: Schema.optional(Schema.Array(Schema.String)),
  /** Cores the runner may use at once; default all. */
  cores: Schema.optional(Schema.Int.pipe(Schema.positive())),
  /** Runs whose artifacts `gc` keeps; default 5. */
  keepRuns: Schema.optional(Schema.Int.pipe(Schema.positive())),
  /** Project commands: name → module (relative to the root) exporting `command: ProjectCommand`. */
  commands: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  /** Where units run: `{ "kind": "local" }` (default) or `{ "kind": "slurm", ... }`; `--executor` overrides the kind. */
  executor: Schema.optional(ExecutorConfig),
})
export type Config = typeof Config.Type

/** A project as the CLI sees it. */
export interface Project {
  readonly root: string
  readonly storeDir: string
  readonly config: Config
  /** The config file (which may not exist). */
  readonly configFile: string
  readonly cores: number
  readonly devices: ReadonlyArray<string>
  readonly executor: ExecutorConfig
}

/** Loads the project whose root is at or above `start`. */
export const loadProject = (start: string): Effect.Effect<Project, PipelineError> =>
  Effect.gen(function* () {
    const root = findRoot(start)
    const file = join(root, "jukeflow.config.json")
    let config: Config = {}
    if (existsSync(file)) {
      const raw = yield* Effect.try({
        try: () => JSON.parse(readFileSync(file, "utf8")) as unknown,
        catch: (e) => new PipelineError({ where: file, reason: `not valid JSON: ${String(e)}` }),
      })
      config = yield* Schema.decodeUnknown(Config, { onExcessProperty: "error" })(raw).pipe(
        Effect.mapError((e) => new PipelineError({ where: file, reason: configError(e) })),
      )
    }
    const storeDir = storeDirOf(root, config.store)
    const cores = Math.min(config.cores ?? availableParallelism(), availableParallelism())
    return { root, storeDir, config, configFile: file, cores, devices: config.devices ?? visibleGpus(), executor: config.executor ?? { kind: "local" } }
  })

/** The executor a command line asks for: `--executor local|slurm` over the config's. */
export const chooseExecutor = (project: Project, flag: string | undefined): Effect.Effect<ExecutorConfig, UsageError> => {
  if (flag === undefined || flag === project.executor.kind) return Effect.succeed(project.executor)
  if (flag === "local" || flag === "slurm") return Effect.succeed({ kind: flag })
  return Effect.fail(new UsageError({ reason: `--executor ${flag}: expected local or slurm` }))
}

/** One sentence for a config that does not decode: the first problem, where it is. */
const configError = (error: ParseResult.ParseError): string => {
  const [first] = ParseResult.ArrayFormatter.formatErrorSync(error)
  if (!first) return error.message.replace(/\s+/g, " ")
  if (first.message.startsWith("is unexpected, expected: ")) return `${first.path.join(".")}: unknown field; known fields: ${first.message.slice(25)}`
  return first.path.length > 0 && !first.message.startsWith(`${first.path.join(".")} `) ? `${first.path.join(".")}: ${first.message}` : first.message
}

export { findRoot, visibleGpus }
