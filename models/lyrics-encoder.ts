/**
 * The lyrics encoder of the top prior (paper-notes "Lyrics conditioning"; the reference's
 * `prime_prior`): a causal Transformer over the lyric window's character ids with its own
 * next-character loss. Its final LayerNorm's output (B, Tl, We) is what the prior's
 * encoder-decoder layers attend to; its head predicts the characters from the same states (the
 * reference projects and layer-norms the last layer's activations, then feeds both from there).
 *
 * As in the reference, the state at character t has read characters 0 … t − 1: the last character of
 * the window is predicted but never read.
 */
import * as tf from "@tensorflow/tfjs-core"
import { crossEntropyBits } from "./transformer-train.ts"
import type { Transformer, TransformerConfig } from "./transformer.ts"

/** How the top prior reads lyrics. */
export interface LyricsConfig {
  /**
   * The encoder: vocab = the lyric characters (dataset/lyrics.ts, 0 unknown or padding),
   * contextLength = characters per window [512], no conditioning, no encoder-decoder layers.
   */
  readonly encoder: TransformerConfig
  /** Weight f of the lyrics loss [reference: 0.4]: loss = (T · prior + f · Tl · lyrics) / (T + Tl), as the reference. */
  readonly lossFraction: number
}

/** What the encoder makes of a lyric window. */
export interface EncodedLyrics {
  /** What the prior's encoder-decoder layers attend to: (B, Tl, We). */
  readonly states: tf.Tensor3D
  /** Next-character logits (B, Tl, vocab). */
  readonly logits: tf.Tensor3D
}

/** Lyric character ids (B, Tl) int32 → the encoder's states and its next-character logits. */
export const encodeLyrics = (encoder: Transformer, lyrics: tf.Tensor2D): EncodedLyrics => {
  const states = encoder.forwardHidden(lyrics)
  return { states, logits: encoder.head(states) }
}

/**
 * The lyrics loss, bits per character, counting only known characters: id 0 (unknown or the padding
 * of a short or instrumental window) is left out; 0 when a batch has none.
 */
export const lyricsBits = (logits: tf.Tensor3D, lyrics: tf.Tensor2D): tf.Scalar =>
  tf.tidy(() => crossEntropyBits(logits, lyrics, tf.cast(tf.greater(lyrics, 0), "float32") as tf.Tensor2D))

/** Throws unless `config` is an encoder: no conditioning, no encoder-decoder layers of its own. */
export const checkLyricsConfig = (config: LyricsConfig): void => {
  const { encoder } = config
  if (encoder.conditioning || encoder.pattern.includes("encoder-decoder")) {
    throw new RangeError("lyrics encoder: it takes neither a conditioning nor encoder-decoder layers")
  }
  if (!(config.lossFraction >= 0)) throw new RangeError(`lyrics encoder: lossFraction ${config.lossFraction} must be ≥ 0`)
}
