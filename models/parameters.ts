/**
 * Named trainable variables of a model, initialised in creation order from one seeded stream, so
 * that a seed gives the same weights on every backend. The VQ-VAE and the Transformer build theirs
 * through this.
 */
import * as tf from "@tensorflow/tfjs-core"
import { randomNormal, type Random } from "./random.ts"

/** A model's weights by name, filled as its modules are created. */
export class Parameters {
  readonly variables = new Map<string, tf.Variable>()
  constructor(
    private readonly random: Random,
    /** Standard deviation of `normal` draws unless one is given. */
    private readonly scale: number,
  ) {}

  /** Drawn from N(0, std²), std the model's scale unless given. */
  normal(name: string, shape: number[], std = this.scale): tf.Variable {
    return this.add(name, () => randomNormal(shape, std, this.random))
  }

  zeros(name: string, shape: number[]): tf.Variable {
    return this.add(name, () => tf.zeros(shape))
  }

  ones(name: string, shape: number[]): tf.Variable {
    return this.add(name, () => tf.ones(shape))
  }

  private add(name: string, init: () => tf.Tensor): tf.Variable {
    if (this.variables.has(name)) throw new Error(`parameter ${name} defined twice`)
    const variable = tf.tidy(() => tf.variable(init(), true))
    this.variables.set(name, variable)
    return variable
  }
}
