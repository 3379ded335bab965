/**
 * Training: a tiny autoencoder overfits a short chirp, two runs with one seed give identical
 * losses, a run restored from its saved state follows the uninterrupted one; Adam and clipping.
 * On wasm: the plain cpu backend is ~13× slower at this size.
 */
import * as tf from "@tensorflow/tfjs-core"
import { beforeAll, describe, expect, it } from "vitest"
import { adamUpdate, adamVariables, clipByGlobalNorm, createAdam, type AdamState } from "../../models/adam.ts"
import { measureLossScale, spectralLossStfts } from "../../models/losses.ts"
import { trainConfig, trainStep, type StepMetrics, type TrainConfig } from "../../models/train-step.ts"
import { autoencoderVariables, createAutoencoder, DEMO_VQVAE, levelConfig, type Autoencoder, type VQVAEConfig } from "../../models/vqvae.ts"
import { onBackend } from "./helpers.ts"

const RATE = 8000
const TINY: VQVAEConfig = {
  ...DEMO_VQVAE,
  sampleRate: RATE,
  codebookSize: 32,
  embeddingWidth: 8,
  levels: [{ downs: 3, width: 16, depth: 2, residualWidth: 16 }],
}

/** 0.26 s of a chirp from 200 Hz upwards, at half scale: (1, 2048, 1). */
const chirp = (): tf.Tensor3D =>
  tf.tensor3d(Float32Array.from({ length: 2048 }, (_, i) => 0.5 * Math.sin(2 * Math.PI * (200 * (i / RATE) + 300 * (i / RATE) ** 2))), [1, 2048, 1])

const setup = (audio: tf.Tensor3D): { autoencoder: Autoencoder; optimizer: AdamState; config: TrainConfig } => {
  const stfts = spectralLossStfts(RATE)
  const autoencoder = createAutoencoder(levelConfig(TINY, 0), 1)
  const config = trainConfig(TINY, { learningRate: 3e-3, warmupSteps: 10, seed: 2, stfts, lossScale: measureLossScale(audio, stfts) })
  return { autoencoder, optimizer: createAdam(autoencoder.weights), config }
}

const train = (run: ReturnType<typeof setup>, audio: tf.Tensor3D, steps: number): StepMetrics[] =>
  Array.from({ length: steps }, () => trainStep(run.autoencoder, run.optimizer, audio, run.config))

describe("training a tiny autoencoder on wasm", () => {
  let audio: tf.Tensor3D
  let first: StepMetrics[] = []
  beforeAll(async () => {
    await onBackend("wasm")
    audio = chirp()
  })

  it("overfits a chirp: the loss falls more than 5× in 100 steps, without leaking tensors", () => {
    const run = setup(audio)
    first = train(run, audio, 1)
    const tensors = tf.memory().numTensors
    first.push(...train(run, audio, 99))
    expect(tf.memory().numTensors).toBe(tensors)
    const start = first[0]!.loss
    const end = first.slice(-10).reduce((a, m) => a + m.loss, 0) / 10
    expect(start).toBeCloseTo(2, 1) // L2 and spectral losses both scaled to start near 1
    expect(end).toBeLessThan(start / 5)
    const last = first.at(-1)!
    expect(last.usage).toBeGreaterThan(4)
    expect(last.entropy).toBeGreaterThan(1)
    expect(first.every((m) => Number.isFinite(m.loss) && Number.isFinite(m.gradientNorm))).toBe(true)
    expect(first[0]!.learningRate).toBeCloseTo(3e-4, 10) // warm-up: 1/10 of the peak
    expect(first[20]!.learningRate).toBe(3e-3)
  })

  it("gives identical losses in a second run with the same seed", () => {
    const again = train(setup(audio), audio, 30)
    expect(again.map((m) => m.loss)).toEqual(first.slice(0, 30).map((m) => m.loss))
  })

  it("resumes from saved state (weights, codebook, Adam moments) onto the same losses", () => {
    const original = setup(audio)
    train(original, audio, 10)
    const saved = new Map([...autoencoderVariables(original.autoencoder), ...adamVariables(original.optimizer)].map(([name, v]) => [name, tf.clone(v)]))
    const continued = train(original, audio, 5)
    const resumed = setup(audio)
    for (const [name, v] of [...autoencoderVariables(resumed.autoencoder), ...adamVariables(resumed.optimizer)]) v.assign(saved.get(name)!)
    resumed.optimizer.step = 10
    expect(train(resumed, audio, 5).map((m) => m.loss)).toEqual(continued.map((m) => m.loss))
  })
})

describe("optimiser pieces", () => {
  beforeAll(() => onBackend("cpu"))

  it("Adam's first step moves each weight by the learning rate against its gradient's sign", () => {
    const weights = new Map([["w", tf.variable(tf.tensor1d([1, -2, 3]))]])
    const state = createAdam(weights)
    adamUpdate(weights, new Map([["w", tf.tensor1d([0.5, -4, 0])]]), state, 0.1)
    expect(state.step).toBe(1)
    const w = weights.get("w")!.dataSync()
    expect(w[0]).toBeCloseTo(0.9, 6)
    expect(w[1]).toBeCloseTo(-1.9, 6)
    expect(w[2]).toBe(3)
    expect([...adamVariables(state).keys()]).toEqual(["adam.m.w", "adam.v.w"])
  })

  it("clips gradients to a global norm and reports the norm before clipping", () => {
    const gradients = new Map([["a", tf.tensor1d([3, 0])], ["b", tf.tensor1d([4])]])
    const clipped = clipByGlobalNorm(gradients, 1)
    expect(clipped.norm).toBeCloseTo(5, 6)
    expect([...clipped.gradients.get("a")!.dataSync(), ...clipped.gradients.get("b")!.dataSync()].map((v) => +v.toFixed(5))).toEqual([0.6, 0, 0.8])
    expect(clipByGlobalNorm(gradients, 10).gradients.get("a")).toBe(gradients.get("a"))
  })
})
