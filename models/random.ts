/**
 * Seeded random numbers that are the same on every backend and platform: weight initialisation,
 * codebook initialisation and restarts draw from here, never from tfjs's global generator.
 */
import * as tf from "@tensorflow/tfjs-core"

/** A stream of random numbers. */
export interface Random {
  /** Uniform in [0, 1). */
  uniform(): number
  /** Standard normal. */
  normal(): number
  /** Uniform integer in [0, n). */
  int(n: number): number
}

/**
 * The stream for `seed` and an optional path of sub-stream numbers (a step, a level), so that
 * step 1234 of a resumed run draws what it drew in an uninterrupted one.
 */
export const seededRandom = (seed: number, ...stream: number[]): Random => {
  let state = mix(seed >>> 0)
  for (const s of stream) state = mix((state ^ mix(s >>> 0)) >>> 0)
  const uniform = (): number => {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  let spare: number | undefined
  const normal = (): number => {
    if (spare !== undefined) {
      const value = spare
      spare = undefined
      return value
    }
    // Box–Muller; 1 − u keeps the logarithm finite
    const radius = Math.sqrt(-2 * Math.log(1 - uniform()))
    const angle = 2 * Math.PI * uniform()
    spare = radius * Math.sin(angle)
    return radius * Math.cos(angle)
  }
  return { uniform, normal, int: (n) => Math.floor(uniform() * n) }
}

/** A float32 tensor of N(0, std²) draws from `random`. */
export const randomNormal = (shape: number[], std: number, random: Random): tf.Tensor => {
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1))
  for (let i = 0; i < values.length; i++) values[i] = std * random.normal()
  return tf.tensor(values, shape, "float32")
}

/** splitmix32's finaliser: spreads nearby seeds far apart. */
const mix = (x: number): number => {
  let z = (x + 0x9e3779b9) >>> 0
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
  return (z ^ (z >>> 16)) >>> 0
}
