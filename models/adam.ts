/**
 * Adam over a map of named variables, with its moments in named variables too, so that a
 * checkpoint can save them beside the weights (`adam.m.<name>`, `adam.v.<name>`, and the step).
 */
import * as tf from "@tensorflow/tfjs-core"

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

/** One Adam update of every weight that has a gradient, with bias-corrected moments. */
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
  tf.tidy(() => {
    for (const [name, gradient] of gradients) {
      const [w, m, v] = [weights.get(name), state.m.get(name), state.v.get(name)]
      if (w === undefined || m === undefined || v === undefined) throw new Error(`adam: no weight or moments named ${name}`)
      m.assign(tf.add(tf.mul(m, beta1), tf.mul(gradient, 1 - beta1)))
      v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(gradient), 1 - beta2)))
      const stepSize = tf.div(tf.div(m, correction1), tf.add(tf.sqrt(tf.div(v, correction2)), epsilon))
      w.assign(tf.sub(w, tf.mul(stepSize, learningRate)))
    }
  })
}
