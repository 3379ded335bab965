/**
 * The Slurm executor: each unit is one `sbatch` job running `runtime/unit-process.js` on a job
 * file. Everything it exchanges with the runner goes through the store, which the nodes share:
 * the job file and script, the events file the unit appends to (logs, progress, backend,
 * rejections, its result or error) and its stdout/stderr, all in `jobs/<name>/`. The runner tails
 * the events, watches the queue, and on a failed job quotes the unit's error and its stderr's tail.
 * Dependencies stay with the runner: a unit is submitted once its inputs are published.
 */
import { Duration, Effect, Exit } from "effect"
import { closeSync, fstatSync, openSync, readSync, promises as fs } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { randomBytes } from "node:crypto"
import { StageFailed } from "./errors.ts"
import type { Executor, JobState, SlurmExecutorConfig } from "./executor.ts"
import { type ChildMessage, relayEvent, type UnitJob } from "./isolate.ts"
import { cancelNow, finalState, isFinal, queueStates, submit } from "./slurm-cli.ts"
import type { StageContext } from "./stage.ts"
import type { Store } from "./store.ts"

const ENTRY = fileURLToPath(new URL("./unit-process.js", import.meta.url))

/** The files of one job, in `jobs/<name>/` of the store. */
export const jobFiles = (dir: string) => ({
  job: join(dir, "job.json"),
  script: join(dir, "job.sh"),
  events: join(dir, "events.jsonl"),
  stdout: join(dir, "stdout"),
  stderr: join(dir, "stderr"),
})

/** A Slurm executor for one run; closing its scope cancels the jobs still in the queue. */
export const makeSlurmExecutor = (config: SlurmExecutorConfig, store: Store) =>
  Effect.gen(function* () {
    const poll = Duration.millis(Math.round((config.poll ?? 5) * 1000))
    const live = new Set<string>()
    yield* Effect.addFinalizer(() => Effect.sync(() => cancelNow([...live])))
    // One `squeue` per poll for all the run's jobs, however many units wait on it; units look at their events file more often.
    const states = yield* Effect.cachedWithTTL(Effect.suspend(() => Effect.map(queueStates([...live]), (states) => ({ at: Date.now(), states }))), poll)
    const look = Duration.min(poll, Duration.millis(500))
    const slots = yield* Effect.makeSemaphore(config.maxJobs ?? 100)

    /** A job's state; `squeue` forgets ended jobs after a while, and then `sacct` or `scontrol` may still know. */
    const stateOf = (id: string, submitted: number, last: string) =>
      Effect.flatMap(states, (now) => {
        const state = now.states.get(id)
        if (state) return Effect.succeed(state)
        if (now.at < submitted) return Effect.succeed(last)
        return Effect.map(finalState(id), (s) => s?.state ?? "GONE")
      })

    const run = (job: UnitJob, ctx: StageContext, onJob: (job: JobState) => void) =>
      slots.withPermits(1)(Effect.scoped(Effect.gen(function* () {
        const label = job.partition === undefined ? job.stage : `${job.stage}[${job.partition}]`
        const fail = (reason: string) => new StageFailed({ stage: job.stage, partition: job.partition, reason })
        const dir = store.path("jobs", `${new Date().toISOString().replace(/[:.]/g, "-")}-${label.replace(/[^\w.-]+/g, "_").slice(0, 60)}-${randomBytes(3).toString("hex")}`)
        const files = jobFiles(dir)
        const gpus = job.device.kind === "gpu" ? (config.gpusPerStage ?? 1) : 0
        yield* Effect.promise(async () => {
          await fs.mkdir(dir, { recursive: true })
          await fs.writeFile(files.job, JSON.stringify(job))
          await fs.writeFile(files.script, jobScript(config.node ?? process.execPath, files.job, label), { mode: 0o755 })
        })
        let finished = false
        const id = yield* Effect.acquireRelease(
          submit({
            name: `jukeflow:${label}`.slice(0, 100), script: files.script, chdir: job.root, stdout: files.stdout, stderr: files.stderr,
            cores: job.cores, gpus, memory: config.memory, account: config.account, time: config.time, extra: config.sbatch ?? [],
            partition: gpus > 0 ? (config.gpuPartition ?? config.partition) : config.partition,
          }).pipe(Effect.mapError((reason) => fail(reason)), Effect.tap((id) => Effect.sync(() => live.add(id)))),
          (id, exit) => Effect.sync(() => {
            live.delete(id)
            if (!finished || Exit.isInterrupted(exit)) {
              cancelNow([id])
              onJob({ id, state: "CANCELLED", log: dir })
            }
          }),
        )
        const submitted = Date.now()
        let state = "PENDING"
        onJob({ id, state, log: dir })
        const events = tailer(files.events)
        let outcome: Extract<ChildMessage, { _tag: "Done" | "Failed" }> | undefined
        const relay = () => {
          for (const message of events()) {
            if (message._tag === "Done" || message._tag === "Failed") outcome = message
            else relayEvent(message, ctx)
          }
        }
        for (;;) {
          relay()
          if (outcome?._tag === "Done") break
          const now = yield* stateOf(id, submitted, state)
          if (now !== state && now !== "GONE") onJob({ id, state: (state = now), log: dir })
          if (isFinal(now) || now === "GONE") {
            // The unit's last events may reach this node's view of the filesystem a little after the job ends.
            for (let i = 0; i < 5 && outcome === undefined; i++) {
              relay()
              if (outcome === undefined) yield* Effect.sleep(Duration.millis(500))
            }
            break
          }
          yield* Effect.sleep(look)
        }
        finished = true
        if (outcome?._tag === "Done") {
          onJob({ id, state: "COMPLETED", log: dir })
          return outcome.content
        }
        const exitCode = (yield* finalState(id))?.exitCode
        const stderr = yield* Effect.promise(() => lastLines(files.stderr, 12))
        const what = `Slurm job ${id} ${state === "GONE" ? "ended (Slurm no longer knows how)" : state}${exitCode && exitCode !== "0:0" ? ` (exit code ${exitCode})` : ""}`
        const error = outcome?._tag === "Failed" ? `: ${outcome.reason}` : state === "COMPLETED" ? ": it ended without reporting its output" : ""
        const tail = stderr.length > 0 ? `; last lines of its stderr (${files.stderr}):\n${stderr.map((l) => `  | ${l}`).join("\n")}` : `; its stderr (${files.stderr}) is empty`
        return yield* fail(`${what}${error}${tail}`)
      })))

    return { kind: "slurm", all: true, run } satisfies Executor
  })

/** The job's script: the unit's BLAS and OpenMP pools sized to the cores Slurm gave it, then the unit. */
const jobScript = (node: string, jobFile: string, label: string) => {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`
  return [
    "#!/bin/sh",
    `# jukeflow unit ${label}: written by the runner, which tails events.jsonl beside this file.`,
    "cores=${SLURM_CPUS_PER_TASK:-1}",
    "export JUKEFLOW_CORES=$cores OMP_NUM_THREADS=$cores OPENBLAS_NUM_THREADS=$cores",
    `exec ${quote(node)} ${quote(ENTRY)} --job ${quote(jobFile)}`,
    "",
  ].join("\n")
}

/** Reads the whole lines appended to `file` since the last call. */
const tailer = (file: string) => {
  let offset = 0
  let partial = Buffer.alloc(0)
  return (): ChildMessage[] => {
    let fd: number
    try {
      fd = openSync(file, "r")
    } catch {
      return []
    }
    try {
      const size = fstatSync(fd).size
      if (size <= offset) return []
      const chunk = Buffer.alloc(size - offset)
      readSync(fd, chunk, 0, chunk.length, offset)
      offset = size
      const bytes = Buffer.concat([partial, chunk])
      const end = bytes.lastIndexOf(10)
      partial = bytes.subarray(end + 1)
      return bytes.subarray(0, end + 1).toString("utf8").split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l) as ChildMessage)
    } finally {
      closeSync(fd)
    }
  }
}

/** The last `n` non-empty lines of a file (its last 8 KB), or none. */
const lastLines = async (file: string, n: number): Promise<string[]> => {
  try {
    const handle = await fs.open(file, "r")
    try {
      const size = (await handle.stat()).size
      const length = Math.min(size, 8192)
      const buffer = Buffer.alloc(length)
      await handle.read(buffer, 0, length, size - length)
      return buffer.toString("utf8").split("\n").map((l) => l.trimEnd()).filter((l) => l.length > 0).slice(-n)
    } finally {
      await handle.close()
    }
  } catch {
    return []
  }
}
