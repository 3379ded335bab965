/**
 * The attention-weights hook: the softmax weights each attention kind applies (non-negative, rows
 * summing to 1, zero where the kind does not look), which times the values give the layer's
 * attention output; a Transformer layer's weights recomputed by hand; the prior's lyric attention
 * (an encoder-decoder layer's weights), which leaves the forward pass unchanged.
 *
 *   npx vitest run test/models/attention-weights.test.ts
 */
import * as tf from "@tensorflow/tfjs-core"
import { beforeAll, describe, expect, it } from "vitest"
import { attends, attentionWeights, selfAttention, selfAttentionWeights, type SelfAttentionType } from "../../models/attention.ts"
import { matMul } from "../../models/ops.ts"
import { createPrior, withLyrics, type LyricsSurgery } from "../../models/prior.ts"
import { createTransformer, encoderDecoderLayers, layerTypes, type TransformerConfig } from "../../models/transformer.ts"
import { BACKENDS, expectClose, normal, onBackend, randomTokens, tinyPriors } from "./helpers.ts"

const SELF_TYPES: SelfAttentionType[] = ["dense", "row", "column", "previous-row"]

/** Every kind, an encoder-decoder layer first (its input is the embeddings: easy to redo by hand). */
const MIXED: TransformerConfig = {
  vocab: 12,
  contextLength: 24,
  width: 16,
  depth: 5,
  heads: 2,
  blockLength: 4,
  pattern: ["encoder-decoder", "row", "column", "previous-row", "dense"],
  initScale: 0.3,
  attentionMultiplier: 0.25,
  mlpMultiplier: 1,
  conditioning: true,
  encoderWidth: 6,
}

/** The tiny top prior of helpers.ts with a lyrics encoder over 12 characters and an encoder-decoder layer after the three. */
const { top: TOP } = tinyPriors({ initScale: 0.1, maxSeconds: 10 })
const LYRICS: LyricsSurgery = {
  lyrics: {
    encoder: { ...TOP.transformer, vocab: 12, contextLength: 12, width: 16, depth: 1, pattern: ["dense"], conditioning: false },
    lossFraction: 0.4,
  },
  depth: 5,
  pattern: ["encoder-decoder", "row", "column", "previous-row", "encoder-decoder"],
}
const CONDITIONS = { artist: [1, 3], genres: [[2], [1, 3]], total: [4, 7.5], offset: [0, 3] }

/** Rows of the last axis of `weights` (…, Tk) as arrays. */
const rowsOf = (weights: tf.Tensor): number[][] => {
  const keys = weights.shape.at(-1)!
  const values = Array.from(weights.dataSync())
  return Array.from({ length: values.length / keys }, (_, r) => values.slice(r * keys, (r + 1) * keys))
}

/** Every weight ≥ 0 and each row's sum 1, or 0 for rows `empty` says see no key. */
const expectDistributions = (weights: tf.Tensor, empty: (row: number) => boolean = () => false): void => {
  rowsOf(weights).forEach((row, r) => {
    expect(Math.min(...row)).toBeGreaterThanOrEqual(0)
    expect(row.reduce((a, w) => a + w, 0)).toBeCloseTo(empty(r) ? 0 : 1, 5)
  })
}

describe("attention weights", () => {
  describe.each(BACKENDS)("on %s", (backend) => {
    beforeAll(() => onBackend(backend))

    it("of an unmasked attention are softmax(q kᵀ / √dh), computed by hand", () => {
      const q = tf.tensor3d([[[1, 0], [0, 2]]]) // (1, 2, 2)
      const k = tf.tensor3d([[[1, 1], [0, 1], [2, 0]]]) // (1, 3, 2)
      const softmax = (scores: number[]) => scores.map((s) => Math.exp(s) / scores.reduce((a, t) => a + Math.exp(t), 0))
      const expected = [softmax([1, 0, 2].map((s) => s / Math.SQRT2)), softmax([2, 2, 0].map((s) => s / Math.SQRT2))]
      expectClose(attentionWeights(q, k).dataSync(), expected.flat(), 1e-6)
    })

    it.each(SELF_TYPES.flatMap((type) => [16, 14, 3].map((length) => ({ type, length }))))(
      "$type over $length positions (blocks of 4): zero exactly where the kind does not look, distributions elsewhere, and times v its output",
      ({ type, length }) => {
        const [q, k, v] = [1, 2, 3].map((seed) => normal([3, length, 5], seed) as tf.Tensor3D) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D]
        const weights = selfAttentionWeights(type, q, k, 4) // (3, T, T)
        expect(weights.shape).toEqual([3, length, length])
        const seesNothing = (i: number) => !Array.from({ length }, (_, j) => j).some((j) => attends(type, i, j, 4))
        rowsOf(weights).forEach((row, r) => row.forEach((w, j) => expect(w > 0, `row ${r}, key ${j}`).toBe(attends(type, r % length, j, 4))))
        expectDistributions(weights, (r) => seesNothing(r % length))
        expectClose(matMul(weights, v).dataSync(), selfAttention(type, q, k, v, 4).dataSync(), 1e-5)
      },
    )

    it("a Transformer's encoder-decoder layer: softmax(q kᵀ / √dh) per head, q from the layer-normed input embeddings, k from the context", () => {
      const model = createTransformer(MIXED, 3)
      const [batch, length, contextLength, width, heads] = [2, 9, 7, MIXED.width, MIXED.heads]
      const tokens = randomTokens(batch, length, MIXED.vocab, 4)
      const inputs = { conditioning: normal([batch, length, width], 5, 0.5) as tf.Tensor3D, encoderOutput: normal([batch, contextLength, 6], 6) as tf.Tensor3D }
      const weights = model.attentionWeights(tokens, 0, inputs)
      expect(weights.shape).toEqual([batch, heads, length, contextLength])
      expectDistributions(weights)

      const w = (name: string) => model.weights.get(name)!
      const embeddings = tf.concat([tf.tile(tf.reshape(w("start_embedding"), [1, 1, width]), [batch, 1, 1]), tf.gather(w("token_embedding.weight"), tf.slice(tokens, [0, 0], [batch, length - 1]))], 1)
      const x = tf.add(tf.add(embeddings, tf.slice(w("position_embedding"), [0, 0], [length, width])), inputs.conditioning)
      const { mean, variance } = tf.moments(x, -1, true)
      const normed = tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), w("blocks.0.ln_1.weight")), w("blocks.0.ln_1.bias"))
      const attention = 0.25 * width
      const q = tf.add(tf.matMul(tf.reshape(normed, [-1, width]), w("blocks.0.attn.q.weight") as tf.Tensor2D), w("blocks.0.attn.q.bias")) // (B·T, A)
      const kv = tf.add(tf.matMul(tf.reshape(inputs.encoderOutput, [-1, 6]), w("blocks.0.attn.kv.weight") as tf.Tensor2D), w("blocks.0.attn.kv.bias")) // (B·Tctx, 2A)
      const perHead = attention / heads
      const byHand = tf.stack(Array.from({ length: batch }, (_, b) => tf.stack(Array.from({ length: heads }, (_, h) => {
        const qh = tf.slice(q, [b * length, h * perHead], [length, perHead])
        const kh = tf.slice(kv, [b * contextLength, h * perHead], [contextLength, perHead])
        return tf.softmax(tf.div(tf.matMul(qh, kh, false, true), Math.sqrt(perHead)))
      }))))
      expectClose(weights.dataSync(), byHand.dataSync(), 1e-5)
    })

    it("a Transformer's self-attention layers show their kind's mask, run only the blocks before them, and leave forward unchanged", () => {
      const model = createTransformer(MIXED, 3)
      const length = 14
      const tokens = randomTokens(2, length, MIXED.vocab, 4)
      const inputs = { conditioning: normal([2, length, MIXED.width], 5, 0.5) as tf.Tensor3D, encoderOutput: normal([2, 7, 6], 6) as tf.Tensor3D }
      const before = model.forward(tokens, inputs).arraySync()
      const types = layerTypes(MIXED)
      const layers = types.map((_, layer) => model.attentionWeights(tokens, layer, inputs))
      for (const [layer, type] of types.entries()) {
        if (type === "encoder-decoder") continue
        const weights = layers[layer]!
        expect(weights.shape).toEqual([2, MIXED.heads, length, length])
        rowsOf(weights).forEach((row, r) => row.forEach((w, j) => expect(w > 0, `layer ${layer} (${type}), row ${r}, key ${j}`).toBe(attends(type, r % length, j, 4))))
        expectDistributions(weights, (r) => type === "previous-row" && r % length < 4)
      }
      expect(model.forward(tokens, inputs).arraySync()).toEqual(before)

      // changing layer 3's weights changes its attention, not layer 2's
      const qkv = model.weights.get("blocks.3.attn.qkv.weight")!
      qkv.assign(tf.mul(qkv, 2))
      expect(model.attentionWeights(tokens, 2, inputs).arraySync()).toEqual(layers[2]!.arraySync())
      expect(model.attentionWeights(tokens, 3, inputs).arraySync()).not.toEqual(layers[3]!.arraySync())
      expect(() => model.attentionWeights(tokens, 5, inputs)).toThrow(/layer 5 is not one of 0 … 4/)
    })

    it("a prior's lyric attention: (B, heads, T, Tl) distributions of the last encoder-decoder layer by default, forward unchanged", () => {
      const prior = createPrior(withLyrics(TOP, LYRICS), 7)
      expect(encoderDecoderLayers(prior.config.transformer)).toEqual([0, 4])
      const lyrics = tf.tensor2d([[3, 4, 5, 6, 3, 4, 5, 6, 3, 4, 0, 0], [7, 8, 9, 10, 11, 1, 7, 8, 9, 10, 11, 1]], [2, 12], "int32")
      const batch = { tokens: randomTokens(2, 16, 16, 8), lyrics, ...CONDITIONS }
      const before = prior.forward(batch).logits.arraySync()
      const last = prior.lyricAttention(batch)
      expect(last.shape).toEqual([2, 2, 16, 12])
      expectDistributions(last)
      expect(last.arraySync()).toEqual(prior.lyricAttention(batch, 4).arraySync())
      const inputs = tf.tidy(() => prior.condition(batch, 2, 16).inputs as tf.NamedTensorMap)
      expect(last.arraySync()).toEqual(prior.transformer.attentionWeights(batch.tokens, 4, inputs).arraySync())
      expect(prior.lyricAttention(batch, 0).arraySync()).not.toEqual(last.arraySync())
      expect(prior.forward(batch).logits.arraySync()).toEqual(before)

      expect(() => prior.lyricAttention(batch, 1)).toThrow(/layer 1 is not an encoder-decoder layer; those are 0, 4/)
      const { lyrics: _, ...withoutLyrics } = batch
      expect(() => createPrior(TOP, 7).lyricAttention(withoutLyrics)).toThrow(/reads no lyrics/)
    })
  })
})
