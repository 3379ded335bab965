/** Shared by the model tests: backends to run on, seeded tensors, finite differences, closeness, cached sampling, the PyTorch peer. */
import { spawnSync } from "node:child_process"
import * as tf from "@tensorflow/tfjs-core"
import { expect } from "vitest"
import { useBestBackend } from "../../models/backend.ts"
import { randomNormal, seededRandom } from "../../models/random.ts"
import type { PriorConfig } from "../../models/prior.ts"
import type { Sampler } from "../../models/transformer.ts"

/** The portable backends every model test runs on. */
export const BACKENDS = ["cpu", "wasm"] as const

/** Switches to `name` (with our extra kernels) and checks that it took. */
export const onBackend = async (name: (typeof BACKENDS)[number]): Promise<void> => {
  const choice = await useBestBackend({ prefer: name })
  expect(choice.name).toBe(name)
}

/** A float32 tensor of standard normal draws, fixed by `seed`. */
export const normal = (shape: number[], seed: number, std = 1): tf.Tensor =>
  randomNormal(shape, std, seededRandom(seed))

/** ∂f/∂input by central differences, element by element (eps: the step). */
export const numericGradient = (f: (inputs: tf.Tensor[]) => tf.Scalar, inputs: tf.Tensor[], which: number, eps: number): Float32Array => {
  const base = inputs[which]!.dataSync().slice() as Float32Array
  const gradient = new Float32Array(base.length)
  const at = (values: Float32Array): number =>
    tf.tidy(() => {
      const moved = inputs.map((t, i) => (i === which ? tf.tensor(values, t.shape, "float32") : t))
      return f(moved).dataSync()[0]!
    })
  for (let i = 0; i < base.length; i++) {
    const plus = base.slice()
    const minus = base.slice()
    plus[i] = base[i]! + eps
    minus[i] = base[i]! - eps
    gradient[i] = (at(plus) - at(minus)) / (2 * eps)
  }
  return gradient
}

/** Tokens (B, T) int32 from a seeded stream. */
export const randomTokens = (batch: number, length: number, vocab: number, seed: number): tf.Tensor2D => {
  const random = seededRandom(seed)
  return tf.tensor2d(Int32Array.from({ length: batch * length }, () => random.int(vocab)), [batch, length], "int32")
}

/**
 * A sampler's logits for `tokens` (B, T): start(), then the tokens in chunks of the given sizes
 * (cycled) until the last logits, (B, T, vocab); disposes the sampler.
 */
export const sampledLogits = (sampler: Sampler, tokens: tf.Tensor2D, chunks: number[]): tf.Tensor3D =>
  tf.tidy(() => {
    const [batch, length] = tokens.shape
    const parts = [sampler.start()]
    for (let fed = 0, c = 0; fed < length - 1; c++) {
      const n = Math.min(chunks[c % chunks.length]!, length - 1 - fed)
      parts.push(sampler.step(tf.slice(tokens, [0, fed], [batch, n])))
      fed += n
    }
    expect(sampler.length).toBe(length)
    sampler.dispose()
    return tf.concat(parts, 1)
  })

/** Analytic gradients of f with respect to every input. */
export const analyticGradients = (f: (inputs: tf.Tensor[]) => tf.Scalar, inputs: tf.Tensor[]): Float32Array[] =>
  tf.tidy(() => tf.grads((...xs: tf.Tensor[]) => f(xs))(inputs)).map((g) => {
    const values = g.dataSync() as Float32Array
    g.dispose()
    return values
  })

/** Largest |actual − expected| relative to the largest |expected|. */
export const relativeError = (actual: ArrayLike<number>, expected: ArrayLike<number>): number => {
  expect(actual.length).toBe(expected.length)
  let error = 0
  let scale = 0
  for (let i = 0; i < expected.length; i++) {
    error = Math.max(error, Math.abs(actual[i]! - expected[i]!))
    scale = Math.max(scale, Math.abs(expected[i]!))
  }
  return error / Math.max(scale, 1e-30)
}

/** Asserts closeness relative to the largest expected magnitude. */
export const expectClose = (actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): void => {
  expect(relativeError(actual, expected)).toBeLessThan(tolerance)
}

/** A loss that weighs every output element by a fixed random number, so each gets its own gradient. */
export const weighted = (y: tf.Tensor, seed: number): tf.Scalar => tf.sum(tf.mul(y, normal(y.shape, seed)))

/** max |actual − expected| / max(1, max |expected|): absolute while values stay within ±1, relative beyond. */
export const scaledError = (actual: ArrayLike<number>, expected: ArrayLike<number>): number => {
  expect(actual.length).toBe(expected.length)
  let error = 0
  let scale = 1
  for (let i = 0; i < expected.length; i++) {
    error = Math.max(error, Math.abs(actual[i]! - expected[i]!))
    scale = Math.max(scale, Math.abs(expected[i]!))
  }
  return error / scale
}

/** The Python whose PyTorch (Debian's python3-torch) runs the references in bench/torch/. */
export const PYTHON = "/usr/bin/python3"

/**
 * Whether PyTorch imports in PYTHON; whether a parity test must run anyway (CI or JUKEFLOW_SLOW
 * set, so that CI cannot skip it silently); and, when it is missing, why and how to install it.
 */
export const probeTorch = (): { available: boolean; required: boolean; missing: string } => {
  const torch = spawnSync(PYTHON, ["-c", "import torch"], { encoding: "utf8" })
  return {
    available: torch.status === 0,
    required: Boolean(process.env.CI || process.env.JUKEFLOW_SLOW),
    missing: `${PYTHON} cannot import torch (${(torch.stderr || String(torch.error)).trim().split("\n").at(-1)}); install it with: apt-get install python3-torch libopenblas0`,
  }
}

/**
 * Tiny priors for tests: a top prior with labels and timing, 16 tokens of 0.25 s (hop 4 at 16 Hz)
 * in blocks of 4, and a lower level with labels and an upsampler conditioner from a level of 4
 * times the hop.
 */
export const tinyPriors = (options: { readonly initScale: number; readonly maxSeconds: number }): { top: PriorConfig; lower: PriorConfig } => {
  const top: PriorConfig = {
    hopLength: 4,
    sampleRate: 16,
    transformer: {
      vocab: 16,
      contextLength: 16,
      width: 32,
      depth: 3,
      heads: 2,
      blockLength: 4,
      pattern: ["row", "column", "previous-row"],
      initScale: options.initScale,
      attentionMultiplier: 0.25,
      mlpMultiplier: 1,
      conditioning: true,
    },
    labels: { artists: 5, genres: 4 },
    timing: { bins: 8, minSeconds: 2, maxSeconds: options.maxSeconds },
  }
  const lower: PriorConfig = {
    ...top,
    hopLength: 1,
    timing: undefined,
    upsampler: { upperVocab: 16, strides: [2, 2], width: 8, depth: 2, dilationGrowth: 3, initScale: 0.1 },
  }
  return { top, lower }
}
