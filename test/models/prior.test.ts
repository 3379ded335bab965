/**
 * The priors' conditioning: the upsampler conditioner's length and gradients, labels reaching the
 * logits only through the start slot, label mixes (plain labels unchanged, 50/50 the mean), timing
 * buckets at their edges, a tiny prior learning what the artist label tells, model surgery adding
 * lyrics without changing the logits, the lyrics loss falling, cached sampling of a conditioned
 * prior, parameter counts.
 *
 *   npx vitest run test/models/prior.test.ts
 */
import * as tf from "@tensorflow/tfjs-core"
import { beforeAll, describe, expect, it } from "vitest"
import { createAdam } from "../../models/adam.ts"
import { timingBin, timingBins, upsamplerConditioner } from "../../models/conditioning.ts"
import { lyricsBits } from "../../models/lyrics-encoder.ts"
import { Parameters } from "../../models/parameters.ts"
import { addLyrics, createPrior, priorParameterCount, priorTrainStep, withLyrics, type LyricsSurgery, type Prior, type PriorConfig } from "../../models/prior.ts"
import { DEMO_LYRICS, DEMO_PRIORS, JUKEBOX_LYRICS, JUKEBOX_PRIORS } from "../../models/prior-presets.ts"
import { seededRandom } from "../../models/random.ts"
import { crossEntropyBits, transformerTrainConfig } from "../../models/transformer-train.ts"
import { expectClose, normal, onBackend, randomTokens, sampledLogits, tinyPriors } from "./helpers.ts"

/** The tiny top prior and upsampler of helpers.ts (initial weights N(0, 0.1²), timing up to 10 s). */
const { top: TOP, lower: LOWER } = tinyPriors({ initScale: 0.1, maxSeconds: 10 })

/** A lyrics encoder of one dense layer over 12 characters of 12 kinds, an encoder-decoder layer after the three. */
const LYRICS: LyricsSurgery = {
  lyrics: {
    encoder: { ...TOP.transformer, vocab: 12, contextLength: 12, width: 16, depth: 1, pattern: ["dense"], conditioning: false },
    lossFraction: 0.4,
  },
  depth: 4,
  pattern: ["row", "column", "previous-row", "encoder-decoder"],
}

const TIMING = { total: [4, 7.5], offset: [0, 3] }
const LABELS = { artist: [1, 3], genres: [[2], [1, 3]] }

const rows = (t: tf.Tensor, from: number, count: number): number[] => Array.from(tf.slice(t, [0, from, 0], [t.shape[0]!, count, t.shape[2]!]).dataSync())

describe("conditioning", () => {
  beforeAll(() => onBackend("wasm"))

  it.each([[[2]], [[4]], [[2, 2]], [[8]], [[2, 2, 2]]])(
    "the upsampler conditioner with strides %j gives the lower window's length, non-causally, and passes gradients to every weight",
    (strides) => {
      const ratio = strides.reduce((a, s) => a * s, 1)
      const p = new Parameters(seededRandom(1), 0.3)
      const conditioner = upsamplerConditioner(p, "conditioner", { upperVocab: 16, strides, width: 8, depth: 2, dilationGrowth: 3, initScale: 0.3 }, 12, 0.3)
      const upper = randomTokens(2, 32 / ratio, 16, 2) // the codes above a lower window of 32 tokens
      const out = conditioner(upper)
      expect(out.shape).toEqual([2, 32, 12])
      // position 0 sees the second upper code: the stack looks both ways
      const changed = tf.tensor2d((upper.arraySync() as number[][]).map(([code, ...later]) => [code!, ...later.map((c) => 15 - c)]), upper.shape, "int32")
      expect(rows(conditioner(changed), 0, 1)).not.toEqual(rows(out, 0, 1))
      const { grads } = tf.variableGrads(() => tf.sum(tf.mul(conditioner(upper), normal([2, 32, 12], 3))) as tf.Scalar, [...p.variables.values()])
      for (const [name, weight] of p.variables) expect(tf.norm(grads[weight.name]!).dataSync()[0], name).toBeGreaterThan(0)
    },
  )

  it("refuses odd strides", () => {
    const p = new Parameters(seededRandom(1), 0.3)
    expect(() => upsamplerConditioner(p, "c", { upperVocab: 4, strides: [3], width: 4, depth: 1, dilationGrowth: 3, initScale: 0.1 }, 8, 0.1)).toThrow(/even/)
  })

  it("buckets timing like the reference: [min, max) in equal buckets, values outside clamped to the end ones", () => {
    expect([2, 2.999, 3, 9.999, 10, 50, 1, -1].map((seconds) => timingBin(seconds, 2, 10, 8))).toEqual([0, 0, 1, 7, 7, 7, 0, 0])
    expect([0, 0.125, 0.4999, 0.5, 0.99, 1, 1.2].map((fraction) => timingBin(fraction, 0, 1, 8))).toEqual([0, 1, 3, 4, 7, 7, 7])
    // a 4 s song from 3 s: positions at 3, 3.25, 3.5, 3.75, 4 s
    const bins = timingBins(TOP.timing!, [4], [3], 5, 0.25)
    expect(Array.from(bins.total)).toEqual([2])
    expect(Array.from(bins.time)).toEqual([2, 2, 2, 3, 3])
    expect(Array.from(bins.fraction)).toEqual([6, 6, 7, 7, 7])
  })

  it("adds the timing embeddings of those buckets to every position", () => {
    const prior = createPrior({ ...TOP, labels: undefined }, 1)
    const conditioning = tf.tidy(() => prior.condition({ total: [4], offset: [3] }, 1, 5).inputs.conditioning!)
    const table = (name: string) => prior.weights.get(`timing.${name}.weight`)!
    const expected = tf.tidy(() => {
      const pick = (name: string, ids: number[]) => tf.gather(table(name), tf.tensor1d(ids, "int32"))
      return tf.addN([pick("total", [2, 2, 2, 2, 2]), pick("time", [2, 2, 2, 3, 3]), pick("fraction", [6, 6, 7, 7, 7])])
    })
    expectClose(conditioning.dataSync(), expected.dataSync(), 1e-6)
    expect(() => prior.condition({ total: [0], offset: [0] }, 1, 5)).toThrow(/length of 0 s/)
  })

  it("labels change the logits only through the start slot of the conditioning", () => {
    const prior = createPrior(TOP, 2)
    const tokens = randomTokens(2, 16, 16, 3)
    const other = { ...LABELS, artist: [2, 4], genres: [[3], [1, 3, 0]] }
    const [a, b] = [LABELS, other].map((labels) => tf.tidy(() => prior.condition({ ...labels, ...TIMING }, 2, 16).inputs.conditioning!))
    expect(rows(a!, 1, 15)).toEqual(rows(b!, 1, 15)) // timing only, the same
    expect(rows(a!, 0, 1)).not.toEqual(rows(b!, 0, 1))
    const logits = prior.forward({ tokens, ...LABELS, ...TIMING }).logits
    expect(logits.arraySync()).toEqual(prior.transformer.forward(tokens, { conditioning: a! }).arraySync())
    expect(logits.arraySync()).not.toEqual(prior.forward({ tokens, ...other, ...TIMING }).logits.arraySync())
    // genre 0 pads a bag; a bag is a sum
    const padded = tf.tidy(() => prior.condition({ artist: [1, 3], genres: [[2, 0], [3, 1]], ...TIMING }, 2, 16).inputs.conditioning!)
    expectClose(padded.dataSync(), a!.dataSync(), 1e-6)
    expect(() => prior.forward({ tokens, artist: [1, 5], ...TIMING })).toThrow(/artist id 5 is outside 0 … 4/)
    expect(() => prior.forward({ tokens, artist: [1, 2] })).toThrow(/total is needed/)
  })
  it("label mixes: a plain label bit for bit as before, weight 1 on one id the plain label, 50/50 the mean of the two rows", () => {
    const prior = createPrior(TOP, 2)
    const row0 = (labels: object) => tf.tidy(() => tf.slice(prior.condition({ ...labels, ...TIMING }, 2, 16).inputs.conditioning!, [0, 0, 0], [2, 1, 32]).dataSync())
    const timingRow0 = row0({ artistMix: [[], []] }) // timing alone: no artist, no genre weighs anything
    const table = (name: string) => prior.weights.get(`labels.${name}.weight`)!
    // the embedding before mixes existed: artist row + Σ genre rows, added to the timing
    const before = tf.tidy(() => {
      const pick = (name: string, ids: number[]) => tf.gather(table(name), tf.tensor1d(ids, "int32"))
      const genres = tf.stack([tf.sum(pick("genre", [2]), 0), tf.sum(pick("genre", [1, 3]), 0)])
      return tf.add(tf.add(pick("artist", [1, 3]), genres), tf.tensor2d(timingRow0, [2, 32])).dataSync()
    })
    const plain = row0(LABELS)
    expect(plain).toEqual(before)
    expect(row0({ artistMix: [[[1, 1]], [[3, 1]]], genreMix: [[[2, 1]], [[1, 1], [3, 1], [0, 5]]] })).toEqual(plain)
    expect(row0({ ...LABELS, artistMix: [[[1, 1]], [[3, 1]]] })).toEqual(plain) // a mix replaces `artist`
    const half = row0({ artistMix: [[[1, 0.5], [2, 0.5]], [[3, 0.5], [4, 0.5]]], genres: LABELS.genres })
    const [a, b] = [[1, 3], [2, 4]].map((artist) => row0({ artist, genres: LABELS.genres }))
    expectClose(half, Float32Array.from(a!, (x, i) => (x + b![i]!) / 2), 1e-6)
    expect(() => row0({ artistMix: [[[5, 1]], [[1, 1]]] })).toThrow(/artistMix id 5 is outside 0 … 4/)
    expect(() => row0({ artistMix: [[[1, 1]]] })).toThrow(/1 artistMix values for 2 sequences/)
    expect(() => row0({ artistMix: [[[1, NaN]], [[1, 1]]] })).toThrow(/weight NaN/)
  })
})

describe("training conditioned priors on wasm", () => {
  beforeAll(() => onBackend("wasm"))

  it("a tiny prior learns what the artist label tells: the first token, which no earlier token can give away", () => {
    // four artists, each with its own sequence of 8 tokens; without the label, the first token costs 2 bits
    const config: PriorConfig = {
      hopLength: 1,
      sampleRate: 1,
      transformer: { ...TOP.transformer, vocab: 8, contextLength: 8, depth: 2, pattern: ["row", "column"] },
      labels: { artists: 5, genres: 1 },
    }
    const random = seededRandom(4)
    const sequences = [1, 2, 3, 4].flatMap((a) => [2 * a - 2, ...Array.from({ length: 7 }, () => random.int(8))])
    const tokens = tf.tensor2d(sequences, [4, 8], "int32")
    const first = tf.tile(tf.tensor2d([1, 0, 0, 0, 0, 0, 0, 0], [1, 8]), [4, 1]) as tf.Tensor2D
    const train = transformerTrainConfig({ learningRate: 1e-2, warmupSteps: 10 })
    const trainOn = (artist: number[]) => {
      const prior = createPrior(config, 5)
      const optimizer = createAdam(prior.weights)
      let bits = Infinity
      for (let step = 0; step < 120 && bits > 0.02; step++) bits = priorTrainStep(prior, optimizer, { tokens, artist }, train).priorBits
      const firstBits = tf.tidy(() => crossEntropyBits(prior.forward({ tokens, artist }).logits, tokens, first).dataSync()[0]!)
      return { bits, firstBits }
    }
    const labelled = trainOn([1, 2, 3, 4])
    const unlabelled = trainOn([0, 0, 0, 0])
    console.log(`artist-dependent tokens: ${labelled.bits.toFixed(3)} bits/token with labels (first token ${labelled.firstBits.toFixed(2)}), ${unlabelled.bits.toFixed(3)} without (${unlabelled.firstBits.toFixed(2)})`)
    expect(labelled.bits).toBeLessThan(0.05)
    expect(labelled.firstBits).toBeLessThan(0.3)
    expect(unlabelled.bits).toBeGreaterThan(0.2) // 2 bits of 8 tokens is the floor
    expect(unlabelled.firstBits).toBeGreaterThan(1.5)
  })

  it("surgery: lyrics layers added to a trained top prior leave its logits unchanged, then the lyrics loss falls and the logits move", () => {
    const trained = createPrior(TOP, 6)
    const tokens = randomTokens(2, 16, 16, 7)
    const train = transformerTrainConfig({ learningRate: 1e-2, warmupSteps: 1 })
    const optimizer = createAdam(trained.weights)
    for (let i = 0; i < 3; i++) priorTrainStep(trained, optimizer, { tokens, ...LABELS, ...TIMING }, train)

    const lyrical = addLyrics(trained, LYRICS, 8)
    expect(lyrical.config.transformer.pattern).toEqual(LYRICS.pattern)
    expect(lyrical.weights.get("labels.artist.weight")!.arraySync()).toEqual(trained.weights.get("labels.artist.weight")!.arraySync())
    // character 0 (unknown or padding) is left out of the lyrics loss
    const lyrics = tf.tensor2d([[3, 4, 5, 6, 3, 4, 5, 6, 3, 4, 0, 0], [7, 8, 9, 10, 11, 1, 7, 8, 9, 10, 11, 1]], [2, 12], "int32")
    const batch = { tokens, lyrics, ...LABELS, ...TIMING }
    const before = trained.forward({ tokens, ...LABELS, ...TIMING }).logits
    expect(lyrical.forward(batch).logits.arraySync()).toEqual(before.arraySync())
    expectClose(sampledLogits(lyrical.sampler(2, batch), tokens, [5]).dataSync(), before.dataSync(), 1e-4)
    expect(() => addLyrics(lyrical, LYRICS, 8)).toThrow(/already reads lyrics/)

    const lyricOptimizer = createAdam(lyrical.weights)
    const steps = Array.from({ length: 40 }, () => priorTrainStep(lyrical, lyricOptimizer, batch, train))
    const [start, end] = [steps[0]!, steps.at(-1)!]
    console.log(`lyrics: ${start.lyricsBits!.toFixed(2)} → ${end.lyricsBits!.toFixed(2)} bits/char, prior ${start.priorBits.toFixed(2)} → ${end.priorBits.toFixed(2)} bits/token in 40 steps`)
    expect(start.loss).toBeCloseTo((16 * start.priorBits + 0.4 * 12 * start.lyricsBits!) / (16 + 12), 5)
    expect(start.lyricsBits).toBeGreaterThan(3) // about log2(12) at initialisation
    expect(end.lyricsBits).toBeLessThan(start.lyricsBits! / 2)
    expect(Math.max(...Array.from(lyrical.weights.get("prior.blocks.3.attn.out.weight")!.dataSync(), Math.abs))).toBeGreaterThan(0)
    expect(lyrical.forward(batch).logits.arraySync()).not.toEqual(before.arraySync())
    expect(Math.abs(lyricsBits(tf.zeros([1, 3, 12]), tf.zeros([1, 3], "int32")).dataSync()[0]!)).toBe(0)
  })

  it("an upsampler's cached sampler, its conditioning computed once, gives the forward pass's logits without leaking tensors", () => {
    const prior = createPrior(LOWER, 9)
    const tokens = randomTokens(2, 14, 16, 10)
    const upper = randomTokens(2, 4, 16, 11) // 16 positions' worth: the sampler may run up to the context
    const batch = { tokens, upper, ...LABELS }
    const full = prior.forward(batch).logits
    const tensors = tf.memory().numTensors
    for (const chunks of [[1], [3, 6]]) {
      const sampled = sampledLogits(prior.sampler(2, batch), tokens, chunks)
      expectClose(sampled.dataSync(), full.dataSync(), 1e-4)
      sampled.dispose()
    }
    expect(tf.memory().numTensors).toBe(tensors)
    expect(() => prior.forward({ ...batch, upper: randomTokens(2, 3, 16, 1) })).toThrow(/≥ 4\] \(14 tokens ÷ 4\)/)
    expect(() => prior.forward({ tokens, ...LABELS })).toThrow(/needs upper-level codes/)
    const metrics = priorTrainStep(prior, createAdam(prior.weights), batch, transformerTrainConfig())
    expect(metrics.lyricsBits).toBeUndefined()
    expect(metrics.loss).toBe(metrics.priorBits)
  })
})

describe("prior weights and presets", () => {
  beforeAll(() => onBackend("wasm"))

  it("names every weight under its part's prefix, and counts them without building", () => {
    const built: Prior[] = [createPrior(withLyrics(TOP, LYRICS), 1), createPrior(LOWER, 1)]
    const shapes = Object.fromEntries(built.flatMap((prior) => [...prior.weights].map(([name, w]) => [name, w.shape])))
    expect(shapes["prior.token_embedding.weight"]).toEqual([16, 32])
    expect(shapes["prior.blocks.3.attn.kv.weight"]).toEqual([16, 16])
    expect(shapes["labels.artist.weight"]).toEqual([5, 32])
    expect(shapes["labels.genre.weight"]).toEqual([4, 32])
    expect(shapes["timing.fraction.weight"]).toEqual([8, 32])
    expect(shapes["lyrics_encoder.head.weight"]).toEqual([16, 12])
    expect(shapes["conditioner.embedding.weight"]).toEqual([16, 32])
    expect(shapes["conditioner.in.weight"]).toEqual([3, 32, 8])
    expect(shapes["conditioner.blocks.1.res.1.conv3.weight"]).toEqual([3, 8, 8])
    expect(shapes["conditioner.blocks.1.up.weight"]).toEqual([4, 8, 32])
    expect(shapes["conditioner.ln.bias"]).toEqual([32])
    for (const prior of built) expect(priorParameterCount(prior.config)).toBe([...prior.weights.values()].reduce((n, w) => n + w.size, 0))
    tf.dispose(built.flatMap((prior) => [...prior.weights.values()]))
  })

  it("has the demo's sizes and the paper's parameter counts: 5B top prior, 1B upsamplers", () => {
    for (const config of [...Object.values(DEMO_PRIORS), withLyrics(DEMO_PRIORS.top, DEMO_LYRICS)]) {
      const { contextLength, blockLength, width } = config.transformer
      expect(contextLength % blockLength).toBe(0)
      expect(width).toBeGreaterThanOrEqual(64)
      expect(width).toBeLessThanOrEqual(128)
    }
    const counts = {
      top: priorParameterCount(JUKEBOX_PRIORS.top),
      lyrics: priorParameterCount(withLyrics(JUKEBOX_PRIORS.top, JUKEBOX_LYRICS)),
      middle: priorParameterCount(JUKEBOX_PRIORS.middle),
    }
    console.log(`paper priors: top ${(counts.top / 1e9).toFixed(2)}B, with lyrics ${(counts.lyrics / 1e9).toFixed(2)}B, upsampler ${(counts.middle / 1e9).toFixed(2)}B parameters; demo: ${Object.values(DEMO_PRIORS).map((c) => `${(priorParameterCount(c) / 1e6).toFixed(2)}M`).join(", ")}`)
    expect(counts.top / 1e9).toBeCloseTo(5, 0)
    expect(counts.middle / 1e9).toBeCloseTo(1, 0)
    expect(JUKEBOX_LYRICS.pattern.filter((type) => type === "encoder-decoder")).toHaveLength(7)
  })
})
