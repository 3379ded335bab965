/**
 * The far side of an isolated unit (see `makeProcessPool` in isolate.ts): receives jobs over IPC,
 * one at a time; for each, imports the stage's module, reads the inputs from the store, runs the stage into the output
 * folder it was given, and reports events and the written content back. Publishing, the cache
 * entry and the lock stay with the runner.
 *
 * With `--job FILE` (a cluster job, see slurm.ts) it runs that one job instead, appends its events
 * to `events.jsonl` beside the file, and exits 0 when the output is written, 1 when it failed.
 */
import { type Cause, Effect, type Exit, Schema } from "effect"
import { appendFileSync, readFileSync } from "node:fs"
import { hostname } from "node:os"
import { dirname, join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import type { ArtifactKind } from "./artifact.ts"
import { visibleGpus } from "./internal/project.js"
import { causeReason, type ChildMessage, type UnitJob } from "./isolate.ts"
import { materializeInput, materializeInputs } from "./inputs.ts"
import { type OutputContent, writeOutput } from "./outputs.ts"
import type { AnyStage, Device, StageContext } from "./stage.ts"
import { StageFailed } from "./errors.ts"
import { FileMemo } from "./filememo.ts"
import { codeFingerprint } from "./fingerprint.ts"
import { Store } from "./store.ts"

const send = (message: ChildMessage): Promise<void> =>
  new Promise((done) => (process.send ? process.send(message, undefined, {}, () => done()) : done()))

const isStage = (value: unknown, name: string): value is AnyStage =>
  typeof value === "object" && value !== null && (value as { _tag?: unknown })._tag === "Stage" && (value as { name?: unknown }).name === name

/** The code of each stage module this process imported, as it was on disk then. */
const imported = new Map<string, Promise<Readonly<Record<string, string>>>>()

/**
 * Fails unless the stage's code this process runs is the code of the unit's key: a module is
 * fingerprinted as it is first imported, and a pooled process keeps that code for later units.
 */
const checkCode = (job: UnitJob) =>
  Effect.gen(function* () {
    if (job.code === undefined) return
    let fingerprint = imported.get(job.module)
    if (fingerprint === undefined) {
      fingerprint = FileMemo.load(join(job.storeDir, "state", "files.json")).then((memo) => codeFingerprint(job.module, job.root, memo))
      imported.set(job.module, fingerprint)
    }
    const running = yield* Effect.promise(() => fingerprint!)
    const changed = [...new Set([...Object.keys(running), ...Object.keys(job.code)])].filter((file) => running[file] !== job.code![file]).sort()
    if (changed.length > 0) {
      return yield* Effect.fail(new StageFailed({
        stage: job.stage,
        reason: `its code changed during the run (${changed.join(", ")}), so it would not run the code its cache key names; run again`,
      }))
    }
  })

const runJob = (job: UnitJob, post: (message: ChildMessage) => Effect.Effect<void>) =>
  Effect.gen(function* () {
    yield* checkCode(job)
    const module = yield* Effect.promise(() => import(pathToFileURL(job.module).href) as Promise<Record<string, unknown>>)
    const stage = Object.values(module).find((v) => isStage(v, job.stageName))
    if (stage === undefined) return yield* Effect.die(new Error(`${job.module} exports no stage named "${job.stageName}"`))
    const store = new Store(job.storeDir)
    const params = yield* Schema.decodeUnknown(stage.params)(job.params)
    const inputs = yield* materializeInputs(store, stage.inputs as Record<string, ArtifactKind>, job.specs)
    const previous = job.previousSpec ? yield* materializeInput(store, stage.output as ArtifactKind, job.previousSpec) : undefined
    const ctx: StageContext = {
      stage: job.stage,
      partition: job.partition,
      outDir: job.outDir,
      scratchDir: job.scratchDir,
      root: job.root,
      device: job.device,
      cores: job.cores,
      resolve: (path) => resolve(job.root, path),
      log: (message) => post({ _tag: "Log", message }),
      progress: (done, total, unit = "steps") => post({ _tag: "Progress", done, total, unit }),
      reportBackend: (backend) => post({ _tag: "Backend", backend }),
      reject: (item, reason) => post({ _tag: "Reject", item, reason, skipped: false }),
      skip: (item, reason) => post({ _tag: "Reject", item, reason, skipped: true }),
      previous: previous as StageContext["previous"],
      pipeline: job.pipeline,
    }
    const value = yield* Effect.suspend(() => stage.run(inputs as never, params, ctx as never))
    return yield* writeOutput(stage.output as ArtifactKind, value, job.outDir, job.stage)
  })

const outcome = (exit: Exit.Exit<OutputContent, unknown>): ChildMessage =>
  exit._tag === "Success" ? { _tag: "Done", content: exit.value } : { _tag: "Failed", reason: causeReason(exit.cause as Cause.Cause<unknown>) }

/** A cluster job: the device is the GPUs the scheduler gave it (CUDA_VISIBLE_DEVICES), the cores its allocation. */
const clusterJob = async (file: string) => {
  const job = JSON.parse(readFileSync(file, "utf8")) as UnitJob
  const events = join(dirname(file), "events.jsonl")
  const write = (message: ChildMessage) => appendFileSync(events, `${JSON.stringify(message)}\n`)
  const gpus = visibleGpus().join(",")
  const device: Device = job.device.kind === "gpu" && gpus ? { kind: "gpu", id: gpus } : { kind: "cpu" }
  const cores = Number(process.env.SLURM_CPUS_PER_TASK) || job.cores
  write({ _tag: "Started", host: hostname(), gpus })
  if (job.device.kind === "gpu" && !gpus) write({ _tag: "Log", message: "no GPU visible in this job: running on the CPU" })
  const exit = await Effect.runPromiseExit(runJob({ ...job, device, cores }, (message) => Effect.sync(() => write(message))))
  const message = outcome(exit)
  write(message)
  process.exit(message._tag === "Done" ? 0 : 1)
}

const jobFlag = process.argv.indexOf("--job")
if (jobFlag >= 0) {
  await clusterJob(process.argv[jobFlag + 1]!)
} else {
  // One job at a time; the runner sends the next when this one is done, and disconnects at the end.
  process.on("message", (job: UnitJob) => {
    void Effect.runPromiseExit(runJob(job, (message) => Effect.sync(() => void process.send?.(message)))).then((exit) => send(outcome(exit)))
  })
  process.on("disconnect", () => process.exit(0))
}
