/**
 * Spectrogram images for the run report: |STFT| (models/fft.ts) on a mel-spaced frequency axis,
 * in dB below a reference level, coloured low-to-high from near-black through purple to pale
 * yellow, as an indexed PNG. Giving a reconstruction its original's reference puts both on one
 * scale, so what a level loses shows as colour that is missing.
 *
 *   signal (T) → |STFT| (frames, nFft/2 + 1) → mel rows (frames, rows) → dB → palette → PNG
 */
import { stftMagnitudes } from "../models/fft.ts"
import { encodePng, pngDataUri } from "./report-png.ts"

/** A spectrogram as a PNG data URI, with what its axes span. */
export interface SpectrogramImage {
  readonly uri: string
  /** Pixels: one column per STFT frame, one row per mel band (the lowest at the bottom). */
  readonly width: number
  readonly height: number
  readonly seconds: number
  /** The top of the frequency axis: half the sample rate. */
  readonly topHz: number
  /** The loudest magnitude in it: the reference to draw others on the same scale. */
  readonly peak: number
}

/** How a spectrogram is cut and drawn. */
export interface SpectrogramOptions {
  /** Magnitude drawn as 0 dB (the brightest); default the signal's own loudest. */
  readonly reference?: number
  /** dB below the reference drawn darkest [80]. */
  readonly rangeDb?: number
  /** Mel bands, the image's height [160]. */
  readonly rows?: number
  readonly nFft?: number
  readonly hop?: number
}

/** The spectrogram of a mono signal. */
export const spectrogramImage = (signal: Float32Array, sampleRate: number, options: SpectrogramOptions = {}): SpectrogramImage => {
  const { rangeDb = 80, rows = 160, nFft = 1024, hop = 256 } = options
  const padded = signal.length > nFft ? signal : Float32Array.from({ length: nFft + 1 }, (_, i) => signal[i] ?? 0)
  const { frames, bins, values } = stftMagnitudes(padded, { nFft, hop, window: nFft })
  const peak = values.reduce((a, v) => Math.max(a, v), 0)
  const reference = Math.max(options.reference ?? peak, 1e-9)
  const topHz = sampleRate / 2
  // each row's centre frequency as a fractional STFT bin, bottom row first
  const rowBins = Array.from({ length: rows }, (_, r) => (hzOfMel(((r + 0.5) / rows) * melOf(topHz)) / topHz) * (bins - 1))
  const pixels = new Uint8Array(frames * rows)
  for (let f = 0; f < frames; f++) {
    for (let r = 0; r < rows; r++) {
      const at = rowBins[r]!
      const low = Math.floor(at)
      const high = Math.min(low + 1, bins - 1)
      const magnitude = values[f * bins + low]! + (at - low) * (values[f * bins + high]! - values[f * bins + low]!)
      const db = 20 * Math.log10(Math.max(magnitude, 1e-12) / reference)
      pixels[(rows - 1 - r) * frames + f] = Math.round(255 * Math.min(1, Math.max(0, (db + rangeDb) / rangeDb)))
    }
  }
  const png = encodePng({ width: frames, height: rows, pixels, palette: PALETTE })
  return { uri: pngDataUri(png), width: frames, height: rows, seconds: signal.length / sampleRate, topHz, peak }
}

/** Where `hz` sits on a spectrogram's frequency axis, 0 at the bottom to 1 at `topHz`. */
export const frequencyPosition = (hz: number, topHz: number): number => melOf(hz) / melOf(topHz)

// ---------------------------------------------------------------------------------------------

/** The HTK mel scale. */
const melOf = (hz: number): number => 2595 * Math.log10(1 + hz / 700)
const hzOfMel = (mel: number): number => 700 * (10 ** (mel / 2595) - 1)

/** 256 colours, dark to bright, interpolated between a few stops of the magma colour map. */
const PALETTE = (() => {
  const stops = [[0, 0, 4], [59, 15, 112], [140, 41, 129], [222, 73, 104], [254, 159, 109], [252, 253, 191]]
  const out = new Uint8Array(256 * 3)
  for (let i = 0; i < 256; i++) {
    const x = (i / 255) * (stops.length - 1)
    const k = Math.min(Math.floor(x), stops.length - 2)
    for (let c = 0; c < 3; c++) out[3 * i + c] = Math.round(stops[k]![c]! + (x - k) * (stops[k + 1]![c]! - stops[k]![c]!))
  }
  return out
})()
