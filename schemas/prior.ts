/** Prior checkpoints and their training metrics. */
import { Schema } from "effect"
import { Checkpoint, Col } from "../runtime/index.ts"

/**
 * What `config.json` of a prior's checkpoint says: the model's config (models/prior.ts
 * `PriorConfig`, plain data, checked when the model is built from it), how it was trained, and the
 * yardsticks its loss is read against.
 */
export const PriorCheckpointConfig = Schema.Struct({
  /** 0 = bottom upsampler, 1 = middle upsampler, 2 = top prior. */
  level: Schema.Int,
  model: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  steps: Schema.Int,
  seed: Schema.Int,
  /** Held-out cross-entropy of the prior at the end, bits per token; null with no held-out window. */
  heldOutBits: Schema.NullOr(Schema.Number),
  /** Entropy of the training codes' unigram histogram, bits per token: what a prior that ignores context scores. */
  unigramBits: Schema.Number,
  /** The lyrics encoder's held-out cross-entropy, bits per character (top prior with lyrics). */
  heldOutLyricsBits: Schema.NullOr(Schema.Number),
  /** Training and held-out windows the data gave. */
  trainSongs: Schema.Int,
  heldOutWindows: Schema.Int,
})
export type PriorCheckpointConfig = typeof PriorCheckpointConfig.Type

/** A trained prior: `model.safetensors`, `optimizer.safetensors`, `config.json`, `metrics-*.parquet`. */
export const PriorCheckpoint = Checkpoint(PriorCheckpointConfig)

/** One training step's numbers; held-out figures are NaN on steps without an evaluation. */
export const PriorMetric = Schema.Struct({
  step: Col.int32,
  loss: Col.float32,
  priorBits: Col.float32,
  lyricsBits: Col.float32,
  heldOutBits: Col.float32,
  gradientNorm: Col.float32,
  learningRate: Col.float32,
  seconds: Col.float32,
})
export type PriorMetric = typeof PriorMetric.Type
