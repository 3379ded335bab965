/**
 * The runner: resolves each stage of a graph to an artifact — from the cache when its key is
 * there, else by running it — with independent stages in parallel up to the cores, `gpu` stages on
 * the device pool, and one reason per stage for why it ran. `plan` is the same walk without running.
 */
import { Deferred, Effect, Option, Queue, type Scope } from "effect"
import { existsSync } from "node:fs"
import { relative } from "node:path"
import type { ArtifactKind } from "./artifact.ts"
import type { ArtifactReadError } from "./artifact.ts"
import { describe, StageFailed, type StoreError } from "./errors.ts"
import { executeUnit, type UnitResult } from "./execute.ts"
import { type ExecutorConfig, makeExecutor } from "./executor.ts"
import { FileMemo } from "./filememo.ts"
import { codeFingerprint } from "./fingerprint.ts"
import { downstreamOf, type Graph, type GraphNode, upstreamOf } from "./graph.ts"
import { inputValue, type InputSpec, materializeInputs, partitionsOf } from "./inputs.ts"
import { cacheKey, type KeyComponents, reasonToRun } from "./keys.ts"
import { lastComponents, newRunId, type RunRecord, saveRecord, type StageRecord } from "./record.ts"
import type { Reporter } from "./reporter.ts"
import type { PipelineStageState, PipelineState } from "./stage.ts"
import type { ArtifactManifest, Store } from "./store.ts"

/** Which stages to run, and how. */
export interface RunOptions {
  /** Run only these stages; their inputs must be cached. */
  readonly only?: ReadonlyArray<string>
  /** Run these stages and everything downstream of them. */
  readonly from?: ReadonlyArray<string>
  /** Run these stages and everything upstream of them. */
  readonly until?: ReadonlyArray<string>
  /** Run these stages even when cached (`*` for all). */
  readonly force?: ReadonlyArray<string>
  /** Fail a stage that rejects any input item (`ctx.reject`). */
  readonly strict?: boolean
  /** Plan only: compute keys and reasons, run nothing, write no record. */
  readonly dryRun?: boolean
  /** The command line, recorded in locks and the run record. */
  readonly command: string
  readonly cores: number
  readonly devices: ReadonlyArray<string>
  readonly reporter: Reporter
  /** Where units run; this machine by default. */
  readonly executor?: ExecutorConfig
}

/** What resolving one stage gave. */
interface Outcome {
  readonly record: StageRecord
  readonly manifest: ArtifactManifest | undefined
}

/** The stages a run touches: `selected` run; `needed` are only looked up in the cache. */
export const selectStages = (graph: Graph, options: Pick<RunOptions, "only" | "from" | "until">) => {
  const all = new Set(graph.order)
  let selected = new Set(all)
  if (options.only?.length) selected = new Set(options.only)
  if (options.from?.length) {
    const keep = new Set(options.from.flatMap((f) => [f, ...downstreamOf(graph, f)]))
    selected = new Set([...selected].filter((s) => keep.has(s)))
  }
  if (options.until?.length) {
    const keep = new Set(options.until.flatMap((u) => [u, ...upstreamOf(graph, u)]))
    selected = new Set([...selected].filter((s) => keep.has(s)))
  }
  const needed = new Set([...selected].flatMap((s) => [...upstreamOf(graph, s)]).filter((s) => !selected.has(s)))
  return { selected, needed }
}

const baseRecord = (node: GraphNode, status: StageRecord["status"], reason: string): StageRecord => ({
  name: node.name, stage: node.stage.name, status, reason, seconds: 0, device: node.stage.device, backend: [],
})

/** Resolves every stage of `graph`; writes a run record unless planning. */
export const runGraph = (graph: Graph, store: Store, options: RunOptions): Effect.Effect<RunRecord, StoreError> =>
  Effect.scoped(Effect.gen(function* () {
    const started = new Date()
    const file = relative(graph.root, graph.file)
    const memo = yield* Effect.promise(() => FileMemo.load(store.path("state", "files.json")))
    const previous = yield* lastComponents(store, file, graph.order)
    const { selected, needed } = selectStages(graph, options)
    const forced = new Set(options.force ?? [])
    const cores = yield* Effect.makeSemaphore(options.cores)
    const executor = yield* makeExecutor(options.executor ?? { kind: "local" }, store)
    const gpus = yield* Queue.unbounded<string>()
    yield* Queue.offerAll(gpus, options.devices)
    const gpuStages = [...selected].filter((s) => graph.nodes.get(s)!.stage.device === "gpu")
    if (gpuStages.length > 0 && options.devices.length === 0 && !options.dryRun && executor.kind === "local") {
      options.reporter.event({ _tag: "Note", message: `no GPU found: ${gpuStages.join(", ")} run on the CPU` })
    }
    const outcomes = new Map<string, Deferred.Deferred<Outcome>>()
    for (const name of graph.order) outcomes.set(name, yield* Deferred.make<Outcome>())
    const pipelineState = Effect.map(
      Effect.forEach(graph.order, (name) => Deferred.poll(outcomes.get(name)!).pipe(Effect.flatMap((o) => (o._tag === "Some" ? Effect.asSome(o.value) : Effect.succeedNone)))),
      (settled): PipelineState => ({ name: graph.name, stages: graph.order.map((name, i) => stageState(graph.nodes.get(name)!, settled[i]!)) }),
    )

    const resources = (node: GraphNode): Effect.Effect<string, never, Scope.Scope> => {
      // On a cluster the scheduler allocates cores and GPUs, and this machine's stay free.
      if (executor.all) return Effect.succeed(node.stage.device)
      const permits = Math.min(node.stage.cores, options.cores)
      const core = Effect.acquireRelease(cores.take(permits), () => cores.release(permits))
      if (node.stage.device !== "gpu" || options.devices.length === 0) return Effect.as(core, "cpu")
      return Effect.zipRight(core, Effect.acquireRelease(Queue.take(gpus), (id) => Queue.offer(gpus, id)))
    }

    const resolveNode = (node: GraphNode): Effect.Effect<Outcome, StoreError | ArtifactReadError | StageFailed> =>
      Effect.gen(function* () {
        const mode = selected.has(node.name) ? "run" : "lookup"
        const upstream = new Map<string, Outcome>()
        for (const [input, from] of Object.entries(node.inputs)) upstream.set(input, yield* Deferred.await(outcomes.get(from)!))
        for (const [input, outcome] of upstream) {
          if (outcome.manifest) continue
          const from = node.inputs[input]!
          const status = outcome.record.status
          if (status === "will-run") return { record: baseRecord(node, "will-run", `input changed: ${from}`), manifest: undefined }
          const reason = status === "skipped" && outcome.record.reason.startsWith("not selected")
            ? `input "${input}" (${from}) has no cached result; run it first`
            : `input "${input}" (${from}) ${status === "failed" ? "failed" : "was not produced"}`
          return { record: baseRecord(node, "skipped", reason), manifest: undefined }
        }
        const inputHashes: Record<string, string> = Object.fromEntries([...upstream].map(([input, o]) => [input, o.manifest!.hash]))
        // An incremental stage extends its own last output when its inputs change. That output is
        // deliberately not part of the key: with unchanged inputs the stage stays cached.
        const last = node.stage.incremental ? previous.get(node.name)?.artifact : undefined
        const lastManifest = last === undefined ? undefined : yield* Effect.orElseSucceed(store.manifest(last), () => undefined)
        const previousValue = lastManifest ? inputValue(store, node.stage.output as ArtifactKind, lastManifest) : Effect.succeed(undefined)
        const code = yield* Effect.promise(() => codeFingerprint(node.stage.module, graph.root, memo))
        const common: KeyComponents = {
          stage: node.stage.name, version: node.stage.version, code, params: node.paramsEncoded, inputs: inputHashes, files: {},
        }
        const wholeSpecs: Record<string, InputSpec> = Object.fromEntries([...upstream].map(([input, o]) => [input, { _tag: "Whole", hash: o.manifest!.hash }]))
        const inputValues = (specs: Record<string, InputSpec>) => materializeInputs(store, node.stage.inputs as Record<string, ArtifactKind>, specs)
        // A plan lists declared files that do not exist yet (data still to come) instead of failing: the stage will run, and `run` fails it if they are still missing.
        const declaredFiles = (
          values: Effect.Effect<Record<string, unknown>, StoreError | ArtifactReadError>,
        ): Effect.Effect<{ hashes: Record<string, string>; missing: string[] }, StageFailed | StoreError | ArtifactReadError> =>
          node.stage.files === undefined
            ? Effect.succeed({ hashes: {}, missing: [] })
            : Effect.gen(function* () {
              const paths = yield* node.stage.files!({ params: node.params, inputs: (yield* values) as never, root: graph.root }).pipe(
                Effect.mapError((e) => new StageFailed({ stage: node.name, reason: `declaring its files: ${describe(e)}` })),
              )
              const hashes: Record<string, string> = {}
              const missing: string[] = []
              for (const path of [...paths].sort()) {
                const absolute = path.startsWith("/") ? path : `${graph.root}/${path}`
                if (!existsSync(absolute)) {
                  if (options.dryRun) missing.push(relative(graph.root, absolute))
                  else return yield* new StageFailed({ stage: node.name, reason: `declared file ${path} is missing` })
                  continue
                }
                hashes[relative(graph.root, absolute)] = yield* Effect.tryPromise({
                  try: () => memo.hash(absolute),
                  catch: () => new StageFailed({ stage: node.name, reason: `declared file ${path} cannot be read` }),
                })
              }
              return { hashes, missing }
            })
        const missingReason = (missing: ReadonlyArray<string>) => `file missing: ${missing.join(", ")}`
        const isForced = forced.has(node.name) || forced.has("*")
        const unit = (
          components: KeyComponents,
          partition: string | undefined,
          specs: Record<string, InputSpec>,
          values: Effect.Effect<Record<string, unknown>, StoreError | ArtifactReadError>,
        ): Effect.Effect<UnitResult, StoreError> => {
          const before = previous.get(node.name)
          const reason = isForced ? "forced" : partition !== undefined && before && !before.partitions[partition]
            ? "new partition"
            : reasonToRun(before?.components, components, node.inputs)
          return executeUnit({
            store, graph, node, components, key: cacheKey(components), partition, reason, forced: isForced,
            mode: options.dryRun ? "plan" : mode, inputs: values, specs, executor, previous: previousValue,
            previousSpec: lastManifest ? { _tag: "Whole", hash: lastManifest.hash } : undefined, resources: resources(node), command: options.command, reporter: options.reporter,
            strict: options.strict ?? false, pipeline: pipelineState,
          })
        }
        const started = Date.now()
        if (!node.stage.partitionBy) {
          const values = yield* Effect.cached(inputValues(wholeSpecs))
          const files = yield* Effect.either(declaredFiles(values))
          if (files._tag === "Left") return yield* files.left
          if (files.right.missing.length > 0) return { record: baseRecord(node, "will-run", missingReason(files.right.missing)), manifest: undefined }
          const components = { ...common, files: files.right.hashes }
          const result = yield* unit(components, undefined, wholeSpecs, values)
          return { record: { ...result.record, name: node.name, stage: node.stage.name, components }, manifest: result.manifest }
        }
        const by = node.stage.partitionBy
        const kind = node.stage.inputs[by.input] as Extract<ArtifactKind, { _tag: "Table" }>
        const parts = yield* partitionsOf(store, kind, upstream.get(by.input)!.manifest!, by.column)
        // joined inputs, cut by the same values: name → (column, kind, partitions by value)
        const joined = yield* Effect.forEach(Object.entries(by.join ?? {}) as Array<[string, string]>, ([input, column]) => {
          const joinKind = node.stage.inputs[input] as Extract<ArtifactKind, { _tag: "Table" }>
          return Effect.map(partitionsOf(store, joinKind, upstream.get(input)!.manifest!, column), (list) =>
            ({ input, column, kind: joinKind, byValue: new Map(list.map((p) => [p.value, p])) }))
        })
        const results = yield* Effect.forEach(parts, (part) =>
          Effect.gen(function* () {
            const cut = joined.map((j) => ({ ...j, part: j.byValue.get(part.value) ?? { value: part.value, rowsHash: "(no rows)", rows: 0, members: [] } }))
            const specs: Record<string, InputSpec> = {
              ...wholeSpecs,
              [by.input]: { _tag: "Partition", partition: part, column: by.column },
              ...Object.fromEntries(cut.map((j) => [j.input, { _tag: "Partition", partition: j.part, column: j.column } satisfies InputSpec])),
            }
            const values = yield* Effect.cached(inputValues(specs))
            const files = yield* Effect.either(declaredFiles(values))
            if (files._tag === "Left") return { value: part.value, key: "", result: undefined, error: files.left } satisfies PartitionResult
            if (files.right.missing.length > 0) {
              return { value: part.value, key: "", result: { record: baseRecord(node, "will-run", missingReason(files.right.missing)), manifest: undefined }, error: undefined } satisfies PartitionResult
            }
            const inputs = { ...common.inputs, [by.input]: part.rowsHash, ...Object.fromEntries(cut.map((j) => [j.input, j.part.rowsHash])) }
            const components: KeyComponents = { ...common, inputs, files: files.right.hashes, partition: part.value }
            return { value: part.value, key: cacheKey(components), result: yield* unit(components, part.value, specs, values), error: undefined } satisfies PartitionResult
          }), { concurrency: "unbounded" })
        const summary = summarisePartitions(node, results, (Date.now() - started) / 1000, common)
        if (summary.record.status !== "ran" && summary.record.status !== "cached") return { record: summary.record, manifest: undefined }
        const manifest = yield* store.publishComposite(summary.members, summary.record.bytes ?? 0)
        return { record: { ...summary.record, artifact: manifest.hash }, manifest }
      })

    const involved = graph.order.filter((n) => selected.has(n) || needed.has(n))
    const settle = (node: GraphNode) =>
      resolveNode(node).pipe(
        Effect.catchAll((error) => Effect.succeed<Outcome>({ record: { ...baseRecord(node, "failed", describe(error)), error: describe(error) }, manifest: undefined })),
        Effect.onInterrupt(() => Deferred.succeed(outcomes.get(node.name)!, { record: baseRecord(node, "interrupted", "interrupted"), manifest: undefined })),
        Effect.tap((outcome) => Deferred.succeed(outcomes.get(node.name)!, outcome)),
      )
    for (const name of graph.order) {
      if (!involved.includes(name)) {
        yield* Deferred.succeed(outcomes.get(name)!, { record: baseRecord(graph.nodes.get(name)!, "skipped", "not selected"), manifest: undefined })
      }
    }
    const settled = yield* Effect.forEach(involved.map((n) => graph.nodes.get(n)!), settle, { concurrency: "unbounded" }).pipe(
      Effect.onInterrupt(() =>
        Effect.gen(function* () {
          const stages = yield* Effect.forEach(graph.order, (n) => Deferred.poll(outcomes.get(n)!).pipe(
            Effect.flatMap((o) => (o._tag === "Some" ? o.value : Effect.succeed<Outcome>({ record: baseRecord(graph.nodes.get(n)!, "interrupted", "interrupted"), manifest: undefined }))),
          ))
          if (!options.dryRun) yield* saveRecord(store, makeRecord(graph, file, options, started, stages.map((o) => o.record), "interrupted"))
        })),
    )
    const byName = new Map(settled.map((o) => [o.record.name, o]))
    const stages = graph.order.map((n) => byName.get(n)?.record ?? baseRecord(graph.nodes.get(n)!, "skipped", "not selected"))
    const failed = stages.some((s) => s.status === "failed" || (s.status === "skipped" && selected.has(s.name) && s.reason !== "not selected"))
    const record = makeRecord(graph, file, options, started, stages, failed ? "failed" : "success")
    yield* Effect.promise(() => memo.save())
    if (!options.dryRun) yield* saveRecord(store, record)
    return record
  }))

/** A stage's line in `ctx.pipeline`: its record once settled, else pending. */
const stageState = (node: GraphNode, outcome: Option.Option<Outcome>): PipelineStageState => {
  const base = { name: node.name, stage: node.stage.name, inputs: { ...node.inputs } }
  if (Option.isNone(outcome) || outcome.value.record.status === "will-run") return { ...base, status: "pending", reason: "", seconds: 0 }
  const { status, reason, seconds, partitions } = outcome.value.record
  return { ...base, status, reason, seconds, ...(partitions ? { partitions: { total: partitions.total, ran: partitions.ran, cached: partitions.cached, failed: partitions.failed } } : {}) }
}

/** What resolving one partition gave. */
interface PartitionResult {
  readonly value: string
  readonly key: string
  readonly result: UnitResult | undefined
  readonly error: StageFailed | StoreError | ArtifactReadError | undefined
}

/**
 * The run-record line of a partitioned stage from its partitions' results: failed if any failed,
 * "will run" if any will (planning), else ran or cached; and its members (value → artifact hash).
 */
const summarisePartitions = (node: GraphNode, results: ReadonlyArray<PartitionResult>, seconds: number, common: KeyComponents) => {
  const count = (s: string) => results.filter((r) => r.result?.record.status === s).length
  const failed = results.filter((r) => r.error || r.result?.record.status === "failed" || r.result?.record.status === "interrupted")
  const pending = results.filter((r) => r.result?.record.status === "will-run")
  const ranResults = results.filter((r) => r.result?.record.status === "ran")
  const total = results.length
  const partitions = { total, ran: ranResults.length, cached: count("cached"), failed: failed.length, keys: Object.fromEntries(results.map((r) => [r.value, r.key])) }
  const record: StageRecord = {
    ...baseRecord(node, "cached", "cached"),
    seconds,
    components: common,
    partitions,
    backend: [...new Set(results.flatMap((r) => r.result?.record.backend ?? []))],
    ...rejectedOf(results.flatMap((r) => r.result?.record.rejected ?? [])),
    device: results.find((r) => r.result?.record.device)?.result?.record.device ?? node.stage.device,
  }
  const members: Record<string, string> = {}
  if (failed.length > 0) {
    const error = failed[0]!.error?.message ?? failed[0]!.result?.record.error ?? "failed"
    return { record: { ...record, status: "failed" as const, reason: `${failed.length} of ${total} partitions failed`, error }, members }
  }
  if (pending.length > 0) {
    const reasons = [...new Set(pending.map((r) => r.result!.record.reason))]
    const names = pending.slice(0, 5).map((r) => r.value).join(", ") + (pending.length > 5 ? ", ..." : "")
    return { record: { ...record, status: "will-run" as const, reason: `${pending.length} of ${total} partitions: ${reasons.join("; ")} (${names})` }, members }
  }
  for (const r of results) members[r.value] = r.result!.manifest!.hash
  const reasons = [...new Set(ranResults.map((r) => r.result!.record.reason))].join("; ")
  return {
    record: {
      ...record,
      status: ranResults.length > 0 ? "ran" as const : "cached" as const,
      reason: ranResults.length > 0 ? `${ranResults.length} of ${total} partitions: ${reasons}` : "cached",
      bytes: results.reduce((sum, r) => sum + (r.result?.manifest?.bytes ?? 0), 0),
      rows: results.some((r) => r.result?.manifest?.table) ? results.reduce((sum, r) => sum + (r.result?.manifest?.table?.rows ?? 0), 0) : undefined,
    },
    members,
  }
}

const rejectedOf = (rejected: ReadonlyArray<{ readonly item: string; readonly reason: string }>) =>
  rejected.length > 0 ? { rejected } : {}

const makeRecord = (
  graph: Graph, file: string, options: RunOptions, started: Date, stages: ReadonlyArray<StageRecord>, status: RunRecord["status"],
): RunRecord => ({
  id: newRunId(started),
  pipeline: graph.name,
  file,
  command: options.command,
  started: started.toISOString(),
  finished: new Date().toISOString(),
  status,
  cores: options.cores,
  devices: [...options.devices],
  ...(options.executor && options.executor.kind !== "local" ? { executor: options.executor.kind } : {}),
  stages: [...stages],
})
