/**
 * The VQ-VAE's reconstruction losses (L2 and the multi-resolution spectral loss, on tensors, with
 * gradients) and the paper's reconstruction metric, spectral convergence (on plain arrays).
 */
import * as tf from "@tensorflow/tfjs-core"
import { stftMagnitudes } from "./fft.ts"
import { stftMagnitude, type StftConfig } from "./stft.ts"

/** The spectral loss's three resolutions at 44.1 kHz (paper, Appendix B.1). */
export const SPECTRAL_LOSS_STFTS_44K: readonly StftConfig[] = [
  { nFft: 2048, hop: 240, window: 1200 },
  { nFft: 1024, hop: 120, window: 600 },
  { nFft: 512, hop: 50, window: 240 },
]

/**
 * The spectral loss's resolutions at `sampleRate`: hop and window scale with the rate, nFft to the
 * nearest power of two that holds the window (22.05 kHz: 1024/120/600, 512/60/300, 256/25/120).
 */
export const spectralLossStfts = (sampleRate: number): StftConfig[] =>
  SPECTRAL_LOSS_STFTS_44K.map(({ nFft, hop, window }) => {
    const scale = sampleRate / 44100
    const scaledWindow = Math.max(2, Math.round(window * scale))
    let scaledFft = 2 ** Math.round(Math.log2(nFft * scale))
    while (scaledFft < scaledWindow) scaledFft *= 2
    return { nFft: scaledFft, hop: Math.max(1, Math.round(hop * scale)), window: scaledWindow }
  })

/** Mean squared error between target and output. */
export const l2Loss = (target: tf.Tensor, output: tf.Tensor): tf.Scalar => tf.mean(tf.squaredDifference(target, output))

/**
 * The multi-resolution spectral loss on (B, T, C) audio: per resolution, ‖|STFT x| − |STFT x̂|‖_F
 * of each clip and channel, averaged over clips and channels; then averaged over resolutions.
 */
export const spectralLoss = (target: tf.Tensor3D, output: tf.Tensor3D, stfts: readonly StftConfig[]): tf.Scalar => {
  const mono = (x: tf.Tensor3D): tf.Tensor2D => tf.reshape(tf.transpose(x, [0, 2, 1]), [-1, x.shape[1]]) // (B·C, T)
  const [x, y] = [mono(target), mono(output)]
  const perResolution = stfts.map((stft) => tf.mean(frobenius(tf.sub(stftMagnitude(x, stft), stftMagnitude(y, stft)))))
  return tf.div(tf.addN(perResolution), stfts.length)
}

/**
 * What each loss would be for a silent output (the reference implementation's "bandwidth"):
 * dividing the losses by it makes both start near 1 whatever the level and length of the audio.
 */
export interface LossScale {
  readonly l2: number
  readonly spectral: number
}

/** Measures `LossScale` on a batch of training audio (B, T, C). */
export const measureLossScale = (audio: tf.Tensor3D, stfts: readonly StftConfig[]): LossScale =>
  tf.tidy(() => {
    const silence = tf.zerosLike(audio)
    return {
      l2: l2Loss(audio, silence).dataSync()[0]!,
      spectral: spectralLoss(audio, silence, stfts).dataSync()[0]!,
    }
  })

/** Spectral convergence's STFT (paper: nFft 2048, hop 256, Hann window 1536). */
export const SPECTRAL_CONVERGENCE_STFT: StftConfig = { nFft: 2048, hop: 256, window: 1536 }

/** Options of `spectralConvergence`. */
export interface SpectralConvergenceOptions {
  /** STFT resolution (SPECTRAL_CONVERGENCE_STFT); nFft a power of two. */
  readonly stft?: StftConfig
  /** Segment length (3 s); a clip shorter than one segment is one segment. */
  readonly segmentSeconds?: number
}

/**
 * The paper's reconstruction metric, in dB: 20·log10 of the mean over 3 s segments of
 * ‖|STFT x| − |STFT x̂|‖_F / ‖|STFT x|‖_F, on mono audio. Lower is better (paper, bottom level:
 * −23 dB). Only whole segments count, and silent ones (RMS below −80 dBFS) are left out, since their
 * ratio is undefined; NaN when no segment is left.
 */
export const spectralConvergence = (
  reference: Float32Array,
  reconstruction: Float32Array,
  sampleRate: number,
  options: SpectralConvergenceOptions = {},
): number => {
  if (reference.length !== reconstruction.length) {
    throw new RangeError(`spectralConvergence: ${reference.length} reference samples but ${reconstruction.length} reconstructed`)
  }
  const stft = options.stft ?? SPECTRAL_CONVERGENCE_STFT
  const segment = Math.min(reference.length, Math.round((options.segmentSeconds ?? 3) * sampleRate))
  let sum = 0
  let count = 0
  for (let start = 0; segment > 0 && start + segment <= reference.length; start += segment) {
    const x = reference.subarray(start, start + segment)
    if (rms(x) < SILENT_RMS) continue
    const s = stftMagnitudes(x, stft).values
    const t = stftMagnitudes(reconstruction.subarray(start, start + segment), stft).values
    let residual = 0
    let energy = 0
    for (let i = 0; i < s.length; i++) {
      residual += (s[i]! - t[i]!) ** 2
      energy += s[i]! ** 2
    }
    sum += Math.sqrt(residual / energy)
    count++
  }
  return count === 0 ? NaN : 20 * Math.log10(sum / count)
}

/** −80 dBFS. */
const SILENT_RMS = 1e-4

const rms = (x: Float32Array): number => {
  let sum = 0
  for (let i = 0; i < x.length; i++) sum += x[i]! * x[i]!
  return Math.sqrt(sum / Math.max(1, x.length))
}

/** Frobenius norm of each item of (N, ...) → (N); the floor keeps the gradient finite at 0. */
const frobenius = (x: tf.Tensor): tf.Tensor1D =>
  tf.sqrt(tf.add(tf.sum(tf.square(tf.reshape(x, [x.shape[0]!, -1])), 1), 1e-12)) as tf.Tensor1D
