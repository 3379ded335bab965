/**
 * Reading stored artifacts back as the values a stage's `run` receives, and splitting a table
 * input into partitions (one cached result per distinct value of a column).
 */
import { Effect, Schema, Stream } from "effect"
import { createHash } from "node:crypto"
import { promises as fs } from "node:fs"
import { join } from "node:path"
import type { ArtifactKind, CheckpointValue, FileSet, TableKind, TableReader } from "./artifact.ts"
import { ArtifactReadError } from "./artifact.ts"
import type { StoreError } from "./errors.ts"
import { openTable } from "./tables.ts"
import { type ArtifactManifest, type Store, writeFileAtomic } from "./store.ts"

/** The member artifacts of a manifest: its partitions in order, or itself. */
export const members = (store: Store, manifest: ArtifactManifest): Effect.Effect<ReadonlyArray<ArtifactManifest>, StoreError> =>
  manifest.kind === "Partitioned"
    ? Effect.forEach(Object.values(manifest.partitions ?? {}), (hash) => store.manifest(hash), { concurrency: 16 })
    : Effect.succeed([manifest])

const shardsOf = (store: Store, parts: ReadonlyArray<ArtifactManifest>) =>
  parts.flatMap((m) => (m.table?.shards ?? []).map((s) => ({ ...s, absolutePath: join(store.objectDir(m.hash), s.path) })))

const readError = (path: string) => (error: unknown) =>
  new ArtifactReadError({ path, reason: error instanceof Error ? error.message : String(error) })

/** The value of a stored artifact for an input of `kind`. */
export const inputValue = (store: Store, kind: ArtifactKind, manifest: ArtifactManifest): Effect.Effect<unknown, StoreError | ArtifactReadError> =>
  Effect.gen(function* () {
    const parts = yield* members(store, manifest)
    switch (kind._tag) {
      case "Table":
        return openTable(kind, shardsOf(store, parts))
      case "Json": {
        const path = join(store.objectDir(parts[0]!.hash), "value.json")
        const raw = yield* Effect.tryPromise({ try: async () => JSON.parse(await fs.readFile(path, "utf8")) as unknown, catch: readError(path) })
        return yield* Schema.decodeUnknown(kind.schema)(raw).pipe(Effect.mapError(readError(path)))
      }
      case "Files":
        return {
          dirs: parts.map((m) => store.objectDir(m.hash)),
          files: parts.flatMap((m) => m.files.filter((f) => f.path !== "artifact.json").map((f) => join(store.objectDir(m.hash), f.path))),
        } satisfies FileSet
      case "Checkpoint": {
        const dir = store.objectDir(parts[0]!.hash)
        const path = join(dir, "config.json")
        const raw = yield* Effect.tryPromise({ try: async () => JSON.parse(await fs.readFile(path, "utf8")) as unknown, catch: readError(path) })
        const config = yield* Schema.decodeUnknown(kind.config)(raw).pipe(Effect.mapError(readError(path)))
        return { dir, config } satisfies CheckpointValue<unknown>
      }
    }
  })

/** One partition of a table: its value, the hash of its rows, and the member artifacts holding them. */
export interface Partition {
  readonly value: string
  readonly rowsHash: string
  readonly rows: number
  readonly members: ReadonlyArray<string>
}

type MemberIndex = Record<string, { rowsHash: string; rows: number }>

const feedRow = (hash: ReturnType<typeof createHash>, row: Record<string, unknown>) => {
  for (const key of Object.keys(row).sort()) {
    const value = row[key]
    hash.update(key)
    if (ArrayBuffer.isView(value)) hash.update(new Uint8Array(value.buffer, value.byteOffset, value.byteLength))
    else hash.update(JSON.stringify(value) ?? "null")
  }
}

/** Partition values of one member table and the hash of each partition's rows, remembered in `index/`. */
const memberIndex = (store: Store, kind: TableKind<any>, manifest: ArtifactManifest, column: string) =>
  Effect.gen(function* () {
    const path = store.path("index", `${manifest.hash}.${column}.json`)
    const known = yield* Effect.promise(() => fs.readFile(path, "utf8").then((t) => JSON.parse(t) as MemberIndex, () => undefined))
    if (known) return known
    const reader = openTable(kind, shardsOf(store, [manifest])) as TableReader<Record<string, unknown>>
    const hashes = new Map<string, { hash: ReturnType<typeof createHash>; rows: number }>()
    yield* Stream.runForEach(reader.stream(), (row) =>
      Effect.sync(() => {
        const value = String(row[column])
        const entry = hashes.get(value) ?? { hash: createHash("sha256"), rows: 0 }
        feedRow(entry.hash, row)
        entry.rows += 1
        hashes.set(value, entry)
      }))
    const index: MemberIndex = Object.fromEntries([...hashes].map(([v, e]) => [v, { rowsHash: e.hash.digest("hex"), rows: e.rows }]))
    yield* Effect.promise(() => writeFileAtomic(path, JSON.stringify(index)).catch(() => undefined))
    return index
  })

/** The partitions of a table artifact by `column`, sorted by value. */
export const partitionsOf = (store: Store, kind: TableKind<any>, manifest: ArtifactManifest, column: string) =>
  Effect.gen(function* () {
    const parts = yield* members(store, manifest)
    const indexes = yield* Effect.forEach(parts, (m) => memberIndex(store, kind, m, column), { concurrency: 4 })
    const merged = new Map<string, { hashes: string[]; rows: number; members: string[] }>()
    indexes.forEach((index, i) => {
      for (const [value, { rowsHash, rows }] of Object.entries(index)) {
        const entry = merged.get(value) ?? { hashes: [], rows: 0, members: [] }
        entry.hashes.push(rowsHash)
        entry.rows += rows
        entry.members.push(parts[i]!.hash)
        merged.set(value, entry)
      }
    })
    return [...merged].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([value, e]): Partition => ({
      value,
      rowsHash: e.hashes.length === 1 ? e.hashes[0]! : createHash("sha256").update(e.hashes.join(",")).digest("hex"),
      rows: e.rows,
      members: e.members,
    }))
  })

/** A reader over only the rows of one partition. */
export const partitionReader = (
  store: Store,
  kind: TableKind<any>,
  partition: Partition,
  column: string,
): Effect.Effect<TableReader<Record<string, unknown>>, StoreError> =>
  Effect.map(Effect.forEach(partition.members, (h) => store.manifest(h)), (parts) => {
    const whole = openTable(kind, shardsOf(store, parts)) as TableReader<Record<string, unknown>>
    const stream: TableReader<Record<string, unknown>>["stream"] = (options) => {
      const columns = options?.columns && !options.columns.includes(column) ? [...options.columns, column] : options?.columns
      return whole.stream(columns ? { columns } : undefined).pipe(Stream.filter((row) => String(row[column]) === partition.value))
    }
    return {
      rows: partition.rows,
      shards: whole.shards,
      stream,
      all: () => Stream.runCollect(stream()).pipe(Effect.map((chunk) => Array.from(chunk))),
    }
  })

/**
 * Where an input value comes from, as plain data: a whole stored artifact, or one partition of
 * a table. A stage that runs in a process of its own gets these and reads its inputs itself.
 */
export type InputSpec =
  | { readonly _tag: "Whole"; readonly hash: string }
  | { readonly _tag: "Partition"; readonly partition: Partition; readonly column: string }

/** The value an input spec stands for. */
export const materializeInput = (store: Store, kind: ArtifactKind, spec: InputSpec): Effect.Effect<unknown, StoreError | ArtifactReadError> =>
  spec._tag === "Whole"
    ? Effect.flatMap(store.manifest(spec.hash), (manifest) => inputValue(store, kind, manifest))
    : partitionReader(store, kind as TableKind<any>, spec.partition, spec.column)

/** The values of a stage's inputs from their specs. */
export const materializeInputs = (
  store: Store,
  kinds: Readonly<Record<string, ArtifactKind>>,
  specs: Readonly<Record<string, InputSpec>>,
): Effect.Effect<Record<string, unknown>, StoreError | ArtifactReadError> =>
  Effect.gen(function* () {
    const values: Record<string, unknown> = {}
    for (const [input, spec] of Object.entries(specs)) values[input] = yield* materializeInput(store, kinds[input]!, spec)
    return values
  })
