/**
 * Parquet shards for table artifacts: rows in, zstd + dictionary-encoded Parquet files out, and
 * rows back, lazily. Writing streams one Arrow record batch per row group through parquet-wasm,
 * so its heap (capped at 4 GB) holds one row group at a time, never a whole table. Typed-array
 * columns (token windows) travel as whole buffers: no per-element JS work on either side.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as arrow from "apache-arrow"
import { Chunk, Effect, Either, ParseResult, Schema, Stream } from "effect"
import type * as ParquetWasm from "parquet-wasm"
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

/** What a shard's footer says: row and row-group counts, size, and per-column codecs. */
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
 * exist). Each `kind.rowGroupRows` rows make one row group; a shard closes at `kind.shardRows`
 * rows, or once it holds `kind.shardBytes` bytes (checked per row group, so it may overshoot by
 * about one). Each row's values are type-checked as the batch is built and the first row of each
 * batch is validated against the full schema. A table with no rows still gets one (empty) shard.
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
      const pq = await parquetWasm()
      const parquet = await openParquet(pq, file)
      try {
        return shardMetaOf(pq, parquet, (await fs.promises.stat(file)).size)
      } finally {
        parquet.free()
      }
    },
    catch: (error) => readError(file, error),
  })

// ---------------------------------------------------------------------------------------------
// Writing

type Wasm = typeof ParquetWasm

let loading: Promise<Wasm> | undefined
/** parquet-wasm's Node build compiles its 5 MB module when imported (~0.2 s): load it on first use, once. */
const parquetWasm = (): Promise<Wasm> => (loading ??= import("parquet-wasm"))

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
  const pq = await parquetWasm()
  const shards: ShardInfo[] = []
  let shard: ShardWriter | undefined
  let written = 0
  const shardPath = () => path.join(dir, `${prefix}-${String(shards.length).padStart(5, "0")}.parquet`)

  const writeBatch = async (batchRows: ReadonlyArray<Row>) => {
    const checked = validate(batchRows[0])
    if (Either.isLeft(checked)) throw schemaError(checked.left, written)
    const batch = recordBatch(schema, columns, batchRows, written)
    if (shard && (shard.rows + batchRows.length > kind.shardRows || shard.bytes >= kind.shardBytes)) {
      shards.push(await shard.close())
      shard = undefined
    }
    shard ??= await ShardWriter.open(pq, shardPath(), dir, kind.rowGroupRows)
    await shard.write(toWasmBatch(pq, batch), batchRows.length)
    written += batchRows.length
  }

  try {
    let pending: Row[] = []
    const batchSize = () => Math.min(kind.rowGroupRows, kind.shardRows - (shard && shard.rows < kind.shardRows ? shard.rows : 0))
    let target = batchSize()
    for await (const chunk of rowChunks(source, kind.rowGroupRows, dir)) {
      for (const row of chunk) {
        pending.push(row)
        if (pending.length >= target) {
          await writeBatch(pending)
          pending = []
          target = batchSize()
        }
      }
    }
    if (pending.length > 0) await writeBatch(pending)
    if (shard) shards.push(await shard.close())
  } catch (error) {
    await shard?.abort()
    throw error instanceof RowError ? new ArtifactWriteError({ path: shard?.file ?? shardPath(), reason: error.message }) : error
  }
  if (shards.length === 0) shards.push(await writeEmptyShard(pq, shardPath(), schema))
  return { shards, rows: written }
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

/**
 * One shard being written: record batches go into parquet-wasm's `transformParquetStream`, whose
 * output is appended to the file as each row group is flushed.
 */
class ShardWriter {
  rows = 0
  rowGroups = 0
  bytes = 0
  private controller!: ReadableStreamDefaultController<unknown>
  private pulled = false
  private onPull: (() => void) | undefined
  private readonly done: Promise<void>

  private constructor(private readonly pq: Wasm, readonly file: string, private readonly handle: fs.promises.FileHandle, rowGroupRows: number) {
    // highWaterMark 0: a batch is handed over only when the writer asks for one (backpressure).
    const input = new ReadableStream<unknown>({
      start: (controller) => { this.controller = controller },
      pull: () => {
        this.pulled = true
        this.onPull?.()
      },
    }, { highWaterMark: 0 })
    // The promise settles only after the first batch arrives, so it is consumed alongside `write`.
    this.done = pq.transformParquetStream(input, writerProperties(pq, rowGroupRows)).then(async (output) => {
      for await (const bytes of output as unknown as AsyncIterable<Uint8Array>) {
        this.bytes += bytes.byteLength
        await handle.write(bytes)
      }
    })
    this.done.catch(() => {})
  }

  static async open(pq: Wasm, file: string, dir: string, rowGroupRows: number): Promise<ShardWriter> {
    try {
      return new ShardWriter(pq, file, await fs.promises.open(file, "w"), rowGroupRows)
    } catch (error) {
      throw new ArtifactWriteError({ path: file, reason: `cannot create the shard in ${dir}: ${describe(error)}` })
    }
  }

  async write(batch: ParquetWasm.RecordBatch, rows: number): Promise<void> {
    if (!this.pulled) {
      const pulled = new Promise<void>((resolve) => { this.onPull = resolve })
      const stopped = this.done.then(() => { throw new Error("the Parquet writer stopped before the last batch") })
      await Promise.race([pulled, stopped])
    }
    this.pulled = false
    this.onPull = undefined
    this.controller.enqueue(batch)
    this.rows += rows
    this.rowGroups += 1
  }

  async close(): Promise<ShardInfo> {
    try {
      this.controller.close()
      await this.done
      await this.handle.sync()
      await this.handle.close()
    } catch (error) {
      await this.abort()
      throw new ArtifactWriteError({ path: this.file, reason: `writing the shard failed: ${describe(error)}` })
    }
    // parquet-wasm drops write errors silently; the footer tells whether every row group landed.
    const meta = await Effect.runPromise(Effect.either(readShardMeta(this.file)))
    if (Either.isLeft(meta) || meta.right.rows !== this.rows || meta.right.rowGroups !== this.rowGroups) {
      const found = Either.isLeft(meta) ? meta.left.reason : `${meta.right.rows} rows in ${meta.right.rowGroups} row groups`
      throw new ArtifactWriteError({ path: this.file, reason: `wrote ${this.rows} rows in ${this.rowGroups} row groups but the file holds ${found}` })
    }
    return { path: path.basename(this.file), rows: this.rows, bytes: meta.right.bytes, rowGroups: this.rowGroups }
  }

  /** Stops writing and removes the partial file. */
  async abort(): Promise<void> {
    try { this.controller.close() } catch { /* already closed */ }
    await this.done.catch(() => {})
    await this.handle.close().catch(() => {})
    await fs.promises.rm(this.file, { force: true })
  }
}

const writerProperties = (pq: Wasm, rowGroupRows: number): ParquetWasm.WriterProperties =>
  new pq.WriterPropertiesBuilder()
    .setCompression(pq.Compression.ZSTD)
    .setDictionaryEnabled(true)
    .setStatisticsEnabled(pq.EnabledStatistics.Chunk)
    .setMaxRowGroupSize(rowGroupRows)
    .build()

/** `transformParquetStream` writes nothing for an empty stream, so an empty table goes through `writeParquet`. */
const writeEmptyShard = async (pq: Wasm, file: string, schema: arrow.Schema): Promise<ShardInfo> => {
  try {
    const table = pq.Table.fromIPCStream(arrow.tableToIPC(new arrow.Table(schema), "stream"))
    const bytes = pq.writeParquet(table, writerProperties(pq, 1))
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

/** Moves a JS record batch into wasm memory (via one Arrow IPC message). */
const toWasmBatch = (pq: Wasm, batch: arrow.RecordBatch): ParquetWasm.RecordBatch => {
  const table = pq.Table.fromIPCStream(arrow.tableToIPC(new arrow.Table([batch]), "stream"))
  const [wasmBatch] = table.recordBatches()
  table.free()
  return wasmBatch!
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

const openParquet = async (pq: Wasm, file: string): Promise<ParquetWasm.ParquetFile> =>
  pq.ParquetFile.fromFile(await fs.openAsBlob(file))

const shardMetaOf = (pq: Wasm, parquet: ParquetWasm.ParquetFile, bytes: number): ShardMeta => {
  const meta = parquet.metadata()
  const rowGroups = meta.numRowGroups()
  const columns = rowGroups === 0 ? [] : meta.rowGroup(0).columns().map((column) => ({
    path: column.columnPath().join("."),
    compression: pq.Compression[column.compression()] as unknown as string,
    encodings: column.encodings().map((encoding) => pq.Encoding[encoding] as unknown as string),
  }))
  return { rows: meta.fileMetadata().numRows(), rowGroups, bytes, columns }
}

const readError = (file: string, error: unknown): ArtifactReadError =>
  error instanceof ArtifactReadError ? error : new ArtifactReadError({ path: file, reason: describe(error) })

/** One shard's rows, a chunk per row group; the file stays open while the stream runs. */
const readShard = <Row>(file: string, columns: ReadonlyArray<ColumnInfo>): Stream.Stream<Chunk.Chunk<Row>, ArtifactReadError> =>
  Stream.unwrapScoped(Effect.gen(function* () {
    const pq = yield* Effect.promise(parquetWasm)
    let reading: Promise<unknown> = Promise.resolve()
    const parquet = yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => openParquet(pq, file), catch: (error) => readError(file, `not a readable Parquet file (${describe(error)})`) }),
      // A read still in flight (after an interruption) must finish before the handle is freed.
      (parquet) => Effect.promise(() => reading.catch(() => {})).pipe(Effect.andThen(() => parquet.free())),
    )
    const fileSchema = yield* Effect.try({
      try: () => arrow.tableFromIPC(parquet.schema().intoIPCStream()).schema,
      catch: (error) => readError(file, `unreadable Arrow schema (${describe(error)})`),
    })
    for (const column of columns) {
      const found = fileSchema.fields.find((field) => field.name === column.name)
      if (found === undefined) return yield* new ArtifactReadError({ path: file, reason: `no column "${column.name}" in the file` })
      if (!matches(column.type, found.type)) {
        return yield* new ArtifactReadError({ path: file, reason: `column "${column.name}" is ${String(found.type)} in the file, but the schema says ${formatArrowType(column.type)}` })
      }
    }
    const meta = parquet.metadata()
    const groups = Array.from({ length: meta.numRowGroups() }, (_, i) => ({ index: i, rows: meta.rowGroup(i).numRows() }))
    const names = columns.map((column) => column.name)
    return Stream.fromIterable(groups).pipe(Stream.mapEffect((group) => Effect.tryPromise({
      try: () => {
        if (names.length === 0) return Promise.resolve(Chunk.makeBy(group.rows, () => ({}) as Row))
        const read = parquet.read({ columns: names, rowGroups: [group.index], batchSize: Math.max(group.rows, 1) })
          .then((table) => decodeRows<Row>(arrow.tableFromIPC(table.intoIPCStream()), columns, file))
        reading = read
        return read
      },
      catch: (error) => readError(file, `row group ${group.index}: ${describe(error)}`),
    })))
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

const describe = (error: unknown): string => error instanceof Error ? error.message : String(error)

const describeValue = (value: unknown): string => {
  if (value === null || value === undefined) return String(value)
  if (typeof value === "string") return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return `${typeof value} ${String(value)}`
  return `a ${(value as object).constructor?.name ?? "object"}`
}
