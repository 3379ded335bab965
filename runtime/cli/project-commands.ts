/**
 * Project commands: a project adds its own `jukeflow NAME ...` commands by naming, in
 * `jukeflow.config.json`, a module that exports `command` — so the runtime stays free of any
 * knowledge of music while `jukeflow demo-data DIR` still works.
 *
 *   { "commands": { "demo-data": "stages/demo-corpus.ts" } }
 */
import { Effect } from "effect"
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { loadProject } from "../config.ts"
import { describe, PipelineError, UsageError } from "../errors.ts"

/** What a project command module exports as `command`. */
export interface ProjectCommand {
  /** One line for `jukeflow help`. */
  readonly summary: string
  /** The arguments, e.g. `DIR [--songs N]`. */
  readonly usage: string
  /**
   * Runs with the arguments after the command's name, to the exit code. An Effect is interrupted
   * on SIGINT/SIGTERM like `jukeflow run` (its stage runs publish nothing partial); its failures
   * are printed as one sentence with exit code 2 for a PipelineError or UsageError, else 1.
   */
  readonly run: (args: ReadonlyArray<string>) => Promise<number> | Effect.Effect<number, unknown>
}

/** The project's commands, name → module path, from the config of the current folder's project. */
export const projectCommands = Effect.map(loadProject(process.cwd()), (project) =>
  Object.fromEntries(Object.entries(project.config.commands ?? {}).map(([name, module]) => [name, resolve(project.root, module)])))

/** Runs project command `name` with `args`, or fails with a UsageError when there is none. */
export const runProjectCommand = (name: string, args: ReadonlyArray<string>): Effect.Effect<number, unknown> =>
  Effect.gen(function* () {
    const commands = yield* projectCommands
    const file = commands[name]
    if (!file) return yield* new UsageError({ reason: `unknown command "${name}"; see \`jukeflow help\`` })
    const module = yield* Effect.tryPromise({
      try: () => import(pathToFileURL(file).href) as Promise<{ command?: ProjectCommand }>,
      catch: (error) => new PipelineError({ where: file, reason: `cannot load command "${name}": ${describe(error).split("\n")[0]}` }),
    })
    const command = module.command
    if (!command || typeof command.run !== "function") {
      return yield* new PipelineError({ where: file, reason: `exports no \`command\` for "${name}" (export const command: ProjectCommand)` })
    }
    const result = command.run(args)
    return Effect.isEffect(result) ? yield* result : yield* Effect.promise(() => result)
  })

/** Help lines for the project's commands (their modules are imported to read each summary). */
export const projectCommandHelp = Effect.gen(function* () {
  const commands = yield* Effect.orElseSucceed(projectCommands, () => ({} as Record<string, string>))
  const lines: string[] = []
  for (const [name, file] of Object.entries(commands)) {
    const module = yield* Effect.promise(() => import(pathToFileURL(file).href).then((m: { command?: ProjectCommand }) => m, () => ({} as { command?: ProjectCommand })))
    lines.push(`  jukeflow ${name} ${module.command?.usage ?? ""}`.trimEnd(), `      ${module.command?.summary ?? `(cannot load ${file})`}`)
  }
  return lines
})
