/**
 * Parity with the PyTorch reference of the same architecture (bench/torch/vqvae.py): the same
 * safetensors weights and audio give the same encoder output, codes and decoder output, and one
 * training step the same loss parts, gradient norm and codebook update.
 *
 *   npx vitest run test/models/parity.test.ts
 *
 * Needs Debian's python3-torch at /usr/bin/python3: skipped, saying how to install it, when it is
 * missing; failing instead when CI or JUKEFLOW_SLOW is set, so that CI cannot skip it silently.
 *
 * Tolerance: |jukeflow − PyTorch| ≤ 1e-4 · max(1, max |PyTorch|) per tensor, i.e. absolute 1e-4
 * while values stay within ±1 and relative to the tensor's largest value beyond: float32 rounding
 * grows with the magnitudes summed (a conv adds K·Cin products per output), so a fixed absolute
 * bound would test the larger tensors more strictly than the smaller ones. Codes must be equal: the
 * codebook is first cleared of near ties (`separateNearTies`), so rounding cannot flip one.
 */
import { spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import * as tf from "@tensorflow/tfjs-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createAdam } from "../../models/adam.ts"
import { useBestBackend } from "../../models/backend.ts"
import { initCodebook } from "../../models/bottleneck.ts"
import { variablesToTensors } from "../../models/checkpoint.ts"
import { measureLossScale } from "../../models/losses.ts"
import { randomNormal, seededRandom } from "../../models/random.ts"
import { decodeSafetensors, encodeSafetensors } from "../../models/safetensors.ts"
import { trainConfig, trainStep } from "../../models/train-step.ts"
import {
  autoencoderVariables,
  createAutoencoder,
  decodeCodes,
  DEMO_VQVAE,
  encodeToCodes,
  levelConfig,
  residualDilations,
  type Autoencoder,
  type VQVAEConfig,
} from "../../models/vqvae.ts"
import { normal, probeTorch, PYTHON, scaledError } from "./helpers.ts"

const REFERENCE = join(resolve(dirname(fileURLToPath(import.meta.url)), "../.."), "bench/torch/vqvae.py")
const TOLERANCE = 1e-4
/** A vector's nearest code must beat its second by this fraction of (‖x‖ + ‖c‖)²: far above float32 rounding. */
const TIE_MARGIN = 1e-4

/** A stereo level with a hop of 16 and dilations 1, 3, 9, 27, 1 (a cycle of 4); every width different. */
const STEREO: VQVAEConfig = {
  ...DEMO_VQVAE,
  channels: 2,
  codebookSize: 64,
  embeddingWidth: 12,
  dilationCycle: 4,
  levels: [{ downs: 4, width: 8, depth: 5, residualWidth: 10 }],
}

const CASES = [
  { name: "demo level 0 (hop 8, dilations 1, 3, 9)", vqvae: DEMO_VQVAE, audioShape: [2, 4096, 1] },
  { name: "stereo, hop 16, dilations 1, 3, 9, 27, 1", vqvae: STEREO, audioShape: [2, 2048, 2] },
] as const

const { available: hasTorch, required, missing } = probeTorch()
if (!hasTorch && !required) console.warn(`skipping the PyTorch parity test: ${missing}`)

describe.skipIf(!hasTorch && !required)("parity with the PyTorch reference (bench/torch/vqvae.py)", () => {
  let dir = ""
  beforeAll(async () => {
    if (!hasTorch) throw new Error(`CI or JUKEFLOW_SLOW is set, so the parity test may not be skipped: ${missing}`)
    await useBestBackend()
    dir = mkdtempSync(join(tmpdir(), "jukeflow-parity-"))
  })
  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }))

  it.each(CASES)("$name", ({ name, vqvae, audioShape }) => {
    expect(Math.max(...residualDilations(levelConfig(vqvae, 0)))).toBeGreaterThanOrEqual(9)
    const autoencoder = createAutoencoder(levelConfig(vqvae, 0), 1)
    unitScaleWeights(autoencoder, seededRandom(2))
    const audio = normal([...audioShape], 3, 0.3) as tf.Tensor3D

    const vectors = tf.tidy(() => {
      const encoded = autoencoder.encode(audio)
      return tf.reshape(encoded, [-1, encoded.shape[2]]) as tf.Tensor2D
    })
    initCodebook(autoencoder.bottleneck, vectors, seededRandom(4))
    const moved = separateNearTies(autoencoder, vectors)
    // counts far above the restart threshold: the training step below restarts no code (restarts draw random rows)
    tf.tidy(() => {
      autoencoder.bottleneck.emaCount.assign(tf.fill([vqvae.codebookSize], 100))
      autoencoder.bottleneck.emaSum.assign(tf.mul(autoencoder.bottleneck.codebook, 100))
    })

    const encoded = autoencoder.encode(audio)
    const codes = encodeToCodes(autoencoder, audio)
    const decoded = decodeCodes(autoencoder, codes)
    const train = trainConfig(vqvae, { seed: 5, warmupSteps: 10, lossScale: measureLossScale(audio, trainConfig(vqvae).stfts) })
    const caseDir = join(dir, name.replace(/\W+/g, "-"))
    writeInputs(caseDir, autoencoder, audio, { ...train, step: 1 })

    // a step past the first, so that neither side fills the codebook from its own random rows
    const optimizer = createAdam(autoencoder.weights)
    optimizer.step = 1
    const step = trainStep(autoencoder, optimizer, audio, train)

    const python = spawnSync(PYTHON, [REFERENCE, "parity", caseDir, caseDir], { encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: "1" } })
    expect(python.status, python.stderr).toBe(0)
    const reference = decodeSafetensors(readFileSync(join(caseDir, "out.safetensors"))).tensors
    const figures = JSON.parse(readFileSync(join(caseDir, "metrics.json"), "utf8")) as Record<string, number>

    expect(Array.from(codes.dataSync())).toEqual(Array.from(reference.codes!.data as Int32Array))
    const errors = {
      encoded: scaledError(encoded.dataSync(), reference.encoded!.data as Float32Array),
      decoded: scaledError(decoded.dataSync(), reference.decoded!.data as Float32Array),
      // the codes moved far away would set the scale: compare the others
      codebookAfterStep: scaledError(
        rowsExcept(autoencoder.bottleneck.codebook.dataSync(), vqvae.embeddingWidth, moved),
        rowsExcept(reference.codebook_after_step!.data as Float32Array, vqvae.embeddingWidth, moved),
      ),
      ...Object.fromEntries((["loss", "l2", "spectral", "commit", "gradientNorm"] as const).map((k) => [k, scaledError([step[k]], [figures[k]!])])),
    }
    console.log(`${name}: ${moved.size} of ${vqvae.codebookSize} codes moved off near ties, ${new Set(codes.dataSync()).size} in use; errors / max(1, |PyTorch|): ${Object.entries(errors).map(([k, e]) => `${k} ${e.toExponential(1)}`).join(", ")}`)
    for (const [what, error] of Object.entries(errors)) expect(error, what).toBeLessThan(TOLERANCE)
    expect({ usage: step.usage, restarts: step.restarts }).toEqual({ usage: figures.usage, restarts: 0 })
    expect(step.entropy).toBeCloseTo(figures.entropy!, 5)
    tf.dispose([audio, vectors, encoded, codes, decoded, ...autoencoderVariables(autoencoder).values()])
  })
})

/**
 * Redraws the weights at N(0, 1/fan-in) and the biases at N(0, 0.1²): with the 0.02 initialisation
 * activations shrink several-fold per conv, and a 1e-4 tolerance would compare near-zeros. Nonzero
 * biases also check that each lands on its channel.
 */
const unitScaleWeights = (autoencoder: Autoencoder, random: ReturnType<typeof seededRandom>): void => {
  for (const [name, variable] of autoencoder.weights) {
    const [kernel, inChannels, outChannels] = variable.shape as number[]
    const fresh = name.endsWith(".bias") ? randomNormal([kernel!], 0.1, random) : randomNormal([kernel!, inChannels!, outChannels!], 1 / Math.sqrt(kernel! * inChannels!), random)
    variable.assign(fresh)
    fresh.dispose()
  }
}

/**
 * Moves the runner-up code of every near tie (distances in float64) far from all vectors, until each
 * vector's nearest code leads its second by TIE_MARGIN · (‖x‖ + ‖c‖)². The two sides' encoder
 * outputs differ by float32 rounding (~1e-6 of their size), so no code can flip. Returns the codes moved.
 */
const separateNearTies = (autoencoder: Autoencoder, vectors: tf.Tensor2D): Set<number> => {
  const [n, d] = vectors.shape
  const x = vectors.dataSync()
  const codebook = Float64Array.from(autoencoder.bottleneck.codebook.dataSync())
  const k = codebook.length / d
  const far = 1e3 * Math.max(...Array.from(x, Math.abs))
  const norm = (values: ArrayLike<number>, offset: number): number => {
    let sum = 0
    for (let j = 0; j < d; j++) sum += values[offset + j]! ** 2
    return Math.sqrt(sum)
  }
  const moved = new Set<number>()
  for (;;) {
    const runnersUp = new Set<number>()
    for (let i = 0; i < n; i++) {
      let [best, second, bestCode, secondCode] = [Infinity, Infinity, -1, -1]
      for (let c = 0; c < k; c++) {
        let distance = 0
        for (let j = 0; j < d; j++) distance += (x[i * d + j]! - codebook[c * d + j]!) ** 2
        if (distance < best) [second, secondCode, best, bestCode] = [best, bestCode, distance, c]
        else if (distance < second) [second, secondCode] = [distance, c]
      }
      if (second - best < TIE_MARGIN * (norm(x, i * d) + norm(codebook, bestCode * d)) ** 2) runnersUp.add(secondCode)
    }
    if (runnersUp.size === 0) break
    for (const c of runnersUp) codebook.fill(far, c * d, (c + 1) * d)
    for (const c of runnersUp) moved.add(c)
  }
  tf.tidy(() => autoencoder.bottleneck.codebook.assign(tf.tensor2d(Float32Array.from(codebook), [k, d])))
  return moved
}

/** config.json (the level's config and the training config), model.safetensors and audio.safetensors for the reference. */
const writeInputs = (dir: string, autoencoder: Autoencoder, audio: tf.Tensor3D, train: object): void => {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, "config.json"), JSON.stringify({ ...autoencoder.config, train }))
  writeFileSync(join(dir, "model.safetensors"), encodeSafetensors(variablesToTensors(autoencoderVariables(autoencoder))))
  writeFileSync(join(dir, "audio.safetensors"), encodeSafetensors({ audio: { dtype: "F32", shape: audio.shape, data: audio.dataSync() as Float32Array } }))
}

/** The values of the rows of a (rows, width) matrix other than `except`. */
const rowsExcept = (values: ArrayLike<number>, width: number, except: ReadonlySet<number>): number[] =>
  Array.from(values).filter((_, i) => !except.has(Math.floor(i / width)))
