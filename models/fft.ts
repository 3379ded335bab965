/**
 * STFT magnitudes on plain arrays, for metrics computed outside the gradient tape (spectral
 * convergence in `evaluate`). Same conventions as `stftMagnitude` in stft.ts: periodic Hann
 * window, frames centred on multiples of hop, reflected ends.
 */
import { frameCount, hannWindow, type StftConfig } from "./stft.ts"

/** Magnitudes of one signal, frame-major: values[f·bins + k]. */
export interface Spectrogram {
  readonly frames: number
  readonly bins: number
  readonly values: Float32Array
}

/** |STFT| of a mono signal; nFft must be a power of two. */
export const stftMagnitudes = (signal: Float32Array, config: StftConfig): Spectrogram => {
  const { nFft, hop, window } = config
  const fft = radix2(nFft)
  const w = hannWindow(window)
  const half = Math.ceil(window / 2) // as in stft.ts
  const frames = frameCount(signal.length, hop)
  const bins = nFft / 2 + 1
  const values = new Float32Array(frames * bins)
  const re = new Float64Array(nFft)
  const im = new Float64Array(nFft)
  for (let f = 0; f < frames; f++) {
    re.fill(0)
    im.fill(0)
    const start = f * hop - half
    for (let n = 0; n < window; n++) re[n] = w[n]! * signal[reflect(start + n, signal.length)]!
    fft(re, im)
    for (let k = 0; k < bins; k++) values[f * bins + k] = Math.sqrt(re[k]! * re[k]! + im[k]! * im[k]!)
  }
  return { frames, bins, values }
}

/** Index into a signal reflected at both ends (…, x[2], x[1], x[0], x[1], …). */
const reflect = (i: number, length: number): number => {
  if (length === 1) return 0
  const period = 2 * (length - 1)
  const j = ((i % period) + period) % period
  return j < length ? j : period - j
}

/** An in-place iterative radix-2 complex FFT of size n, with its tables built once. */
const radix2 = (n: number): ((re: Float64Array, im: Float64Array) => void) => {
  const cached = FFTS.get(n)
  if (cached !== undefined) return cached
  if (!(n >= 2 && (n & (n - 1)) === 0)) throw new RangeError(`fft: size ${n} is not a power of two`)
  const reversed = new Uint32Array(n)
  const bits = Math.log2(n)
  for (let i = 0; i < n; i++) {
    let r = 0
    for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b)
    reversed[i] = r
  }
  const cos = new Float64Array(n / 2)
  const sin = new Float64Array(n / 2)
  for (let i = 0; i < n / 2; i++) {
    cos[i] = Math.cos((2 * Math.PI * i) / n)
    sin[i] = -Math.sin((2 * Math.PI * i) / n)
  }
  const transform = (re: Float64Array, im: Float64Array): void => {
    for (let i = 0; i < n; i++) {
      const j = reversed[i]!
      if (j > i) {
        const tr = re[i]!
        re[i] = re[j]!
        re[j] = tr
        const ti = im[i]!
        im[i] = im[j]!
        im[j] = ti
      }
    }
    for (let size = 2; size <= n; size *= 2) {
      const halfSize = size / 2
      const step = n / size
      for (let start = 0; start < n; start += size) {
        for (let k = 0; k < halfSize; k++) {
          const c = cos[k * step]!
          const s = sin[k * step]!
          const a = start + k
          const b = a + halfSize
          const xr = re[b]! * c - im[b]! * s
          const xi = re[b]! * s + im[b]! * c
          re[b] = re[a]! - xr
          im[b] = im[a]! - xi
          re[a] = re[a]! + xr
          im[a] = im[a]! + xi
        }
      }
    }
  }
  FFTS.set(n, transform)
  return transform
}

const FFTS = new Map<number, (re: Float64Array, im: Float64Array) => void>()
