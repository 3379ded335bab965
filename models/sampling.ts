/**
 * Sampling from the priors (paper-notes "Sampling", paper 4.4): token choice with temperature,
 * top-k and top-p; one window through the cached sampler, primed with known codes; windowed
 * sampling of a whole level, each window continuing from the overlap with the one before.
 *
 *   token choice:  logits (B, V) → read back → filtered, softmax(logits / T) → one seeded uniform per sequence
 *   window:        start(), the prefix in one chunk, then one token at a time through the KV cache
 *   level:         windows of the context, advancing by hopFraction × context; the last right-aligned
 *
 * Randomness comes from random.ts's streams, drawn in JS over probabilities read back from the
 * backend, never from tfjs's generator: the same seed gives the same codes on every backend
 * (as long as the backends' logits agree to the order of the candidates).
 *
 *   npx vitest run test/models/sampling.test.ts
 */
import * as tf from "@tensorflow/tfjs-core"
import { upsamplingRatio } from "./conditioning.ts"
import type { Prior, PriorConditions } from "./prior.ts"
import { seededRandom, type Random } from "./random.ts"

/** How a token is chosen from its logits [the reference: temperature 0.98-0.99, top-k 0, top-p 0]. */
export interface TokenChoice {
  /** Divides the logits; 0 takes the most likely token [1]. */
  readonly temperature?: number
  /** Keeps the k most likely tokens; 0 or absent keeps all. */
  readonly topK?: number
  /** Keeps the fewest most likely tokens whose probability reaches p (nucleus); 1 or absent keeps all. */
  readonly topP?: number
}

/** One window's sampling: B sequences of `length` codes, the first ones given by `prefix`. */
export interface WindowOptions extends TokenChoice {
  /** Sequences B. */
  readonly batch: number
  /** Codes of the window, prefix included, ≤ the sampler's length (the context, or what `upper` covers). */
  readonly length: number
  /** Known codes (B, P) row-major, P < length: the window continues from them unchanged. */
  readonly prefix?: Int32Array
  /** The stream: seededRandom(seed, ...stream). */
  readonly seed: number
  readonly stream?: readonly number[]
  /** Called after each sampled position with the positions sampled so far and how many there are to sample. */
  readonly onProgress?: (done: number, total: number) => void
}

/** Where a window of a level lies: its index, first position and length, in this level's tokens. */
export interface WindowSpan {
  readonly index: number
  readonly start: number
  readonly length: number
}

/** A whole level's sampling: windows of the context over `totalLength` codes. */
export interface LevelOptions extends TokenChoice {
  readonly batch: number
  /** Codes per sequence to produce. */
  readonly totalLength: number
  /** A window starts hopFraction × context after the one before [the reference: 0.5, 0.5, 0.125 top to bottom]. */
  readonly hopFraction: number
  /** Known codes (B, P) row-major: primed or continued sampling keeps them. */
  readonly prefix?: Int32Array
  /** The level above's codes (B, totalLength / ratio) row-major; needed by an upsampler. */
  readonly upper?: Int32Array
  /** Level index, part of each window's stream: seededRandom(seed, level, window index). */
  readonly level: number
  readonly seed: number
  /** Called after each sampled position with the positions sampled so far and how many there are to sample. */
  readonly onProgress?: (done: number, total: number) => void
  /**
   * Called after each window with the codes (B, totalLength) row-major, valid up to `filled`
   * positions per sequence: what to save so that a killed run resumes. Passing those first
   * `filled` codes back as `prefix` continues exactly as if never stopped (windows draw from
   * their own streams; a resumed window sees the same known codes).
   */
  readonly onWindow?: (window: WindowSpan, codes: Int32Array, filled: number) => void
}

/** Chooses a token for each row of `logits` (B, V), drawing one uniform per row from `random` unless greedy. */
export const chooseTokens = (logits: tf.Tensor2D, choice: TokenChoice, random: Random): Int32Array => {
  const [batch, vocab] = logits.shape
  const values = logits.dataSync() as Float32Array
  return Int32Array.from({ length: batch }, (_, b) => chooseToken(values.subarray(b * vocab, (b + 1) * vocab), choice, random))
}

/** Chooses a token from one row of logits: argmax at temperature 0, else a draw among the kept candidates. */
export const chooseToken = (logits: ArrayLike<number>, choice: TokenChoice, random: Random): number => {
  const { temperature = 1, topK = 0, topP = 1 } = choice
  checkChoice(choice, logits.length)
  if (temperature === 0) return argmax(logits)
  const kept = mostLikely(logits, topK > 0 ? topK : logits.length)
  const top = logits[kept[0]!]!
  const weights = kept.map((i) => Math.exp((logits[i]! - top) / temperature)) // float64, the largest 1
  let count = weights.length
  if (topP < 1) {
    const sum = weights.reduce((a, w) => a + w, 0)
    let reached = 0
    for (count = 0; count < weights.length && reached < topP * sum; count++) reached += weights[count]!
  }
  const total = weights.slice(0, count).reduce((a, w) => a + w, 0)
  let u = random.uniform() * total
  for (let i = 0; i < count - 1; i++) {
    u -= weights[i]!
    if (u < 0) return kept[i]!
  }
  return kept[count - 1]!
}

/** The index of the largest logit, the lowest of tied ones. */
const argmax = (logits: ArrayLike<number>): number => {
  let best = 0
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i
  return best
}

/**
 * The `count` most likely token ids, most likely first, ties by id. Fewer than all are picked
 * before sorting: those above the count-th largest logit (a sort of the bare numbers, no
 * comparator), then the lowest ids of those equal to it.
 */
const mostLikely = (logits: ArrayLike<number>, count: number): number[] => {
  const ids = Array.from({ length: logits.length }, (_, i) => i)
  const byLikelihood = (a: number, b: number) => logits[b]! - logits[a]! || a - b
  if (count >= logits.length) return ids.sort(byLikelihood)
  const threshold = Float64Array.from(logits).sort()[logits.length - count]!
  const above = ids.filter((i) => logits[i]! > threshold)
  const at = ids.filter((i) => logits[i] === threshold).slice(0, count - above.length)
  return [...above, ...at].sort(byLikelihood)
}

/**
 * One window of `length` codes for B sequences: the prefix fed through the cached sampler in one
 * chunk, then each next token chosen and fed. Returns (B, length) int32 row-major, the prefix
 * unchanged at its start.
 */
export const sampleWindow = (prior: Prior, conditions: PriorConditions, options: WindowOptions): Int32Array => finish(windowSteps(prior, conditions, options))

/** `sampleWindow` as steps: yields after each sampled position, so that a driver (`drive`) can let other work run. */
export function* windowSteps(prior: Prior, conditions: PriorConditions, options: WindowOptions): Generator<void, Int32Array> {
  const { batch, length, prefix = new Int32Array(0) } = options
  const known = prefix.length / batch
  if (!Number.isInteger(known) || known >= length || length < 1) {
    throw new RangeError(`sampleWindow: a prefix of ${prefix.length} codes for ${batch} sequences must be whole rows, shorter than the window of ${length}`)
  }
  checkChoice(options, prior.config.transformer.vocab)
  const random = seededRandom(options.seed, ...(options.stream ?? []))
  const codes = new Int32Array(batch * length)
  for (let b = 0; b < batch; b++) codes.set(prefix.subarray(b * known, (b + 1) * known), b * length)
  const sampler = prior.sampler(batch, conditions)
  try {
    /** Logits (B, n, V) → the last position's (B, V), disposing the input. */
    const last = (logits: tf.Tensor3D): tf.Tensor2D => {
      const [, n, vocab] = logits.shape
      const row = tf.tidy(() => tf.reshape(n === 1 ? logits : tf.slice(logits, [0, n - 1, 0], [batch, 1, vocab]), [batch, vocab]) as tf.Tensor2D)
      logits.dispose()
      return row
    }
    /** Feeds tokens (B, n) → the logits (B, V) of the position after the last. */
    const feed = (tokens: Int32Array, n: number): tf.Tensor2D => {
      const fed = tf.tensor2d(tokens, [batch, n], "int32")
      const logits = last(sampler.step(fed))
      fed.dispose()
      return logits
    }
    let logits = last(sampler.start()) // (B, V) of position 0
    if (known > 0) {
      logits.dispose()
      logits = feed(prefix, known) // (B, V) of position P
    }
    for (let t = known; t < length; t++) {
      const tokens = chooseTokens(logits, options, random)
      logits.dispose()
      for (let b = 0; b < batch; b++) codes[b * length + t] = tokens[b]!
      options.onProgress?.(t - known + 1, length - known)
      if (t + 1 < length) logits = feed(tokens, 1)
      yield
    }
  } finally {
    sampler.dispose()
  }
  return codes
}

/** The windows of a level: starts every `hop` tokens, the last right-aligned to `totalLength`. */
export const levelWindows = (totalLength: number, context: number, hop: number): WindowSpan[] => {
  const length = Math.min(context, totalLength)
  const windows: WindowSpan[] = [{ index: 0, start: 0, length }]
  while (windows.at(-1)!.start + length < totalLength) {
    windows.push({ index: windows.length, start: Math.min(windows.at(-1)!.start + hop, totalLength - length), length })
  }
  return windows
}

/**
 * A whole level of `totalLength` codes for B sequences, window by window: each window keeps the
 * codes it overlaps (the prefix, or the windows before) and samples the rest. `conditionsFor` gives
 * a window's labels (`labelSchedule` changes them by the window's start), total length and lyrics
 * (a tensor made for the window, disposed after it); this adds its timing offset (top level) and
 * its span of `upper` (upsamplers). Returns
 * (B, totalLength) int32 row-major.
 */
export const sampleLevel = (prior: Prior, conditionsFor: (window: WindowSpan) => PriorConditions, options: LevelOptions): Int32Array =>
  finish(levelSteps(prior, conditionsFor, options))

/** `sampleLevel` as steps: yields after each sampled position. */
export function* levelSteps(prior: Prior, conditionsFor: (window: WindowSpan) => PriorConditions, options: LevelOptions): Generator<void, Int32Array> {
  const { batch, totalLength, hopFraction, prefix = new Int32Array(0), upper } = options
  const { config } = prior
  const context = config.transformer.contextLength
  const ratio = config.upsampler ? upsamplingRatio(config.upsampler) : 1
  const hop = Math.floor((hopFraction * context) / ratio) * ratio // window starts on upper-level code boundaries
  if (!(hop >= 1 && hop <= context)) throw new RangeError(`sampleLevel: hop fraction ${hopFraction} of the context ${context} gives a hop of ${hop} tokens`)
  if (totalLength % ratio !== 0 || Math.min(context, totalLength) % ratio !== 0) throw new RangeError(`sampleLevel: ${totalLength} tokens and the window are not multiples of the upsampling ratio ${ratio}`)
  if ((upper !== undefined) !== (config.upsampler !== undefined)) throw new RangeError(`sampleLevel: the prior ${config.upsampler ? "needs" : "takes no"} upper-level codes`)
  const upperLength = totalLength / ratio
  if (upper && upper.length !== batch * upperLength) throw new RangeError(`sampleLevel: ${upper.length} upper codes, ${batch} sequences of ${totalLength} tokens need ${batch * upperLength}`)
  let filled = prefix.length / batch
  if (!Number.isInteger(filled) || filled > totalLength) throw new RangeError(`sampleLevel: a prefix of ${prefix.length} codes is not whole rows of at most ${totalLength} for ${batch} sequences`)
  const codes = new Int32Array(batch * totalLength)
  for (let b = 0; b < batch; b++) codes.set(prefix.subarray(b * filled, (b + 1) * filled), b * totalLength)
  const toSample = totalLength - filled
  for (const window of levelWindows(totalLength, context, hop)) {
    const end = window.start + window.length
    if (filled >= end) continue
    const known = filled - window.start
    const done = filled - (totalLength - toSample)
    const conditions = windowConditions(prior, conditionsFor(window), window, batch, upper && rows(upper, batch, upperLength, window.start / ratio, window.length / ratio))
    try {
      const sampled = yield* windowSteps(prior, conditions, {
        ...choiceOf(options),
        batch,
        length: window.length,
        prefix: rows(codes, batch, totalLength, window.start, known),
        seed: options.seed,
        stream: [options.level, window.index],
        onProgress: options.onProgress && ((n) => options.onProgress!(done + n, toSample)),
      })
      for (let b = 0; b < batch; b++) codes.set(sampled.subarray(b * window.length + known, (b + 1) * window.length), b * totalLength + filled)
    } finally {
      conditions.upper?.dispose()
      conditions.lyrics?.dispose() // conditionsFor's tensors belong to their window
    }
    filled = end
    options.onWindow?.(window, codes, filled)
  }
  return codes
}

/** The labels of `PriorConditions`, plain or mixed: what a `LabelChange` sets. */
export type Labels = Pick<PriorConditions, "artist" | "genres" | "artistMix" | "genreMix">

/** Labels from `second` of the song on (a duet's second voice, a genre change). */
export type LabelChange = Labels & { readonly second: number }

/**
 * A `conditionsFor` part switching labels over a song: a window gets the last change at or before
 * its first position. Labels condition only a window's start slot, so a change lands at the first
 * window starting at or after its second — up to one hop late — never mid-window. `changes` start
 * at second 0, in order; seconds are of this level's clock (`hopLength` samples per token).
 */
export const labelSchedule = (changes: readonly LabelChange[], hopLength: number, sampleRate: number): ((window: WindowSpan) => Labels) => {
  const seconds = changes.map((c) => c.second)
  if (seconds[0] !== 0 || seconds.some((s, i) => i > 0 && !(s > seconds[i - 1]!))) {
    throw new RangeError(`labelSchedule: changes at [${seconds.join(", ")}] s must start at 0 and increase`)
  }
  return (window) => {
    const { second: _, ...labels } = changes.findLast((c) => c.second * sampleRate <= window.start * hopLength)! // in samples: exact for whole seconds
    return labels
  }
}

/** One level of an ancestral sample: its prior, how its windows advance, what conditions them. */
export interface AncestralLevel extends TokenChoice {
  readonly prior: Prior
  readonly hopFraction: number
  readonly conditionsFor: (window: WindowSpan) => PriorConditions
  /** Known codes (B, P) row-major of this level: primed sampling. */
  readonly prefix?: Int32Array
}

/**
 * Ancestral sampling (paper 4.4): the top level's `topLength` codes, then each level below given
 * the codes above, its length the above's × its upsampling ratio. `levels` run top first; level
 * numbers count down to 0 at the bottom (the reference's), each level's windows drawing from
 * (seed, level number, window). Returns each level's codes (B, length) row-major, top first.
 */
export const sampleAncestral = (levels: readonly AncestralLevel[], options: AncestralOptions): Int32Array[] => finish(ancestralSteps(levels, options))

/** What an ancestral sample is: B sequences of `topLength` top-level codes, and what to call as it goes. */
export interface AncestralOptions {
  readonly batch: number
  readonly topLength: number
  readonly seed: number
  readonly onProgress?: (level: number, done: number, total: number) => void
  /** sampleLevel's `onWindow`, with the level number; `onLevel` after each level with its whole codes. */
  readonly onWindow?: (level: number, window: WindowSpan, codes: Int32Array, filled: number) => void
  readonly onLevel?: (level: number, codes: Int32Array) => void
}

/** `sampleAncestral` as steps: yields after each sampled position. */
export function* ancestralSteps(levels: readonly AncestralLevel[], options: AncestralOptions): Generator<void, Int32Array[]> {
  const sampled: Int32Array[] = []
  let totalLength = options.topLength
  for (const [i, plan] of levels.entries()) {
    const { prior } = plan
    const level = levels.length - 1 - i
    if (i > 0 && !prior.config.upsampler) throw new RangeError(`sampleAncestral: level ${level}'s prior has no upsampler conditioner to read the codes above`)
    if (i > 0) totalLength *= upsamplingRatio(prior.config.upsampler!)
    sampled.push(yield* levelSteps(prior, plan.conditionsFor, {
      ...choiceOf(plan),
      batch: options.batch,
      totalLength,
      hopFraction: plan.hopFraction,
      ...(plan.prefix ? { prefix: plan.prefix } : {}),
      ...(i > 0 ? { upper: sampled[i - 1]! } : {}),
      level,
      seed: options.seed,
      ...(options.onProgress ? { onProgress: (done: number, total: number) => options.onProgress!(level, done, total) } : {}),
      ...(options.onWindow ? { onWindow: (window: WindowSpan, codes: Int32Array, filled: number) => options.onWindow!(level, window, codes, filled) } : {}),
    }))
    options.onLevel?.(level, sampled.at(-1)!)
  }
  return sampled
}

/**
 * Runs steps to the end, letting the event loop run every `sliceMs` milliseconds (progress
 * messages go out, a signal is heard). Stopping early (`AbortSignal`) closes the generator, so
 * its samplers are freed, and rejects.
 */
export const drive = async <T>(steps: Generator<void, T>, options: { readonly sliceMs?: number; readonly signal?: AbortSignal } = {}): Promise<T> => {
  const { sliceMs = 50, signal } = options
  let since = Date.now()
  try {
    for (;;) {
      const next = steps.next()
      if (next.done) return next.value
      if (Date.now() - since >= sliceMs) {
        await new Promise((resolve) => setImmediate(resolve))
        signal?.throwIfAborted()
        since = Date.now()
      }
    }
  } finally {
    steps.return(undefined as T)
  }
}

/** Runs steps to the end at once. */
const finish = <T>(steps: Generator<void, T>): T => {
  for (;;) {
    const next = steps.next()
    if (next.done) return next.value
  }
}

// ---------------------------------------------------------------------------------------------

/** A window's conditions: the caller's, with the window's timing offset and its upper codes (B, length / ratio). */
const windowConditions = (prior: Prior, base: PriorConditions, window: WindowSpan, batch: number, upper: Int32Array | undefined): PriorConditions => {
  const { hopLength, sampleRate, timing } = prior.config
  const offset = timing ? { offset: Array.from({ length: batch }, () => (window.start * hopLength) / sampleRate) } : {}
  return { ...base, ...offset, ...(upper ? { upper: tf.tensor2d(upper, [batch, upper.length / batch], "int32") } : {}) }
}

/** Columns from … from + count − 1 of each of B rows of `width` (row-major), as (B, count). */
const rows = (values: Int32Array, batch: number, width: number, from: number, count: number): Int32Array => {
  const out = new Int32Array(batch * count)
  for (let b = 0; b < batch; b++) out.set(values.subarray(b * width + from, b * width + from + count), b * count)
  return out
}

const choiceOf = ({ temperature, topK, topP }: TokenChoice): TokenChoice => ({
  ...(temperature === undefined ? {} : { temperature }),
  ...(topK === undefined ? {} : { topK }),
  ...(topP === undefined ? {} : { topP }),
})

/** Throws, saying what is wrong, unless the choice's numbers are in range for a vocabulary of `vocab`. */
const checkChoice = ({ temperature = 1, topK = 0, topP = 1 }: TokenChoice, vocab: number): void => {
  if (!(temperature >= 0)) throw new RangeError(`sampling: temperature ${temperature} is negative`)
  if (!Number.isInteger(topK) || topK < 0 || topK > vocab) throw new RangeError(`sampling: top-k ${topK} is outside 0 … ${vocab}`)
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`sampling: top-p ${topP} is outside (0, 1]`)
}
