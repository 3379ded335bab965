/**
 * Artifact kinds: what a stage outputs and what its inputs accept. Each kind is a value that
 * carries its TypeScript type, so wiring a `Table(Chunk)` output into a `Json(Vocab)` input is a
 * compile error. Kinds are invariant in their payload type: an input accepts exactly the contract
 * its producer declares (shared contracts live in `schemas/`).
 */
import type { Effect, Stream } from "effect"
import { Schema } from "effect"
import type { ArrowType } from "./columns.ts"

/** Default bound on rows per Parquet shard; a row group holds at most `rowGroupRows`. */
export const DEFAULT_SHARD_ROWS = 65_536
/** Default rows per row group (one Arrow record batch each). */
export const DEFAULT_ROW_GROUP_ROWS = 256
/** Default bound on a shard's size in bytes (checked after each row group). */
export const DEFAULT_SHARD_BYTES = 128 * 1024 * 1024

declare const Variance: unique symbol
/** Invariance marker: `Table<{a: number}>` is not assignable to `Table<{a: number, b: string}>` nor back. */
interface Invariant<A> { readonly [Variance]: (a: A) => A }

/** A bar chart of a summary's rows: one bar per row, named by column `label`, as long as column `value`. */
export const BarChart = Schema.Struct({
  type: Schema.Literal("bar"),
  label: Schema.String,
  value: Schema.String,
  /** One chart per distinct value of this column, in the order the values first appear. */
  group: Schema.optional(Schema.String),
})
export type BarChart = typeof BarChart.Type

/**
 * A named DuckDB query over a table, where the table is the view `t`. It is recorded in each
 * artifact's manifest, so `jukeflow inspect` runs it from the store alone.
 */
export const TableSummary = Schema.Struct({
  title: Schema.String,
  sql: Schema.String,
  /** Draw the rows as a chart instead of a table. */
  chart: Schema.optional(BarChart),
})
export type TableSummary = typeof TableSummary.Type

/** A Parquet table whose rows follow an Effect Schema struct; stored as bounded shards. */
export interface TableKind<Row> extends Invariant<Row> {
  readonly _tag: "Table"
  readonly row: Schema.Schema<Row, any>
  readonly shardRows: number
  readonly shardBytes: number
  readonly rowGroupRows: number
  readonly summaries: ReadonlyArray<TableSummary>
}

/** A JSON value validated and encoded by an Effect Schema. */
export interface JsonKind<A> extends Invariant<A> {
  readonly _tag: "Json"
  readonly schema: Schema.Schema<A, any>
}

/** A set of files the stage writes under its output folder. `label` tells sets apart in types. */
export interface FilesKind<Label extends string> extends Invariant<Label> {
  readonly _tag: "Files"
  readonly label: Label
}

/** A model checkpoint folder (weights + config) whose config follows a schema. */
export interface CheckpointKind<Config> extends Invariant<Config> {
  readonly _tag: "Checkpoint"
  readonly config: Schema.Schema<Config, any>
}

/** Any artifact kind. */
export type ArtifactKind = TableKind<any> | JsonKind<any> | FilesKind<any> | CheckpointKind<any>

/** Options of a table artifact. */
export interface TableOptions {
  /** Upper bound on rows per shard (default 65,536). */
  readonly shardRows?: number
  /** Upper bound on bytes per shard (default 128 MiB). */
  readonly shardBytes?: number
  /** Rows per row group, i.e. per Arrow record batch (default 256). */
  readonly rowGroupRows?: number
  /** Queries `jukeflow inspect` runs over the table and prints, each under its title. */
  readonly summaries?: ReadonlyArray<TableSummary>
}

/** A Parquet table artifact of rows described by `row` (a `Schema.Struct` of `Col.*` columns). */
export const Table = <Row, I>(row: Schema.Schema<Row, I>, options: TableOptions = {}): TableKind<Row> => {
  if (!Schema.isSchema(row) || row.ast._tag !== "TypeLiteral") {
    throw new TypeError("Table(row): row must be a Schema.Struct of columns")
  }
  const summaries = options.summaries ?? []
  summaries.forEach((summary, i) => {
    if (!Schema.is(TableSummary)(summary) || summary.title.trim() === "" || summary.sql.trim() === "") {
      throw new TypeError(`Table(row, { summaries }): summary ${i + 1} needs a title and SQL, and a chart needs type "bar", label and value columns`)
    }
    if (summaries.findIndex((s) => s.title === summary.title) !== i) throw new TypeError(`Table(row, { summaries }): two summaries are titled "${summary.title}"`)
  })
  return {
    _tag: "Table",
    row,
    shardRows: options.shardRows ?? DEFAULT_SHARD_ROWS,
    shardBytes: options.shardBytes ?? DEFAULT_SHARD_BYTES,
    rowGroupRows: options.rowGroupRows ?? DEFAULT_ROW_GROUP_ROWS,
    summaries,
  } as TableKind<Row>
}

/** A JSON artifact holding one value of `schema`. */
export const Json = <A, I>(schema: Schema.Schema<A, I>): JsonKind<A> => ({ _tag: "Json", schema }) as unknown as JsonKind<A>

/** A set of files; `label` names what they are (`"wav"`, `"report"`) so different sets do not mix. */
export const Files = <const Label extends string>(label: Label): FilesKind<Label> =>
  ({ _tag: "Files", label }) as unknown as FilesKind<Label>

/** A checkpoint folder whose `config.json` follows `config`. */
export const Checkpoint = <C, I>(config: Schema.Schema<C, I>): CheckpointKind<C> =>
  ({ _tag: "Checkpoint", config }) as unknown as CheckpointKind<C>

// ---------------------------------------------------------------------------------------------
// What a stage's `run` receives and returns for each kind.

/** One column of a table, as `inspect` shows it. */
export interface ColumnInfo {
  readonly name: string
  readonly type: ArrowType
}

/** One Parquet shard of a table artifact. */
export interface ShardInfo {
  readonly path: string
  readonly rows: number
  readonly bytes: number
  readonly rowGroups: number
}

/** Reads a table artifact lazily, shard by shard and row group by row group. */
export interface TableReader<Row> {
  /** Total number of rows. */
  readonly rows: number
  /** The shards, in order, each with its file's absolute path (for readers that pick row groups themselves). */
  readonly shards: ReadonlyArray<ShardInfo & { readonly absolutePath: string }>
  /** Streams rows decoded to the row type; `columns` limits which are read (others are absent). */
  readonly stream: (options?: { readonly columns?: ReadonlyArray<keyof Row & string> }) => Stream.Stream<Row, ArtifactReadError>
  /** Reads every row into memory: for small tables only. */
  readonly all: () => Effect.Effect<ReadonlyArray<Row>, ArtifactReadError>
}

/** A set of files: absolute paths, and the folders that hold them (one per partition). */
export interface FileSet {
  readonly dirs: ReadonlyArray<string>
  readonly files: ReadonlyArray<string>
}

/** A checkpoint as an input: its folder and its decoded config. */
export interface CheckpointValue<Config> {
  readonly dir: string
  readonly config: Config
}

/** The value a stage's `run` receives for an input of kind `K`. */
export type InputValue<K> =
  K extends TableKind<infer Row> ? TableReader<Row>
  : K extends JsonKind<infer A> ? A
  : K extends FilesKind<any> ? FileSet
  : K extends CheckpointKind<infer C> ? CheckpointValue<C>
  : never

/** Rows a stage can return for a table output. */
export type RowSource<Row> = Iterable<Row> | AsyncIterable<Row> | Stream.Stream<Row, unknown>

/** What a stage's `run` returns for an output of kind `K`. Files and checkpoints are written to `ctx.outDir`. */
export type OutputValue<K> =
  K extends TableKind<infer Row> ? RowSource<Row>
  : K extends JsonKind<infer A> ? A
  : K extends FilesKind<any> ? void
  : K extends CheckpointKind<infer C> ? C
  : never

/** The payload type of a kind (row, value, label or config), used to name it in messages. */
export type PayloadOf<K> = K extends TableKind<infer R> ? R : K extends JsonKind<infer A> ? A
  : K extends FilesKind<infer L> ? L : K extends CheckpointKind<infer C> ? C : never

/** Reading a stored artifact failed (missing, corrupt or not matching its schema). */
export class ArtifactReadError extends Schema.TaggedError<ArtifactReadError>()("ArtifactReadError", {
  path: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `${this.path}: ${this.reason}`
  }
}
