/**
 * The Transformer prior: each factorized attention equals dense attention under its mask, cached
 * sampling gives the full forward pass's logits, a tiny prior memorises a tiny token set, model
 * surgery with zero-initialised encoder-decoder layers changes nothing, gradients match finite
 * differences.
 *
 *   npx vitest run test/models/transformer.test.ts
 */
import * as tf from "@tensorflow/tfjs-core"
import { beforeAll, describe, expect, it } from "vitest"
import { createAdam } from "../../models/adam.ts"
import { attends, maskedAttention, selfAttention, visibility, type AttentionType, type SelfAttentionType } from "../../models/attention.ts"
import { crossEntropyBits, transformerTrainConfig, transformerTrainStep, type TransformerStepMetrics } from "../../models/transformer-train.ts"
import { addEncoderDecoderLayers, createTransformer, layerTypes, type TransformerConfig, type TransformerInputs } from "../../models/transformer.ts"
import { BACKENDS, expectClose, normal, onBackend, randomTokens, sampledLogits } from "./helpers.ts"

const SELF_TYPES: SelfAttentionType[] = ["dense", "row", "column", "previous-row"]

/** Width 16, 2 heads of width 2, blocks of 4 over a context of 24. */
const TINY: TransformerConfig = {
  vocab: 12,
  contextLength: 24,
  width: 16,
  depth: 2,
  heads: 2,
  blockLength: 4,
  pattern: ["row", "column", "previous-row"],
  initScale: 0.3,
  attentionMultiplier: 0.25,
  mlpMultiplier: 1,
  conditioning: false,
}

/** Every kind, encoder-decoder included, with a per-position conditioning. */
const MIXED: TransformerConfig = { ...TINY, depth: 5, pattern: ["row", "column", "dense", "encoder-decoder", "previous-row"], conditioning: true, encoderWidth: 6 }

const inputsFor = (config: TransformerConfig, batch: number, seed: number): TransformerInputs => ({
  ...(config.conditioning ? { conditioning: normal([batch, config.contextLength, config.width], seed, 0.5) as tf.Tensor3D } : {}),
  ...(config.pattern.includes("encoder-decoder") ? { encoderOutput: normal([batch, 7, config.encoderWidth!], seed + 1) as tf.Tensor3D } : {}),
})

describe("attention kinds", () => {
  it("see what the paper says: row within the block, column down the block position, previous-row the block before", () => {
    const pattern = (type: SelfAttentionType) =>
      Array.from({ length: 8 }, (_, i) => Array.from({ length: 8 }, (_, j) => (attends(type, i, j, 3) ? "x" : ".")).join(""))
    // blocks of 3: positions 0-2, 3-5, 6-7
    expect(pattern("row")).toEqual(["x.......", "xx......", "xxx.....", "...x....", "...xx...", "...xxx..", "......x.", "......xx"])
    expect(pattern("column")).toEqual(["x.......", ".x......", "..x.....", "x..x....", ".x..x...", "..x..x..", "x..x..x.", ".x..x..x"])
    expect(pattern("previous-row")).toEqual(["........", "........", "........", "xxx.....", "xxx.....", "xxx.....", "...xxx..", "...xxx.."])
    expect(pattern("dense")[7]).toBe("xxxxxxxx")
  })

  describe.each(BACKENDS)("on %s", (backend) => {
    beforeAll(() => onBackend(backend))

    it.each(SELF_TYPES.flatMap((type) => [16, 14, 3].map((length) => ({ type, length }))))(
      "$type over $length positions (blocks of 4) equals dense attention under its mask",
      ({ type, length }) => {
        const [q, k, v] = [1, 2, 3].map((seed) => normal([3, length, 5], seed) as tf.Tensor3D) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D]
        const positions = Array.from({ length }, (_, i) => i)
        const expected = maskedAttention(q, k, v, visibility(type, positions, positions, 4))
        const actual = selfAttention(type, q, k, v, 4)
        expect(actual.shape).toEqual([3, length, 5])
        expectClose(actual.dataSync(), expected.dataSync(), 1e-5)
        if (type === "previous-row") expect(Math.max(...Array.from(tf.slice(actual, [0, 0, 0], [3, Math.min(4, length), 5]).dataSync(), Math.abs))).toBe(0)
      },
    )
  })
})

describe("the Transformer on wasm", () => {
  beforeAll(() => onBackend("wasm"))

  it("names its weights like a state_dict, with the paper's widths and initial scales", () => {
    const model = createTransformer({ ...MIXED, width: 64, contextLength: 512, vocab: 256 }, 1)
    const shapes = Object.fromEntries([...model.weights].map(([name, w]) => [name, w.shape]))
    expect(layerTypes(MIXED)).toEqual(["row", "column", "dense", "encoder-decoder", "previous-row"])
    expect(shapes["token_embedding.weight"]).toEqual([256, 64])
    expect(shapes["position_embedding"]).toEqual([512, 64])
    expect(shapes["blocks.0.attn.qkv.weight"]).toEqual([64, 48]) // attention width 16 = 0.25 × 64, for q, k and v
    expect(shapes["blocks.0.attn.out.weight"]).toEqual([16, 64])
    expect(shapes["blocks.3.attn.q.weight"]).toEqual([64, 16])
    expect(shapes["blocks.3.attn.kv.weight"]).toEqual([6, 32])
    expect(shapes["blocks.4.mlp.fc.weight"]).toEqual([64, 64])
    expect(shapes["head.weight"]).toEqual([64, 256])
    const std = (name: string) => tf.tidy(() => Math.sqrt(tf.moments(model.weights.get(name)!).variance.dataSync()[0]!))
    expect(std("token_embedding.weight")).toBeCloseTo(0.3, 1)
    expect(std("position_embedding")).toBeCloseTo(0.6, 1)
    expect([...model.weights.get("blocks.1.ln_2.weight")!.dataSync()].every((g) => g === 1)).toBe(true)
    tf.dispose([...model.weights.values()])
  })

  it("refuses inputs its config does not ask for, and misses none it does", () => {
    const model = createTransformer(MIXED, 1)
    const tokens = randomTokens(2, 10, MIXED.vocab, 1)
    expect(() => model.forward(tokens, { encoderOutput: normal([2, 7, 6], 2) as tf.Tensor3D })).toThrow(/needs conditioning/)
    expect(() => model.forward(tokens, { conditioning: normal([2, 8, 16], 2) as tf.Tensor3D, encoderOutput: normal([2, 7, 6], 2) as tf.Tensor3D })).toThrow(/≥ 10/)
    expect(() => model.forward(tokens, { conditioning: normal([2, 24, 16], 2) as tf.Tensor3D })).toThrow(/needs encoderOutput/)
    expect(() => model.forward(randomTokens(1, 25, 12, 1), inputsFor(MIXED, 1, 3))).toThrow(/context is 1 to 24/)
  })

  it.each([...SELF_TYPES, "encoder-decoder"] as AttentionType[])(
    "%s: cached sampling, one token at a time or in chunks across blocks, gives the full forward's logits",
    (type) => {
      const config: TransformerConfig = { ...TINY, pattern: [type], ...(type === "encoder-decoder" ? { encoderWidth: 6 } : {}) }
      const model = createTransformer(config, 2)
      const inputs = inputsFor(config, 2, 4)
      const tokens = randomTokens(2, 22, config.vocab, 3) // 5½ blocks
      const full = model.forward(tokens, inputs)
      const before = tf.memory().numTensors
      for (const chunks of [[1], [3, 5, 1, 6, 2]]) {
        const sampled = sampledLogits(model.sampler(tokens.shape[0], inputs), tokens, chunks)
        expectClose(sampled.dataSync(), full.dataSync(), 1e-4)
        sampled.dispose()
      }
      expect(tf.memory().numTensors).toBe(before)
    },
  )

  it("a mixed model (every kind, conditioning, encoder-decoder) samples the full forward's logits, up to the whole context", () => {
    const model = createTransformer(MIXED, 3)
    const inputs = inputsFor(MIXED, 2, 5)
    for (const length of [24, 13]) {
      const tokens = randomTokens(2, length, MIXED.vocab, length)
      const full = model.forward(tokens, inputs)
      expect(full.shape).toEqual([2, length, MIXED.vocab])
      expectClose(sampledLogits(model.sampler(tokens.shape[0], inputs), tokens, [1]).dataSync(), full.dataSync(), 1e-4)
      expectClose(sampledLogits(model.sampler(tokens.shape[0], inputs), tokens, [4, 7]).dataSync(), full.dataSync(), 1e-4)
    }
    const sampler = model.sampler(2, inputs)
    expect(() => sampler.step(randomTokens(2, 1, 12, 1))).toThrow(/start\(\) before/)
    sampler.start()
    expect(() => sampler.step(randomTokens(2, 24, 12, 1))).toThrow(/past the context of 24/)
    sampler.dispose()
  })

  it("logits at a position do not depend on later tokens", () => {
    const model = createTransformer(MIXED, 4)
    const inputs = inputsFor(MIXED, 1, 6)
    const tokens = randomTokens(1, 20, MIXED.vocab, 7)
    const changed = tf.concat([tf.slice(tokens, [0, 0], [1, 11]), tf.fill([1, 9], 11, "int32")], 1) as tf.Tensor2D
    const [a, b] = [tokens, changed].map((t) => model.forward(t, inputs))
    // logits 0 … 11 see tokens 0 … 10 only
    expect(tf.slice(a!, [0, 0, 0], [1, 12, 12]).arraySync()).toEqual(tf.slice(b!, [0, 0, 0], [1, 12, 12]).arraySync())
    expect(tf.slice(a!, [0, 12, 0], [1, 8, 12]).arraySync()).not.toEqual(tf.slice(b!, [0, 12, 0], [1, 8, 12]).arraySync())
  })

  it("zero-initialised encoder-decoder layers added to a trained model leave its logits unchanged, and then learn", () => {
    const trained = createTransformer({ ...TINY, depth: 6 }, 5)
    const tokens = randomTokens(2, 22, TINY.vocab, 8)
    const config = transformerTrainConfig({ learningRate: 1e-2, warmupSteps: 1 })
    const optimizer = createAdam(trained.weights)
    for (let i = 0; i < 3; i++) transformerTrainStep(trained, optimizer, { tokens }, config)

    const lyrical: TransformerConfig = { ...TINY, depth: 8, pattern: ["row", "column", "previous-row", "encoder-decoder"], encoderWidth: 6 }
    const surgery = addEncoderDecoderLayers(trained, lyrical, 9)
    expect(layerTypes(surgery.config)).toEqual(["row", "column", "previous-row", "encoder-decoder", "row", "column", "previous-row", "encoder-decoder"])
    const inputs = inputsFor(lyrical, 2, 10)
    const before = trained.forward(tokens)
    expect(surgery.forward(tokens, inputs).arraySync()).toEqual(before.arraySync())
    expectClose(sampledLogits(surgery.sampler(tokens.shape[0], inputs), tokens, [5]).dataSync(), before.dataSync(), 1e-4)

    transformerTrainStep(surgery, createAdam(surgery.weights), { tokens, inputs: () => inputs }, config)
    expect(Math.max(...Array.from(surgery.weights.get("blocks.3.attn.out.weight")!.dataSync(), Math.abs))).toBeGreaterThan(0)
    expect(() => addEncoderDecoderLayers(trained, { ...lyrical, pattern: ["row", "encoder-decoder", "previous-row"] }, 9)).toThrow(/not \[row, column/)
  })

  it("counts cross-entropy in bits per token, leaving out masked tokens", () => {
    const logits = tf.tensor3d([[[0, 0, 0, 0], [Math.log(3), 0, 0, 0]]]) // uniform over 4: 2 bits; then p(token 0) = 1/2: 1 bit
    const tokens = tf.tensor2d([[2, 0]], undefined, "int32")
    expect(crossEntropyBits(logits, tokens).dataSync()[0]).toBeCloseTo(1.5, 5)
    expect(crossEntropyBits(logits, tokens, tf.tensor2d([[0, 1]])).dataSync()[0]).toBeCloseTo(1, 5)
  })

  it("has the gradients of its finite differences", () => {
    const model = createTransformer({ ...MIXED, depth: 5 }, 6)
    const inputs = inputsFor(MIXED, 2, 11)
    const tokens = randomTokens(2, 18, MIXED.vocab, 12)
    const loss = () => crossEntropyBits(model.forward(tokens, inputs), tokens)
    const names = ["blocks.0.attn.qkv.weight", "blocks.1.attn.qkv.weight", "blocks.3.attn.kv.weight", "blocks.4.attn.qkv.weight", "position_embedding", "token_embedding.weight"]
    const variables = names.map((name) => model.weights.get(name)!)
    const { grads } = tf.variableGrads(loss, variables)
    for (const variable of variables) {
      const analytic = grads[variable.name]!.dataSync()
      const values = variable.dataSync().slice()
      // the three largest entries of the gradient, each by a central difference in float32
      const largest = Array.from(analytic.keys()).sort((a, b) => Math.abs(analytic[b]!) - Math.abs(analytic[a]!)).slice(0, 3)
      for (const index of largest) {
        const at = (delta: number) => {
          const moved = values.slice()
          moved[index] = values[index]! + delta
          variable.assign(tf.tensor(moved, variable.shape))
          return loss().dataSync()[0]!
        }
        const numeric = (at(1e-2) - at(-1e-2)) / 2e-2
        variable.assign(tf.tensor(values, variable.shape))
        expect(Math.abs(numeric - analytic[index]!), variable.name).toBeLessThan(0.02 * Math.abs(analytic[index]!) + 1e-3)
      }
    }
  })
})

describe("training a tiny prior on wasm", () => {
  beforeAll(() => onBackend("wasm"))

  it("memorises two sequences of 32 tokens: under 0.1 bits per token, without leaking tensors", () => {
    // the first token cannot tell the two sequences apart: 1 bit of 32 is the floor
    const config: TransformerConfig = { ...TINY, vocab: 16, contextLength: 32, width: 32, depth: 3, heads: 2, blockLength: 8, initScale: 0.1 }
    const model = createTransformer(config, 7)
    const tokens = randomTokens(2, 32, 16, 13)
    const optimizer = createAdam(model.weights)
    const train = transformerTrainConfig({ learningRate: 1e-2, warmupSteps: 10, clipNorm: 1 })
    const metrics: TransformerStepMetrics[] = [transformerTrainStep(model, optimizer, { tokens }, train)]
    const tensors = tf.memory().numTensors
    while (metrics.length < 300 && metrics.at(-1)!.loss >= 0.1) metrics.push(transformerTrainStep(model, optimizer, { tokens }, train))
    expect(tf.memory().numTensors).toBe(tensors)
    console.log(`tiny prior: ${metrics[0]!.loss.toFixed(2)} → ${metrics.at(-1)!.loss.toFixed(3)} bits/token in ${metrics.length} steps`)
    expect(metrics[0]!.loss).toBeCloseTo(4, 0) // log2(16) at initialisation
    expect(metrics.at(-1)!.loss).toBeLessThan(0.1)
    expect(metrics.every((m) => Number.isFinite(m.gradientNorm))).toBe(true)
  })
})
