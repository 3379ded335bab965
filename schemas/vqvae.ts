/** VQ-VAE checkpoints and training metrics. */
import { Schema } from "effect"
import { Checkpoint, Col, Table } from "../runtime/index.ts"

/** What `config.json` of a VQ-VAE level's checkpoint says: enough to rebuild the model. */
export const VqvaeConfig = Schema.Struct({
  level: Schema.Int,
  sampleRate: Schema.Int,
  hop: Schema.Int,
  downs: Schema.Int,
  width: Schema.Int,
  depth: Schema.Int,
  residualWidth: Schema.Int,
  channels: Schema.Int,
  dilationGrowth: Schema.Int,
  dilationCycle: Schema.optional(Schema.Int),
  initScale: Schema.Number,
  codebookSize: Schema.Int,
  embeddingWidth: Schema.Int,
  emaDecay: Schema.Number,
  restartThreshold: Schema.Number,
  commitWeight: Schema.Number,
  /** Training steps taken. */
  steps: Schema.Int,
  seed: Schema.Int,
})
export type VqvaeConfig = typeof VqvaeConfig.Type

/** A trained level: `model.safetensors`, `optimizer.safetensors`, `config.json`, `metrics-*.parquet`. */
export const VqvaeCheckpoint = Checkpoint(VqvaeConfig)

/** One training step's numbers. */
export const TrainMetric = Schema.Struct({
  step: Col.int32,
  loss: Col.float32,
  l2: Col.float32,
  spectral: Col.float32,
  commit: Col.float32,
  usage: Col.int32,
  entropy: Col.float32,
  restarts: Col.int32,
  gradientNorm: Col.float32,
  learningRate: Col.float32,
  seconds: Col.float32,
})
export type TrainMetric = typeof TrainMetric.Type

/** The metrics table inside a checkpoint (`jukeflow inspect vqvae-top --sql "... FROM metrics"`). */
export const TrainMetrics = Table(TrainMetric)

/** What `evaluate` measured for one level. */
export const LevelEvaluation = Schema.Struct({
  level: Schema.Int,
  hop: Schema.Int,
  /** What the level's codes cost: codes per second × log2(codebook size). */
  bitrateKbps: Schema.Number,
  /** Spectral convergence on the held-out songs, in dB (lower is better); null with no held-out song. */
  spectralConvergenceDb: Schema.NullOr(Schema.Number),
  /** Opus at the same bitrate (raised to its 6 kb/s floor), when opus-tools are installed. */
  opusKbps: Schema.NullOr(Schema.Number),
  opusSpectralConvergenceDb: Schema.NullOr(Schema.Number),
  /** Distinct codes used over all songs, and the entropy of their histogram in bits. */
  codesUsed: Schema.Int,
  entropyBits: Schema.Number,
})

/** The evaluation of a VQ-VAE. */
export const Evaluation = Schema.Struct({
  heldOutSongs: Schema.Array(Schema.String),
  opus: Schema.String,
  levels: Schema.Array(LevelEvaluation),
})
export type Evaluation = typeof Evaluation.Type
