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
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { Worker } from "node:worker_threads"
import * as arrow from "apache-arrow"
import { Chunk, Effect, Either, ParseResult, Schema, Stream } from "effect"
import { ArtifactReadError } from "./artifact.ts"
import type { ColumnInfo, RowSource, ShardInfo, TableKind, TableReader } from "./artifact.ts"
import { arrowTypeOf, formatArrowType } from "./columns.ts"
import type { ArrowType } from "./columns.ts"

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
  readonly columns: ReadonlyArray<{ readonly path: string; readonly compression: string; readonly encodings: ReadonlyArray<string> }>
}

/** The columns of a table's row schema (a `Schema.Struct` of `Col.*`), in declaration order. */
export const tableColumns = (row: Schema.Schema<any, any>): ReadonlyArray<ColumnInfo> => {
  const ast = row.ast
  if (ast._tag !== "TypeLiteral" || ast.indexSignatures.length > 0) {
    throw new TypeError("table row: expected a Schema.Struct of Col.* columns")
  }
  return ast.propertySignatures.map((property) => {
    const where = `column ${String(property.name)}`
    if (typeof property.name !== "string") throw new TypeError(`${where}: column names must be strings`)
    if (property.isOptional) throw new TypeError(`${where}: optional columns are not supported; use Col.nullable(...)`)
    return { name: property.name, type: arrowTypeOf(property.type, where) }
  })
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
 * a row group that would take it past `kind.shardRows` rows or `kind.shardBytes` bytes (a single
 * row group larger than that gets a shard of its own). Each value's type is checked as its batch
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

/** A row that does not fit its column; `row` counts from the start of the table. */
class RowError extends Error {
  constructor(readonly row: number, readonly column: string, readonly problem: string) {
    super(`row ${row}, column "${column}": ${problem}`)
  }
}

const writeShards = async <Row>(kind: TableKind<Row>, source: RowSource<Row>, dir: string, prefix: string) => {
  const columns = tableColumns(kind.row)
  const schema = arrowSchemaOf(columns)
  const validate = Schema.validateEither(kind.row)
  const pool = workers()
  const batchRows = Math.max(1, Math.min(kind.rowGroupRows, kind.shardRows))
  const shards: ShardInfo[] = []
  const shardPath = () => path.join(dir, `${prefix}-${String(shards.length).padStart(5, "0")}.parquet`)
  // Row groups being encoded, in table order; a few per worker keep them all busy.
  const encoding: Array<Promise<Uint8Array>> = []
  let shard: ShardFile | undefined
  let submitted = 0

  const encode = (batch: ReadonlyArray<Row>) => {
    const checked = validate(batch[0])
    if (Either.isLeft(checked)) throw schemaError(checked.left, submitted)
    const ipc = arrow.tableToIPC(new arrow.Table([recordBatch(schema, columns, batch, submitted)]), "stream")
    const encoded = pool.call<Uint8Array>({ op: "encode", ipc, rows: batch.length }, [ipc.buffer])
    encoded.catch(() => {})
    encoding.push(encoded)
    submitted += batch.length
  }

  const appendNext = async () => {
    const part = parsePart(await encoding.shift()!)
    if (shard && (shard.rows + part.rows > kind.shardRows || shard.bytes + part.body.length > kind.shardBytes)) {
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

/** One encoded row group: a one-row-group Parquet file split into its column chunks and footer. */
interface Part {
  readonly body: Uint8Array
  readonly rows: number
  readonly rowGroups: ReadonlyArray<Thrift.Struct>
  readonly footer: Thrift.Struct
}

const MAGIC = new TextEncoder().encode("PAR1")

const parsePart = (bytes: Uint8Array): Part => {
  const footerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(bytes.length - 8, true)
  const footer = Thrift.decode(bytes.subarray(bytes.length - 8 - footerLength, bytes.length - 8))
  const rowGroups = Thrift.list(footer, FileMetaData.rowGroups)
  let end = MAGIC.length
  for (const rowGroup of rowGroups) {
    for (const chunk of Thrift.list(rowGroup, RowGroup.columns)) {
      const meta = Thrift.get(chunk, ColumnChunk.metaData) as Thrift.Struct
      const start = (Thrift.get(meta, ColumnMetaData.dictionaryPageOffset) ?? Thrift.get(meta, ColumnMetaData.dataPageOffset)) as bigint
      end = Math.max(end, Number(start + (Thrift.get(meta, ColumnMetaData.totalCompressedSize) as bigint)))
    }
  }
  // The bytes after the column chunks are page indexes, which the shard footer does not keep.
  return { body: bytes.subarray(MAGIC.length, end), rows: Number(Thrift.get(footer, FileMetaData.numRows)), rowGroups, footer }
}

/** A shard file being assembled from encoded row groups; its footer is written on `finish`. */
class ShardFile {
  rows = 0
  bytes = MAGIC.length
  private readonly rowGroups: Thrift.Struct[] = []

  private constructor(readonly file: string, private readonly handle: fs.promises.FileHandle, private readonly footer: Thrift.Struct) {}

  static async create(file: string, footer: Thrift.Struct): Promise<ShardFile> {
    try {
      const handle = await fs.promises.open(file, "w")
      await handle.write(MAGIC)
      return new ShardFile(file, handle, footer)
    } catch (error) {
      throw new ArtifactWriteError({ path: file, reason: `cannot create the shard: ${describe(error)}` })
    }
  }

  async append(part: Part): Promise<void> {
    const shift = BigInt(this.bytes - MAGIC.length)
    for (const rowGroup of part.rowGroups) this.rowGroups.push(relocateRowGroup(rowGroup, shift, this.rowGroups.length))
    await this.handle.write(part.body)
    this.bytes += part.body.length
    this.rows += part.rows
  }

  async finish(): Promise<ShardInfo> {
    try {
      const footer = Thrift.encode(this.footer.map((field) =>
        field.id === FileMetaData.numRows ? { ...field, value: BigInt(this.rows) }
        : field.id === FileMetaData.rowGroups ? { ...field, value: { elem: Thrift.STRUCT, items: this.rowGroups } }
        : field))
      const tail = new Uint8Array(8)
      new DataView(tail.buffer).setUint32(0, footer.length, true)
      tail.set(MAGIC, 4)
      await this.handle.write(footer)
      await this.handle.write(tail)
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

/** A row group's footer entry, moved `shift` bytes further into the file. */
const relocateRowGroup = (rowGroup: Thrift.Struct, shift: bigint, ordinal: number): Thrift.Struct =>
  rowGroup.map((field) => {
    switch (field.id) {
      case RowGroup.columns: {
        const chunks = field.value as Thrift.List
        return { ...field, value: { ...chunks, items: chunks.items.map((chunk) => relocateChunk(chunk as Thrift.Struct, shift)) } }
      }
      case RowGroup.fileOffset: return { ...field, value: (field.value as bigint) + shift }
      case RowGroup.ordinal: return { ...field, value: ordinal }
      default: return field
    }
  })

const relocateChunk = (chunk: Thrift.Struct, shift: bigint): Thrift.Struct =>
  chunk.filter((field) => !ColumnChunk.pageIndex.includes(field.id)).map((field) => {
    if (field.id === ColumnChunk.fileOffset && field.value !== 0n) return { ...field, value: (field.value as bigint) + shift }
    if (field.id !== ColumnChunk.metaData) return field
    return {
      ...field,
      value: (field.value as Thrift.Struct).map((meta) => ColumnMetaData.offsets.includes(meta.id) ? { ...meta, value: (meta.value as bigint) + shift } : meta),
    }
  })

/** A table with no rows: the worker's encoding of an empty batch is already a whole Parquet file. */
const writeEmptyShard = async (file: string, schema: arrow.Schema): Promise<ShardInfo> => {
  try {
    const ipc = arrow.tableToIPC(new arrow.Table(schema), "stream")
    const bytes = await workers().call<Uint8Array>({ op: "encode", ipc, rows: 1 }, [ipc.buffer])
    const handle = await fs.promises.open(file, "w")
    try {
      await handle.write(bytes)
      await handle.sync()
    } finally {
      await handle.close()
    }
    return { path: path.basename(file), rows: 0, bytes: bytes.byteLength, rowGroups: 0 }
  } catch (error) {
    throw new ArtifactWriteError({ path: file, reason: `writing an empty shard failed: ${describe(error)}` })
  }
}

const schemaError = (error: ParseResult.ParseError, row: number): RowError => {
  const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
  return new RowError(row, String(issue?.path[0] ?? "?"), issue?.message ?? String(error))
}

/** Builds one record batch from rows, checking each value's type as it goes. */
const recordBatch = (schema: arrow.Schema, columns: ReadonlyArray<ColumnInfo>, rows: ReadonlyArray<any>, firstRow: number): arrow.RecordBatch => {
  const children = columns.map((column, c) => {
    const values = rows.map((row, j) => {
      if (typeof row !== "object" || row === null) throw new RowError(firstRow + j, column.name, `the row is ${describeValue(row)}, not an object`)
      return row[column.name]
    })
    return buildData(column.type, schema.fields[c]!.type, values, (problem, j) => new RowError(firstRow + j, column.name, problem))
  })
  return new arrow.RecordBatch(schema, arrow.makeData({ type: new arrow.Struct(schema.fields), length: rows.length, children }))
}

type Fail = (problem: string, index: number) => RowError

const expected = (what: string, value: unknown) => `expected ${what}, got ${describeValue(value)}`

/** Arrow data for one column's values; `type` is the matching Arrow type from `arrowSchemaOf`. */
const buildData = (column: ArrowType, type: arrow.DataType, values: ReadonlyArray<unknown>, fail: Fail): arrow.Data => {
  const n = values.length
  switch (column._tag) {
    case "Int": {
      if (column.bits === 64) {
        const data = new BigInt64Array(n)
        for (let j = 0; j < n; j++) {
          const v = values[j]
          if (!Number.isSafeInteger(v)) throw fail(expected("a safe integer", v), j)
          data[j] = BigInt(v as number)
        }
        return arrow.makeData({ type: type as arrow.Int64, length: n, data })
      }
      const { lo, hi, array } = intRanges[column.bits]
      const data = new array(n)
      for (let j = 0; j < n; j++) {
        const v = values[j]
        if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) throw fail(expected(`an int${column.bits} (${lo}..${hi})`, v), j)
        data[j] = v
      }
      return arrow.makeData({ type: type as arrow.Int, length: n, data })
    }
    case "Float": {
      const data = column.bits === 32 ? new Float32Array(n) : new Float64Array(n)
      for (let j = 0; j < n; j++) {
        const v = values[j]
        if (typeof v !== "number") throw fail(expected("a number", v), j)
        data[j] = v
      }
      return arrow.makeData({ type: type as arrow.Float, length: n, data })
    }
    case "Bool": {
      const data = new Uint8Array((n + 7) >> 3)
      for (let j = 0; j < n; j++) {
        const v = values[j]
        if (typeof v !== "boolean") throw fail(expected("a boolean", v), j)
        if (v) data[j >> 3]! |= 1 << (j & 7)
      }
      return arrow.makeData({ type: type as arrow.Bool, length: n, data })
    }
    case "Utf8": {
      const { valueOffsets, data } = utf8Buffers(values, fail)
      return arrow.makeData({ type: type as arrow.Utf8, length: n, valueOffsets, data })
    }
    case "Dictionary": {
      const ids = new Map<string, number>()
      const data = new Int32Array(n)
      for (let j = 0; j < n; j++) {
        const v = values[j]
        if (typeof v !== "string") throw fail(expected("a string", v), j)
        let id = ids.get(v)
        if (id === undefined) ids.set(v, (id = ids.size))
        data[j] = id
      }
      const words = utf8Buffers([...ids.keys()], fail)
      const dictionary = arrow.makeVector(arrow.makeData({ type: new arrow.Utf8(), length: ids.size, ...words }))
      return arrow.makeData({ type: type as arrow.Dictionary<arrow.Utf8, arrow.Int32>, length: n, data, dictionary })
    }
    case "TypedList": {
      const { ctor } = typedItems[column.item]
      let total = 0
      for (let j = 0; j < n; j++) {
        const v = values[j]
        if (!(v instanceof ctor)) throw fail(expected(`a ${ctor.name}`, v), j)
        total += v.length
      }
      if (total > 0x7fffffff) throw fail(`a row group holds ${total} list items, more than Arrow's 2^31 - 1; use fewer rows per row group`, 0)
      const valueOffsets = new Int32Array(n + 1)
      const flat = new ctor(total)
      for (let j = 0, at = 0; j < n; j++) {
        const v = values[j] as ArrayLike<number>
        flat.set(v, at)
        valueOffsets[j + 1] = at += v.length
      }
      const listType = type as arrow.List
      const child = arrow.makeData({ type: listType.children[0]!.type as arrow.Int, length: total, data: flat })
      return arrow.makeData({ type: listType, length: n, valueOffsets, child })
    }
    case "List": {
      const valueOffsets = new Int32Array(n + 1)
      const items: unknown[] = []
      for (let j = 0; j < n; j++) {
        const v = values[j]
        if (!Array.isArray(v)) throw fail(expected("an array", v), j)
        for (const item of v) items.push(item)
        valueOffsets[j + 1] = items.length
      }
      const listType = type as arrow.List
      const child = buildData(column.item, listType.children[0]!.type, items, (problem, k) => fail(`item ${k - valueOffsets[rowOfItem(valueOffsets, k)]!}: ${problem}`, rowOfItem(valueOffsets, k)))
      return arrow.makeData({ type: listType, length: n, valueOffsets, child })
    }
    case "Nullable": {
      const nullBitmap = new Uint8Array((n + 7) >> 3)
      let nullCount = 0
      const filled = values.map((v, j) => {
        if (v === null) {
          nullCount++
          return placeholder(column.inner)
        }
        nullBitmap[j >> 3]! |= 1 << (j & 7)
        return v
      })
      const data = buildData(column.inner, type, filled, (problem, j) => fail(`${problem} (or null)`, j))
      if (nullCount === 0) return data
      return new arrow.Data(data.type, 0, n, nullCount, { 0: data.valueOffsets, 1: data.values, 2: nullBitmap }, data.children, data.dictionary)
    }
  }
}

/** The row whose list holds flat item `k`. */
const rowOfItem = (offsets: Int32Array, k: number): number => {
  let lo = 0
  let hi = offsets.length - 2
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (offsets[mid]! <= k) lo = mid
    else hi = mid - 1
  }
  return lo
}

const encoder = new TextEncoder()

const utf8Buffers = (values: ReadonlyArray<unknown>, fail: Fail): { valueOffsets: Int32Array; data: Uint8Array } => {
  const encoded = values.map((v, j) => {
    if (typeof v !== "string") throw fail(expected("a string", v), j)
    return encoder.encode(v)
  })
  const valueOffsets = new Int32Array(values.length + 1)
  encoded.forEach((bytes, j) => { valueOffsets[j + 1] = valueOffsets[j]! + bytes.length })
  const data = new Uint8Array(valueOffsets[values.length]!)
  encoded.forEach((bytes, j) => data.set(bytes, valueOffsets[j]!))
  return { valueOffsets, data }
}

/** A stand-in for null under a validity bitmap. */
const placeholder = (type: ArrowType): unknown => {
  switch (type._tag) {
    case "Int": case "Float": return 0
    case "Bool": return false
    case "Utf8": case "Dictionary": return ""
    case "TypedList": return new typedItems[type.item].ctor(0)
    case "List": return []
    case "Nullable": return null
  }
}

const intRanges = {
  8: { lo: -128, hi: 127, array: Int8Array },
  16: { lo: -32768, hi: 32767, array: Int16Array },
  32: { lo: -2147483648, hi: 2147483647, array: Int32Array },
} as const

type TypedCtor = Int8ArrayConstructor | Int16ArrayConstructor | Int32ArrayConstructor | Float32ArrayConstructor | Float64ArrayConstructor

const typedItems: Record<"int8" | "int16" | "int32" | "float32" | "float64", { readonly ctor: TypedCtor; readonly arrow: () => arrow.DataType }> = {
  int8: { ctor: Int8Array, arrow: () => new arrow.Int8() },
  int16: { ctor: Int16Array, arrow: () => new arrow.Int16() },
  int32: { ctor: Int32Array, arrow: () => new arrow.Int32() },
  float32: { ctor: Float32Array, arrow: () => new arrow.Float32() },
  float64: { ctor: Float64Array, arrow: () => new arrow.Float64() },
}

const scalarArrowType = (type: ArrowType): arrow.DataType => {
  switch (type._tag) {
    case "Int": return type.bits === 8 ? new arrow.Int8() : type.bits === 16 ? new arrow.Int16() : type.bits === 32 ? new arrow.Int32() : new arrow.Int64()
    case "Float": return type.bits === 32 ? new arrow.Float32() : new arrow.Float64()
    case "Bool": return new arrow.Bool()
    case "Utf8": return new arrow.Utf8()
    default: throw new TypeError(`not a scalar column type: ${formatArrowType(type)}`)
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

const readError = (file: string, error: unknown): ArtifactReadError =>
  error instanceof ArtifactReadError ? error : new ArtifactReadError({ path: file, reason: describe(error) })

let scopes = 0

/** One shard's rows, a chunk per row group; row groups are decoded by all workers at once. */
const readShard = <Row>(file: string, columns: ReadonlyArray<ColumnInfo>): Stream.Stream<Chunk.Chunk<Row>, ArtifactReadError> =>
  Stream.unwrapScoped(Effect.gen(function* () {
    const pool = workers()
    const meta = yield* Effect.tryPromise({
      try: () => pool.call<FooterMeta>({ op: "meta", path: file }),
      catch: (error) => readError(file, `not a readable Parquet file (${describe(error)})`),
    })
    const fileSchema = yield* Effect.try({
      try: () => arrow.tableFromIPC(meta.schema).schema,
      catch: (error) => readError(file, `unreadable Arrow schema (${describe(error)})`),
    })
    for (const column of columns) {
      const found = fileSchema.fields.find((field) => field.name === column.name)
      if (found === undefined) return yield* new ArtifactReadError({ path: file, reason: `no column "${column.name}" in the file` })
      if (!matches(column.type, found.type)) {
        return yield* new ArtifactReadError({ path: file, reason: `column "${column.name}" is ${String(found.type)} in the file, but the schema says ${formatArrowType(column.type)}` })
      }
    }
    // Workers keep the file open for this stream's reads and close it when the stream ends.
    const scope = ++scopes
    yield* Effect.addFinalizer(() => Effect.sync(() => pool.broadcast({ op: "release", scope })))
    const names = columns.map((column) => column.name)
    const readGroup = (rows: number, index: number) => Effect.tryPromise({
      try: async () => {
        if (names.length === 0) return Chunk.makeBy(rows, () => ({}) as Row)
        const ipc = await pool.call<Uint8Array>({ op: "read", scope, path: file, rowGroup: index, columns: names, rows })
        return decodeRows<Row>(arrow.tableFromIPC(ipc), columns, file)
      },
      catch: (error) => readError(file, `row group ${index}: ${describe(error)}`),
    })
    return Stream.fromIterable(meta.rowGroups.entries()).pipe(
      Stream.mapEffect(([index, rows]) => readGroup(rows, index), { concurrency: pool.size }),
    )
  }))

/** Rows of an Arrow table read from Parquet, decoded to the row type. */
const decodeRows = <Row>(table: arrow.Table, columns: ReadonlyArray<ColumnInfo>, file: string): Chunk.Chunk<Row> => {
  const rows: Row[] = []
  for (const batch of table.batches) {
    const decoders = columns.map((column) => {
      const data = batch.getChild(column.name)?.data[0]
      if (data === undefined) throw new ArtifactReadError({ path: file, reason: `no column "${column.name}" in the row group` })
      return decoder(column.type, data, column.name, file)
    })
    for (let i = 0; i < batch.numRows; i++) {
      const row: Record<string, unknown> = {}
      for (let c = 0; c < columns.length; c++) row[columns[c]!.name] = decoders[c]!(i)
      rows.push(row as Row)
    }
  }
  return Chunk.unsafeFromArray(rows)
}

const isValid = (data: arrow.Data, i: number): boolean => {
  const at = data.offset + i
  return (data.nullBitmap![at >> 3]! >> (at & 7) & 1) === 1
}

const decoder = (type: ArrowType, data: arrow.Data, column: string, file: string, nullable = false): (i: number) => unknown => {
  if (type._tag === "Nullable") {
    const inner = decoder(type.inner, data, column, file, true)
    return data.nullCount === 0 ? inner : (i) => isValid(data, i) ? inner(i) : null
  }
  if (!nullable && data.nullCount > 0) throw new ArtifactReadError({ path: file, reason: `column "${column}" holds nulls, but the schema says ${formatArrowType(type)}` })
  const o = data.offset
  switch (type._tag) {
    case "Int": case "Float": {
      const values = data.values as ArrayLike<number | bigint>
      return type._tag === "Int" && type.bits === 64 ? (i) => Number(values[o + i]) : (i) => values[o + i]
    }
    case "Bool": {
      const bits = data.values as Uint8Array
      return (i) => (bits[(o + i) >> 3]! >> ((o + i) & 7) & 1) === 1
    }
    case "Utf8": {
      const offsets = data.valueOffsets as Int32Array
      const bytes = data.values as Uint8Array
      const words = new TextDecoder()
      return (i) => words.decode(bytes.subarray(offsets[o + i]!, offsets[o + i + 1]!))
    }
    case "Dictionary": {
      const words = [...(data.dictionary as arrow.Vector<arrow.Utf8>)]
      const ids = data.values as ArrayLike<number>
      return (i) => words[ids[o + i]!]
    }
    case "TypedList": {
      const offsets = data.valueOffsets as Int32Array
      const child = data.children[0]!
      const items = (child.values as Int16Array).subarray(child.offset)
      return (i) => items.subarray(offsets[o + i]!, offsets[o + i + 1]!)
    }
    case "List": {
      const offsets = data.valueOffsets as Int32Array
      const item = decoder(type.item, data.children[0]!, column, file)
      return (i) => {
        const list: unknown[] = []
        for (let k = offsets[o + i]!; k < offsets[o + i + 1]!; k++) list.push(item(k))
        return list
      }
    }
  }
}

/** Whether a file's Arrow type can be read as the schema's column type (nullability aside). */
const matches = (type: ArrowType, found: arrow.DataType): boolean => {
  switch (type._tag) {
    case "Nullable": return matches(type.inner, found)
    case "Int": return arrow.DataType.isInt(found) && found.bitWidth === type.bits && found.isSigned
    case "Float": return arrow.DataType.isFloat(found) && found.precision === (type.bits === 32 ? arrow.Precision.SINGLE : arrow.Precision.DOUBLE)
    case "Bool": return arrow.DataType.isBool(found)
    case "Utf8": return arrow.DataType.isUtf8(found)
    case "Dictionary": return arrow.DataType.isDictionary(found) && arrow.DataType.isUtf8(found.dictionary)
    case "TypedList": return arrow.DataType.isList(found) && found.children[0]!.type.toString() === typedItems[type.item].arrow().toString()
    case "List": return arrow.DataType.isList(found) && matches(type.item, found.children[0]!.type)
  }
}

// ---------------------------------------------------------------------------------------------
// Worker pool

/** A shard footer as a worker reports it. */
interface FooterMeta {
  readonly rows: number
  /** Rows of each row group. */
  readonly rowGroups: ReadonlyArray<number>
  /** The file's Arrow schema as an IPC stream. */
  readonly schema: Uint8Array
  readonly columns: ShardMeta["columns"]
}

/**
 * The worker's program. It is plain CommonJS handed to `new Worker(..., { eval: true })`, so it
 * runs as written under node, tsx and vitest alike. Ops: `encode` (an Arrow IPC batch into a
 * one-row-group Parquet file), `meta` (a file's footer), `read` (one row group of a file, kept
 * open per `scope`), `release` (close a scope's file).
 */
const WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require("node:worker_threads")
const fs = require("node:fs")
const pq = require(workerData.parquetWasm)
const scopes = new Map()
const open = async (path) => pq.ParquetFile.fromFile(await fs.openAsBlob(path))
const release = (scope) => {
  const entry = scopes.get(scope)
  if (!entry) return
  entry.released = true
  if (entry.users > 0) return
  scopes.delete(scope)
  entry.file.then((file) => file.free(), () => {})
}
const writerProperties = (rows) => new pq.WriterPropertiesBuilder()
  .setCompression(pq.Compression.ZSTD)
  .setDictionaryEnabled(true)
  .setStatisticsEnabled(pq.EnabledStatistics.Chunk)
  .setMaxRowGroupSize(Math.max(rows, 1))
  .build()
const footer = (file) => {
  const meta = file.metadata()
  const rowGroups = meta.rowGroups()
  const columns = rowGroups.length === 0 ? [] : rowGroups[0].columns().map((column) => ({
    path: column.columnPath().join("."),
    compression: pq.Compression[column.compression()],
    encodings: column.encodings().map((encoding) => pq.Encoding[encoding]),
  }))
  const schema = file.schema().intoIPCStream()
  return [{ rows: meta.fileMetadata().numRows(), rowGroups: rowGroups.map((group) => group.numRows()), schema, columns }, [schema.buffer]]
}
const ops = {
  encode: async ({ ipc, rows }) => {
    const bytes = pq.writeParquet(pq.Table.fromIPCStream(ipc), writerProperties(rows))
    return [bytes, [bytes.buffer]]
  },
  meta: async ({ path }) => {
    const file = await open(path)
    try { return footer(file) } finally { file.free() }
  },
  read: async ({ scope, path, rowGroup, columns, rows }) => {
    let entry = scopes.get(scope)
    if (!entry) scopes.set(scope, entry = { file: open(path), users: 0, released: false })
    entry.users++
    try {
      const table = await (await entry.file).read({ columns, rowGroups: [rowGroup], batchSize: Math.max(rows, 1) })
      const ipc = table.intoIPCStream()
      return [ipc, [ipc.buffer]]
    } finally {
      entry.users--
      if (entry.released) release(scope)
    }
  },
  release: async ({ scope }) => [release(scope), []],
}
parentPort.on("message", async ({ id, op, ...args }) => {
  try {
    const [ok, transfer] = await ops[op](args)
    parentPort.postMessage({ id, ok }, transfer)
  } catch (error) {
    parentPort.postMessage({ id, error: String((error && error.message) || error) })
    // A trapped wasm instance is not safe to reuse: leave, and the pool starts a fresh one.
    if (error instanceof WebAssembly.RuntimeError) process.exit(1)
  }
})
`

interface Slot {
  readonly worker: Worker
  readonly pending: Map<number, { readonly resolve: (value: any) => void; readonly reject: (error: Error) => void }>
}

/** Worker threads running parquet-wasm, started on first use; idle workers do not keep the process alive. */
class ParquetWorkers {
  private readonly slots: Array<Slot | undefined>
  private nextId = 0

  constructor(readonly size: number, private readonly parquetWasm: string) {
    this.slots = Array.from({ length: size }, () => undefined)
  }

  /** Sends a message to the least busy worker and resolves with its answer. */
  call<A>(message: { readonly op: string } & Record<string, unknown>, transfer: ReadonlyArray<ArrayBuffer | SharedArrayBuffer> = []): Promise<A> {
    let index = 0
    for (let i = 0; i < this.size; i++) {
      if ((this.slots[i]?.pending.size ?? 0) < (this.slots[index]?.pending.size ?? 0)) index = i
    }
    return this.send(this.slots[index] ??= this.spawn(index), message, transfer)
  }

  /** Sends a message to every running worker, without waiting for answers. */
  broadcast(message: { readonly op: string } & Record<string, unknown>): void {
    for (const slot of this.slots) if (slot) this.send(slot, message, []).catch(() => {})
  }

  private send<A>(slot: Slot, message: Record<string, unknown>, transfer: ReadonlyArray<ArrayBuffer | SharedArrayBuffer>): Promise<A> {
    const id = this.nextId++
    return new Promise<A>((resolve, reject) => {
      if (slot.pending.size === 0) slot.worker.ref()
      slot.pending.set(id, { resolve, reject })
      slot.worker.postMessage({ ...message, id }, transfer as ArrayBuffer[])
    })
  }

  private spawn(index: number): Slot {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { parquetWasm: this.parquetWasm } })
    worker.unref()
    const slot: Slot = { worker, pending: new Map() }
    const fail = (error: Error) => {
      for (const request of slot.pending.values()) request.reject(error)
      slot.pending.clear()
      if (this.slots[index] === slot) this.slots[index] = undefined
    }
    worker.on("message", ({ id, ok, error }: { id: number; ok?: unknown; error?: string }) => {
      const request = slot.pending.get(id)
      if (request === undefined) return
      slot.pending.delete(id)
      if (slot.pending.size === 0) worker.unref()
      if (error === undefined) request.resolve(ok)
      else request.reject(new Error(error))
    })
    worker.on("error", (error) => fail(new Error(`parquet-wasm crashed (${error.message}); the file is likely corrupt`)))
    worker.on("exit", (code) => fail(new Error(`the Parquet worker stopped (exit code ${code})`)))
    return slot
  }
}

let pool: ParquetWorkers | undefined
/** The process's Parquet workers: one per core, at most 8. */
const workers = (): ParquetWorkers =>
  (pool ??= new ParquetWorkers(Math.max(1, Math.min(8, os.availableParallelism())), createRequire(import.meta.url).resolve("parquet-wasm")))

// ---------------------------------------------------------------------------------------------
// Parquet footers: Thrift compact protocol, read and written as generic field lists, and the
// field ids (from parquet.thrift) that locate column chunks in the file.

const FileMetaData = { numRows: 3, rowGroups: 4 } as const
const RowGroup = { columns: 1, fileOffset: 5, ordinal: 7 } as const
const ColumnChunk = { fileOffset: 2, metaData: 3, pageIndex: [4, 5, 6, 7] as ReadonlyArray<number> } as const
const ColumnMetaData = {
  totalCompressedSize: 7,
  dataPageOffset: 9,
  dictionaryPageOffset: 11,
  /** data, index, dictionary page and bloom filter offsets */
  offsets: [9, 10, 11, 14] as ReadonlyArray<number>,
} as const

namespace Thrift {
  export type Value = boolean | number | bigint | Uint8Array | Struct | List | MapValue
  export interface Field { readonly id: number; readonly type: number; readonly value: Value }
  export type Struct = ReadonlyArray<Field>
  export interface List { readonly elem: number; readonly items: ReadonlyArray<Value> }
  export interface MapValue { readonly key: number; readonly val: number; readonly entries: ReadonlyArray<readonly [Value, Value]> }

  export const STRUCT = 12
  const TRUE = 1
  const FALSE = 2

  export const get = (struct: Struct, id: number): Value | undefined => struct.find((field) => field.id === id)?.value
  export const list = (struct: Struct, id: number): ReadonlyArray<Struct> => ((get(struct, id) as List | undefined)?.items ?? []) as ReadonlyArray<Struct>

  export const decode = (bytes: Uint8Array): Struct => {
    let at = 0
    const byte = () => {
      if (at >= bytes.length) throw new Error("truncated Parquet footer")
      return bytes[at++]!
    }
    const varint = (): number => {
      let result = 0
      let scale = 1
      let b: number
      do {
        b = byte()
        result += (b & 0x7f) * scale
        scale *= 128
      } while (b & 0x80)
      return result
    }
    const varint64 = (): bigint => {
      let result = 0n
      let shift = 0n
      let b: number
      do {
        b = byte()
        result |= BigInt(b & 0x7f) << shift
        shift += 7n
      } while (b & 0x80)
      return result
    }
    const zigzag = () => {
      const u = varint()
      return u % 2 === 0 ? u / 2 : -(u + 1) / 2
    }
    const value = (type: number): Value => {
      switch (type) {
        case TRUE: return true
        case FALSE: return false
        case 3: return (byte() << 24) >> 24
        case 4: case 5: return zigzag()
        case 6: {
          const u = varint64()
          return (u >> 1n) ^ -(u & 1n)
        }
        case 7: {
          const v = new DataView(bytes.buffer, bytes.byteOffset + at, 8).getFloat64(0, true)
          at += 8
          return v
        }
        case 8: {
          const n = varint()
          if (at + n > bytes.length) throw new Error("truncated Parquet footer")
          at += n
          return bytes.subarray(at - n, at)
        }
        case 9: case 10: {
          const header = byte()
          const elem = header & 15
          const size = header >> 4 === 15 ? varint() : header >> 4
          const items = Array.from({ length: size }, () => elem === TRUE || elem === FALSE ? byte() === TRUE : value(elem))
          return { elem, items }
        }
        case 11: {
          const size = varint()
          if (size === 0) return { key: 0, val: 0, entries: [] }
          const header = byte()
          const entries = Array.from({ length: size }, () => [value(header >> 4), value(header & 15)] as const)
          return { key: header >> 4, val: header & 15, entries }
        }
        case STRUCT: {
          const fields: Field[] = []
          for (let last = 0; ;) {
            const header = byte()
            if (header === 0) return fields
            const id = header >> 4 === 0 ? zigzag() : last + (header >> 4)
            fields.push({ id, type: header & 15, value: value(header & 15) })
            last = id
          }
        }
        default: throw new Error(`unknown Thrift type ${type} in the Parquet footer`)
      }
    }
    return value(STRUCT) as Struct
  }

  export const encode = (struct: Struct): Uint8Array => {
    const out: number[] = []
    const varint = (n: number) => {
      for (; n >= 128; n = Math.floor(n / 128)) out.push((n % 128) | 128)
      out.push(n)
    }
    const varint64 = (n: bigint) => {
      for (; n >= 128n; n >>= 7n) out.push(Number(n & 127n) | 128)
      out.push(Number(n))
    }
    const zigzag = (n: number) => varint(n >= 0 ? n * 2 : -n * 2 - 1)
    const value = (type: number, v: Value): void => {
      switch (type) {
        case TRUE: case FALSE: return
        case 3: out.push((v as number) & 255); return
        case 4: case 5: zigzag(v as number); return
        case 6: {
          const n = v as bigint
          varint64(n >= 0n ? n << 1n : (-n << 1n) - 1n)
          return
        }
        case 7: {
          const double = new Uint8Array(8)
          new DataView(double.buffer).setFloat64(0, v as number, true)
          out.push(...double)
          return
        }
        case 8: {
          varint((v as Uint8Array).length)
          for (const b of v as Uint8Array) out.push(b)
          return
        }
        case 9: case 10: {
          const { elem, items } = v as List
          if (items.length < 15) out.push((items.length << 4) | elem)
          else {
            out.push(0xf0 | elem)
            varint(items.length)
          }
          for (const item of items) {
            if (elem === TRUE || elem === FALSE) out.push(item ? TRUE : FALSE)
            else value(elem, item)
          }
          return
        }
        case 11: {
          const { key, val, entries } = v as MapValue
          varint(entries.length)
          if (entries.length === 0) return
          out.push((key << 4) | val)
          for (const [k, x] of entries) {
            value(key, k)
            value(val, x)
          }
          return
        }
        case STRUCT: {
          let last = 0
          for (const field of v as Struct) {
            const fieldType = field.type === TRUE || field.type === FALSE ? (field.value ? TRUE : FALSE) : field.type
            const delta = field.id - last
            if (delta > 0 && delta <= 15) out.push((delta << 4) | fieldType)
            else {
              out.push(fieldType)
              zigzag(field.id)
            }
            value(fieldType, field.value)
            last = field.id
          }
          out.push(0)
          return
        }
        default: throw new Error(`unknown Thrift type ${type}`)
      }
    }
    value(STRUCT, struct)
    return Uint8Array.from(out)
  }
}

const describe = (error: unknown): string => error instanceof Error ? error.message : String(error)

const describeValue = (value: unknown): string => {
  if (value === null || value === undefined) return String(value)
  if (typeof value === "string") return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return `${typeof value} ${String(value)}`
  return `a ${(value as object).constructor?.name ?? "object"}`
}
