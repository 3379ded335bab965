/**
 * The attention maths of the Scalable Transformer (paper Appendix B.2, after Child et al.'s Sparse
 * Transformer), over per-head tensors (N, T, dh), N = batch × heads. Each factorized kind is a plain
 * dense attention over a reshaped or sliced view of the sequence seen as (blocks × block length L):
 *
 *   dense           query i sees every key j ≤ i                      (N, T, dh), causal mask (T, T)
 *   row             j ≤ i in i's block                                 (N·blocks, L, dh), causal (L, L)
 *   column          j ≤ i at i's position within its block             (N·L, blocks, dh), causal (blocks, blocks)
 *   previous-row    every j of the block before i's; none in block 0   (N·blocks, L, dh) against the
 *                   (output 0)                                         keys shifted by one block, no mask
 *   encoder-decoder every position of an external context (the lyrics encoder's output), no mask
 *
 * A length that is not a multiple of L (sampling stops anywhere) is padded at the end to whole
 * blocks, and the padded rows are cut off again: no real query sees the padding, since row and
 * column attention see only earlier positions and previous-row only the block before the query's,
 * which is whole. Previous-row's first block attends to a block of zero keys and values: uniform
 * weights over zeros, so 0, as the reference implementation's zero padding gives.
 *
 * `attentionWeights` and `selfAttentionWeights` give the softmax weights themselves (N, Tq, Tk), for
 * reading an attention layer, e.g. the lyrics alignment of an encoder-decoder head (alignment.ts).
 *
 * For sampling, `keyValueCache` attends a few new positions at a time to the keys and values it
 * kept, and keeps only what later positions can still see: dense and column keep every position
 * (each later query sees the earlier ones at its own offset), row the current block, previous-row
 * the previous and the current block. `attends` is the one definition the cache and the tests share.
 */
import * as tf from "@tensorflow/tfjs-core"
import { matMul } from "./ops.ts"

/** Attention kinds over the sequence itself. */
export type SelfAttentionType = "dense" | "row" | "column" | "previous-row"

/** Every attention kind a Transformer layer can have. */
export type AttentionType = SelfAttentionType | "encoder-decoder"

/** Whether the query at position i sees the key at position j, with blocks of `blockLength`. */
export const attends = (type: SelfAttentionType, i: number, j: number, blockLength: number): boolean => {
  const block = (t: number) => Math.floor(t / blockLength)
  switch (type) {
    case "dense":
      return j <= i
    case "row":
      return j <= i && block(j) === block(i)
    case "column":
      return j <= i && (i - j) % blockLength === 0
    case "previous-row":
      return block(j) === block(i) - 1
  }
}

/** 1 where the query at `queries[a]` sees the key at `keys[b]`, else 0: (queries, keys). */
export const visibility = (type: SelfAttentionType, queries: readonly number[], keys: readonly number[], blockLength: number): tf.Tensor2D =>
  tf.tensor2d(visibilityValues(type, queries, keys, blockLength), [queries.length, keys.length])

/**
 * softmax(q kᵀ / √dh) with an optional 0/1 mask: q (N, Tq, dh), k (N, Tk, dh), visible (Tq, Tk)
 * → weights (N, Tq, Tk), each row summing to 1 — or 0 for a query that sees no key.
 */
export const attentionWeights = (q: tf.Tensor3D, k: tf.Tensor3D, visible?: tf.Tensor2D): tf.Tensor3D => {
  const scores = matMul(tf.mul(q, 1 / Math.sqrt(q.shape[2])) as tf.Tensor3D, k, false, true) // (N, Tq, Tk)
  if (visible === undefined) return tf.softmax(scores)
  // −1e9 zeroes the hidden keys' weights; the product with the mask zeroes rows that see no key at all
  return tf.mul(tf.softmax(tf.add(scores, tf.mul(tf.sub(visible, 1), 1e9))), visible) as tf.Tensor3D
}

/**
 * softmax(q kᵀ / √dh) v with an optional 0/1 mask: q (N, Tq, dh), k and v (N, Tk, dh),
 * visible (Tq, Tk) → (N, Tq, dh). A query that sees no key gets 0.
 */
export const maskedAttention = (q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, visible?: tf.Tensor2D): tf.Tensor3D =>
  matMul(attentionWeights(q, k, visible), v)

/**
 * The weights `selfAttention` of `type` applies, as one dense (N, T, T) under the kind's mask
 * (`attends`): zero wherever the kind does not look, and a zero row for a query that sees nothing
 * (previous-row's first block). For inspection, not speed: it holds T² weights per head.
 */
export const selfAttentionWeights = (type: SelfAttentionType, q: tf.Tensor3D, k: tf.Tensor3D, blockLength: number): tf.Tensor3D => {
  const positions = range(0, q.shape[1])
  return attentionWeights(q, k, visibility(type, positions, positions, blockLength))
}

/**
 * A self-attention kind over whole sequences, factorized by reshapes: q, k, v (N, T, dh) → (N, T, dh),
 * T any length up to the model's context.
 */
export const selfAttention = (type: SelfAttentionType, q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, blockLength: number): tf.Tensor3D => {
  const length = q.shape[1]
  if (type === "dense") return maskedAttention(q, k, v, causalMask(length))
  const blocks = Math.ceil(length / blockLength)
  const [qb, kb, vb] = [q, k, v].map((t) => toBlocks(t, blocks, blockLength)) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D] // (N, blocks, L, dh)
  let out: tf.Tensor4D
  switch (type) {
    case "row":
      out = attendWithinGroups(qb, kb, vb, causalMask(blockLength))
      break
    case "column": {
      const [qc, kc, vc] = [qb, kb, vb].map(swapBlockAxes) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D] // (N, L, blocks, dh)
      out = swapBlockAxes(attendWithinGroups(qc, kc, vc, causalMask(blocks)))
      break
    }
    case "previous-row":
      out = attendWithinGroups(qb, previousBlock(kb), previousBlock(vb))
      break
  }
  return fromBlocks(out, length)
}

/** A layer's keys and values while sampling: attends the next positions, keeps what later ones can see. */
export interface KeyValueCache {
  /** Positions attended so far. */
  readonly length: number
  /** Queries, keys and values (N, n, dh) of the next n positions → their attention outputs (N, n, dh). */
  attend(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D): tf.Tensor3D
  dispose(): void
}

/**
 * An empty cache for one self-attention layer of `type`. It holds the keys and values of a run of
 * positions [first, length); each call attends the new queries to the kept positions they see
 * (gathered, and masked only where they differ between queries), then drops what no later query
 * can see. Long chunks (a primer) go a block at a time, so that a mask is at most
 * (L, positions kept). Call `attend` inside a tidy: the kept tensors are kept out of it.
 */
export const keyValueCache = (type: SelfAttentionType, blockLength: number): KeyValueCache => {
  let keys: tf.Tensor3D | undefined // (N, length − first, dh)
  let values: tf.Tensor3D | undefined
  let first = 0
  let length = 0

  /** attend() for at most a block of queries. */
  const attendFew = (q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D): tf.Tensor3D => {
    const next = length + q.shape[1]
    const queries = range(length, next)
    const allKeys = keys === undefined ? k : tf.concat([keys, k], 1) // (N, next − first, dh)
    const allValues = values === undefined ? v : tf.concat([values, v], 1)
    const seen = range(first, next).filter((j) => queries.some((i) => attends(type, i, j, blockLength)))
    let out: tf.Tensor3D
    if (seen.length === 0) out = tf.zerosLike(q)
    else {
      const mask = visibilityValues(type, queries, seen, blockLength)
      const visible = mask.every((m) => m === 1) ? undefined : tf.tensor2d(mask, [queries.length, seen.length])
      const rows = seen.map((j) => j - first)
      out = maskedAttention(q, pickRows(allKeys, rows), pickRows(allValues, rows), visible)
    }
    const keepFrom = firstVisibleAfter(type, next, blockLength)
    tf.dispose([keys, values].filter((t) => t !== undefined))
    ;[keys, values] = keepFrom < next ? [allKeys, allValues].map((t) => tf.keep(pickRows(t, range(keepFrom - first, next - first)))) : []
    first = Math.min(keepFrom, next)
    length = next
    return out
  }

  return {
    get length() {
      return length
    },
    attend(q, k, v) {
      const count = q.shape[1]
      if (count <= blockLength) return attendFew(q, k, v)
      const sizes = range(0, Math.ceil(count / blockLength)).map((i) => Math.min(blockLength, count - i * blockLength))
      const [qs, ks, vs] = [q, k, v].map((t) => tf.split(t, sizes, 1)) as [tf.Tensor3D[], tf.Tensor3D[], tf.Tensor3D[]]
      return tf.concat(qs.map((piece, i) => attendFew(piece, ks[i]!, vs[i]!)), 1)
    },
    dispose() {
      tf.dispose([keys, values].filter((t) => t !== undefined))
      keys = values = undefined
    },
  }
}

// ---------------------------------------------------------------------------------------------

/** `visibility`'s values, row-major. */
const visibilityValues = (type: SelfAttentionType, queries: readonly number[], keys: readonly number[], blockLength: number): Float32Array => {
  const values = new Float32Array(queries.length * keys.length)
  queries.forEach((i, a) => keys.forEach((j, b) => (values[a * keys.length + b] = attends(type, i, j, blockLength) ? 1 : 0)))
  return values
}

/** The first position that a query at `next` or later can see under `type`. */
const firstVisibleAfter = (type: SelfAttentionType, next: number, blockLength: number): number => {
  const block = Math.floor(next / blockLength)
  switch (type) {
    case "dense":
    case "column":
      return 0
    case "row":
      return block * blockLength
    case "previous-row":
      return Math.max(0, block - 1) * blockLength
  }
}

/** Rows `rows` (ascending) of (N, T, dh) along T: a slice when they are consecutive, else a gather. */
const pickRows = (t: tf.Tensor3D, rows: readonly number[]): tf.Tensor3D => {
  const [n, length, width] = t.shape
  const start = rows[0]!
  if (rows.length === length) return t
  if (rows.at(-1)! - start === rows.length - 1) return tf.slice(t, [0, start, 0], [n, rows.length, width])
  return tf.gather(t, tf.tensor1d(Array.from(rows), "int32"), 1)
}

/** q, k, v (N, G, S, dh): attention within each of the G groups → (N, G, S, dh). */
const attendWithinGroups = (q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, visible?: tf.Tensor2D): tf.Tensor4D => {
  const [n, groups, size, width] = q.shape
  const [q3, k3, v3] = [q, k, v].map((t) => tf.reshape(t, [n * groups, size, width])) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D]
  return tf.reshape(maskedAttention(q3, k3, v3, visible), [n, groups, size, width])
}

/** (N, T, dh) → (N, blocks, L, dh), zero-padded at the end to whole blocks. */
const toBlocks = (t: tf.Tensor3D, blocks: number, blockLength: number): tf.Tensor4D => {
  const [n, length, width] = t.shape
  const padded = length === blocks * blockLength ? t : tf.pad(t, [[0, 0], [0, blocks * blockLength - length], [0, 0]])
  return tf.reshape(padded, [n, blocks, blockLength, width])
}

/** (N, blocks, L, dh) → (N, T, dh), the padding cut off. */
const fromBlocks = (t: tf.Tensor4D, length: number): tf.Tensor3D => {
  const [n, blocks, blockLength, width] = t.shape
  const flat = tf.reshape(t, [n, blocks * blockLength, width]) as tf.Tensor3D
  return length === blocks * blockLength ? flat : tf.slice(flat, [0, 0, 0], [n, length, width])
}

/** (N, A, B, dh) → (N, B, A, dh): blocks × positions ↔ positions × blocks. */
const swapBlockAxes = (t: tf.Tensor4D): tf.Tensor4D => tf.transpose(t, [0, 2, 1, 3])

/** (N, blocks, L, dh) → the same with every block replaced by the one before it, zeros for the first. */
const previousBlock = (t: tf.Tensor4D): tf.Tensor4D => {
  const [n, blocks, blockLength, width] = t.shape
  return tf.slice(tf.pad(t, [[0, 0], [1, 0], [0, 0], [0, 0]]), [0, 0, 0, 0], [n, blocks, blockLength, width])
}

/** 1 on and below the diagonal: (T, T). */
const causalMask = (length: number): tf.Tensor2D => tf.linalg.bandPart(tf.ones([length, length]), -1, 0)

/** [from, from + 1, ..., to − 1]. */
const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i)
