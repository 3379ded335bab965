/**
 * Adam over a map of named variables, with its moments in named variables too, so that a
 * checkpoint can save them beside the weights (`adam.m.<name>`, `adam.v.<name>`, and the step);
 * and what every training step does around it: global-norm clipping and the warm-up schedule.
 */
import * as tf from "@tensorflow/tfjs-core"
import { hasNativeKernels, nativeAdam } from "./native-kernels.ts"

/** Adam's constants (Kingma & Ba's defaults, which the paper keeps). */
export interface AdamConfig {
  readonly beta1: number
  readonly beta2: number
  readonly epsilon: number
}

/** Default Adam constants. */
export const ADAM_DEFAULTS: AdamConfig = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }

/** Adam's state: the updates taken so far and both moments of each weight. */
export interface AdamState {
  step: number
  readonly m: ReadonlyMap<string, tf.Variable>
  readonly v: ReadonlyMap<string, tf.Variable>
}

/** Zero moments for each weight. */
export const createAdam = (weights: ReadonlyMap<string, tf.Variable>): AdamState => {
  const zeros = () => new Map([...weights].map(([name, w]) => [name, tf.tidy(() => tf.variable(tf.zerosLike(w), false))] as const))
  return { step: 0, m: zeros(), v: zeros() }
}

/** The moments by checkpoint name. */
export const adamVariables = (state: AdamState): Map<string, tf.Variable> =>
  new Map([...[...state.m].map(([n, t]) => [`adam.m.${n}`, t] as const), ...[...state.v].map(([n, t]) => [`adam.v.${n}`, t] as const)])

/**
 * One Adam update of every weight that has a gradient, with bias-corrected moments. With the native
 * kernels each weight's update is one kernel that writes the new weight and moments, assigned as
 * before; tfjs runs ten ops per weight. (Not in place: a variable's data may be shared with tensors
 * that cloned it, e.g. those saved for a gradient.)
 */
export const adamUpdate = (
  weights: ReadonlyMap<string, tf.Variable>,
  gradients: ReadonlyMap<string, tf.Tensor>,
  state: AdamState,
  learningRate: number,
  config: AdamConfig = ADAM_DEFAULTS,
): void => {
  const { beta1, beta2, epsilon } = config
  state.step += 1
  const correction1 = 1 - beta1 ** state.step
  const correction2 = 1 - beta2 ** state.step
  const native = hasNativeKernels()
  tf.tidy(() => {
    for (const [name, gradient] of gradients) {
      const [w, m, v] = [weights.get(name), state.m.get(name), state.v.get(name)]
      if (w === undefined || m === undefined || v === undefined) throw new Error(`adam: no weight or moments named ${name}`)
      if (native && w.dtype === "float32" && gradient.dtype === "float32") {
        const [newW, newM, newV] = nativeAdam(w, m, v, gradient, { learningRate, beta1, beta2, epsilon, correction1, correction2 })
        w.assign(newW)
        m.assign(newM)
        v.assign(newV)
      } else {
        m.assign(tf.add(tf.mul(m, beta1), tf.mul(gradient, 1 - beta1)))
        v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(gradient), 1 - beta2)))
        const stepSize = tf.div(tf.div(m, correction1), tf.add(tf.sqrt(tf.div(v, correction2)), epsilon))
        w.assign(tf.sub(w, tf.mul(stepSize, learningRate)))
      }
    }
  })
}

/**
 * Scales gradients down so that their global norm (over all of them) is at most maxNorm; returns
 * the norm before clipping. Unclipped gradients are returned as they are.
 */
export const clipByGlobalNorm = (gradients: ReadonlyMap<string, tf.Tensor>, maxNorm: number): { gradients: Map<string, tf.Tensor>; norm: number } => {
  const norm = tf.tidy(() => tf.sqrt(tf.addN([...gradients.values()].map((g) => tf.sum(tf.square(g))))).dataSync()[0]!)
  const scale = Math.min(1, maxNorm / (norm + 1e-6))
  return { gradients: new Map([...gradients].map(([name, g]) => [name, scale < 1 ? tf.mul(g, scale) : g])), norm }
}

/** The learning rate of update `step` (0 = the first): a linear ramp to `peak` over `warmupSteps` updates, then `peak`. */
export const warmupLearningRate = (peak: number, warmupSteps: number, step: number): number => peak * Math.min(1, (step + 1) / Math.max(1, warmupSteps))
