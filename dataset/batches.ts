/**
 * Training clips for the VQ-VAE: a random training chunk, shifted at random by up to half a chunk
 * (kept inside its song, as the reference implementation does), cut to the clip length and
 * downmixed to mono with a random left/right blend (the paper's augmentation).
 */
import { downmix } from "../audio/stats.ts"

/** A random source in [0, 1). */
export type Random = () => number

/** Where a chunk lies in its song, in seconds. */
export interface ChunkSpan {
  readonly song: string
  readonly start: number
  readonly seconds: number
}

/** A song's decoded stereo audio. */
export interface SongAudio {
  readonly left: Float32Array
  readonly right: Float32Array
}

/**
 * A function giving `batch` clips of `clipSamples` each, concatenated (B·T values), drawn from
 * `chunks` with `random`. Songs shorter than a clip are not drawn from.
 */
export const clipSampler = (
  chunks: ReadonlyArray<ChunkSpan>,
  audio: ReadonlyMap<string, SongAudio>,
  sampleRate: number,
  clipSamples: number,
  random: Random,
) => {
  const usable = chunks.filter((c) => (audio.get(c.song)?.left.length ?? 0) >= clipSamples)
  if (usable.length === 0) throw new RangeError(`no training chunk is long enough for clips of ${clipSamples} samples`)
  return (batch: number): Float32Array => {
    const out = new Float32Array(batch * clipSamples)
    for (let b = 0; b < batch; b++) {
      const chunk = usable[Math.floor(random() * usable.length)]!
      const song = audio.get(chunk.song)!
      const chunkSamples = Math.round(chunk.seconds * sampleRate)
      const shift = Math.round((random() - 0.5) * chunkSamples)
      const latest = song.left.length - clipSamples
      const start = Math.max(0, Math.min(latest, Math.round(chunk.start * sampleRate) + shift))
      const weight = random()
      const clip = downmix([song.left.subarray(start, start + clipSamples), song.right.subarray(start, start + clipSamples)], weight)
      out.set(clip, b * clipSamples)
    }
    return out
  }
}
