/**
 * Checkpoint state as safetensors: named variables in, named float32 tensors out, and back, with
 * every name and shape checked so a checkpoint of another model cannot be loaded by mistake.
 */
import * as tf from "@tensorflow/tfjs-core"
import type { SafeTensor } from "./safetensors.ts"

/** The variables' current values as safetensors entries. */
export const variablesToTensors = (variables: ReadonlyMap<string, tf.Variable>): Record<string, SafeTensor> =>
  Object.fromEntries([...variables].map(([name, v]) => [name, { dtype: "F32" as const, shape: v.shape, data: Float32Array.from(v.dataSync()) }]))

/** Assigns each variable its value from `tensors`; throws naming `source` on a missing name or a wrong shape. */
export const assignFromTensors = (variables: ReadonlyMap<string, tf.Variable>, tensors: Readonly<Record<string, SafeTensor>>, source: string): void => {
  for (const [name, variable] of variables) {
    const tensor = tensors[name]
    if (!tensor) throw new Error(`${source}: no tensor named ${name}`)
    if (tensor.dtype !== "F32" || tensor.shape.join(",") !== variable.shape.join(",")) {
      throw new Error(`${source}: ${name} is ${tensor.dtype} [${tensor.shape.join(", ")}], the model needs F32 [${variable.shape.join(", ")}]`)
    }
    tf.tidy(() => variable.assign(tf.tensor(tensor.data as Float32Array, variable.shape)))
  }
}
