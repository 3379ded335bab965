/**
 * `jukeflow`: the command line. Parses arguments, runs one command as an Effect, maps the outcome
 * to an exit code (0 success, 1 a stage failed, 2 bad pipeline or arguments, 130 interrupted) and
 * turns SIGINT/SIGTERM into an interruption that publishes nothing partial and releases locks.
 */
import { Cause, Effect, Exit, Fiber } from "effect"
import { describe } from "../errors.ts"
import { parseArgs } from "./args.ts"
import { type ExitCode, explainCommand, gcCommand, lsCommand, planCommand, runCommand, statusCommand, verifyCommand } from "./commands.ts"
import { inspectCommand } from "./inspect.ts"
import { projectCommandHelp, runProjectCommand } from "./project-commands.ts"

const HELP = `jukeflow — typed, cached pipelines

usage:
  jukeflow run PIPELINE [--only S] [--from S] [--until S] [--force S|*] [--set stage.param=value] [--strict] [--executor local|slurm] [--json]
  jukeflow plan PIPELINE [--set ...] [--json]      what would run, and why
  jukeflow explain PIPELINE STAGE [--set ...]      which part of STAGE's key changed since its last run
  jukeflow status [PIPELINE] [--json]              the last run, stage by stage
  jukeflow ls [PIPELINE] [--json]                  artifacts of the latest runs
  jukeflow inspect STAGE|HASH [--rows N] [--sql QUERY] [--json]
  jukeflow verify [--json]                         re-hash every artifact; quarantine bad ones
  jukeflow gc [--keep N] [--max-size 2G] [--dry-run]

--strict fails a stage that sets any input item aside (ctx.reject) instead of going on without it.
--executor slurm submits each stage that runs as a Slurm job (see the README, "Running on a Slurm cluster").
Stage lists take commas or repeats: --only a,b --only c. Exit codes: 0 ok, 1 a stage failed, 2 bad pipeline or arguments.`

const commands: Record<string, (args: ReturnType<typeof parseArgs>) => Effect.Effect<ExitCode, unknown>> = {
  run: runCommand,
  plan: planCommand,
  explain: explainCommand,
  status: statusCommand,
  ls: lsCommand,
  inspect: inspectCommand,
  verify: verifyCommand,
  gc: gcCommand,
}

const exitCodeOf = (error: unknown): number => {
  const tag = (error as { _tag?: string })?._tag
  return tag === "PipelineError" || tag === "UsageError" ? 2 : 1
}

/** Runs the command line and resolves to the process exit code. */
export const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  const name = argv[0] ?? "help"
  if (name === "help" || name === "--help" || (name in commands && argv.includes("--help"))) {
    const extra = await Effect.runPromise(projectCommandHelp)
    process.stdout.write(`${HELP}\n${extra.length > 0 ? `\nthis project's commands:\n${extra.join("\n")}\n` : ""}`)
    return 0
  }
  const builtin = commands[name]
  let program: Effect.Effect<number, unknown>
  if (builtin) {
    try {
      const args = parseArgs(argv)
      program = Effect.suspend(() => builtin(args))
    } catch (error) {
      process.stderr.write(`jukeflow: ${describe(error)}\n`)
      return 2
    }
  } else {
    // A project command (jukeflow.config.json "commands") parses its own arguments.
    program = runProjectCommand(name, argv.slice(1))
  }
  const fiber = Effect.runFork(program)
  let signals = 0
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1
    if (signals > 1) process.exit(130)
    process.stderr.write(`\njukeflow: ${signal}: stopping; nothing partial is published (again to force)\n`)
    Effect.runFork(Fiber.interrupt(fiber))
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
  const exit = await Effect.runPromise(Fiber.await(fiber))
  process.off("SIGINT", onSignal)
  process.off("SIGTERM", onSignal)
  if (Exit.isSuccess(exit)) return exit.value
  if (Cause.isInterruptedOnly(exit.cause)) return 130
  const failure = Cause.failureOption(exit.cause)
  if (failure._tag === "Some") {
    process.stderr.write(`jukeflow: ${describe(failure.value)}\n`)
    return exitCodeOf(failure.value)
  }
  process.stderr.write(`jukeflow: internal error: ${Cause.pretty(exit.cause)}\n`)
  return 1
}
