/**
 * Parquet shards for table artifacts: rows in, zstd + dictionary-encoded Parquet files out, and
 * rows back, lazily. parquet-wasm does the encoding and decoding in a small pool of worker
 * threads: row groups are encoded in parallel, each as a one-row-group Parquet file, and appended
 * in order to the shard, whose footer is then written from theirs; reads decode row groups in
 * parallel. Each wasm heap (capped at 4 GB) holds one row group at a time, and a wasm crash on a
 * corrupt file takes down a worker, not the process. Typed-array columns (token windows) travel
 * as whole buffers: no per-element JS work on either side.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as arrow from "apache-arrow"
import { Chunk, Effect, Either, Schema, Stream } from "effect"
import type { ArtifactReadError, ColumnInfo, RowSource, ShardInfo, TableKind, TableReader } from "./artifact.ts"
import type { ArrowType } from "./columns.ts"
import { tableColumns } from "./columns.ts"
import { describe } from "./errors.ts"
import { RowError, recordBatch, scalarArrowType, schemaError, Scratch, typedItems } from "./internal/arrow-build.ts"
import { readError, readShard } from "./internal/arrow-read.ts"
import { type ColumnCodecs, type FooterMeta, workers } from "./internal/parquet-workers.ts"
import { ColumnChunk, ColumnMetaData, decodeThrift, encodeThrift, fieldOf, FileMetaData, RowGroup, STRUCT, structsOf, type ThriftList, type ThriftStruct } from "./internal/thrift.ts"

/** Writing a table artifact failed: a row that does not fit its schema, or an I/O error. */
export class ArtifactWriteError extends Schema.TaggedError<ArtifactWriteError>()("ArtifactWriteError", {
  path: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `${this.path}: ${this.reason}`
  }
}

/** What a shard's footer says: row and row-group counts, size, and the codecs of its columns. */
export interface ShardMeta {
  readonly rows: number
  readonly rowGroups: number
  readonly bytes: number
  /** One entry per leaf column of the first row group (`tokens.list.item`), as Parquet names them. */
  readonly columns: ReadonlyArray<ColumnCodecs>
}

/** The Arrow schema that Parquet shards of these columns carry. */
export const arrowSchemaOf = (columns: ReadonlyArray<ColumnInfo>): arrow.Schema => {
  let dictionaryId = 0
  const field = (name: string, type: ArrowType): arrow.Field => {
    switch (type._tag) {
      case "Nullable": return new arrow.Field(name, field(name, type.inner).type, true)
      case "Dictionary": return new arrow.Field(name, new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32(), dictionaryId++), false)
      case "TypedList": return new arrow.Field(name, new arrow.List(new arrow.Field("item", typedItems[type.item].arrow(), false)), false)
      case "List": return new arrow.Field(name, new arrow.List(field("item", type.item)), false)
      default: return new arrow.Field(name, scalarArrowType(type), false)
    }
  }
  return new arrow.Schema(columns.map((column) => field(column.name, column.type)))
}

/**
 * Writes rows as Parquet shards `${prefix}-00000.parquet`, `-00001`, ... into `dir` (which must
 * exist). Every `min(rowGroupRows, shardRows)` rows make one row group; a shard is closed before
 * a row group that would take it past `kind.shardRows` rows or `kind.shardBytes` bytes, footer
 * included (a single row group larger than that gets a shard of its own). Each value's type is checked as its batch
 * is built, and the first row of each batch is validated against the whole schema. Each shard is
 * fsynced. A table with no rows still gets one (empty) shard, so its schema is on disk.
 */
export const writeTable = <Row>(
  kind: TableKind<Row>,
  rows: RowSource<Row>,
  dir: string,
  options: { readonly prefix?: string } = {},
): Effect.Effect<{ readonly shards: ReadonlyArray<ShardInfo>; readonly rows: number }, ArtifactWriteError> =>
  Effect.tryPromise({
    try: () => writeShards(kind, rows, dir, options.prefix ?? "part"),
    catch: (error) => error instanceof ArtifactWriteError ? error : new ArtifactWriteError({ path: dir, reason: describe(error) }),
  })

/** Opens a table's shards for reading; nothing is read until a stream runs. */
export const openTable = <Row>(
  kind: TableKind<Row>,
  shards: ReadonlyArray<ShardInfo & { readonly absolutePath: string }>,
): TableReader<Row> => {
  const columns = tableColumns(kind.row)
  const stream = (options: { readonly columns?: ReadonlyArray<keyof Row & string> } = {}): Stream.Stream<Row, ArtifactReadError> => {
    const wanted = options.columns === undefined ? columns : options.columns.map((name) => {
      const column = columns.find((c) => c.name === name)
      if (column === undefined) throw new TypeError(`openTable: no column "${name}" (columns: ${columns.map((c) => c.name).join(", ")})`)
      return column
    })
    return Stream.fromIterable(shards).pipe(
      Stream.flatMap((shard) => readShard<Row>(shard.absolutePath, wanted)),
      Stream.flattenChunks,
    )
  }
  return {
    rows: shards.reduce((sum, shard) => sum + shard.rows, 0),
    shards,
    stream,
    all: () => Stream.runCollect(stream()).pipe(Effect.map(Chunk.toReadonlyArray)),
  }
}

/** Reads a shard's footer: rows, row groups, file size and the codecs of its columns. */
export const readShardMeta = (file: string): Effect.Effect<ShardMeta, ArtifactReadError> =>
  Effect.tryPromise({
    try: async () => {
      const meta = await workers().call<FooterMeta>({ op: "meta", path: file })
      const { size } = await fs.promises.stat(file)
      return { rows: meta.rows, rowGroups: meta.rowGroups.length, bytes: size, columns: meta.columns }
    },
    catch: (error) => readError(file, `not a readable Parquet file (${describe(error)})`),
  })

// ---------------------------------------------------------------------------------------------
// Writing

const writeShards = async <Row>(kind: TableKind<Row>, source: RowSource<Row>, dir: string, prefix: string) => {
  const columns = tableColumns(kind.row)
  const schema = arrowSchemaOf(columns)
  const validate = Schema.validateEither(kind.row)
  const pool = workers()
  const batchRows = Math.max(1, Math.min(kind.rowGroupRows, kind.shardRows))
  const shards: ShardInfo[] = []
  const shardPath = () => path.join(dir, `${prefix}-${String(shards.length).padStart(5, "0")}.parquet`)
  // Row groups being encoded, in table order; two per worker keep them all busy.
  const encoding: Array<Promise<Uint8Array>> = []
  const buffers = new SharedBuffers()
  const scratch = new Scratch()
  let shard: ShardFile | undefined
  let submitted = 0

  const encode = (batch: ReadonlyArray<Row>) => {
    const checked = validate(batch[0])
    if (Either.isLeft(checked)) throw schemaError(checked.left, submitted)
    const ipc = ipcMessage(recordBatch(schema, columns, batch, submitted, scratch), buffers)
    const encoded = pool.call<Uint8Array>({ op: "encode", ipc, rows: batch.length })
    encoded.then(() => buffers.give(ipc.buffer as SharedArrayBuffer), () => {})
    encoding.push(encoded)
    submitted += batch.length
  }

  const appendNext = async () => {
    const part = parsePart(await encoding.shift()!)
    if (shard && (shard.rows + part.rows > kind.shardRows || shard.size + part.body.length + part.footerBytes > kind.shardBytes)) {
      shards.push(await shard.finish())
      shard = undefined
    }
    shard ??= await ShardFile.create(shardPath(), part.footer)
    await shard.append(part)
  }

  try {
    let pending: Row[] = []
    for await (const chunk of rowChunks(source, batchRows, dir)) {
      for (const row of chunk) {
        pending.push(row)
        if (pending.length < batchRows) continue
        encode(pending)
        pending = []
        while (encoding.length >= 2 * pool.size) await appendNext()
      }
    }
    if (pending.length > 0) encode(pending)
    while (encoding.length > 0) await appendNext()
    if (shard) shards.push(await shard.finish())
  } catch (error) {
    await shard?.abort()
    await Promise.allSettled(encoding)
    throw error instanceof RowError ? new ArtifactWriteError({ path: shard?.file ?? shardPath(), reason: error.message }) : error
  }
  if (shards.length === 0) shards.push(await writeEmptyShard(shardPath(), schema))
  return { shards, rows: submitted }
}

/** The source's rows in arrays, without an `await` per row for sync iterables and streams. */
async function* rowChunks<Row>(source: RowSource<Row>, size: number, dir: string): AsyncGenerator<ReadonlyArray<Row>> {
  if (Stream.StreamTypeId in (source as object)) {
    const chunks = Stream.toAsyncIterable(Stream.chunks(source as Stream.Stream<Row, unknown>))
    try {
      for await (const chunk of chunks) yield Chunk.toReadonlyArray(chunk)
    } catch (error) {
      throw new ArtifactWriteError({ path: dir, reason: `the row stream failed: ${describe(error)}` })
    }
  } else if (Symbol.asyncIterator in (source as object)) {
    for await (const row of source as AsyncIterable<Row>) yield [row]
  } else {
    let chunk: Row[] = []
    for (const row of source as Iterable<Row>) {
      chunk.push(row)
      if (chunk.length === size) {
        yield chunk
        chunk = []
      }
    }
    if (chunk.length > 0) yield chunk
  }
}

/** Collects the IPC writer's chunks (views on the batch's own buffers) instead of joining them. */
class ChunkSink extends arrow.AsyncByteQueue {
  readonly chunks: Uint8Array[] = []
  override write(value: ArrayBufferView | string): void {
    if (typeof value !== "string") this.chunks.push(new Uint8Array(value.buffer, value.byteOffset, value.byteLength))
  }
}

/**
 * The shared buffers one table's batches travel to the workers in. They are reused because fresh
 * memory costs a page fault per 4 KB, which made copying into it slower than encoding.
 */
class SharedBuffers {
  private readonly free: SharedArrayBuffer[] = []

  take(size: number): SharedArrayBuffer {
    const index = this.free.findIndex((buffer) => buffer.byteLength >= size)
    return index >= 0 ? this.free.splice(index, 1)[0]! : new SharedArrayBuffer(2 ** Math.ceil(Math.log2(Math.max(size, 1 << 16))))
  }

  give(buffer: SharedArrayBuffer): void {
    this.free.push(buffer)
  }
}

/** A record batch as one Arrow IPC stream, written into one of `buffers`. */
const ipcMessage = (batch: arrow.RecordBatch, buffers: SharedBuffers): Uint8Array => {
  const sink = new ChunkSink()
  const writer = new arrow.RecordBatchStreamWriter()
  writer.reset(sink)
  writer.write(batch)
  writer.finish()
  const size = sink.chunks.reduce((sum, chunk) => sum + chunk.length, 0)
  const ipc = new Uint8Array(buffers.take(size), 0, size)
  let at = 0
  for (const chunk of sink.chunks) {
    ipc.set(chunk, at)
    at += chunk.length
  }
  return ipc
}

/** One encoded row group: a one-row-group Parquet file split into its column chunks and footer. */
interface Part {
  readonly body: Uint8Array
  /** Bytes of the part's own footer: more than its row group adds to the shard's footer. */
  readonly footerBytes: number
  readonly rows: number
  readonly rowGroups: ReadonlyArray<ThriftStruct>
  readonly footer: ThriftStruct
}

const MAGIC = new TextEncoder().encode("PAR1")

const parsePart = (bytes: Uint8Array): Part => {
  const footerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(bytes.length - 8, true)
  const footer = decodeThrift(bytes.subarray(bytes.length - 8 - footerLength, bytes.length - 8))
  const rowGroups = structsOf(footer, FileMetaData.rowGroups)
  let end = MAGIC.length
  for (const rowGroup of rowGroups) {
    for (const chunk of structsOf(rowGroup, RowGroup.columns)) {
      const meta = fieldOf(chunk, ColumnChunk.metaData) as ThriftStruct
      const start = (fieldOf(meta, ColumnMetaData.dictionaryPageOffset) ?? fieldOf(meta, ColumnMetaData.dataPageOffset)) as bigint
      end = Math.max(end, Number(start + (fieldOf(meta, ColumnMetaData.totalCompressedSize) as bigint)))
    }
  }
  // The bytes after the column chunks are page indexes, which the shard footer does not keep.
  return { body: bytes.subarray(MAGIC.length, end), footerBytes: footerLength, rows: Number(fieldOf(footer, FileMetaData.numRows)), rowGroups, footer }
}

/** A shard file being assembled from encoded row groups; its footer is written on `finish`. */
class ShardFile {
  rows = 0
  bytes = MAGIC.length
  /** An upper bound on the file's size once its footer is written. */
  size = MAGIC.length + 8
  private readonly rowGroups: ThriftStruct[] = []

  private constructor(readonly file: string, private readonly handle: fs.promises.FileHandle, private readonly footer: ThriftStruct) {}

  static async create(file: string, footer: ThriftStruct): Promise<ShardFile> {
    try {
      const handle = await fs.promises.open(file, "w")
      await writeFully(handle, MAGIC)
      return new ShardFile(file, handle, footer)
    } catch (error) {
      throw new ArtifactWriteError({ path: file, reason: `cannot create the shard: ${describe(error)}` })
    }
  }

  async append(part: Part): Promise<void> {
    const shift = BigInt(this.bytes - MAGIC.length)
    for (const rowGroup of part.rowGroups) this.rowGroups.push(relocateRowGroup(rowGroup, shift, this.rowGroups.length))
    await writeFully(this.handle, part.body)
    this.bytes += part.body.length
    this.size += part.body.length + part.footerBytes
    this.rows += part.rows
  }

  async finish(): Promise<ShardInfo> {
    try {
      const footer = encodeThrift(this.footer.map((field) =>
        field.id === FileMetaData.numRows ? { ...field, value: BigInt(this.rows) }
        : field.id === FileMetaData.rowGroups ? { ...field, value: { elem: STRUCT, items: this.rowGroups } }
        : field))
      const tail = new Uint8Array(8)
      new DataView(tail.buffer).setUint32(0, footer.length, true)
      tail.set(MAGIC, 4)
      await writeFully(this.handle, footer)
      await writeFully(this.handle, tail)
      await this.handle.sync()
      await this.handle.close()
      this.bytes += footer.length + tail.length
    } catch (error) {
      await this.abort()
      throw new ArtifactWriteError({ path: this.file, reason: `writing the shard failed: ${describe(error)}` })
    }
    // The footer is assembled here, so check that a Parquet reader agrees with it.
    const meta = await workers().call<FooterMeta>({ op: "meta", path: this.file }).catch((error: unknown) => describe(error))
    if (typeof meta === "string" || meta.rows !== this.rows || meta.rowGroups.length !== this.rowGroups.length) {
      const found = typeof meta === "string" ? meta : `${meta.rows} rows in ${meta.rowGroups.length} row groups`
      throw new ArtifactWriteError({ path: this.file, reason: `wrote ${this.rows} rows in ${this.rowGroups.length} row groups but reading the shard gives ${found}` })
    }
    return { path: path.basename(this.file), rows: this.rows, bytes: this.bytes, rowGroups: this.rowGroups.length }
  }

  /** Stops writing and removes the partial file. */
  async abort(): Promise<void> {
    await this.handle.close().catch(() => {})
    await fs.promises.rm(this.file, { force: true })
  }
}

const writeFully = async (handle: fs.promises.FileHandle, bytes: Uint8Array): Promise<void> => {
  for (let at = 0; at < bytes.length;) at += (await handle.write(bytes, at)).bytesWritten
}

/** A row group's footer entry, moved `shift` bytes further into the file. */
const relocateRowGroup = (rowGroup: ThriftStruct, shift: bigint, ordinal: number): ThriftStruct =>
  rowGroup.map((field) => {
    switch (field.id) {
      case RowGroup.columns: {
        const chunks = field.value as ThriftList
        return { ...field, value: { ...chunks, items: chunks.items.map((chunk) => relocateChunk(chunk as ThriftStruct, shift)) } }
      }
      case RowGroup.fileOffset: return { ...field, value: (field.value as bigint) + shift }
      case RowGroup.ordinal: return { ...field, value: ordinal }
      default: return field
    }
  })

const relocateChunk = (chunk: ThriftStruct, shift: bigint): ThriftStruct =>
  chunk.filter((field) => !ColumnChunk.pageIndex.includes(field.id)).map((field) => {
    if (field.id === ColumnChunk.fileOffset && field.value !== 0n) return { ...field, value: (field.value as bigint) + shift }
    if (field.id !== ColumnChunk.metaData) return field
    return {
      ...field,
      value: (field.value as ThriftStruct).map((meta) => ColumnMetaData.offsets.includes(meta.id) ? { ...meta, value: (meta.value as bigint) + shift } : meta),
    }
  })

/** A table with no rows: the worker's encoding of an empty batch is already a whole Parquet file. */
const writeEmptyShard = async (file: string, schema: arrow.Schema): Promise<ShardInfo> => {
  try {
    const ipc = arrow.tableToIPC(new arrow.Table(schema), "stream")
    const bytes = await workers().call<Uint8Array>({ op: "encode", ipc, rows: 1 }, [ipc.buffer])
    const handle = await fs.promises.open(file, "w")
    try {
      await writeFully(handle, bytes)
      await handle.sync()
    } finally {
      await handle.close()
    }
    return { path: path.basename(file), rows: 0, bytes: bytes.byteLength, rowGroups: 0 }
  } catch (error) {
    throw new ArtifactWriteError({ path: file, reason: `writing an empty shard failed: ${describe(error)}` })
  }
}

export { tableColumns }
