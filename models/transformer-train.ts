/**
 * Training a Transformer prior: next-token cross-entropy in bits per token (the paper's unit), and
 * one step of forward, loss, gradients, global-norm clipping and Adam with linear warm-up.
 *
 * Call `useBestBackend()` (backend.ts) once before the first step: it registers tfjs's gradients.
 */
import * as tf from "@tensorflow/tfjs-core"
import { ADAM_DEFAULTS, adamUpdate, clipByGlobalNorm, warmupLearningRate, type AdamConfig, type AdamState } from "./adam.ts"
import { gradientsRegistered } from "./backend.ts"
import { hasNativeKernels } from "./native-kernels.ts"
import { nativeSoftmaxCrossEntropyOp } from "./ops.ts"
import type { Transformer, TransformerInputs } from "./transformer.ts"

/** How a prior is trained. */
export interface TransformerTrainConfig {
  /** Peak learning rate [paper: 1.5e-4 for the top prior]. */
  readonly learningRate: number
  /** Steps of linear warm-up from 0 to the peak learning rate. */
  readonly warmupSteps: number
  /** Gradients whose global norm (of the loss in bits) exceeds this are scaled down to it. */
  readonly clipNorm: number
  readonly adam: AdamConfig
}

/** Training defaults, with overrides. */
export const transformerTrainConfig = (overrides: Partial<TransformerTrainConfig> = {}): TransformerTrainConfig => ({
  learningRate: 1.5e-4,
  warmupSteps: 100,
  clipNorm: 1,
  adam: ADAM_DEFAULTS,
  ...overrides,
})

/** One batch of token sequences. */
export interface TokenBatch {
  /** (B, T) int32. */
  readonly tokens: tf.Tensor2D
  /** (B, T): 1 where a token counts in the loss, 0 for padding; every token counts when absent. */
  readonly mask?: tf.Tensor2D
  /** The conditioning inputs, computed under the gradient tape so that the weights producing them train too. */
  readonly inputs?: () => TransformerInputs
}

/** What one step reports, as plain numbers. */
export interface TransformerStepMetrics {
  /** Updates taken so far, this one included. */
  readonly step: number
  /** Cross-entropy of the counted tokens, bits per token. */
  readonly loss: number
  /** Global gradient norm before clipping. */
  readonly gradientNorm: number
  readonly learningRate: number
}

/** ln 2: nats per bit. */
const NATS_PER_BIT = Math.LN2

/**
 * Mean cross-entropy, in bits, of each token under the logits at its position: logits (B, T, vocab),
 * tokens (B, T) int32, mask (B, T) of 0/1 weights → scalar. With the native kernels log p(token) is
 * one fused op each way (ops.ts's `nativeSoftmaxCrossEntropyOp`), not log-softmax, a one-hot product
 * and a sum over (B, T, vocab) and their gradients.
 */
export const crossEntropyBits = (logits: tf.Tensor3D, tokens: tf.Tensor2D, mask?: tf.Tensor2D): tf.Scalar =>
  tf.tidy(() => {
    const vocab = logits.shape[2]
    const picked = hasNativeKernels() && logits.dtype === "float32" && tokens.dtype === "int32"
      ? tf.neg(nativeSoftmaxCrossEntropyOp(logits, tokens))
      : tf.sum(tf.mul(tf.logSoftmax(logits), tf.cast(tf.oneHot(tokens, vocab), "float32")), -1) // (B, T): log p(token), nats
    const nats = mask === undefined ? tf.neg(tf.mean(picked)) : tf.div(tf.neg(tf.sum(tf.mul(picked, mask))), tf.maximum(tf.sum(mask), 1))
    return tf.div(nats, NATS_PER_BIT) as tf.Scalar
  })

/**
 * Trains `weights` (the model's by default; add those of the networks behind `batch.inputs`) on one
 * batch; `optimizer` holds moments for exactly those weights and counts the steps.
 */
export const transformerTrainStep = (
  model: Transformer,
  optimizer: AdamState,
  batch: TokenBatch,
  config: TransformerTrainConfig,
  weights: ReadonlyMap<string, tf.Variable> = model.weights,
): TransformerStepMetrics =>
  gradientStep(weights, optimizer, () => crossEntropyBits(model.forward(batch.tokens, batch.inputs?.()), batch.tokens, batch.mask), config)

/**
 * The step every prior trains by: `loss()` (a scalar in bits, run under the gradient tape), its
 * gradients with respect to `weights`, global-norm clipping, Adam with warm-up.
 */
export const gradientStep = (
  weights: ReadonlyMap<string, tf.Variable>,
  optimizer: AdamState,
  loss: () => tf.Scalar,
  config: TransformerTrainConfig,
): TransformerStepMetrics => {
  if (!gradientsRegistered()) throw new Error("gradientStep: TensorFlow.js gradients are not registered; await useBestBackend() first")
  const step = optimizer.step
  const { value, grads } = tf.variableGrads(loss, [...weights.values()])
  const namesById = new Map([...weights].map(([name, w]) => [w.name, name]))
  const { gradients, norm: gradientNorm } = clipByGlobalNorm(new Map(Object.entries(grads).map(([id, g]) => [namesById.get(id)!, g])), config.clipNorm)
  const learningRate = warmupLearningRate(config.learningRate, config.warmupSteps, step)
  adamUpdate(weights, gradients, optimizer, learningRate, config.adam)
  const bits = value.dataSync()[0]!
  tf.dispose([value, ...Object.values(grads), ...gradients.values()])
  return { step: optimizer.step, loss: bits, gradientNorm, learningRate }
}
