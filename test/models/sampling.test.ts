/**
 * Sampling: top-k and top-p never choosing a filtered token, the token choice without a full sort
 * choosing exactly what the sorting one did for the same uniform, greedy choice following the forward
 * pass's argmax, seeded windows the same on every backend, primed windows keeping their prefix,
 * windowed levels keeping every overlap and ending right-aligned, upsamplers reading their span of
 * the upper codes, a label schedule switching labels by window start, no leaked tensors.
 *
 *   npx vitest run test/models/sampling.test.ts
 */
import * as tf from "@tensorflow/tfjs-core"
import { beforeAll, describe, expect, it } from "vitest"
import { createPrior } from "../../models/prior.ts"
import { seededRandom } from "../../models/random.ts"
import { chooseToken, labelSchedule, levelWindows, sampleAncestral, sampleLevel, sampleWindow, type WindowSpan } from "../../models/sampling.ts"
import { expectClose, onBackend, sampledLogits, tinyPriors } from "./helpers.ts"

/** The tiny top prior and upsampler of helpers.ts (initial weights N(0, 0.5²), timing up to 20 s). */
const { top: TOP, lower: LOWER } = tinyPriors({ initScale: 0.5, maxSeconds: 20 })

const LABELS = { artist: [1, 3], genres: [[2], [1, 3]] }
const TOP_CONDITIONS = { ...LABELS, total: [12, 12], offset: [0, 0] }

/** Row b of codes (B, width) row-major. */
const row = (codes: Int32Array, width: number, b: number): number[] => Array.from(codes.subarray(b * width, (b + 1) * width))
const columns = (codes: Int32Array, batch: number, width: number, from: number, count: number): Int32Array =>
  Int32Array.from({ length: batch * count }, (_, i) => codes[Math.floor(i / count) * width + from + (i % count)]!)

describe("token choice", () => {
  const logits = [0.5, 3, -1, 2.9, 2, -4, 1, 2.5] // by likelihood: 1, 3, 7, 4, 6, 0, 2, 5

  it("takes the argmax at temperature 0 or top-k 1, and never a token top-k or top-p filtered out", () => {
    const random = seededRandom(1)
    expect(chooseToken(logits, { temperature: 0 }, random)).toBe(1)
    const drawn = (choice: Parameters<typeof chooseToken>[1]) => new Set(Array.from({ length: 2000 }, () => chooseToken(logits, choice, random)))
    expect([...drawn({ topK: 1 })]).toEqual([1])
    expect([...drawn({ topK: 3 })].sort()).toEqual([1, 3, 7])
    // probabilities ≈ .32, .29, .19, .12, …: the nucleus of 0.6 is the first two, of 0.7 the first three
    expect([...drawn({ topP: 0.6 })].sort()).toEqual([1, 3])
    expect([...drawn({ topP: 0.7 })].sort()).toEqual([1, 3, 7])
    expect([...drawn({ topK: 2, topP: 0.99 })].sort()).toEqual([1, 3])
    expect(drawn({}).size).toBe(8)
    expect(() => chooseToken(logits, { topP: 0 }, random)).toThrow(/top-p/)
  })
})

/** chooseToken as it was, sorting every candidate: the new one must choose exactly what it chose for the same uniform. */
const sortingChoice = (logits: ArrayLike<number>, choice: { temperature?: number; topK?: number; topP?: number }, u: number): number => {
  const { temperature = 1, topK = 0, topP = 1 } = choice
  const order = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[b]! - logits[a]! || a - b)
  if (temperature === 0) return order[0]!
  const kept = topK > 0 ? order.slice(0, topK) : order
  const top = logits[kept[0]!]!
  const weights = kept.map((i) => Math.exp((logits[i]! - top) / temperature))
  let count = weights.length
  if (topP < 1) {
    const sum = weights.reduce((a, w) => a + w, 0)
    let reached = 0
    for (count = 0; count < weights.length && reached < topP * sum; count++) reached += weights[count]!
  }
  const total = weights.slice(0, count).reduce((a, w) => a + w, 0)
  let left = u * total
  for (let i = 0; i < count - 1; i++) {
    left -= weights[i]!
    if (left < 0) return kept[i]!
  }
  return kept[count - 1]!
}

describe("token choice, fast", () => {
  it("chooses exactly the token the sorting choice chose, for every choice and uniform", () => {
    const random = seededRandom(11)
    const fixed = (u: number) => ({ uniform: () => u, normal: () => 0, int: () => 0 })
    let compared = 0
    for (let trial = 0; trial < 400; trial++) {
      const vocab = [1, 2, 7, 64, 256][trial % 5]!
      // float32 logits, some with ties (a few distinct values), some spread
      const levels = trial % 3 === 0 ? 3 : 1000
      const logits = Float32Array.from({ length: vocab }, () => Math.round(random.normal() * levels) / (levels / 4))
      const choices = [
        { temperature: 0 }, {}, { temperature: 0.7 }, { temperature: 1.3, topK: Math.min(vocab, 1 + random.int(vocab)) },
        { topP: 0.1 + 0.9 * random.uniform() }, { temperature: 0.9, topK: Math.min(vocab, 5), topP: 0.8 }, { topK: vocab },
      ]
      for (const choice of choices) {
        for (const u of [0, 1 - 2 ** -53, random.uniform(), random.uniform(), random.uniform(), random.uniform()]) {
          expect(chooseToken(logits, choice, fixed(u)), JSON.stringify({ trial, choice, u })).toBe(sortingChoice(logits, choice, u))
          compared++
        }
      }
    }
    expect(compared).toBe(400 * 7 * 6)
  })
})

describe("sampling a window", () => {
  beforeAll(() => onBackend("wasm"))

  it("gives the same codes for the same seed on every backend, others for another seed, and keeps a prefix", async () => {
    const options = { batch: 2, length: 16, temperature: 1, seed: 7 }
    const prefix = Int32Array.from([3, 1, 4, 1, 5, 9, 2, 6])
    const sample = (seed: number) => {
      const prior = createPrior(TOP, 3)
      return sampleWindow(prior, TOP_CONDITIONS, { ...options, seed, prefix })
    }
    const wasm = sample(7)
    expect(sample(7)).toEqual(wasm)
    expect(sample(8)).not.toEqual(wasm)
    expect(row(wasm, 16, 0).slice(0, 4)).toEqual([3, 1, 4, 1])
    expect(row(wasm, 16, 1).slice(0, 4)).toEqual([5, 9, 2, 6])
    await onBackend("cpu")
    try {
      expect(sample(7)).toEqual(wasm)
    } finally {
      await onBackend("wasm")
    }
  })

  it("greedy sampling follows the forward pass's argmax, and the cached logits of the primed window are the forward pass's", () => {
    const prior = createPrior(TOP, 5)
    const prefix = Int32Array.from([2, 7, 0, 11, 4, 4])
    const codes = sampleWindow(prior, TOP_CONDITIONS, { batch: 2, length: 12, topK: 1, seed: 1, prefix })
    expect(sampleWindow(prior, TOP_CONDITIONS, { batch: 2, length: 12, temperature: 0, seed: 2, prefix })).toEqual(codes)
    tf.tidy(() => {
      const tokens = tf.tensor2d(codes, [2, 12], "int32")
      const forward = prior.forward({ ...TOP_CONDITIONS, tokens }).logits
      const argmax = tf.argMax(forward, 2).dataSync()
      for (let b = 0; b < 2; b++) for (let t = 3; t < 12; t++) expect(argmax[b * 12 + t]).toBe(codes[b * 12 + t])
      const cached = sampledLogits(prior.sampler(2, TOP_CONDITIONS), tokens, [3, 1])
      expectClose(cached.dataSync(), forward.dataSync(), 1e-4)
    })
  })

  it("reports progress and leaks no tensors", () => {
    const prior = createPrior(TOP, 3)
    const tensors = tf.memory().numTensors
    const progress: number[] = []
    sampleWindow(prior, TOP_CONDITIONS, { batch: 2, length: 10, seed: 1, prefix: Int32Array.from([1, 2]), onProgress: (done, total) => progress.push(done / total) })
    expect(tf.memory().numTensors).toBe(tensors)
    expect(progress).toEqual(Array.from({ length: 9 }, (_, i) => (i + 1) / 9))
    expect(() => sampleWindow(prior, TOP_CONDITIONS, { batch: 2, length: 4, seed: 1, prefix: Int32Array.from([1, 2, 3]) })).toThrow(/whole rows/)
  })
})

describe("sampling a level", () => {
  beforeAll(() => onBackend("wasm"))

  it("places windows every hop, the last right-aligned", () => {
    expect(levelWindows(36, 16, 8).map((w) => w.start)).toEqual([0, 8, 16, 20])
    expect(levelWindows(40, 16, 8).map((w) => w.start)).toEqual([0, 8, 16, 24])
    expect(levelWindows(10, 16, 8)).toEqual([{ index: 0, start: 0, length: 10 }])
  })

  it("keeps the prefix and every overlap, each window its own stream and timing offset, without leaking tensors", () => {
    const prior = createPrior(TOP, 3)
    const prefix = Int32Array.from([1, 2, 3, 4, 5, 6])
    const seen: WindowSpan[] = []
    const conditionsFor = (window: WindowSpan) => (seen.push(window), { ...LABELS, total: [12, 12] })
    const tensors = tf.memory().numTensors
    let progress = 0
    const codes = sampleLevel(prior, conditionsFor, { batch: 2, totalLength: 36, hopFraction: 0.5, prefix, level: 2, seed: 9, onProgress: (done) => (progress = done) })
    expect(tf.memory().numTensors).toBe(tensors)
    expect(codes.length).toBe(2 * 36)
    expect(progress).toBe(33)
    expect(seen.map((w) => w.start)).toEqual([0, 8, 16, 20])
    expect(row(codes, 36, 0).slice(0, 3)).toEqual([1, 2, 3])
    expect(row(codes, 36, 1).slice(0, 3)).toEqual([4, 5, 6])
    // each window again by hand: primed with the codes before it, its stream (seed, level, index), its offset
    for (const [window, known] of [[seen[1]!, 8], [seen[3]!, 12]] as const) {
      const offset = Array(2).fill((window.start * TOP.hopLength) / TOP.sampleRate)
      const again = sampleWindow(prior, { ...LABELS, total: [12, 12], offset }, {
        batch: 2,
        length: 16,
        prefix: columns(codes, 2, 36, window.start, known),
        seed: 9,
        stream: [2, window.index],
      })
      expect(again).toEqual(columns(codes, 2, 36, window.start, 16))
    }
    expect(sampleLevel(prior, conditionsFor, { batch: 2, totalLength: 36, hopFraction: 0.5, prefix, level: 2, seed: 9 })).toEqual(codes)
    expect(sampleLevel(prior, conditionsFor, { batch: 2, totalLength: 36, hopFraction: 0.5, prefix, level: 1, seed: 9 })).not.toEqual(codes)
  })

  it("gives an upsampler each window's span of the upper codes", () => {
    const prior = createPrior(LOWER, 4)
    const random = seededRandom(5)
    const upper = Int32Array.from({ length: 2 * 10 }, () => random.int(16)) // 40 tokens' worth
    const tensors = tf.memory().numTensors
    const codes = sampleLevel(prior, () => LABELS, { batch: 2, totalLength: 40, hopFraction: 0.5, upper, level: 1, seed: 3 })
    expect(tf.memory().numTensors).toBe(tensors)
    // windows at 0, 8, 16, 24: the last reads upper codes 6 … 9
    const last = tf.tensor2d(columns(upper, 2, 10, 6, 4), [2, 4], "int32")
    const again = sampleWindow(prior, { ...LABELS, upper: last }, { batch: 2, length: 16, prefix: columns(codes, 2, 40, 24, 8), seed: 3, stream: [1, 3] })
    last.dispose()
    expect(again).toEqual(columns(codes, 2, 40, 24, 16))
    expect(() => sampleLevel(prior, () => LABELS, { batch: 2, totalLength: 40, hopFraction: 0.5, level: 1, seed: 3 })).toThrow(/upper-level codes/)
  })

  it("switches labels for windows starting at or after a change's second: a duet", () => {
    // windows at tokens 0, 8, 16, 20 of 0.25 s: 0, 2, 4, 5 s; the second voice from 3 s lands at the window from 4 s
    const schedule = labelSchedule([{ second: 0, ...LABELS }, { second: 3, artistMix: [[[2, 0.5], [4, 0.5]], [[4, 1]]] }], TOP.hopLength, TOP.sampleRate)
    const windows = levelWindows(36, 16, 8)
    expect(windows.map((w) => schedule(w).artist ?? schedule(w).artistMix)).toEqual([LABELS.artist, LABELS.artist, [[[2, 0.5], [4, 0.5]], [[4, 1]]], [[[2, 0.5], [4, 0.5]], [[4, 1]]]])
    expect(labelSchedule([{ second: 0, ...LABELS }, { second: 2, artist: [4, 4] }], TOP.hopLength, TOP.sampleRate)(windows[1]!).artist).toEqual([4, 4]) // at the second itself
    expect(() => labelSchedule([{ second: 1, ...LABELS }], 4, 16)).toThrow(/start at 0/)
    expect(() => labelSchedule([{ second: 0, ...LABELS }, { second: 0, ...LABELS }], 4, 16)).toThrow(/increase/)
    // sampled: each window conditioned by its scheduled labels
    const prior = createPrior(TOP, 3)
    const conditionsFor = (window: WindowSpan) => ({ ...schedule(window), total: [12, 12] })
    const codes = sampleLevel(prior, conditionsFor, { batch: 2, totalLength: 36, hopFraction: 0.5, level: 2, seed: 9 })
    const last = windows[3]!
    const again = sampleWindow(prior, { ...conditionsFor(last), offset: [5, 5] }, { batch: 2, length: 16, prefix: columns(codes, 2, 36, last.start, 12), seed: 9, stream: [2, last.index] })
    expect(again).toEqual(columns(codes, 2, 36, last.start, 16))
    expect(sampleLevel(prior, () => ({ ...LABELS, total: [12, 12] }), { batch: 2, totalLength: 36, hopFraction: 0.5, level: 2, seed: 9 })).not.toEqual(codes)
  })

  it("samples ancestrally: the top level, then each level below given the codes above", () => {
    const top = createPrior(TOP, 1)
    const lower = createPrior(LOWER, 2)
    const levels = [
      { prior: top, hopFraction: 0.5, conditionsFor: () => ({ ...LABELS, total: [12, 12] }) },
      { prior: lower, hopFraction: 0.5, conditionsFor: () => LABELS, temperature: 0.9 },
      { prior: lower, hopFraction: 0.25, conditionsFor: () => LABELS, topK: 4 },
    ]
    const tensors = tf.memory().numTensors
    const [codes2, codes1, codes0] = sampleAncestral(levels, { batch: 2, topLength: 6, seed: 4 })
    expect(tf.memory().numTensors).toBe(tensors)
    expect([codes2!.length, codes1!.length, codes0!.length]).toEqual([12, 48, 192])
    expect(sampleLevel(lower, () => LABELS, { batch: 2, totalLength: 96, hopFraction: 0.25, topK: 4, upper: codes1!, level: 0, seed: 4 })).toEqual(codes0)
  })
})
