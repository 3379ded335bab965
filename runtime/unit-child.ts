/**
 * The far side of an isolated unit (see `makeProcessPool` in isolate.ts): receives jobs over IPC,
 * one at a time; for each, imports the stage's module, reads the inputs from the store, runs the stage into the output
 * folder it was given, and reports events and the written content back. Publishing, the cache
 * entry and the lock stay with the runner.
 */
import { Cause, Effect, Schema } from "effect"
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"
import type { ArtifactKind } from "./artifact.ts"
import { causeReason, type ChildMessage, type UnitJob } from "./isolate.ts"
import { materializeInput, materializeInputs } from "./inputs.ts"
import { writeOutput } from "./outputs.ts"
import type { AnyStage, StageContext } from "./stage.ts"
import { Store } from "./store.ts"

const send = (message: ChildMessage): Promise<void> =>
  new Promise((done) => (process.send ? process.send(message, undefined, {}, () => done()) : done()))

const isStage = (value: unknown, name: string): value is AnyStage =>
  typeof value === "object" && value !== null && (value as { _tag?: unknown })._tag === "Stage" && (value as { name?: unknown }).name === name

const runJob = (job: UnitJob) =>
  Effect.gen(function* () {
    const module = yield* Effect.promise(() => import(pathToFileURL(job.module).href) as Promise<Record<string, unknown>>)
    const stage = Object.values(module).find((v) => isStage(v, job.stageName))
    if (stage === undefined) return yield* Effect.die(new Error(`${job.module} exports no stage named "${job.stageName}"`))
    const store = new Store(job.storeDir)
    const params = yield* Schema.decodeUnknown(stage.params)(job.params)
    const inputs = yield* materializeInputs(store, stage.inputs as Record<string, ArtifactKind>, job.specs)
    const previous = job.previousSpec ? yield* materializeInput(store, stage.output as ArtifactKind, job.previousSpec) : undefined
    const post = (message: ChildMessage) => Effect.sync(() => void process.send?.(message))
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

// One job at a time; the runner sends the next when this one is done, and disconnects at the end.
process.on("message", (job: UnitJob) => {
  void Effect.runPromiseExit(runJob(job)).then((exit) =>
    send(exit._tag === "Success" ? { _tag: "Done", content: exit.value } : { _tag: "Failed", reason: causeReason(exit.cause as Cause.Cause<unknown>) }))
})
process.on("disconnect", () => process.exit(0))
