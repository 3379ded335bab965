/**
 * Reaching a backend's memory from a kernel of ours: on `wasm` the backend's heap (one ArrayBuffer,
 * viewed without copying), on `cpu` its typed arrays; and the checks every native kernel makes on
 * its inputs.
 */
import * as tf from "@tensorflow/tfjs-core"


export interface Memory {
  /** A Float32Array over the tensor's data, where the backend keeps it. */
  readonly view: (t: tf.TensorInfo) => Float32Array
  /** An Int32Array over an int32 tensor's data. */
  readonly ints: (t: tf.TensorInfo) => Int32Array
  /** A new float32 output of this shape. */
  readonly output: (shape: number[]) => tf.TensorInfo
}

interface WasmLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array
}
interface CpuLike {
  data: { get(dataId: unknown): { values: unknown } }
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo
}

/** A backend's Memory, made once per backend object: kernels ask on every call. */
export const memoryOf = (backendName: string, backend: unknown): Memory => {
  let memory = memories.get(backend as object)
  if (memory === undefined) memories.set(backend as object, (memory = makeMemory(backendName, backend)))
  return memory
}

const memories = new WeakMap<object, Memory>()

const makeMemory = (backendName: string, backend: unknown): Memory => {
  if (backendName === "wasm") {
    const wasm = backend as WasmLike
    return {
      view: (t) => wasm.typedArrayFromHeap(t),
      ints: (t) => wasm.typedArrayFromHeap(t) as unknown as Int32Array,
      output: (shape) => wasm.makeOutput(shape, "float32"),
    }
  }
  const cpu = backend as CpuLike
  return {
    view: (t) => cpu.data.get(t.dataId).values as Float32Array,
    ints: (t) => cpu.data.get(t.dataId).values as Int32Array,
    output: (shape) => cpu.makeTensorInfo(shape, "float32", new Float32Array(tf.util.sizeFromShape(shape))),
  }
}

export const floats = (t: tf.TensorInfo | undefined, name: string): tf.TensorInfo => {
  if (t === undefined || t.dtype !== "float32") throw new TypeError(`native kernel: input ${name} must be float32`)
  return t
}

export const int32s = (t: tf.TensorInfo | undefined, name: string): tf.TensorInfo => {
  if (t === undefined || t.dtype !== "int32") throw new TypeError(`native kernel: input ${name} must be int32`)
  return t
}

/** The last axis of a tensor of at least one axis, and the number of rows before it. */
export const rowsOf = (t: tf.TensorInfo, name: string): [rows: number, width: number] => {
  if (t.shape.length === 0) throw new RangeError(`native kernel: ${name} must have at least one axis`)
  const width = t.shape.at(-1)!
  return [width === 0 ? 0 : tf.util.sizeFromShape(t.shape) / width, width]
}
