/**
 * The project: its root folder (where `package.json` or `jukeflow.config.json` is), its config
 * file, and where the store lives (`JUKEFLOW_STORE`, then the config's `store`, then `.jukeflow/`).
 */
import { Effect, Schema } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { availableParallelism } from "node:os"
import { dirname, join, resolve } from "node:path"
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
})
export type Config = typeof Config.Type

/** A project as the CLI sees it. */
export interface Project {
  readonly root: string
  readonly storeDir: string
  readonly config: Config
  readonly cores: number
  readonly devices: ReadonlyArray<string>
}

/** The nearest folder at or above `start` holding `jukeflow.config.json` or `package.json`. */
export const findRoot = (start: string): string => {
  let dir = resolve(start)
  for (;;) {
    if (existsSync(join(dir, "jukeflow.config.json")) || existsSync(join(dir, "package.json"))) return dir
    const parent = dirname(dir)
    if (parent === dir) return resolve(start)
    dir = parent
  }
}

/** GPU ids from `CUDA_VISIBLE_DEVICES` (empty, unset, or "-1" mean none). */
export const visibleGpus = (env: NodeJS.ProcessEnv = process.env): string[] => {
  const value = env.CUDA_VISIBLE_DEVICES?.trim()
  if (!value || value === "-1" || value === "NoDevFiles") return []
  return value.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
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
    const storeDir = process.env.JUKEFLOW_STORE ? resolve(process.env.JUKEFLOW_STORE) : resolve(root, config.store ?? ".jukeflow")
    const cores = Math.min(config.cores ?? availableParallelism(), availableParallelism())
    return { root, storeDir, config, cores, devices: config.devices ?? visibleGpus() }
  })
