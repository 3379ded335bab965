/**
 * Vocal activity from a separated vocals stem: a frame is sung when its level is within `rangeDb`
 * of the loudest frame and above an absolute floor. Spleeter's stems leak a little of everything,
 * so the threshold is relative to the stem itself.
 */

/** Per-frame flags (1 = vocals) and the frame length they use. */
export interface VocalActivity {
  readonly frameSeconds: number
  readonly active: Int8Array
  readonly seconds: number
}

/** Vocal activity of a (stereo or mono) vocals stem, in frames of `frameSeconds`. */
export const vocalActivity = (
  channels: ReadonlyArray<Float32Array>,
  sampleRate: number,
  options: { readonly frameSeconds?: number; readonly rangeDb?: number; readonly floorDbfs?: number } = {},
): VocalActivity => {
  const frameSeconds = options.frameSeconds ?? 0.05
  const frame = Math.max(1, Math.round(frameSeconds * sampleRate))
  const length = channels[0]?.length ?? 0
  const frames = Math.ceil(length / frame)
  const levels = new Float64Array(frames)
  for (let f = 0; f < frames; f++) {
    let sum = 0
    const end = Math.min(length, (f + 1) * frame)
    for (const samples of channels) for (let i = f * frame; i < end; i++) sum += samples[i]! * samples[i]!
    levels[f] = 10 * Math.log10(sum / Math.max(1, (end - f * frame) * channels.length) + 1e-20)
  }
  const loudest = levels.reduce((a, b) => Math.max(a, b), -Infinity)
  const threshold = Math.max(options.floorDbfs ?? -50, loudest - (options.rangeDb ?? 30))
  const active = Int8Array.from(levels, (db) => (db >= threshold ? 1 : 0))
  const count = active.reduce((a, b) => a + b, 0)
  return { frameSeconds: frame / sampleRate, active, seconds: count * (frame / sampleRate) }
}
