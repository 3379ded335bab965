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
  /** Input items the stage set aside (quarantined), with why. */
  rejected: Schema.optional(Schema.Array(Schema.Struct({ item: Schema.String, reason: Schema.String }))),
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
  stages: Schema.Array(StageRecord),
})
export type RunRecord = typeof RunRecord.Type

const decodeRecord = Schema.decodeUnknownSync(RunRecord)

export { newRunId } from "./internal/project.js"

/** Saves a run record. */
export const saveRecord = (store: Store, record: RunRecord): Effect.Effect<void> =>
  Effect.promise(() => writeFileAtomic(join(store.path("runs"), `${record.id}.json`), JSON.stringify(record, null, 1)))

/** The latest `limit` run records, newest first; `file` keeps only runs of that pipeline file. */
export const loadRecords = (store: Store, options: { readonly limit?: number; readonly file?: string } = {}): Effect.Effect<RunRecord[]> =>
  Effect.promise(async () => {
    let names: string[]
    try {
      names = (await fs.readdir(store.path("runs"))).filter((n) => n.endsWith(".json")).sort().reverse()
    } catch {
      return []
    }
    const out: RunRecord[] = []
    for (const name of names) {
      if (out.length >= (options.limit ?? Infinity)) break
      try {
        const record = decodeRecord(JSON.parse(await fs.readFile(join(store.path("runs"), name), "utf8")))
        if (!options.file || record.file === options.file) out.push(record)
      } catch {
        // a record from an older format or a torn write: skip it
      }
    }
    return out
  })

/** The components each stage had when it last succeeded (ran or cached), from newest records first. */
export const lastComponents = (records: ReadonlyArray<RunRecord>): Map<string, { components: KeyComponents; partitions: Record<string, string> }> => {
  const out = new Map<string, { components: KeyComponents; partitions: Record<string, string> }>()
  for (const record of records) {
    for (const stage of record.stages) {
      if (out.has(stage.name) || !stage.components || (stage.status !== "ran" && stage.status !== "cached")) continue
      out.set(stage.name, { components: stage.components as KeyComponents, partitions: { ...stage.partitions?.keys } })
    }
  }
  return out
}
