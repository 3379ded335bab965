/** `tf.customGrad` with a typed signature, shared by the ops and the bottleneck. */
import * as tf from "@tensorflow/tfjs-core"

/** Backward pass of a custom op: dy and the tensors saved in the forward → one gradient per input. */
export type GradientFunction<T extends tf.Tensor> = (dy: T, saved: tf.Tensor[]) => tf.Tensor[]

/**
 * Runs `forward` as one op on the gradient tape whose gradient is the one it returns. `forward`
 * gets a save function: tensors the backward pass needs go through it (they outlive any tidy of
 * the caller's); the ops inside `forward` are not recorded. Intermediates of the backward pass are
 * freed as soon as it returns.
 */
export const customGradient = <T extends tf.Tensor>(
  inputs: tf.Tensor[],
  forward: (save: tf.GradSaveFunc) => { value: T; gradFunc: GradientFunction<T> },
): T => {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const { value, gradFunc } = forward(args[args.length - 1] as tf.GradSaveFunc)
    return { value, gradFunc: (dy: T, saved: tf.Tensor[]) => tf.tidy(() => gradFunc(dy, saved)) }
  })
  return op(...inputs) as T
}
