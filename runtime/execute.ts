/**
 * Running one unit of work — a stage, or one partition of it — under its cache key: look the key
 * up, else take its lock, run the stage in a temp folder, write and publish its output, and commit
 * the cache entry last. A failure or an interrupt publishes nothing and leaves no lock behind.
 */
import { Cause, Effect, type Scope } from "effect"
import { promises as fs } from "node:fs"
import { join, resolve } from "node:path"
import type { ArtifactKind, ArtifactReadError } from "./artifact.ts"
import { StageFailed, type StoreError } from "./errors.ts"
import type { Graph, GraphNode } from "./graph.ts"
import type { KeyComponents } from "./keys.ts"
import type { InputSpec } from "./inputs.ts"
import type { Executor, JobState } from "./executor.ts"
import { causeReason } from "./isolate.ts"
import { withLock } from "./lock.ts"
import { writeOutput } from "./outputs.ts"
import type { StageRecord } from "./record.ts"
import type { Reporter } from "./reporter.ts"
import type { Device, PipelineState, StageContext } from "./stage.ts"
import type { ArtifactManifest, KeyEntry, Store } from "./store.ts"

/** Everything `executeUnit` needs. */
export interface Unit {
  readonly store: Store
  readonly graph: Graph
  readonly node: GraphNode
  readonly components: KeyComponents
  readonly key: string
  readonly partition: string | undefined
  /** Why it would run, if it is not cached. */
  readonly reason: string
  readonly forced: boolean
  /** `run`: compute when missing; `lookup`: only read the cache; `plan`: say what would happen. */
  readonly mode: "run" | "lookup" | "plan"
  readonly inputs: Effect.Effect<Record<string, unknown>, StoreError | ArtifactReadError>
  /** Where isolated stages' units (or, on a cluster, all units) run. */
  readonly executor: Executor
  /** Where each input lives, for a stage that runs in a process of its own. */
  readonly specs: Readonly<Record<string, InputSpec>>
  /** Where the incremental stage's last output lives. */
  readonly previousSpec: InputSpec | undefined
  /** An incremental stage's last output, read as an input value. */
  readonly previous: Effect.Effect<unknown, StoreError | ArtifactReadError>
  /** Takes the unit's cores and device for the scope; gives the device id or "cpu". */
  readonly resources: Effect.Effect<string, never, Scope.Scope>
  readonly command: string
  readonly reporter: Reporter
  /** Fail the unit when it rejects any input item. */
  readonly strict: boolean
  /** The run as it stands now (`ctx.pipeline`), read when the unit starts. */
  readonly pipeline: Effect.Effect<PipelineState>
}

/** The record line and artifact of one unit. */
export interface UnitResult {
  readonly record: StageRecord
  readonly manifest: ArtifactManifest | undefined
}

const line = (unit: Unit, status: StageRecord["status"], reason: string, extra: Partial<StageRecord> = {}): StageRecord => ({
  name: unit.node.name,
  stage: unit.node.stage.name,
  status,
  reason,
  seconds: 0,
  key: unit.key,
  device: unit.node.stage.device,
  backend: [],
  ...extra,
})

const label = (unit: Unit) => (unit.partition === undefined ? unit.node.name : `${unit.node.name}[${unit.partition}]`)

const cached = (unit: Unit, entry: KeyEntry) =>
  Effect.map(unit.store.manifest(entry.artifact), (manifest): UnitResult => {
    const rejected = entry.rejected ?? []
    if (unit.strict && rejected.some((r) => !r.skipped)) return strictFailure(unit, rejected, 0, [], "cpu")
    return {
      record: line(unit, "cached", "cached", { artifact: entry.artifact, bytes: manifest.bytes, rows: manifest.table?.rows, ...(rejected.length ? { rejected } : {}) }),
      manifest,
    }
  })

type Rejection = { readonly item: string; readonly reason: string; readonly skipped?: boolean }

const strictFailure = (unit: Unit, rejected: ReadonlyArray<Rejection>, seconds: number, backend: ReadonlyArray<string>, device: string): UnitResult => {
  const bad = rejected.filter((r) => !r.skipped)
  const error = `${bad.length} input item${bad.length === 1 ? "" : "s"} rejected under --strict; first: ${bad[0]!.item}: ${bad[0]!.reason}`
  return { record: line(unit, "failed", unit.reason, { seconds, error, rejected, backend: [...backend], device }), manifest: undefined }
}

/** Resolves one unit to its artifact: cached, computed, or (when planning) "will run". */
export const executeUnit = (unit: Unit): Effect.Effect<UnitResult, StoreError> =>
  Effect.gen(function* () {
    if (!unit.forced) {
      const hit = yield* unit.store.lookup(unit.key)
      if (hit) return yield* cached(unit, hit)
    }
    if (unit.mode === "plan") return { record: line(unit, "will-run", unit.reason), manifest: undefined }
    if (unit.mode === "lookup") {
      return { record: line(unit, "skipped", "not selected and has no cached result"), manifest: undefined }
    }
    return yield* Effect.scoped(compute(unit))
  })

const compute = (unit: Unit): Effect.Effect<UnitResult, StoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const { store, node, reporter } = unit
    const name = label(unit)
    yield* withLock(store.path("locks", `${unit.key}.lock`), unit.command, (holder) =>
      Effect.sync(() => reporter.event({ _tag: "Note", message: `${name}: waiting for pid ${holder?.pid ?? "?"} (${holder?.command ?? "another runner"}), which is computing it` })))
    if (!unit.forced) {
      const hit = yield* store.lookup(unit.key)
      if (hit) return yield* cached(unit, hit)
    }
    const deviceId = yield* unit.resources
    const tmp = yield* store.tempDir(unit.key)
    const outDir = join(tmp, "out")
    const scratchDir = store.scratchDir(unit.key)
    yield* Effect.promise(() => Promise.all([fs.mkdir(outDir, { recursive: true }), fs.mkdir(scratchDir, { recursive: true })]))
    const backends: string[] = []
    const rejected: Rejection[] = []
    const device: Device = deviceId === "cpu" ? { kind: "cpu" } : { kind: "gpu", id: deviceId }
    const previous = yield* unit.previous.pipe(Effect.orElseSucceed(() => undefined))
    const pipeline = yield* unit.pipeline
    const ctx: StageContext = {
      pipeline,
      previous: previous as StageContext["previous"],
      stage: node.name,
      partition: unit.partition,
      outDir,
      scratchDir,
      root: unit.graph.root,
      device,
      cores: Math.min(node.stage.cores, 1024),
      resolve: (path) => resolve(unit.graph.root, path),
      log: (message) => Effect.sync(() => reporter.event({ _tag: "Log", stage: name, message })),
      progress: (done, total, unitName = "steps") => Effect.sync(() => reporter.event({ _tag: "Progress", stage: name, done, total, unit: unitName })),
      reportBackend: (backend) => Effect.sync(() => void (backends.includes(backend) || backends.push(backend))),
      reject: (item, reason) =>
        Effect.sync(() => {
          rejected.push({ item, reason })
          reporter.event({ _tag: "Log", stage: name, message: `rejected ${item}: ${reason}` })
        }),
      skip: (item, reason) =>
        Effect.sync(() => {
          rejected.push({ item, reason, skipped: true })
          reporter.event({ _tag: "Log", stage: name, message: `left out ${item}: ${reason}` })
        }),
    }
    const started = Date.now()
    reporter.event({ _tag: "Start", stage: name, reason: unit.reason, device: deviceId })
    const seconds = () => (Date.now() - started) / 1000
    let job: JobState | undefined
    const onJob = (state: JobState) => {
      if (job?.state !== state.state) reporter.event({ _tag: "Job", stage: name, id: state.id, state: state.state })
      job = state
    }
    const attempt = unit.executor.all || isolated(node) ? unit.executor.run({
      module: node.stage.module, stageName: node.stage.name, stage: node.name, partition: unit.partition, params: node.paramsEncoded,
      specs: unit.specs, previousSpec: unit.previousSpec, storeDir: store.root, outDir, scratchDir, root: unit.graph.root, device, cores: ctx.cores, pipeline,
      code: unit.components.code,
    }, ctx, onJob) : Effect.gen(function* () {
      const inputs = yield* unit.inputs
      const value = yield* Effect.suspend(() => node.stage.run(inputs as never, node.params, ctx))
      return yield* writeOutput(node.stage.output as ArtifactKind, value, outDir, node.name)
    })
    const content = yield* attempt.pipe(
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause)
          ? Effect.failCause(cause as Cause.Cause<never>)
          : Effect.succeed(new StageFailed({ stage: node.name, partition: unit.partition, reason: causeReason(cause) }))),
      Effect.onInterrupt(() => Effect.sync(() => reporter.event({ _tag: "Finish", stage: name, status: "interrupted", seconds: seconds() }))),
    )
    if (content instanceof StageFailed) {
      reporter.event({ _tag: "Finish", stage: name, status: "failed", seconds: seconds() })
      reporter.event({ _tag: "Note", message: `✗ ${content.message}` })
      return { record: line(unit, "failed", unit.reason, { seconds: seconds(), error: content.message, device: deviceId, backend: backends, ...jobOf(job) }), manifest: undefined }
    }
    if (unit.strict && rejected.some((r) => !r.skipped)) {
      reporter.event({ _tag: "Finish", stage: name, status: "failed", seconds: seconds() })
      return strictFailure(unit, rejected, seconds(), backends, deviceId)
    }
    const manifest = yield* Effect.uninterruptible(Effect.gen(function* () {
      const published = yield* store.publish(outDir, content)
      yield* store.commit({
        key: unit.key,
        stage: node.name,
        partition: unit.partition,
        artifact: published.hash,
        components: unit.components,
        ...(rejected.length > 0 ? { rejected } : {}),
        seconds: seconds(),
        createdAt: new Date().toISOString(),
      })
      return published
    }))
    yield* Effect.promise(() => fs.rm(scratchDir, { recursive: true, force: true }))
    reporter.event({ _tag: "Finish", stage: name, status: "ran", seconds: seconds() })
    return {
      record: line(unit, "ran", unit.reason, {
        seconds: seconds(), artifact: manifest.hash, bytes: manifest.bytes, rows: manifest.table?.rows, device: deviceId, backend: backends,
        ...(rejected.length > 0 ? { rejected } : {}), ...jobOf(job),
      }),
      manifest,
    }
  })

const jobOf = (job: JobState | undefined) => (job ? { job: { ...job } } : {})

/** Whether a unit of this stage runs in a process of its own. */
const isolated = (node: GraphNode): boolean => node.stage.isolated && process.env.JUKEFLOW_INPROCESS !== "1"
