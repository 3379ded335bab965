/**
 * Running one unit of a stage in a process of its own. The runner keeps the lock, the output
 * folder, publishing and the cache entry; the process gets a job — which stage (by module and
 * name), its encoded params, where each input lives in the store — runs the stage into the output
 * folder, and streams its logs, progress, backend and rejections back over IPC.
 *
 * This is what lets independent model stages use separate cores (a wasm TensorFlow.js backend
 * computes on one thread per process), and the same job is what a cluster executor ships.
 */
import { Cause, Effect, type Scope } from "effect"
import { type ChildProcess, fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import { StageFailed } from "./errors.ts"
import type { InputSpec } from "./inputs.ts"
import type { OutputContent } from "./outputs.ts"
import type { Device, PipelineState, StageContext } from "./stage.ts"

/** Everything a process needs to run one unit. Plain data. */
export interface UnitJob {
  /** The stage's module (absolute path) and its name there. */
  readonly module: string
  readonly stageName: string
  /** The stage's name in the pipeline, and the partition. */
  readonly stage: string
  readonly partition: string | undefined
  /** Params, encoded as in the cache key. */
  readonly params: unknown
  readonly specs: Readonly<Record<string, InputSpec>>
  readonly previousSpec: InputSpec | undefined
  readonly storeDir: string
  readonly outDir: string
  readonly scratchDir: string
  readonly root: string
  readonly device: Device
  readonly cores: number
  /** The run as it stood when the unit started (`ctx.pipeline`). */
  readonly pipeline: PipelineState
  /**
   * The code fingerprint in the unit's cache key (project file → hash). The process checks the
   * stage's code against it when it first imports the module, so code edited during a run is never
   * run under the key of the code before.
   */
  readonly code?: Readonly<Record<string, string>>
}

/** What the process sends back (over IPC, or as lines of a cluster job's events file). */
export type ChildMessage =
  | { readonly _tag: "Started"; readonly host: string; readonly gpus: string }
  | { readonly _tag: "Log"; readonly message: string }
  | { readonly _tag: "Progress"; readonly done: number; readonly total: number; readonly unit: string }
  | { readonly _tag: "Backend"; readonly backend: string }
  | { readonly _tag: "Reject"; readonly item: string; readonly reason: string; readonly skipped: boolean }
  | { readonly _tag: "Done"; readonly content: OutputContent }
  | { readonly _tag: "Failed"; readonly reason: string }

/**
 * Passes a unit's event on to its stage context: logs, progress, backend, rejections, and where a
 * cluster job started (only cluster jobs say so; a log line). Its end (`Done`, `Failed`) is the caller's.
 */
export const relayEvent = (message: Exclude<ChildMessage, { _tag: "Done" | "Failed" }>, ctx: StageContext): void => {
  switch (message._tag) {
    case "Started":
      return Effect.runSync(ctx.log(`on ${message.host}${message.gpus ? `, CUDA_VISIBLE_DEVICES=${message.gpus}` : ""}`))
    case "Log":
      return Effect.runSync(ctx.log(message.message))
    case "Progress":
      return Effect.runSync(ctx.progress(message.done, message.total, message.unit))
    case "Backend":
      return Effect.runSync(ctx.reportBackend(message.backend))
    case "Reject":
      return Effect.runSync(message.skipped ? ctx.skip(message.item, message.reason) : ctx.reject(message.item, message.reason))
  }
}

const ENTRY = fileURLToPath(new URL("./unit-process.js", import.meta.url))

/** Environment of a unit's process: BLAS and OpenMP pools sized to the unit's cores. */
const unitEnv = (cores: number): NodeJS.ProcessEnv => {
  const threads = String(Math.max(1, cores))
  return { ...process.env, JUKEFLOW_CORES: threads, OMP_NUM_THREADS: threads, OPENBLAS_NUM_THREADS: threads }
}

/** Runs units in processes of their own, reusing idle ones (a process keeps its loaded modules). */
export interface ProcessPool {
  /** Runs `job`, relaying its events to `ctx`; gives the written output's content. Interrupting kills its process. */
  readonly run: (job: UnitJob, ctx: StageContext) => Effect.Effect<OutputContent, StageFailed>
}

/**
 * A pool of unit processes for one run. A process whose unit finished waits for the next unit of
 * the same stage module with the same cores (which size its BLAS pool): it keeps the modules and
 * backend it loaded, and serving one module only, it never mixes a stage's code with another's
 * loaded at a different time. Starting a process for another stage ends the idle ones; closing
 * the scope ends them all.
 */
export const makeProcessPool: Effect.Effect<ProcessPool, never, Scope.Scope> = Effect.gen(function* () {
  const idle = new Map<string, ChildProcess[]>()
  const all = new Set<ChildProcess>()
  yield* Effect.addFinalizer(() =>
    Effect.sync(() => {
      for (const child of all) if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
      all.clear()
    }))
  const spawn = (key: string, cores: number): ChildProcess => {
    for (const [other, list] of idle) {
      if (other === key) continue
      for (const child of list) child.kill("SIGTERM")
      idle.delete(other)
    }
    const child = fork(ENTRY, [], { execArgv: [], env: unitEnv(cores), stdio: ["ignore", "inherit", "inherit", "ipc"] })
    all.add(child)
    child.on("exit", () => {
      all.delete(child)
      const list = idle.get(key)
      if (list?.includes(child)) list.splice(list.indexOf(child), 1)
    })
    return child
  }
  const release = (key: string, child: ChildProcess) => {
    if (child.exitCode !== null || child.signalCode !== null || !child.connected) return
    child.unref()
    ;(child.channel as { unref?: () => void } | undefined)?.unref?.()
    idle.set(key, [...(idle.get(key) ?? []), child])
  }
  const run = (job: UnitJob, ctx: StageContext): Effect.Effect<OutputContent, StageFailed> =>
    Effect.async<OutputContent, StageFailed>((resume) => {
      const key = `${job.module}\n${job.cores}`
      const child = idle.get(key)?.shift() ?? spawn(key, job.cores)
      child.ref()
      ;(child.channel as { ref?: () => void } | undefined)?.ref?.()
      let settled = false
      const finish = (effect: Effect.Effect<OutputContent, StageFailed>) => {
        settled = true
        child.off("message", onMessage).off("exit", onExit).off("error", onError)
        release(key, child)
        resume(effect)
      }
      const fail = (reason: string) => Effect.fail(new StageFailed({ stage: job.stage, partition: job.partition, reason }))
      const onMessage = (message: ChildMessage) => {
        if (message._tag === "Done") return finish(Effect.succeed(message.content))
        if (message._tag === "Failed") return finish(fail(message.reason))
        relayEvent(message, ctx)
      }
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        if (!settled) finish(fail(`its process (pid ${child.pid}) ended with ${signal ?? `exit code ${code}`} before finishing`))
      }
      const onError = (error: Error) => {
        if (!settled) finish(fail(`its process could not start: ${error.message}`))
      }
      child.on("message", onMessage).on("exit", onExit).on("error", onError)
      child.send(job)
      return Effect.sync(() => {
        settled = true
        child.off("message", onMessage).off("exit", onExit).off("error", onError)
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
      })
    })
  return { run }
})

/** One sentence for a failed `run`: the error's message, or the defect's. */
export const causeReason = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.squash(cause)
  if (failure instanceof StageFailed) return failure.reason
  if (failure instanceof Error) return failure.message.split("\n")[0] || failure.name
  if (typeof failure === "object" && failure !== null && "message" in failure) return String((failure as { message: unknown }).message)
  return String(failure)
}
