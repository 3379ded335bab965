/**
 * The safetensors format, as bytes: an 8-byte little-endian header length, a JSON header naming
 * each tensor's dtype, shape and byte range, then the raw little-endian data. PyTorch, JAX and
 * others read it; here it holds checkpoints' weights and optimiser state. No file I/O: stages
 * write the bytes.
 */

/** Tensor element types this module reads and writes. */
export type SafeDtype = "F32" | "F64" | "I32" | "I16" | "I8" | "U8" | "I64"

/** One named tensor: its dtype, shape and data (row-major). */
export interface SafeTensor {
  readonly dtype: SafeDtype
  readonly shape: ReadonlyArray<number>
  readonly data: Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array | BigInt64Array
}

const BYTES: Record<SafeDtype, number> = { F32: 4, F64: 8, I32: 4, I16: 2, I8: 1, U8: 1, I64: 8 }

const ARRAY: Record<SafeDtype, (buffer: ArrayBuffer, offset: number, length: number) => SafeTensor["data"]> = {
  F32: (b, o, n) => new Float32Array(b, o, n),
  F64: (b, o, n) => new Float64Array(b, o, n),
  I32: (b, o, n) => new Int32Array(b, o, n),
  I16: (b, o, n) => new Int16Array(b, o, n),
  I8: (b, o, n) => new Int8Array(b, o, n),
  U8: (b, o, n) => new Uint8Array(b, o, n),
  I64: (b, o, n) => new BigInt64Array(b, o, n),
}

/** Encodes named tensors (written in name order) and string metadata as a safetensors file. */
export const encodeSafetensors = (tensors: Readonly<Record<string, SafeTensor>>, metadata: Readonly<Record<string, string>> = {}): Uint8Array => {
  const names = Object.keys(tensors).sort()
  const header: Record<string, unknown> = Object.keys(metadata).length > 0 ? { __metadata__: metadata } : {}
  let offset = 0
  for (const name of names) {
    const t = tensors[name]!
    const count = t.shape.reduce((a, b) => a * b, 1)
    if (count !== t.data.length) throw new RangeError(`safetensors: ${name} has shape [${t.shape.join(", ")}] but ${t.data.length} values`)
    const bytes = count * BYTES[t.dtype]
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] }
    offset += bytes
  }
  let json = JSON.stringify(header)
  json += " ".repeat((8 - ((8 + json.length) % 8)) % 8) // data starts 8-byte aligned
  const head = new TextEncoder().encode(json)
  const out = new Uint8Array(8 + head.length + offset)
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true)
  out.set(head, 8)
  let at = 8 + head.length
  for (const name of names) {
    const { data } = tensors[name]!
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at)
    at += data.byteLength
  }
  return out
}

/** Decodes a safetensors file; throws a RangeError naming `name` when it is not one. */
export const decodeSafetensors = (bytes: Uint8Array, name = "safetensors"): { tensors: Record<string, SafeTensor>; metadata: Record<string, string> } => {
  if (bytes.length < 8) throw new RangeError(`${name}: too short to be a safetensors file`)
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true))
  if (8 + headerLength > bytes.length) throw new RangeError(`${name}: header claims ${headerLength} bytes, more than the file holds`)
  let header: Record<string, { dtype: SafeDtype; shape: number[]; data_offsets: [number, number] } | Record<string, string>>
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)))
  } catch {
    throw new RangeError(`${name}: the header is not JSON`)
  }
  const dataStart = 8 + headerLength
  const tensors: Record<string, SafeTensor> = {}
  for (const [key, entry] of Object.entries(header)) {
    if (key === "__metadata__") continue
    const { dtype, shape, data_offsets: [from, to] } = entry as { dtype: SafeDtype; shape: number[]; data_offsets: [number, number] }
    if (!(dtype in BYTES)) throw new RangeError(`${name}: tensor ${key} has unsupported dtype ${dtype}`)
    if (dataStart + to > bytes.length) throw new RangeError(`${name}: tensor ${key} runs past the end of the file`)
    // copy, so the tensor is aligned and owns its memory (a Node Buffer's slice would be a view)
    const copy = new Uint8Array(to - from)
    copy.set(bytes.subarray(dataStart + from, dataStart + to))
    tensors[key] = { dtype, shape, data: ARRAY[dtype](copy.buffer, 0, (to - from) / BYTES[dtype]) }
  }
  return { tensors, metadata: { ...(header.__metadata__ as Record<string, string> | undefined) } }
}
