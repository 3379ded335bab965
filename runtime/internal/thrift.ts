/** Parquet footers: the Thrift compact protocol, read and written as generic field lists. */

export const FileMetaData = { numRows: 3, rowGroups: 4 } as const
export const RowGroup = { columns: 1, fileOffset: 5, ordinal: 7 } as const
export const ColumnChunk = { fileOffset: 2, metaData: 3, pageIndex: [4, 5, 6, 7] as ReadonlyArray<number> } as const
export const ColumnMetaData = {
  totalCompressedSize: 7,
  dataPageOffset: 9,
  dictionaryPageOffset: 11,
  /** data, index, dictionary page and bloom filter offsets */
  offsets: [9, 10, 11, 14] as ReadonlyArray<number>,
} as const

type ThriftValue = boolean | number | bigint | Uint8Array | ThriftStruct | ThriftList | ThriftMap
interface ThriftField { readonly id: number; readonly type: number; readonly value: ThriftValue }
export type ThriftStruct = ReadonlyArray<ThriftField>
export interface ThriftList { readonly elem: number; readonly items: ReadonlyArray<ThriftValue> }
interface ThriftMap { readonly key: number; readonly val: number; readonly entries: ReadonlyArray<readonly [ThriftValue, ThriftValue]> }

const TRUE = 1
const FALSE = 2
export const STRUCT = 12

export const fieldOf = (struct: ThriftStruct, id: number): ThriftValue | undefined => struct.find((field) => field.id === id)?.value

export const structsOf = (struct: ThriftStruct, id: number): ReadonlyArray<ThriftStruct> =>
  ((fieldOf(struct, id) as ThriftList | undefined)?.items ?? []) as ReadonlyArray<ThriftStruct>

/** A Thrift compact-protocol struct, as a list of fields that `encodeThrift` writes back byte for byte. */
export const decodeThrift = (bytes: Uint8Array): ThriftStruct => {
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
  const value = (type: number): ThriftValue => {
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
        const fields: ThriftField[] = []
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
  return value(STRUCT) as ThriftStruct
}

/** The compact-protocol bytes of a struct. */
export const encodeThrift = (struct: ThriftStruct): Uint8Array => {
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
  const value = (type: number, v: ThriftValue): void => {
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
        const { elem, items } = v as ThriftList
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
        const { key, val, entries } = v as ThriftMap
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
        for (const field of v as ThriftStruct) {
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

