/**
 * Run records: every run writes one (stages, reasons, timings, artifact hashes, backend, device),
 * and `status`, `explain`, `plan` and `gc` read them.
 */
import { Effect, Schema } from "effect"
import { promises as fs } from "node:fs"
import { join } from "node:path"
import type { KeyComponents } from "./keys.ts"
import { type Store, writeFileAtomic } from "./store.ts"

/** What happened to one stage in a run. */
export const StageStatus = Schema.Literal("cached", "ran", "failed", "skipped", "will-run", "interrupted")
export type StageStatus = typeof StageStatus.Type

/** One stage's line in a run record. */
export const StageRecord = Schema.Struct({
  name: Schema.String,
  stage: Schema.String,
  status: StageStatus,
  reason: Schema.String,
  seconds: Schema.Number,
  key: Schema.optional(Schema.String),
  artifact: Schema.optional(Schema.String),
  bytes: Schema.optional(Schema.Number),
  rows: Schema.optional(Schema.Number),
  device: Schema.String,
  backend: Schema.Array(Schema.String),
  components: Schema.optional(Schema.Unknown),
  partitions: Schema.optional(Schema.Struct({
    total: Schema.Number,
    ran: Schema.Number,
    cached: Schema.Number,
    failed: Schema.Number,
    keys: Schema.Record({ key: Schema.String, value: Schema.String }),
  })),
  error: Schema.optional(Schema.String),
  /** The cluster job that ran it (Slurm executor): its id, last state, and the folder of its files in the store. */
  job: Schema.optional(Schema.Struct({ id: Schema.String, state: Schema.String, log: Schema.optional(Schema.String) })),
  /** Input items the stage set aside (quarantined), with why. */
  rejected: Schema.optional(Schema.Array(Schema.Struct({ item: Schema.String, reason: Schema.String, skipped: Schema.optional(Schema.Boolean) }))),
})
export type StageRecord = typeof StageRecord.Type

/** A whole run. */
export const RunRecord = Schema.Struct({
  id: Schema.String,
  pipeline: Schema.String,
  file: Schema.String,
  command: Schema.String,
  started: Schema.String,
  finished: Schema.String,
  status: Schema.Literal("success", "failed", "interrupted"),
  cores: Schema.Number,
  devices: Schema.Array(Schema.String),
  /** Where units ran, when not on this machine ("slurm"). */
  executor: Schema.optional(Schema.String),
  stages: Schema.Array(StageRecord),
})
export type RunRecord = typeof RunRecord.Type

/** A stored record, checked for the fields every reader relies on (a full decode is too slow for plans). */
const parseRecord = (text: string): RunRecord | undefined => {
  const record = JSON.parse(text) as RunRecord
  return typeof record.id === "string" && typeof record.file === "string" && Array.isArray(record.stages) ? record : undefined
}

export { newRunId } from "./internal/project.js"

/** Saves a run record. */
export const saveRecord = (store: Store, record: RunRecord): Effect.Effect<void> =>
  Effect.promise(() => writeFileAtomic(join(store.path("runs"), `${record.id}.json`), JSON.stringify(record, null, 1)))

/** Run records newest first, read one at a time; `file` keeps only runs of that pipeline file. */
const newestFirst = async function* (store: Store, file?: string): AsyncGenerator<RunRecord> {
  let names: string[]
  try {
    names = (await fs.readdir(store.path("runs"))).filter((n) => n.endsWith(".json")).sort().reverse()
  } catch {
    return
  }
  for (const name of names) {
    let record: RunRecord | undefined
    try {
      record = parseRecord(await fs.readFile(join(store.path("runs"), name), "utf8"))
    } catch {
      // a torn write or a record from another format: skip it
    }
    if (record && (!file || record.file === file)) yield record
  }
}

/** The latest `limit` run records, newest first; `file` keeps only runs of that pipeline file. */
export const loadRecords = (store: Store, options: { readonly limit?: number; readonly file?: string } = {}): Effect.Effect<RunRecord[]> =>
  Effect.promise(async () => {
    const out: RunRecord[] = []
    for await (const record of newestFirst(store, options.file)) {
      if (out.length >= (options.limit ?? Infinity)) break
      out.push(record)
    }
    return out
  })

/** What a stage had when it last succeeded: its key components and its partitions' keys. */
export interface LastSuccess {
  readonly components: KeyComponents
  /** The artifact it gave. */
  readonly artifact: string | undefined
  readonly partitions: Readonly<Record<string, string>>
}

/**
 * The components each of `stages` had when it last succeeded (ran or cached) in a run of `file`,
 * reading records newest first and stopping as soon as every stage is found (or after 50 runs).
 */
export const lastComponents = (store: Store, file: string, stages: ReadonlyArray<string>): Effect.Effect<Map<string, LastSuccess>> =>
  Effect.promise(async () => {
    const out = new Map<string, LastSuccess>()
    let read = 0
    for await (const record of newestFirst(store, file)) {
      for (const stage of record.stages) {
        if (out.has(stage.name) || !stage.components || (stage.status !== "ran" && stage.status !== "cached")) continue
        out.set(stage.name, { components: stage.components as KeyComponents, artifact: stage.artifact, partitions: { ...stage.partitions?.keys } })
      }
      if (++read >= 50 || stages.every((s) => out.has(s))) break
    }
    return out
  })
