/**
 * Parity with the PyTorch reference of the Transformer prior (bench/torch/prior.py): the same
 * safetensors weights, tokens, conditioning and encoder output give the same logits, loss in bits
 * and gradient norm, for a model with every attention kind over a length that is not a multiple of
 * the block length; and for whole priors (models/prior.ts) — an upsampler (labels, upsampler
 * conditioner) and a top prior (labels, timing with values outside its ranges, lyrics encoder) —
 * the same logits, lyric logits, loss parts and gradient norm from the same weights and conditions.
 *
 *   npx vitest run test/models/prior-parity.test.ts
 *
 * Needs Debian's python3-torch at /usr/bin/python3: skipped, saying how to install it, when it is
 * missing; failing instead when CI or JUKEFLOW_SLOW is set.
 *
 * Tolerance: |jukeflow − PyTorch| ≤ 1e-4 · max(1, max |PyTorch|) per tensor (parity.test.ts says why).
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import * as tf from "@tensorflow/tfjs-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createAdam } from "../../models/adam.ts"
import { useBestBackend } from "../../models/backend.ts"
import { variablesToTensors } from "../../models/checkpoint.ts"
import { randomNormal, seededRandom } from "../../models/random.ts"
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from "../../models/safetensors.ts"
import { transformerTrainConfig, transformerTrainStep } from "../../models/transformer-train.ts"
import { createTransformer, layerTypes, type TransformerConfig } from "../../models/transformer.ts"
import { createPrior, priorTrainStep, type PriorBatch, type PriorConfig } from "../../models/prior.ts"
import { normal, probeTorch, PYTHON, scaledError } from "./helpers.ts"

const REFERENCE = join(resolve(dirname(fileURLToPath(import.meta.url)), "../.."), "bench/torch/prior.py")
const TOLERANCE = 1e-4

/** Every kind in six layers (dense twice), 2 heads of width 8, blocks of 5; 29 tokens are 5 blocks and 4. */
const CONFIG: TransformerConfig = {
  vocab: 40,
  contextLength: 32,
  width: 64,
  depth: 6,
  heads: 2,
  blockLength: 5,
  pattern: ["dense", "row", "column", "previous-row", "encoder-decoder"],
  initScale: 0.02,
  attentionMultiplier: 0.25,
  mlpMultiplier: 1,
  conditioning: true,
  encoderWidth: 12,
}
const [BATCH, LENGTH, CONTEXT] = [2, 29, 9]

/** An upsampler: labels, and a conditioner of two ×2 stages whose dilations cycle (1, 3, 1). */
const UPSAMPLER: PriorConfig = {
  hopLength: 8,
  sampleRate: 16000,
  transformer: { ...CONFIG, depth: 4, pattern: ["row", "column", "previous-row", "dense"], encoderWidth: undefined },
  labels: { artists: 6, genres: 5 },
  upsampler: { upperVocab: 24, strides: [2, 2], width: 16, depth: 3, dilationGrowth: 3, dilationCycle: 2, initScale: 0.1 },
}

/** A top prior: labels, timing (tokens of 0.4 s), and a two-layer lyrics encoder over up to 12 characters. */
const TOP: PriorConfig = {
  hopLength: 8,
  sampleRate: 20,
  transformer: { ...CONFIG, depth: 5, pattern: ["row", "column", "previous-row", "encoder-decoder"], encoderWidth: 32 },
  labels: { artists: 6, genres: 5 },
  timing: { bins: 16, minSeconds: 5, maxSeconds: 40 },
  lyrics: { encoder: { ...CONFIG, vocab: 20, contextLength: 12, width: 32, depth: 2, pattern: ["dense", "row"], blockLength: 4, conditioning: false, encoderWidth: undefined }, lossFraction: 0.4 },
}

const { available: hasTorch, required, missing } = probeTorch()
if (!hasTorch && !required) console.warn(`skipping the PyTorch parity test of the prior: ${missing}`)

describe.skipIf(!hasTorch && !required)("parity with the PyTorch reference (bench/torch/prior.py)", () => {
  let dir = ""
  beforeAll(async () => {
    if (!hasTorch) throw new Error(`CI or JUKEFLOW_SLOW is set, so the parity test may not be skipped: ${missing}`)
    await useBestBackend()
    dir = mkdtempSync(join(tmpdir(), "jukeflow-prior-parity-"))
  })
  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }))

  it("logits, loss and gradient norm of a model with every attention kind, conditioning and an encoder output", () => {
    expect(new Set(layerTypes(CONFIG))).toEqual(new Set(["dense", "row", "column", "previous-row", "encoder-decoder"]))
    const model = createTransformer(CONFIG, 1)
    unitScaleWeights(model.weights, seededRandom(2))
    const random = seededRandom(3)
    const tokens = tf.tensor2d(Int32Array.from({ length: BATCH * LENGTH }, () => random.int(CONFIG.vocab)), [BATCH, LENGTH], "int32")
    const inputs = {
      conditioning: normal([BATCH, CONFIG.contextLength, CONFIG.width], 4, 0.5) as tf.Tensor3D,
      encoderOutput: normal([BATCH, CONTEXT, CONFIG.encoderWidth!], 5) as tf.Tensor3D,
    }
    writeFileSync(join(dir, "config.json"), JSON.stringify(CONFIG))
    writeFileSync(join(dir, "model.safetensors"), encodeSafetensors(variablesToTensors(model.weights)))
    writeFileSync(join(dir, "inputs.safetensors"), encodeSafetensors({
      tokens: { dtype: "I32", shape: tokens.shape, data: tokens.dataSync() as Int32Array },
      conditioning: floats(inputs.conditioning),
      encoder_output: floats(inputs.encoderOutput),
    }))

    const logits = model.forward(tokens, inputs)
    const step = transformerTrainStep(model, createAdam(model.weights), { tokens, inputs: () => inputs }, transformerTrainConfig())

    const { reference, figures } = runReference(dir)
    const expected = reference.logits!.data as Float32Array
    const errors = {
      logits: scaledError(logits.dataSync(), expected),
      loss: scaledError([step.loss], [figures.loss!]),
      gradientNorm: scaledError([step.gradientNorm], [figures.gradientNorm!]),
    }
    console.log(`prior parity: max |logit| ${Math.max(...Array.from(expected, Math.abs)).toFixed(2)}, loss ${step.loss.toFixed(4)} bits; errors / max(1, |PyTorch|): ${Object.entries(errors).map(([k, e]) => `${k} ${e.toExponential(1)}`).join(", ")}`)
    for (const [what, error] of Object.entries(errors)) expect(error, what).toBeLessThan(TOLERANCE)
    tf.dispose([tokens, logits, inputs.conditioning, inputs.encoderOutput, ...model.weights.values()])
  })

  it.each([
    { name: "an upsampler (labels, conditioner)", config: UPSAMPLER },
    { name: "a top prior (labels, timing, lyrics)", config: TOP },
  ])("logits, lyric logits, loss parts and gradient norm of $name", ({ name, config }) => {
    const prior = createPrior(config, 1)
    unitScaleWeights(prior.weights, seededRandom(2))
    const random = seededRandom(3)
    const ints = (shape: [number, number], below: number) =>
      tf.tensor2d(Int32Array.from({ length: shape[0] * shape[1] }, () => random.int(below)), shape, "int32")
    // song lengths and offsets that run past the timing ranges at both ends; a genre bag with a 0 in it
    const conditions = { artist: [0, 5], genres: [[2, 0, 4], [1]], total: [4, 30], offset: [0, 29] }
    const batch: PriorBatch = {
      tokens: ints([BATCH, LENGTH], CONFIG.vocab),
      ...conditions,
      ...(config.upsampler ? { upper: ints([BATCH, 8], config.upsampler.upperVocab) } : {}),
      ...(config.lyrics ? { lyrics: tf.tensor2d([[3, 0, 7, 19, 1, 1, 0, 5, 9, 2], [4, 4, 4, 8, 12, 16, 0, 0, 0, 0]], [BATCH, 10], "int32") } : {}),
    }
    writeFileSync(join(dir, "config.json"), JSON.stringify(config))
    writeFileSync(join(dir, "conditions.json"), JSON.stringify(conditions))
    writeFileSync(join(dir, "model.safetensors"), encodeSafetensors(variablesToTensors(prior.weights)))
    const ids = (t: tf.Tensor): SafeTensor => ({ dtype: "I32", shape: t.shape, data: t.dataSync() as Int32Array })
    writeFileSync(join(dir, "inputs.safetensors"), encodeSafetensors({
      tokens: ids(batch.tokens),
      ...(batch.upper ? { upper: ids(batch.upper) } : {}),
      ...(batch.lyrics ? { lyrics: ids(batch.lyrics) } : {}),
    }))

    const output = prior.forward(batch)
    const step = priorTrainStep(prior, createAdam(prior.weights), batch, transformerTrainConfig())

    const { reference, figures } = runReference(dir)
    const errors: Record<string, number> = {
      logits: scaledError(output.logits.dataSync(), reference.logits!.data as Float32Array),
      loss: scaledError([step.loss], [figures.loss!]),
      priorBits: scaledError([step.priorBits], [figures.priorBits!]),
      gradientNorm: scaledError([step.gradientNorm], [figures.gradientNorm!]),
      ...(output.lyricLogits
        ? { lyricLogits: scaledError(output.lyricLogits.dataSync(), reference.lyric_logits!.data as Float32Array), lyricsBits: scaledError([step.lyricsBits!], [figures.lyricsBits!]) }
        : {}),
    }
    console.log(`prior parity, ${name}: loss ${step.loss.toFixed(4)} bits; errors / max(1, |PyTorch|): ${Object.entries(errors).map(([k, e]) => `${k} ${e.toExponential(1)}`).join(", ")}`)
    for (const [what, error] of Object.entries(errors)) expect(error, what).toBeLessThan(TOLERANCE)
    tf.dispose([output.logits, output.lyricLogits, batch.tokens, batch.upper, batch.lyrics, ...prior.weights.values()].filter((t) => t !== undefined))
  })
})

/** Runs the reference on the files in `dir`: its outputs and figures. */
const runReference = (dir: string): { reference: Record<string, SafeTensor>; figures: Record<string, number> } => {
  const python = spawnSync(PYTHON, [REFERENCE, "parity", dir, dir], { encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: "1" } })
  expect(python.status, python.stderr).toBe(0)
  return {
    reference: decodeSafetensors(readFileSync(join(dir, "out.safetensors"))).tensors,
    figures: JSON.parse(readFileSync(join(dir, "metrics.json"), "utf8")) as Record<string, number>,
  }
}

/**
 * Redraws the weights so that every part carries signal: linear and conv weights N(0, 1/fan-in),
 * embedding tables N(0, 0.5²), biases N(0, 0.1²) and LayerNorm gains 1 + N(0, 0.1²) (nonzero biases
 * and gains also check that each lands on its channel).
 */
const unitScaleWeights = (weights: ReadonlyMap<string, tf.Variable>, random: ReturnType<typeof seededRandom>): void => {
  for (const [name, variable] of weights) {
    const shape = variable.shape as number[]
    const fresh = tf.tidy(() => {
      if (/(^|\.)ln(_\w+)?\.weight$/.test(name)) return tf.add(randomNormal(shape, 0.1, random), 1)
      if (name.endsWith(".bias")) return randomNormal(shape, 0.1, random)
      if (name.includes("embedding") || /^(labels|timing)\./.test(name)) return randomNormal(shape, 0.5, random)
      return randomNormal(shape, 1 / Math.sqrt(shape.slice(0, -1).reduce((a, b) => a * b, 1)), random)
    })
    variable.assign(fresh)
    fresh.dispose()
  }
}

const floats = (t: tf.Tensor): SafeTensor => ({ dtype: "F32", shape: t.shape, data: t.dataSync() as Float32Array })
