/**
 * The lyrics-to-music alignment read off an encoder-decoder attention head (paper 5.3: one head of
 * the top prior's encoder-decoder layers learns where in the lyrics each music token is), from the
 * weights `Prior.lyricAttention` gives, as plain numbers:
 *
 *   head:       `bestHead`, the head that gains most by moving forward through the lyrics (below)
 *   path:       for each music token one lyric character, non-decreasing, maximising the summed
 *               attention (a Viterbi pass: best[t][c] = w[t][c] + max over c' ≤ c of best[t − 1][c'])
 *   song:       windows stitched, each token read from the earliest window holding it — the window
 *               that sampled it and saw the most music before it (the reference's `get_alignment`
 *               does the same); each window's path starts at or after where the one before ended
 *   heat map:   the chosen head's weights over the song, averaged into a small grid for a page
 *
 * Why this head score: sharpness (mean max weight) alone and monotonicity alone both favour a head
 * that always reads the same character — a space, the padding, the first letter — since a constant
 * path is sharp and monotone. An alignment is attention that moves through the lyrics, so a head
 * scores the attention its best monotone path captures minus what the best single character
 * captures, both per token: 0 for a uniform head or a sink, near 1 for a clean diagonal or staircase.
 */
import * as tf from "@tensorflow/tfjs-core"

/** One sample's encoder-decoder attention over one window: weights (heads, tokens, characters), row-major. */
export interface LyricAttention {
  readonly heads: number
  /** Music tokens of the window. */
  readonly tokens: number
  /** Lyric positions of the window (the encoder's Tl). */
  readonly characters: number
  readonly weights: Float32Array
}

/** A window's attention and where it lies in the song. */
export interface AttentionWindow {
  readonly attention: LyricAttention
  /** The song's top-level token at the window's token 0. */
  readonly tokenStart: number
  /** The song's lyric character at the window's lyric position 0; positions outside the song's lyrics are padding. */
  readonly charStart: number
}

/** How long a song is: top-level tokens and lyric characters. */
export interface SongLength {
  readonly tokens: number
  readonly characters: number
}

/** Which lyric character each music token is sung on, and the reverse. */
export interface LyricAlignment {
  /** Per token, the character aligned with it; non-decreasing. */
  readonly character: readonly number[]
  /** Per character, the first token aligned with it or with a later character: tokens [start, end) are its own, none for a skipped one. */
  readonly start: readonly number[]
  /** Per character, the first token aligned with a later character (tokens when none). */
  readonly end: readonly number[]
}

/** One head's attention over a song, averaged into cells: `rows` character bins × `columns` token bins. */
export interface AttentionHeatMap {
  readonly columns: number
  readonly rows: number
  /** What the bins cover: column j holds tokens [⌊j·tokens/columns⌋, ⌊(j+1)·tokens/columns⌋), rows likewise characters. */
  readonly tokens: number
  readonly characters: number
  /** Mean weight per cell, row-major (rows, columns); row 0 is the first characters. */
  readonly values: readonly number[]
}

/**
 * Sample `sample` of `Prior.lyricAttention`'s (B, heads, T, Tl) weights as plain numbers: every
 * head, or only `head` (then head 0 of the result). Every head of a paper-sized window is 8 × 8192
 * × 512 floats, 128 MB: over a long song, score each window's heads as it comes (`headScores`) and
 * keep one head.
 */
export const sampleAttention = (weights: tf.Tensor4D, sample: number, head?: number): LyricAttention => {
  const [, heads, tokens, characters] = weights.shape
  const [first, count] = head === undefined ? [0, heads] : [head, 1]
  const values = tf.tidy(() => tf.slice(weights, [sample, first, 0, 0], [1, count, tokens, characters]).dataSync() as Float32Array)
  return { heads: count, tokens, characters, weights: values }
}

/**
 * Each head's alignment score, in [0, 1]: per token, the attention its best non-decreasing path
 * through the characters captures, minus what the best constant path (one character) captures.
 */
export const headScores = (attention: LyricAttention): number[] =>
  Array.from({ length: attention.heads }, (_, head) => {
    const matrix = headMatrix(attention, head)
    return (monotonePath(matrix, 0, attention.tokens, 0, attention.characters, false).mass - constantMass(matrix)) / attention.tokens
  })

/** The head with the highest score over `windows` of one sample, each window weighted by its tokens: one head for the whole song. */
export const bestHead = (windows: readonly LyricAttention[]): number => {
  if (windows.length === 0) throw new RangeError("bestHead: no windows")
  const { heads } = windows[0]!
  if (windows.some((w) => w.heads !== heads)) throw new RangeError("bestHead: the windows have different numbers of heads")
  const totals = new Array<number>(heads).fill(0)
  for (const w of windows) headScores(w).forEach((score, h) => (totals[h]! += score * w.tokens))
  return totals.indexOf(Math.max(...totals))
}

/** A single window's alignment by `head`: tokens and characters are the window's own. */
export const alignWindow = (attention: LyricAttention, head: number): LyricAlignment =>
  alignSong([{ attention, tokenStart: 0, charStart: 0 }], head, { tokens: attention.tokens, characters: attention.characters })

/**
 * The song's alignment by `head` from its windows: each token from the earliest window holding it,
 * a monotone path through that window's tokens and real characters (not its padding), starting at
 * or after the character the previous window's path ended on.
 */
export const alignSong = (windows: readonly AttentionWindow[], head: number, song: SongLength): LyricAlignment => {
  checkSong(windows, head, song, "alignSong")
  const character: number[] = []
  let last = 0
  for (const { window, from, to } of ownership(windows, song)) {
    const { attention, tokenStart, charStart } = window
    const first = Math.max(0, last - charStart) // columns of the window at or after the last character
    const stop = Math.min(attention.characters, song.characters - charStart)
    if (first >= stop) {
      for (let t = from; t < to; t++) character.push(last) // nothing ahead in this window's lyrics: stay
      continue
    }
    const { path } = monotonePath(headMatrix(attention, head), from - tokenStart, to - tokenStart, first, stop, true)
    for (const column of path!) character.push(charStart + column)
    last = character.at(-1)!
  }
  return { character, ...characterSpans(character, song.characters) }
}

/**
 * The chosen head's attention over the song in at most `size` cells (400 × 200 by default), each
 * token from the earliest window holding it, as in `alignSong`; padding positions are left out.
 */
export const attentionHeatMap = (
  windows: readonly AttentionWindow[],
  head: number,
  song: SongLength,
  size: { readonly columns: number; readonly rows: number } = { columns: 400, rows: 200 },
): AttentionHeatMap => {
  checkSong(windows, head, song, "attentionHeatMap")
  const columns = Math.min(size.columns, song.tokens)
  const rows = Math.min(size.rows, song.characters)
  const columnOf = (t: number) => Math.floor((t * columns) / song.tokens)
  const rowOf = (c: number) => Math.floor((c * rows) / song.characters)
  const sums = new Float64Array(rows * columns)
  for (const { window, from, to } of ownership(windows, song)) {
    const { attention, tokenStart, charStart } = window
    const { values: matrix } = headMatrix(attention, head)
    const firstColumn = Math.max(0, -charStart)
    const stop = Math.min(attention.characters, song.characters - charStart)
    for (let t = from; t < to; t++) {
      const base = (t - tokenStart) * attention.characters
      const column = columnOf(t)
      for (let c = firstColumn; c < stop; c++) sums[rowOf(charStart + c) * columns + column]! += matrix[base + c]!
    }
  }
  const tokensIn = binCounts(song.tokens, columns, columnOf)
  const charactersIn = binCounts(song.characters, rows, rowOf)
  const values = Array.from(sums, (sum, i) => sum / (charactersIn[Math.floor(i / columns)]! * tokensIn[i % columns]!))
  return { columns, rows, tokens: song.tokens, characters: song.characters, values }
}

// ---------------------------------------------------------------------------------------------

/** One head's weights: tokens × characters, row-major. */
interface HeadMatrix {
  readonly values: Float32Array
  readonly characters: number
}

/** Head `head`'s weights (tokens, characters), a view. */
const headMatrix = (attention: LyricAttention, head: number): HeadMatrix => {
  const size = attention.tokens * attention.characters
  return { values: attention.weights.subarray(head * size, (head + 1) * size), characters: attention.characters }
}

/**
 * The non-decreasing path through columns [first, stop) over rows [from, to) of `matrix` that
 * maximises its summed weight: that sum, and the path's columns when asked.
 */
const monotonePath = (
  { values: matrix, characters: stride }: HeadMatrix,
  from: number,
  to: number,
  first: number,
  stop: number,
  withPath: boolean,
): { mass: number; path?: number[] } => {
  const width = stop - first
  let best = new Float64Array(width)
  let next = new Float64Array(width)
  const back = withPath ? new Int32Array((to - from) * width) : undefined // argmax of the previous row at or before each column
  for (let c = 0; c < width; c++) best[c] = matrix[from * stride + first + c]!
  for (let r = from + 1; r < to; r++) {
    const base = r * stride + first
    let runningMax = -Infinity
    let runningArg = 0
    for (let c = 0; c < width; c++) {
      if (best[c]! > runningMax) {
        runningMax = best[c]!
        runningArg = c
      }
      next[c] = matrix[base + c]! + runningMax
      if (back) back[(r - from) * width + c] = runningArg
    }
    ;[best, next] = [next, best]
  }
  let end = 0
  for (let c = 1; c < width; c++) if (best[c]! > best[end]!) end = c
  if (!back) return { mass: best[end]! }
  const path = new Array<number>(to - from)
  for (let r = to - from - 1, c = end; r >= 0; r--) {
    path[r] = first + c
    if (r > 0) c = back[r * width + c]!
  }
  return { mass: best[end]!, path }
}

/** The most weight one column (character) of `matrix` holds over all its rows. */
const constantMass = ({ values, characters }: HeadMatrix): number => {
  const sums = new Float64Array(characters)
  for (let row = 0; row < values.length; row += characters) for (let c = 0; c < characters; c++) sums[c]! += values[row + c]!
  return Math.max(...sums)
}

/** For each character, [start, end): its tokens in the non-decreasing `character`. */
const characterSpans = (character: readonly number[], characters: number): { start: number[]; end: number[] } => {
  const start = new Array<number>(characters).fill(character.length)
  const end = new Array<number>(characters).fill(character.length)
  let c = 0 // characters below c have their start
  for (let t = 0; t < character.length; t++) {
    for (; c <= character[t]!; c++) start[c] = t
  }
  let e = 0 // characters below e have their end
  for (let t = 0; t < character.length; t++) {
    for (; e < character[t]!; e++) end[e] = t
  }
  return { start, end }
}

/** Each window's own tokens [from, to): what no earlier window holds; throws unless they cover the song. */
const ownership = (windows: readonly AttentionWindow[], song: SongLength): { window: AttentionWindow; from: number; to: number }[] => {
  const parts: { window: AttentionWindow; from: number; to: number }[] = []
  let covered = 0
  for (const window of [...windows].sort((a, b) => a.tokenStart - b.tokenStart)) {
    if (window.tokenStart > covered) throw new RangeError(`alignment: tokens ${covered} … ${window.tokenStart - 1} are in no window`)
    const to = Math.min(song.tokens, window.tokenStart + window.attention.tokens)
    if (to > covered) parts.push({ window, from: covered, to })
    covered = Math.max(covered, to)
  }
  if (covered < song.tokens) throw new RangeError(`alignment: tokens ${covered} … ${song.tokens - 1} are in no window`)
  return parts
}

/** How many of 0 … n − 1 fall in each of `bins` bins. */
const binCounts = (n: number, bins: number, binOf: (i: number) => number): Int32Array => {
  const counts = new Int32Array(bins)
  for (let i = 0; i < n; i++) counts[binOf(i)]!++
  return counts
}

/** Throws unless there is something to align: lyrics, windows, a head they have. */
const checkSong = (windows: readonly AttentionWindow[], head: number, song: SongLength, name: string): void => {
  if (!(song.characters > 0)) throw new RangeError(`${name}: the song has no lyrics to align`)
  if (!(song.tokens > 0)) throw new RangeError(`${name}: the song has no tokens`)
  if (windows.length === 0) throw new RangeError(`${name}: no windows`)
  const heads = Math.min(...windows.map((w) => w.attention.heads))
  if (!Number.isInteger(head) || head < 0 || head >= heads) throw new RangeError(`${name}: head ${head} is not one of 0 … ${heads - 1}`)
}
