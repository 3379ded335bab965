/** Reading Parquet shards back into rows, one row group at a time, decoded by the worker pool. */
import * as arrow from "apache-arrow"
import { Chunk, Effect, Stream } from "effect"
import { ArtifactReadError, type ColumnInfo } from "../artifact.ts"
import { type ArrowType, formatArrowType } from "../columns.ts"
import { typedItems } from "./arrow-build.ts"
import { describe } from "../errors.ts"
import { type FooterMeta, workers } from "./parquet-workers.ts"


export const readError = (file: string, error: unknown): ArtifactReadError =>
  error instanceof ArtifactReadError ? error : new ArtifactReadError({ path: file, reason: describe(error) })

let scopes = 0

/** One shard's rows, a chunk per row group; row groups are decoded by all workers at once. */
export const readShard = <Row>(file: string, columns: ReadonlyArray<ColumnInfo>): Stream.Stream<Chunk.Chunk<Row>, ArtifactReadError> =>
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
      // Two row groups per worker: one decoding while the other's rows are handed over.
      Stream.mapEffect(([index, rows]) => readGroup(rows, index), { concurrency: 2 * pool.size }),
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
export const matches = (type: ArrowType, found: arrow.DataType): boolean => {
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

