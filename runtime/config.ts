/**
 * The project: its root folder (where `package.json` or `jukeflow.config.json` is), its config
 * file, and where the store lives (`JUKEFLOW_STORE`, then the config's `store`, then `.jukeflow/`).
 */
import { Effect, Schema } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { findRoot, storeDirOf, visibleGpus } from "./internal/project.js"
import { availableParallelism } from "node:os"
import { join } from "node:path"
import { PipelineError } from "./errors.ts"

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
        Effect.mapError((e) => new PipelineError({ where: file, reason: e.message.replace(/\s+/g, " ") })),
      )
    }
    const storeDir = storeDirOf(root, config.store)
    const cores = Math.min(config.cores ?? availableParallelism(), availableParallelism())
    return { root, storeDir, config, configFile: file, cores, devices: config.devices ?? visibleGpus() }
  })

export { findRoot, visibleGpus }
