/**
 * Differentiable STFT magnitudes for the spectral loss. `tf.signal.stft` has no gradient (complex
 * numbers), so frames are cut with reshapes and slices and multiplied by a real DFT basis (cosine
 * and sine rows, windowed) in one matMul — which also puts the STFT behind `ops`.
 *
 * Conventions follow `torch.stft(center=True, pad_mode="reflect")` with a periodic Hann window of
 * `window` samples centred in `nFft`: frame f covers samples f·hop − ⌈window/2⌉ onwards (centred on
 * f·hop), there are ⌊T/hop⌋ + 1 frames, and the ends are reflected. Magnitudes do not depend on where the window sits in the nFft
 * frame (a phase factor), so the basis spans only the window's samples.
 */
import * as tf from "@tensorflow/tfjs-core"
import { matMulByConstant } from "./ops.ts"

/** One STFT resolution, in samples. */
export interface StftConfig {
  /** DFT size: nFft/2 + 1 frequency bins. */
  readonly nFft: number
  /** Step between frames. */
  readonly hop: number
  /** Hann window length (≤ nFft). */
  readonly window: number
}

/** Number of frames of a T-sample signal. */
export const frameCount = (length: number, hop: number): number => Math.floor(length / hop) + 1

/** Periodic Hann window (torch.hann_window's default). */
export const hannWindow = (length: number): Float64Array => {
  const w = new Float64Array(length)
  for (let n = 0; n < length; n++) w[n] = 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / length)
  return w
}

/** |STFT| of mono signals: x (B, T) → (B, frames, nFft/2 + 1). Needs T > ⌈window/2⌉. */
export const stftMagnitude = (x: tf.Tensor2D, config: StftConfig): tf.Tensor3D => {
  const { nFft, hop, window } = config
  const [batch, length] = x.shape
  const bins = nFft / 2 + 1
  const frames = frameCount(length, hop)
  const { taps, basis } = dftBasis(config)
  const windows = cutFrames(x, window, hop, taps, frames) // (B·frames, taps)
  const spectrum = tf.reshape(matMulByConstant(windows, basis), [batch * frames, 2, bins]) // (real, imaginary)
  // the small floor keeps the gradient of the square root finite at silent bins
  return tf.reshape(tf.sqrt(tf.add(tf.sum(tf.square(spectrum), 1), 1e-10)), [batch, frames, bins])
}

// ---------------------------------------------------------------------------------------------

/**
 * Frames of a signal: (B, T) → (B·frames, taps), frame f starting at sample f·hop − ⌈window/2⌉ of
 * the end-reflected signal. taps is a multiple of hop, so the padded signal reshapes into
 * hop-long chunks and a frame is `taps/hop` consecutive chunks: slices and a concat, no gather.
 */
const cutFrames = (x: tf.Tensor2D, window: number, hop: number, taps: number, frames: number): tf.Tensor2D => {
  const [batch] = x.shape
  const half = Math.ceil(window / 2)
  const chunksPerFrame = taps / hop
  const chunks = frames - 1 + chunksPerFrame
  const padded = fitLength(reflectPad(x, half), chunks * hop)
  const chunked = tf.reshape(padded, [batch, chunks, hop])
  const parts: tf.Tensor3D[] = []
  for (let j = 0; j < chunksPerFrame; j++) parts.push(tf.slice(chunked, [0, j, 0], [batch, frames, hop]) as tf.Tensor3D)
  return tf.reshape(chunksPerFrame === 1 ? parts[0]! : tf.concat(parts, 2), [batch * frames, taps])
}

/**
 * Reflects `pad` samples at each end (x[pad], ..., x[1] before; x[T−2], ..., x[T−1−pad] after),
 * from slices and reverses: tfjs's MirrorPad gradient only slices, dropping the reflected part.
 */
const reflectPad = (x: tf.Tensor2D, pad: number): tf.Tensor2D => {
  const [batch, length] = x.shape
  if (pad === 0) return x
  if (pad >= length) throw new RangeError(`stft: a ${length}-sample signal is too short to reflect ${pad} samples`)
  const before = tf.reverse(tf.slice(x, [0, 1], [batch, pad]), 1)
  const after = tf.reverse(tf.slice(x, [0, length - 1 - pad], [batch, pad]), 1)
  return tf.concat([before, x, after], 1)
}

const fitLength = (x: tf.Tensor2D, length: number): tf.Tensor2D => {
  const [batch, have] = x.shape
  if (have === length) return x
  return have > length ? tf.slice(x, [0, 0], [batch, length]) : tf.pad(x, [[0, 0], [0, length - have]])
}

/**
 * The windowed DFT basis (taps, 2·bins): column k is w[n]·cos(2πkn/nFft), column bins + k is
 * −w[n]·sin(2πkn/nFft); taps = window rounded up to a multiple of hop, zero past the window.
 * Built once per resolution and kept.
 */
const dftBasis = (config: StftConfig): { taps: number; basis: tf.Tensor2D } => {
  const key = `${config.nFft}/${config.hop}/${config.window}`
  const cached = BASES.get(key)
  if (cached !== undefined && !cached.basis.isDisposed) return cached
  const { nFft, hop, window } = config
  if (!(window <= nFft && hop > 0 && nFft % 2 === 0)) throw new RangeError(`stft: bad resolution ${JSON.stringify(config)}`)
  const bins = nFft / 2 + 1
  const taps = Math.ceil(window / hop) * hop
  const w = hannWindow(window)
  const values = new Float32Array(taps * 2 * bins)
  for (let n = 0; n < window; n++) {
    for (let k = 0; k < bins; k++) {
      const phase = (2 * Math.PI * ((k * n) % nFft)) / nFft // reduced first: exact for large k·n
      values[n * 2 * bins + k] = w[n]! * Math.cos(phase)
      values[n * 2 * bins + bins + k] = -w[n]! * Math.sin(phase)
    }
  }
  const entry = { taps, basis: tf.keep(tf.tensor2d(values, [taps, 2 * bins])) }
  BASES.set(key, entry)
  return entry
}

const BASES = new Map<string, { taps: number; basis: tf.Tensor2D }>()
