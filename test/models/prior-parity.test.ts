/**
 * Parity with the PyTorch reference of the Transformer prior (bench/torch/prior.py): the same
 * safetensors weights, tokens, conditioning and encoder output give the same logits, loss in bits
 * and gradient norm, for a model with every attention kind over a length that is not a multiple of
 * the block length.
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
import { createTransformer, layerTypes, type Transformer, type TransformerConfig } from "../../models/transformer.ts"
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
    unitScaleWeights(model, seededRandom(2))
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

    const python = spawnSync(PYTHON, [REFERENCE, "parity", dir, dir], { encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: "1" } })
    expect(python.status, python.stderr).toBe(0)
    const reference = decodeSafetensors(readFileSync(join(dir, "out.safetensors"))).tensors
    const figures = JSON.parse(readFileSync(join(dir, "metrics.json"), "utf8")) as Record<string, number>
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
})

/**
 * Redraws the weights so that every part carries signal: linear weights N(0, 1/fan-in), embeddings
 * N(0, 0.5²), biases N(0, 0.1²) and LayerNorm gains 1 + N(0, 0.1²) (nonzero biases and gains also
 * check that each lands on its channel).
 */
const unitScaleWeights = (model: Transformer, random: ReturnType<typeof seededRandom>): void => {
  for (const [name, variable] of model.weights) {
    const shape = variable.shape as number[]
    const fresh = tf.tidy(() => {
      if (/(ln_\w+)\.weight$/.test(name)) return tf.add(randomNormal(shape, 0.1, random), 1)
      if (name.endsWith(".bias")) return randomNormal(shape, 0.1, random)
      if (name.includes("embedding")) return randomNormal(shape, 0.5, random)
      return randomNormal(shape, 1 / Math.sqrt(shape[0]!), random)
    })
    variable.assign(fresh)
    fresh.dispose()
  }
}

const floats = (t: tf.Tensor): SafeTensor => ({ dtype: "F32", shape: t.shape, data: t.dataSync() as Float32Array })
