/**
 * adamUpdate on the native kernels (one kernel per weight) against its tfjs formulation (ten ops per
 * weight, what runs without them), on random weights over several steps, plain and with warm-up and
 * clipping; and the update leaves tensors that share a variable's data alone. On both portable
 * backends; without the native kernels both sides are the tfjs formulation.
 */
import * as tf from "@tensorflow/tfjs-core"
import { beforeAll, describe, expect, it } from "vitest"
import { adamUpdate, clipByGlobalNorm, createAdam, warmupLearningRate } from "../../models/adam.ts"
import { CORRELATE, hasNativeKernels, registerNativeKernels } from "../../models/native-kernels.ts"
import { BACKENDS, normal, onBackend, relativeError } from "./helpers.ts"

/** Odd shapes, a scalar-like one and a large one. */
const SHAPES = [[3, 5, 7], [13], [1], [64, 33]]

/** Runs f on tfjs's own kernels: ops.ts and adam.ts take the native path only while our conv kernel is registered. */
const withoutNativeKernels = <T>(f: () => T): T => {
  const backend = tf.getBackend()
  if (!hasNativeKernels()) return f()
  tf.unregisterKernel(CORRELATE, backend)
  try {
    return f()
  } finally {
    registerNativeKernels(backend)
  }
}

const weightsOf = (seed: number): Map<string, tf.Variable> =>
  new Map(SHAPES.map((shape, i) => [`w${i}`, tf.variable(normal(shape, seed + i, 0.1))]))

/** Gradients of step `step`: magnitudes from 1e-4 to 10 across steps, so that moments change scale. */
const gradientsAt = (step: number): Map<string, tf.Tensor> =>
  new Map(SHAPES.map((shape, i) => [`w${i}`, normal(shape, 100 * step + i, 10 ** ((step % 6) - 4))]))

describe.each(BACKENDS)("adamUpdate on %s", (backend) => {
  beforeAll(() => onBackend(backend))

  it.each([
    { name: "constant learning rate", schedule: (_step: number) => 3e-4, clipNorm: Infinity },
    { name: "warm-up and clipping", schedule: (step: number) => warmupLearningRate(1e-2, 4, step), clipNorm: 0.5 },
  ])("with the native kernels equals its tfjs formulation within 1e-6 over 8 steps: $name", ({ schedule, clipNorm }) => {
    const [ours, theirs] = [weightsOf(1), weightsOf(1)]
    const [ourState, theirState] = [createAdam(ours), createAdam(theirs)]
    let clipped = 0
    for (let step = 0; step < 8; step++) {
      const { gradients, norm } = clipByGlobalNorm(gradientsAt(step), clipNorm)
      if (norm > clipNorm) clipped++
      adamUpdate(ours, gradients, ourState, schedule(step))
      withoutNativeKernels(() => adamUpdate(theirs, gradients, theirState, schedule(step)))
      for (const [name, w] of ours) {
        const label = `${name}, step ${step + 1}, native kernels: ${hasNativeKernels()}`
        expect(relativeError(w.dataSync(), theirs.get(name)!.dataSync()), label).toBeLessThanOrEqual(1e-6)
        expect(relativeError(ourState.m.get(name)!.dataSync(), theirState.m.get(name)!.dataSync()), label).toBeLessThanOrEqual(1e-6)
        expect(relativeError(ourState.v.get(name)!.dataSync(), theirState.v.get(name)!.dataSync()), label).toBeLessThanOrEqual(1e-6)
      }
    }
    expect(ourState.step).toBe(8)
    expect(clipped).toBe(clipNorm === Infinity ? 0 : 3) // steps 4–6, gradient norms ~5, 50, 500
    expect(relativeError(ours.get("w3")!.dataSync(), weightsOf(1).get("w3")!.dataSync())).toBeGreaterThan(1e-3) // the weights moved
  })

  it("assigns new data: a tensor that shares a weight's or a moment's data keeps its values", () => {
    const weights = weightsOf(2)
    const state = createAdam(weights)
    adamUpdate(weights, gradientsAt(1), state, 1e-2)
    const w = weights.get("w0")!
    const [sharedW, sharedM] = [tf.clone(w), tf.clone(state.m.get("w0")!)] // Identity: shares the data on wasm and cpu
    const [before, momentBefore] = [sharedW.dataSync().slice(), sharedM.dataSync().slice()]
    adamUpdate(weights, gradientsAt(2), state, 1e-2)
    expect(sharedW.dataSync()).toEqual(before)
    expect(sharedM.dataSync()).toEqual(momentBefore)
    expect(w.dataSync()).not.toEqual(before)
  })
})
