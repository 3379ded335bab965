/**
 * One training step of one level's autoencoder: forward, loss = L2 + spectral + β·commit,
 * gradients, global-norm clipping, Adam with linear warm-up, then the codebook's EMA update and
 * restarts (outside the gradient tape). Deterministic for a seed: the only randomness (codebook
 * initialisation and restarts) is drawn from the seed and the step number, so a resumed run draws
 * what an uninterrupted one would.
 *
 * Call `useBestBackend()` (backend.ts) once before the first step: it registers tfjs's gradients.
 */
import * as tf from "@tensorflow/tfjs-core"
import { ADAM_DEFAULTS, adamUpdate, clipByGlobalNorm, warmupLearningRate, type AdamConfig, type AdamState } from "./adam.ts"
import { gradientsRegistered } from "./backend.ts"
import { initCodebook, quantize, updateCodebook } from "./bottleneck.ts"
import { l2Loss, spectralLoss, spectralLossStfts, type LossScale } from "./losses.ts"
import { seededRandom } from "./random.ts"
import type { StftConfig } from "./stft.ts"
import type { Autoencoder, VQVAEConfig } from "./vqvae.ts"

/** How a level is trained. */
export interface TrainConfig {
  /** Peak learning rate [paper: 3e-4]. */
  readonly learningRate: number
  /** Steps of linear warm-up from 0 to the peak learning rate. */
  readonly warmupSteps: number
  /** Gradients whose global norm exceeds this are scaled down to it (norms of the scaled losses' gradients). */
  readonly clipNorm: number
  /** The spectral loss's resolutions (`spectralLossStfts(sampleRate)`). */
  readonly stfts: readonly StftConfig[]
  /** Weight of the spectral loss [reference: 1]. */
  readonly spectralWeight: number
  /** Divisors of the L2 and spectral losses (`measureLossScale` on training audio); 1 and 1 keep them raw. */
  readonly lossScale: LossScale
  /** Seeds codebook initialisation and restarts. */
  readonly seed: number
  readonly adam: AdamConfig
}

/** Training defaults for a VQ-VAE config, with overrides. */
export const trainConfig = (vqvae: Pick<VQVAEConfig, "sampleRate">, overrides: Partial<TrainConfig> = {}): TrainConfig => ({
  learningRate: 3e-4,
  warmupSteps: 100,
  clipNorm: 10,
  stfts: spectralLossStfts(vqvae.sampleRate),
  spectralWeight: 1,
  lossScale: { l2: 1, spectral: 1 },
  seed: 0,
  adam: ADAM_DEFAULTS,
  ...overrides,
})

/** What one step reports, as plain numbers. */
export interface StepMetrics {
  /** Updates taken so far, this one included. */
  readonly step: number
  /** l2 + spectralWeight·spectral + β·commit. */
  readonly loss: number
  readonly l2: number
  readonly spectral: number
  readonly commit: number
  /** Codes in use (EMA count ≥ threshold) after this step. */
  readonly usage: number
  /** Entropy of this batch's code histogram, in bits. */
  readonly entropy: number
  /** Codes restarted by this step. */
  readonly restarts: number
  /** Global gradient norm before clipping. */
  readonly gradientNorm: number
  readonly learningRate: number
}

/**
 * Trains `autoencoder` on one batch of audio (B, T, channels); `optimizer.step` counts the steps.
 * The first step (optimizer.step 0) first fills the codebook from this batch's encoder output.
 */
export const trainStep = (autoencoder: Autoencoder, optimizer: AdamState, audio: tf.Tensor3D, config: TrainConfig): StepMetrics => {
  if (!gradientsRegistered()) throw new Error("trainStep: TensorFlow.js gradients are not registered; await useBestBackend() first")
  const { bottleneck, weights } = autoencoder
  const step = optimizer.step
  if (step === 0) tf.tidy(() => initCodebook(bottleneck, flatten(autoencoder.encode(audio)), seededRandom(config.seed, step, 0)))

  let kept: { vectors: tf.Tensor2D; codes: tf.Tensor1D; parts: tf.Tensor1D } | undefined
  const { value: loss, grads } = tf.variableGrads(() => {
    const encoded = autoencoder.encode(audio) // (B, T/hop, D)
    const vectors = flatten(encoded) // (B·T/hop, D)
    const { codes, quantized, commitLoss } = quantize(bottleneck, vectors)
    const output = autoencoder.decode(tf.reshape(quantized, encoded.shape)) // (B, T, channels)
    const l2 = tf.div(l2Loss(audio, output), config.lossScale.l2)
    const spectral = tf.div(spectralLoss(audio, output, config.stfts), config.lossScale.spectral)
    kept = { vectors: tf.keep(vectors), codes, parts: tf.keep(tf.stack([l2, spectral, commitLoss]) as tf.Tensor1D) }
    return tf.addN([l2, tf.mul(spectral, config.spectralWeight), tf.mul(commitLoss, autoencoder.config.commitWeight)]) as tf.Scalar
  }, [...weights.values()])

  const namesById = new Map([...weights].map(([name, w]) => [w.name, name]))
  const { gradients, norm: gradientNorm } = clipByGlobalNorm(new Map(Object.entries(grads).map(([id, g]) => [namesById.get(id)!, g])), config.clipNorm)
  const learningRate = warmupLearningRate(config.learningRate, config.warmupSteps, step)
  adamUpdate(weights, gradients, optimizer, learningRate, config.adam)

  const { vectors, codes, parts } = kept!
  const codebook = updateCodebook(bottleneck, vectors, codes, seededRandom(config.seed, step, 1))
  const [l2, spectral, commit] = parts.dataSync()
  const total = loss.dataSync()[0]!
  tf.dispose([loss, vectors, codes, parts, ...Object.values(grads), ...gradients.values()])
  return { step: optimizer.step, loss: total, l2: l2!, spectral: spectral!, commit: commit!, ...codebook, gradientNorm, learningRate }
}

/** (B, L, D) → (B·L, D). */
const flatten = (x: tf.Tensor3D): tf.Tensor2D => tf.reshape(x, [-1, x.shape[2]])
