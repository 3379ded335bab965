/**
 * Per-song numbers for the ingest report (duration, level, clipping), and the random stereo
 * downmix that training applies to each chunk (the paper's augmentation).
 */

/** What `audioStats` measures. Levels are over all channels' samples; dBFS is 20·log10 of the
 * linear value (a full-scale sine has an RMS of −3.01 dBFS), −Infinity for digital silence. */
export interface AudioStats {
  readonly seconds: number
  readonly channels: number
  /** Largest |sample|. */
  readonly peak: number
  readonly peakDbfs: number
  readonly rmsDbfs: number
  /** Fraction of samples with |x| ≥ CLIP_LEVEL. */
  readonly clippedFraction: number
}

/** A sample at or above this magnitude counts as clipped. */
export const CLIP_LEVEL = 0.999

/** Measures planar channels at `sampleRate`. */
export const audioStats = (channels: ReadonlyArray<Float32Array>, sampleRate: number): AudioStats => {
  const frames = channels[0]?.length ?? 0
  let peak = 0
  let squares = 0
  let clipped = 0
  for (const samples of channels) {
    let sum = 0 // per channel, so that a long song does not lose small squares to a huge total
    for (let i = 0; i < samples.length; i++) {
      const x = samples[i]!
      const magnitude = Math.abs(x)
      if (magnitude > peak) peak = magnitude
      if (magnitude >= CLIP_LEVEL) clipped++
      sum += x * x
    }
    squares += sum
  }
  const count = frames * channels.length
  return {
    seconds: frames / sampleRate,
    channels: channels.length,
    peak,
    peakDbfs: dbfs(peak),
    rmsDbfs: dbfs(count === 0 ? 0 : Math.sqrt(squares / count)),
    clippedFraction: count === 0 ? 0 : clipped / count,
  }
}

/** A linear level in dBFS (−Infinity for 0). */
export const dbfs = (level: number): number => (level > 0 ? 20 * Math.log10(level) : -Infinity)

/**
 * One channel from stereo: w·left + (1 − w)·right, with `weightLeft` w in [0, 1] (training draws
 * it at random per chunk). A mono input is returned as it is.
 */
export const downmix = (channels: ReadonlyArray<Float32Array>, weightLeft: number): Float32Array => {
  if (!(weightLeft >= 0 && weightLeft <= 1)) throw new RangeError(`downmix weight must be in [0, 1], not ${weightLeft}`)
  const [left, right] = channels
  if (left === undefined) throw new RangeError("downmix needs at least one channel")
  if (right === undefined) return left
  const out = new Float32Array(left.length)
  const w = weightLeft
  for (let i = 0; i < out.length; i++) out[i] = w * left[i]! + (1 - w) * right[i]!
  return out
}
