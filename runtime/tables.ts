/**
 * Table artifacts, loaded on first use: `parquet.ts` pulls in apache-arrow and a pool of
 * parquet-wasm workers, which `plan`, `status` and fully cached runs never need.
 */
import { Chunk, Effect, Stream } from "effect"
import type { ArtifactReadError, RowSource, ShardInfo, TableKind, TableReader } from "./artifact.ts"
import type { ArtifactWriteError } from "./parquet.ts"

const parquet = Effect.promise(() => import("./parquet.ts"))

/**
 * Writes rows as Parquet shards `${prefix}-00000.parquet`, ... into `dir` (default prefix `part`);
 * see `parquet.ts`. Stages use it for Parquet files inside other artifacts, such as a checkpoint's
 * `metrics` table, which `jukeflow inspect STAGE --sql` then names after the prefix.
 */
export const writeTable = <Row>(
  kind: TableKind<Row>,
  rows: RowSource<Row>,
  dir: string,
  options: { readonly prefix?: string } = {},
): Effect.Effect<{ readonly shards: ReadonlyArray<ShardInfo>; readonly rows: number }, ArtifactWriteError> =>
  Effect.flatMap(parquet, (p) => p.writeTable(kind, rows, dir, options))

/** Opens a table's shards for reading; nothing is loaded or read until a stream runs. */
export const openTable = <Row>(kind: TableKind<Row>, shards: ReadonlyArray<ShardInfo & { readonly absolutePath: string }>): TableReader<Row> => {
  const stream: TableReader<Row>["stream"] = (options) =>
    Stream.unwrap(Effect.map(parquet, (p) => p.openTable(kind, shards).stream(options)))
  return {
    rows: shards.reduce((sum, shard) => sum + shard.rows, 0),
    shards,
    stream,
    all: (): Effect.Effect<ReadonlyArray<Row>, ArtifactReadError> => Stream.runCollect(stream()).pipe(Effect.map(Chunk.toReadonlyArray)),
  }
}

/**
 * Opens Parquet files from outside the store (a user's file, another artifact's shards) as a
 * table of `kind`; fails with an ArtifactReadError naming a file that is not readable Parquet.
 */
export const openTableFiles = <Row>(kind: TableKind<Row>, files: ReadonlyArray<string>): Effect.Effect<TableReader<Row>, ArtifactReadError> =>
  Effect.flatMap(parquet, (p) =>
    Effect.map(
      Effect.forEach(files, (file) => Effect.map(p.readShardMeta(file), (meta) => ({ path: file, absolutePath: file, rows: meta.rows, bytes: meta.bytes, rowGroups: meta.rowGroups }))),
      (shards) => openTable(kind, shards),
    ))
