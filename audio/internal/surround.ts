/**
 * More than two channels down to stereo: each channel goes to the side its speaker is on, centre
 * channels to both at −3 dB, surrounds at −3 dB, LFE dropped (ITU-R BS.775); then both sides are
 * scaled by the same factor so that the mix cannot clip.
 */

/** WAVE_FORMAT_EXTENSIBLE's speaker bits, in channel order. */
const SPEAKERS = ["FL", "FR", "FC", "LFE", "BL", "BR", "FLC", "FRC", "BC", "SL", "SR", "TC", "TFL", "TFC", "TFR", "TBL", "TBC", "TBR"]

/** Layouts by channel count when a file gives no mask (WAV, FLAC and the Vorbis decoder's order). */
const DEFAULT_MASKS: Readonly<Record<number, number>> = { 3: 0x7, 4: 0x33, 5: 0x37, 6: 0x3f, 7: 0x70f, 8: 0x63f }

const S = Math.SQRT1_2
/** Left and right weights of each speaker; a channel with no known speaker goes to both. */
const WEIGHTS: Readonly<Record<string, readonly [number, number]>> = {
  FL: [1, 0], FR: [0, 1], FC: [S, S], LFE: [0, 0], BL: [S, 0], BR: [0, S], FLC: [1, 0], FRC: [0, 1], BC: [S, S],
  SL: [S, 0], SR: [0, S], TC: [S, S], TFL: [S, 0], TFC: [S, S], TFR: [0, S], TBL: [S, 0], TBC: [S, S], TBR: [0, S],
}
const UNKNOWN: readonly [number, number] = [S, S]

/** Mixes 3 or more channels to two; `layout` names the speakers assumed, for the warning. */
export const surroundToStereo = (channels: ReadonlyArray<Float32Array>, mask: number | undefined) => {
  const speakers = speakersOf(channels.length, mask ?? DEFAULT_MASKS[channels.length] ?? 0)
  const weights = speakers.map((s) => (s === undefined ? UNKNOWN : WEIGHTS[s]!))
  const gain = 1 / Math.max(weights.reduce((a, w) => a + w[0], 0), weights.reduce((a, w) => a + w[1], 0))
  const frames = channels[0]!.length
  const left = new Float32Array(frames)
  const right = new Float32Array(frames)
  channels.forEach((channel, c) => {
    const [l, r] = weights[c]!
    if (l > 0) for (let i = 0; i < frames; i++) left[i]! += gain * l * channel[i]!
    if (r > 0) for (let i = 0; i < frames; i++) right[i]! += gain * r * channel[i]!
  })
  const layout = speakers.map((s) => s ?? "?").join(" ")
  return { channels: [left, right], layout }
}

/** The speaker of each channel: the mask's set bits in order, undefined beyond them. */
const speakersOf = (count: number, mask: number): Array<string | undefined> => {
  const named = SPEAKERS.filter((_, bit) => (mask >>> bit) & 1)
  return Array.from({ length: count }, (_, c) => named[c])
}
