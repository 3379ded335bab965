/** Backend choice on this machine (no native TensorFlow): wasm first, with our two kernels; gradients registered. */
import * as tf from "@tensorflow/tfjs-core"
import { describe, expect, it } from "vitest"
import { gradientsRegistered, useBestBackend } from "../../models/backend.ts"
import { native } from "../../native/index.ts"

/** Kernels of ours on top of the missing ones: the native conv, matMul, ReLU and Adam when the addon is built. */
const nativeKernels = native ? ["native-conv", "native-matmul", "native-relu", "native-adam", "native-sums", "native-layernorm", "native-crossentropy", "native-sampling"] : []

describe("useBestBackend", () => {
  it("takes wasm when no native backend loads, and says which kernels of ours it uses", async () => {
    expect(await useBestBackend()).toEqual({ name: "wasm", kernels: ["Conv2DBackpropFilter", "UnsortedSegmentSum", "Identity", "Cast", ...nativeKernels] })
    expect(tf.getBackend()).toBe("wasm")
    expect(gradientsRegistered()).toBe(true)
  })

  it("takes the preferred portable backend", async () => {
    expect(await useBestBackend({ prefer: "cpu" })).toEqual({ name: "cpu", kernels: nativeKernels })
    expect(await useBestBackend({ prefer: "wasm" })).toEqual({ name: "wasm", kernels: ["Conv2DBackpropFilter", "UnsortedSegmentSum", "Identity", "Cast", ...nativeKernels] })
  })

  it("gives stock ops their gradients", async () => {
    await useBestBackend()
    expect([...tf.grad((x: tf.Tensor) => tf.sum(tf.square(x)))(tf.tensor1d([1, -2])).dataSync()]).toEqual([2, -4])
  })
})
