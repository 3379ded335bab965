/**
 * Building Arrow record batches from rows: each value's type and range checked as its column is
 * built, typed-array columns (token windows) taken as whole buffers, scratch memory reused.
 */
import * as arrow from "apache-arrow"
import { ParseResult } from "effect"
import type { ColumnInfo } from "../artifact.ts"
import { type ArrowType, formatArrowType } from "../columns.ts"

/** A row that does not fit its column; `row` counts from the start of the table. */
export class RowError extends Error {
  constructor(readonly row: number, readonly column: string, readonly problem: string) {
    super(`row ${row}, column "${column}": ${problem}`)
  }
}

export const schemaError = (error: ParseResult.ParseError, row: number): RowError => {
  const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
  return new RowError(row, String(issue?.path[0] ?? "?"), issue?.message ?? String(error))
}

/**
 * Memory for one batch's list values, reused from batch to batch: the batch lives only until it
 * is copied into a shared buffer, and fresh memory costs a page fault per 4 KB.
 */
export class Scratch {
  private buffer = new ArrayBuffer(0)
  private used = 0

  take(ctor: TypedCtor, length: number): InstanceType<TypedCtor> {
    const bytes = length * ctor.BYTES_PER_ELEMENT
    let start = (this.used + 7) & ~7
    if (start + bytes > this.buffer.byteLength) {
      // Views taken earlier in this batch keep the old buffer alive.
      this.buffer = new ArrayBuffer(2 ** Math.ceil(Math.log2(Math.max(2 * bytes, 1 << 16))))
      start = 0
    }
    this.used = start + bytes
    return new ctor(this.buffer, start, length)
  }

  /** Starts a new batch: the previous batch's views must be dead by now. */
  reset(): void {
    this.used = 0
  }
}

/** Builds one record batch from rows, checking each value's type as it goes. */
export const recordBatch = (schema: arrow.Schema, columns: ReadonlyArray<ColumnInfo>, rows: ReadonlyArray<any>, firstRow: number, scratch: Scratch): arrow.RecordBatch => {
  scratch.reset()
  const children = columns.map((column, c) => {
    const values = rows.map((row, j) => {
      if (typeof row !== "object" || row === null) throw new RowError(firstRow + j, column.name, `the row is ${describeValue(row)}, not an object`)
      return row[column.name]
    })
    return buildData(column.type, schema.fields[c]!.type, values, (problem, j) => new RowError(firstRow + j, column.name, problem), scratch)
  })
  return new arrow.RecordBatch(schema, arrow.makeData({ type: new arrow.Struct(schema.fields), length: rows.length, children }))
}

export type Fail = (problem: string, index: number) => RowError

export const expected = (what: string, value: unknown) => `expected ${what}, got ${describeValue(value)}`

/** Arrow data for one column's values; `type` is the matching Arrow type from `arrowSchemaOf`. */
const buildData = (column: ArrowType, type: arrow.DataType, values: ReadonlyArray<unknown>, fail: Fail, scratch: Scratch): arrow.Data => {
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
      for (let j = 0; j < n; j++) valueOffsets[j + 1] = valueOffsets[j]! + (values[j] as ArrayLike<number>).length
      const listType = type as arrow.List
      const flat = contiguousView(values as ReadonlyArray<Int8Array>, ctor, total) ?? scratch.take(ctor, total)
      if (flat.length > 0 && flat.buffer !== (values[0] as Int8Array).buffer) {
        for (let j = 0; j < n; j++) flat.set(values[j] as ArrayLike<number>, valueOffsets[j]!)
      }
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
      const itemFail: Fail = (problem, k) => fail(`item ${k - valueOffsets[rowOfItem(valueOffsets, k)]!}: ${problem}`, rowOfItem(valueOffsets, k))
      const child = buildData(column.item, listType.children[0]!.type, items, itemFail, scratch)
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
      const data = buildData(column.inner, type, filled, (problem, j) => fail(`${problem} (or null)`, j), scratch)
      if (nullCount === 0) return data
      return new arrow.Data(data.type, 0, n, nullCount, { 0: data.valueOffsets, 1: data.values, 2: nullBitmap }, data.children, data.dictionary)
    }
  }
}

/** Windows sliced one after another out of one array are already the list's values: no copy. */
const contiguousView = (arrays: ReadonlyArray<Int8Array>, ctor: TypedCtor, total: number) => {
  const first = arrays[0]
  if (first === undefined) return undefined
  for (let j = 1; j < arrays.length; j++) {
    const previous = arrays[j - 1]!
    if (arrays[j]!.buffer !== first.buffer || arrays[j]!.byteOffset !== previous.byteOffset + previous.byteLength) return undefined
  }
  return new ctor(first.buffer as ArrayBuffer, first.byteOffset, total)
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

export const typedItems: Record<"int8" | "int16" | "int32" | "float32" | "float64", { readonly ctor: TypedCtor; readonly arrow: () => arrow.DataType }> = {
  int8: { ctor: Int8Array, arrow: () => new arrow.Int8() },
  int16: { ctor: Int16Array, arrow: () => new arrow.Int16() },
  int32: { ctor: Int32Array, arrow: () => new arrow.Int32() },
  float32: { ctor: Float32Array, arrow: () => new arrow.Float32() },
  float64: { ctor: Float64Array, arrow: () => new arrow.Float64() },
}

export const scalarArrowType = (type: ArrowType): arrow.DataType => {
  switch (type._tag) {
    case "Int": return type.bits === 8 ? new arrow.Int8() : type.bits === 16 ? new arrow.Int16() : type.bits === 32 ? new arrow.Int32() : new arrow.Int64()
    case "Float": return type.bits === 32 ? new arrow.Float32() : new arrow.Float64()
    case "Bool": return new arrow.Bool()
    case "Utf8": return new arrow.Utf8()
    default: throw new TypeError(`not a scalar column type: ${formatArrowType(type)}`)
  }
}


const describeValue = (value: unknown): string => {
  if (value === null || value === undefined) return String(value)
  if (typeof value === "string") return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return `${typeof value} ${String(value)}`
  return `a ${(value as object).constructor?.name ?? "object"}`
}
