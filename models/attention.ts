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
 * For sampling, `keyValueCache` attends new positions to the keys and values it kept, and keeps only
 * what later positions can still see: dense and column keep every position (column per offset in
 * the block, each later query sees the earlier ones at its own offset), row the current block,
 * previous-row the previous and the current block. `attends` is the one definition the cache (for a
 * primer's masks) and the tests share.
 */
import * as tf from "@tensorflow/tfjs-core"
import type { Run } from "./native-kernels.ts"
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

/** (B, T, A) → (B·H, T, A/H): head h is columns h·dh … (h + 1)·dh − 1. */
export const splitHeads = (x: tf.Tensor3D, heads: number): tf.Tensor3D => {
  const [batch, length, width] = x.shape
  const perHead = width / heads
  if (length === 1) return tf.reshape(x, [batch * heads, 1, perHead]) // one position: the transpose moves nothing
  return tf.reshape(tf.transpose(tf.reshape(x, [batch, length, heads, perHead]), [0, 2, 1, 3]), [batch * heads, length, perHead])
}

/** (B·H, T, dh) → (B, T, H·dh). */
export const mergeHeads = (x: tf.Tensor3D, batch: number): tf.Tensor3D => {
  const [rows, length, perHead] = x.shape
  const heads = rows / batch
  if (length === 1) return tf.reshape(x, [batch, 1, heads * perHead])
  return tf.reshape(tf.transpose(tf.reshape(x, [batch, heads, length, perHead]), [0, 2, 1, 3]), [batch, length, heads * perHead])
}

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
  /** The next n positions' queries, keys and values packed, [q | k | v] (B, n, 3A) → their attention outputs (B, n, A), heads merged. */
  attend(qkv: tf.Tensor3D): tf.Tensor3D
  /**
   * The next position by a kernel of the caller's (a native step): it gets the run the position's
   * keys and values join (none at a run's start), the keys the position attends instead of that run
   * (previous-row: the block before; none in block 0) and whether it attends the grown run, and gives
   * its output and the grown run, which the cache keeps.
   */
  stepWith<T>(kernel: (run: Run | undefined, seen: Run | undefined, attendsRun: boolean) => [T, tf.Tensor3D, tf.Tensor3D]): T
  dispose(): void
}

/**
 * An empty cache for one self-attention layer of `type`. It keeps keys and values by what a later
 * query reads: row and previous-row per block (N, ≤ L, dh), the current block (and the one before),
 * dense one run from position 0, column per offset within the block (N, blocks so far, dh). A query
 * reads its visible keys whole, with no mask and no gather: row its block so far, previous-row the
 * block before, dense every position so far, column those at its offset. A chunk of several queries
 * (a primer) goes a block at a time, under a causal mask within the block (column: a query at a time).
 * A native step (transformer.ts's, a whole block in one kernel) goes through `stepWith` instead: it
 * gets the runs to read and hands back the grown one. Call `attend` inside a tidy: the kept tensors
 * are kept out of it.
 */
export const keyValueCache = (type: SelfAttentionType, blockLength: number, heads: number): KeyValueCache => {
  const kept = new Map<number, [keys: tf.Tensor3D, values: tf.Tensor3D]>() // by block, offset (column) or 0 (dense)
  let length = 0

  /** Appends k, v (N, n, dh) to the run kept under `key`; returns the whole run. */
  const append = (key: number, k: tf.Tensor3D, v: tf.Tensor3D): [tf.Tensor3D, tf.Tensor3D] => {
    const old = kept.get(key)
    return keep(key, old === undefined ? [k, v] : [tf.concat([old[0], k], 1), tf.concat([old[1], v], 1)])
  }
  /** Keeps `run` under `key`, in place of what was there. */
  const keep = (key: number, run: [tf.Tensor3D, tf.Tensor3D]): [tf.Tensor3D, tf.Tensor3D] => {
    const old = kept.get(key)
    kept.set(key, [tf.keep(run[0]), tf.keep(run[1])])
    if (old !== undefined) tf.dispose(old)
    return run
  }
  /** Frees the blocks before `block`, which no later query sees. */
  const dropBefore = (block: number): void => {
    for (const [key, run] of kept) {
      if (key < block) {
        tf.dispose(run)
        kept.delete(key)
      }
    }
  }

  /** attend() for queries within one block. */
  const attendInBlock = (q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D): tf.Tensor3D => {
    const count = q.shape[1]
    if (type === "column" && count > 1) {
      const [qs, ks, vs] = [q, k, v].map((t) => tf.split(t, count, 1)) as [tf.Tensor3D[], tf.Tensor3D[], tf.Tensor3D[]]
      return tf.concat(qs.map((one, i) => attendInBlock(one, ks[i]!, vs[i]!)), 1)
    }
    const block = Math.floor(length / blockLength)
    /** Dense's and row's mask over the run they attend, [0 or the block's start, length + count); none for one query, which sees it all. */
    const mask = () => {
      const from = type === "dense" ? 0 : block * blockLength
      return count === 1 ? undefined : visibility(type, range(length, length + count), range(from, length + count), blockLength)
    }
    let out: tf.Tensor3D
    switch (type) {
      case "dense":
      case "row": {
        const [keys, values] = append(type === "dense" ? 0 : block, k, v) // (N, length + count − from, dh)
        out = maskedAttention(q, keys, values, mask())
        if (type === "row") dropBefore(block)
        break
      }
      case "column": {
        const [keys, values] = append(length % blockLength, k, v) // (N, block + 1, dh)
        out = maskedAttention(q, keys, values)
        break
      }
      case "previous-row": {
        const previous = kept.get(block - 1)
        out = previous === undefined ? tf.zerosLike(q) : maskedAttention(q, previous[0], previous[1])
        append(block, k, v)
        dropBefore(block - 1)
        break
      }
    }
    length += count
    return out
  }

  /** KeyValueCache.stepWith. */
  const stepWith = <T>(kernel: (run: Run | undefined, seen: Run | undefined, attendsRun: boolean) => [T, tf.Tensor3D, tf.Tensor3D]): T => {
    const block = Math.floor(length / blockLength)
    const key = type === "dense" ? 0 : type === "column" ? length % blockLength : block
    const [out, keys, values] = kernel(kept.get(key), type === "previous-row" ? kept.get(block - 1) : undefined, type !== "previous-row")
    keep(key, [keys, values])
    if (type === "row") dropBefore(block)
    if (type === "previous-row") dropBefore(block - 1)
    length += 1
    return out
  }

  /** attend() for per-head q, k, v (N, n, dh): a block at a time. */
  const attendChunk = (q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D): tf.Tensor3D => {
    const count = q.shape[1]
    const first = Math.min(count, blockLength - (length % blockLength)) // to the end of the current block
    if (count === first) return attendInBlock(q, k, v)
    const sizes = [first, ...range(0, Math.ceil((count - first) / blockLength)).map((i) => Math.min(blockLength, count - first - i * blockLength))]
    const [qs, ks, vs] = [q, k, v].map((t) => tf.split(t, sizes, 1)) as [tf.Tensor3D[], tf.Tensor3D[], tf.Tensor3D[]]
    return tf.concat(qs.map((piece, i) => attendInBlock(piece, ks[i]!, vs[i]!)), 1)
  }

  return {
    get length() {
      return length
    },
    stepWith,
    attend(qkv) {
      const [q, k, v] = tf.split(qkv, 3, 2).map((t) => splitHeads(t as tf.Tensor3D, heads)) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D]
      return mergeHeads(attendChunk(q, k, v), qkv.shape[0])
    },
    dispose() {
      for (const run of kept.values()) tf.dispose(run)
      kept.clear()
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
