/**
 * STFT magnitudes (tensor and plain-array versions) against a naive DFT written the way
 * torch.stft(center=True) defines it, their gradients, the spectral loss and spectral convergence.
 */
import * as tf from "@tensorflow/tfjs-core"
import { beforeAll, describe, expect, it } from "vitest"
import { stftMagnitudes } from "../../models/fft.ts"
import { l2Loss, SPECTRAL_LOSS_STFTS_44K, spectralConvergence, spectralLoss, spectralLossStfts } from "../../models/losses.ts"
import { seededRandom } from "../../models/random.ts"
import { frameCount, hannWindow, stftMagnitude, type StftConfig } from "../../models/stft.ts"
import { analyticGradients, BACKENDS, expectClose, normal, numericGradient, onBackend, weighted } from "./helpers.ts"

/** torch.stft(center=True, reflect) by the definition: nFft/2 reflected samples at each end, the
 * window centred in an nFft frame, a direct DFT in float64. Frame-major magnitudes. */
const naiveStft = (signal: ArrayLike<number>, { nFft, hop, window }: StftConfig): Float64Array => {
  const length = signal.length
  const reflected = (i: number): number => signal[i < 0 ? -i : i >= length ? 2 * (length - 1) - i : i]!
  const w = new Float64Array(nFft)
  hannWindow(window).forEach((v, n) => (w[Math.floor((nFft - window) / 2) + n] = v))
  const frames = frameCount(length, hop)
  const bins = nFft / 2 + 1
  const out = new Float64Array(frames * bins)
  for (let f = 0; f < frames; f++) {
    for (let k = 0; k < bins; k++) {
      let re = 0
      let im = 0
      for (let n = 0; n < nFft; n++) {
        const v = w[n]! * reflected(f * hop - nFft / 2 + n)
        re += v * Math.cos((2 * Math.PI * k * n) / nFft)
        im -= v * Math.sin((2 * Math.PI * k * n) / nFft)
      }
      out[f * bins + k] = Math.hypot(re, im)
    }
  }
  return out
}

/** A chirp plus noise: every bin gets some energy. */
const testSignal = (length: number, seed: number): Float32Array => {
  const random = seededRandom(seed)
  return Float32Array.from({ length }, (_, i) => Math.sin(0.02 * i + 0.0004 * i * i) + 0.1 * random.normal())
}

const RESOLUTIONS: StftConfig[] = [
  { nFft: 64, hop: 10, window: 40 }, // window a multiple of hop
  { nFft: 32, hop: 7, window: 24 }, // not a multiple: the basis is zero-extended
  { nFft: 32, hop: 8, window: 25 }, // odd window
  { nFft: 16, hop: 4, window: 16 }, // window = nFft
]

describe.each(BACKENDS)("stft on %s", (backend) => {
  beforeAll(() => onBackend(backend))

  it.each(RESOLUTIONS)("stftMagnitude matches a naive DFT (nFft $nFft, hop $hop, window $window)", (config) => {
    const signals = [testSignal(203, 1), testSignal(203, 2)]
    const magnitudes = stftMagnitude(tf.tensor2d([...signals[0]!, ...signals[1]!], [2, 203]), config)
    expect(magnitudes.shape).toEqual([2, frameCount(203, config.hop), config.nFft / 2 + 1])
    const expected = new Float64Array([...naiveStft(signals[0]!, config), ...naiveStft(signals[1]!, config)])
    expectClose(magnitudes.dataSync(), expected, 1e-5)
  })

  it("stftMagnitude's gradient matches finite differences and a gather-framed plain formulation", () => {
    const config = { nFft: 16, hop: 4, window: 12 }
    const x = normal([1, 30], 3)
    const ours = (t: tf.Tensor[]) => weighted(stftMagnitude(t[0] as tf.Tensor2D, config), 4)
    const [analytic] = analyticGradients(ours, [x])
    expectClose(analytic!, numericGradient(ours, [x], 0, 1e-2), 1e-2)
    // plain: reflected indices gathered into frames, full nFft basis, tf.matMul (stock gradients)
    const { nFft, hop, window } = config
    const taps: number[] = []
    const frames = frameCount(30, hop)
    for (let f = 0; f < frames; f++) for (let n = 0; n < nFft; n++) {
      const i = f * hop - nFft / 2 + n
      taps.push(i < 0 ? -i : i >= 30 ? 58 - i : i)
    }
    const w = new Float64Array(nFft)
    hannWindow(window).forEach((v, n) => (w[(nFft - window) / 2 + n] = v))
    const basis: number[] = []
    for (let n = 0; n < nFft; n++) for (let part = 0; part < 2; part++) for (let k = 0; k <= nFft / 2; k++) {
      basis.push(w[n]! * (part === 0 ? Math.cos((2 * Math.PI * k * n) / nFft) : -Math.sin((2 * Math.PI * k * n) / nFft)))
    }
    const plain = (t: tf.Tensor[]) => {
      const framed = tf.reshape(tf.gather(t[0]!, tf.tensor1d(taps, "int32"), 1), [frames, nFft])
      const spectrum = tf.reshape(tf.matMul(framed, tf.tensor2d(basis, [nFft, nFft + 2])), [frames, 2, nFft / 2 + 1])
      return weighted(tf.reshape(tf.sqrt(tf.add(tf.sum(tf.square(spectrum), 1), 1e-10)), [1, frames, nFft / 2 + 1]), 4)
    }
    expectClose(ours([x]).dataSync(), plain([x]).dataSync(), 1e-5)
    expectClose(analytic!, analyticGradients(plain, [x])[0]!, 1e-4)
  })

  it("spectralLoss is 0 for a perfect output, scales with the error, and has finite-difference gradients", () => {
    const stfts = [{ nFft: 32, hop: 8, window: 24 }, { nFft: 16, hop: 4, window: 12 }]
    const target = tf.tensor3d(testSignal(64, 5), [1, 64, 1])
    expect(spectralLoss(target, target, stfts).dataSync()[0]).toBeLessThan(1e-4)
    const half = spectralLoss(target, tf.mul(target, 0.5), stfts).dataSync()[0]!
    const silent = spectralLoss(target, tf.zerosLike(target), stfts).dataSync()[0]!
    expect(half / silent).toBeCloseTo(0.5, 3)
    const output = normal([1, 64, 1], 6, 0.5)
    const f = (t: tf.Tensor[]): tf.Scalar => tf.add(spectralLoss(target, t[0] as tf.Tensor3D, stfts), l2Loss(target, t[0]!))
    expectClose(analyticGradients(f, [output])[0]!, numericGradient(f, [output], 0, 1e-2), 1e-2)
  })
})

describe("plain-array STFT and spectral convergence", () => {
  it.each(RESOLUTIONS.filter((c) => (c.nFft & (c.nFft - 1)) === 0))("stftMagnitudes matches a naive DFT (nFft $nFft, hop $hop, window $window)", (config) => {
    const signal = testSignal(203, 7)
    const { frames, bins, values } = stftMagnitudes(signal, config)
    expect([frames, bins]).toEqual([frameCount(203, config.hop), config.nFft / 2 + 1])
    expectClose(values, naiveStft(signal, config), 1e-6)
  })

  it("spectral loss resolutions scale with the sample rate", () => {
    expect(spectralLossStfts(44100)).toEqual(SPECTRAL_LOSS_STFTS_44K)
    expect(spectralLossStfts(22050)).toEqual([
      { nFft: 1024, hop: 120, window: 600 },
      { nFft: 512, hop: 60, window: 300 },
      { nFft: 256, hop: 25, window: 120 },
    ])
  })

  it("spectral convergence: −∞ dB when exact, −6.02 dB at half level, NaN for silence, averaged over 3 s segments", () => {
    const rate = 8000
    const signal = testSignal(rate * 7, 8) // two whole 3 s segments; the last second is left out
    expect(spectralConvergence(signal, signal, rate)).toBe(-Infinity)
    expect(spectralConvergence(signal, signal.map((v) => v / 2), rate)).toBeCloseTo(20 * Math.log10(0.5), 4)
    expect(spectralConvergence(new Float32Array(rate * 3), new Float32Array(rate * 3), rate)).toBeNaN()
    // first segment reconstructed exactly, second at half level: mean ratio 0.25
    const mixed = signal.map((v, i) => (i < rate * 3 ? v : v / 2))
    expect(spectralConvergence(signal, mixed, rate)).toBeCloseTo(20 * Math.log10(0.25), 4)
  })
})
