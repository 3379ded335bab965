import { describe, expect, it } from "vitest"
import { decodeSafetensors, encodeSafetensors } from "../../models/safetensors.ts"

describe("safetensors", () => {
  it("round-trips named tensors of several dtypes with metadata", () => {
    const bytes = encodeSafetensors({
      "encoder.conv.weight": { dtype: "F32", shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
      "step": { dtype: "I64", shape: [], data: BigInt64Array.from([42n]) },
      "codes": { dtype: "I16", shape: [3], data: Int16Array.from([-1, 0, 2047]) },
    }, { format: "pt", level: "top" })
    const header = Number(new DataView(bytes.buffer).getBigUint64(0, true))
    expect((8 + header) % 8).toBe(0)
    const { tensors, metadata } = decodeSafetensors(bytes)
    expect(metadata).toEqual({ format: "pt", level: "top" })
    expect(Array.from(tensors["encoder.conv.weight"]!.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6])
    expect(tensors["encoder.conv.weight"]!.shape).toEqual([2, 3])
    expect(Array.from(tensors.step!.data as BigInt64Array)).toEqual([42n])
    expect(Array.from(tensors.codes!.data as Int16Array)).toEqual([-1, 0, 2047])
  })

  it("is byte-for-byte deterministic whatever the key order", () => {
    const a = { dtype: "F32" as const, shape: [1], data: Float32Array.from([1]) }
    const b = { dtype: "F32" as const, shape: [1], data: Float32Array.from([2]) }
    expect(encodeSafetensors({ a, b })).toEqual(encodeSafetensors({ b, a }))
  })

  it("rejects what is not a safetensors file, naming it", () => {
    expect(() => decodeSafetensors(new Uint8Array(4), "ckpt/model.safetensors")).toThrow("ckpt/model.safetensors: too short")
    const bytes = encodeSafetensors({ x: { dtype: "F32", shape: [4], data: new Float32Array(4) } })
    expect(() => decodeSafetensors(bytes.subarray(0, bytes.length - 4), "m.safetensors")).toThrow("m.safetensors: tensor x runs past the end of the file")
    expect(() => encodeSafetensors({ x: { dtype: "F32", shape: [3], data: new Float32Array(4) } })).toThrow("x has shape [3] but 4 values")
  })

  it("decodes from a Node Buffer (whose slices are views into a shared pool)", () => {
    const bytes = encodeSafetensors({ w: { dtype: "F32", shape: [3], data: Float32Array.from([1.5, -2, 3]) } })
    const pooled = Buffer.concat([Buffer.alloc(13, 7), Buffer.from(bytes)]).subarray(13)
    expect(Array.from(decodeSafetensors(pooled).tensors.w!.data as Float32Array)).toEqual([1.5, -2, 3])
  })
})

