/**
 * Sampling parity with the PyTorch reference (bench/torch/sampling.py): from the same weights and
 * conditions, jukeflow's cached greedy window (`sampleWindow`, temperature 0) chooses the same tokens
 * as the reference's `CachedDecoder` and as its full forward pass run again per position, for a top
 * prior (labels, timing, lyrics) and an upsampler whose layers hold every attention kind, over a
 * window that ends inside a block. This checks the reference's cache too, which bench/sampling.ts
 * times.
 *
 *   npx vitest run test/models/sampling-parity.test.ts
 *
 * Needs Debian's python3-torch at /usr/bin/python3: skipped, saying how to install it, when it is
 * missing; failing instead when CI or JUKEFLOW_SLOW is set.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import * as tf from "@tensorflow/tfjs-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { useBestBackend } from "../../models/backend.ts"
import { variablesToTensors } from "../../models/checkpoint.ts"
import { createPrior, type PriorConfig } from "../../models/prior.ts"
import { encodeSafetensors, type SafeTensor } from "../../models/safetensors.ts"
import { sampleWindow } from "../../models/sampling.ts"
import { probeTorch, PYTHON, randomTokens } from "./helpers.ts"

const REFERENCE = join(resolve(dirname(fileURLToPath(import.meta.url)), "../.."), "bench/torch/sampling.py")
const [BATCH, LENGTH] = [2, 29] // 5 blocks of 5 and 4 positions

/** Every kind, blocks of 5, weights N(0, 0.5²) so that the greedy choices are far from ties. */
const TRANSFORMER: PriorConfig["transformer"] = {
  vocab: 40,
  contextLength: 32,
  width: 32,
  depth: 5,
  heads: 2,
  blockLength: 5,
  pattern: ["dense", "row", "column", "previous-row", "encoder-decoder"],
  initScale: 0.5,
  attentionMultiplier: 0.5,
  mlpMultiplier: 1,
  conditioning: true,
  encoderWidth: 16,
}

const TOP: PriorConfig = {
  hopLength: 8,
  sampleRate: 20,
  transformer: TRANSFORMER,
  labels: { artists: 6, genres: 5 },
  timing: { bins: 16, minSeconds: 5, maxSeconds: 40 },
  lyrics: { encoder: { ...TRANSFORMER, vocab: 20, contextLength: 12, width: 16, depth: 2, pattern: ["dense", "row"], blockLength: 4, conditioning: false, encoderWidth: undefined }, lossFraction: 0.4 },
}

const UPSAMPLER: PriorConfig = {
  hopLength: 2,
  sampleRate: 20,
  transformer: { ...TRANSFORMER, depth: 4, pattern: ["dense", "row", "column", "previous-row"], encoderWidth: undefined },
  labels: { artists: 6, genres: 5 },
  upsampler: { upperVocab: 24, strides: [2, 2], width: 16, depth: 2, dilationGrowth: 3, initScale: 0.1 },
}

const { available: hasTorch, required, missing } = probeTorch()
if (!hasTorch && !required) console.warn(`skipping the PyTorch sampling parity test: ${missing}`)

describe.skipIf(!hasTorch && !required)("sampling parity with the PyTorch reference (bench/torch/sampling.py)", () => {
  let dir = ""
  beforeAll(async () => {
    if (!hasTorch) throw new Error(`CI or JUKEFLOW_SLOW is set, so the parity test may not be skipped: ${missing}`)
    await useBestBackend()
    dir = mkdtempSync(join(tmpdir(), "jukeflow-sampling-parity-"))
  })
  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }))

  it.each([
    { name: "a top prior (labels, timing, lyrics)", config: TOP },
    { name: "an upsampler (labels, conditioner)", config: UPSAMPLER },
  ])("greedy tokens of $name: the cached sampler's are the reference's, cached and uncached", ({ config }) => {
    const prior = createPrior(config, 1)
    const plain = { artist: [1, 5], genres: [[2, 4], [1]], ...(config.timing ? { total: [30, 12], offset: [0, 3] } : {}) }
    const conditions = {
      ...plain,
      ...(config.upsampler ? { upper: randomTokens(BATCH, 8, config.upsampler.upperVocab, 4) } : {}),
      ...(config.lyrics ? { lyrics: randomTokens(BATCH, 10, 20, 5) } : {}),
    }
    const ids = (t: tf.Tensor): SafeTensor => ({ dtype: "I32", shape: t.shape, data: t.dataSync() as Int32Array })
    writeFileSync(join(dir, "config.json"), JSON.stringify(config))
    writeFileSync(join(dir, "conditions.json"), JSON.stringify(plain))
    writeFileSync(join(dir, "model.safetensors"), encodeSafetensors(variablesToTensors(prior.weights)))
    writeFileSync(join(dir, "inputs.safetensors"), encodeSafetensors({
      ...(conditions.upper ? { upper: ids(conditions.upper) } : {}),
      ...(conditions.lyrics ? { lyrics: ids(conditions.lyrics) } : {}),
    }))

    const codes = sampleWindow(prior, conditions, { batch: BATCH, length: LENGTH, seed: 0, temperature: 0 })
    const ours = Array.from({ length: BATCH }, (_, b) => Array.from(codes.subarray(b * LENGTH, (b + 1) * LENGTH)))

    const python = spawnSync(PYTHON, [REFERENCE, "sample", dir, JSON.stringify({ batch: BATCH, length: LENGTH })], { encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: "1" } })
    expect(python.status, python.stderr).toBe(0)
    const reference = JSON.parse(python.stdout.trim().split("\n").at(-1)!) as { cachedTokens: number[][]; uncachedTokens: number[][] }
    expect(new Set(ours.flat()).size, "the greedy window is not one repeated token").toBeGreaterThan(3)
    expect(reference.cachedTokens).toEqual(ours)
    expect(reference.uncachedTokens).toEqual(ours)
    tf.dispose([conditions.upper, conditions.lyrics, ...prior.weights.values()].filter((t) => t !== undefined))
  })
})
