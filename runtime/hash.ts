/**
 * Hashing: SHA-256 of bytes and files, and canonical JSON so that equal values hash equally
 * whatever the order of their keys.
 */
import { createHash } from "node:crypto"
import { createReadStream } from "node:fs"

/** Hex SHA-256 of a string or bytes. */
export const sha256 = (data: string | Uint8Array): string => createHash("sha256").update(data).digest("hex")

/** Hex SHA-256 of a file's bytes, streamed. */
export const sha256File = (path: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const hash = createHash("sha256")
    createReadStream(path, { highWaterMark: 1 << 20 })
      .on("data", (chunk) => hash.update(chunk))
      .on("error", reject)
      .on("end", () => resolve(hash.digest("hex")))
  })

/**
 * JSON with object keys sorted at every level and `undefined` members dropped; typed arrays are
 * written as `{"$typed": name, "data": [...]}`. Two equal values always give the same text.
 */
export const canonicalJson = (value: unknown): string => JSON.stringify(canonicalize(value))

const canonicalize = (value: unknown): unknown => {
  if (value === null || typeof value !== "object") {
    if (typeof value === "bigint") return value.toString()
    if (typeof value === "number" && !Number.isFinite(value)) return String(value)
    return value
  }
  if (ArrayBuffer.isView(value)) {
    return { $typed: value.constructor.name, data: Array.from(value as unknown as ArrayLike<number>) }
  }
  if (Array.isArray(value)) return value.map(canonicalize)
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value).sort()) {
    const member = (value as Record<string, unknown>)[key]
    if (member !== undefined) out[key] = canonicalize(member)
  }
  return out
}

/** Hash of a value's canonical JSON. */
export const hashValue = (value: unknown): string => sha256(canonicalJson(value))
