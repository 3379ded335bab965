/**
 * Chunking maths: where fixed-length chunks start, which songs are held out, and label
 * vocabularies whose ids never change once given.
 */
import { createHash } from "node:crypto"
import type { Vocabulary } from "../schemas/chunks.ts"

/** Starts (seconds) of the whole chunks of `seconds` that fit in a song of `duration` seconds. */
export const chunkStarts = (duration: number, seconds: number): number[] =>
  Array.from({ length: Math.max(0, Math.floor(duration / seconds + 1e-9)) }, (_, k) => k * seconds)

/** Whether a song is held out: decided by a hash of its id alone, so adding songs moves no other song. */
export const isHeldOut = (id: string, heldOutPercent: number): boolean =>
  createHash("sha256").update(id).digest().readUInt32BE(0) / 2 ** 32 < heldOutPercent / 100

/**
 * Extends `previous` with the names in `artists` and `genres` it does not have yet, appended in
 * sorted order, so ids already given never change.
 */
export const extendVocabulary = (
  previous: Vocabulary | undefined,
  artists: Iterable<string>,
  genres: Iterable<string>,
): Vocabulary => {
  const grow = (known: ReadonlyArray<string>, names: Iterable<string>) => {
    const have = new Set(known)
    return [...known, ...[...new Set(names)].filter((n) => !have.has(n)).sort()]
  }
  return { artists: grow(previous?.artists ?? [], artists), genres: grow(previous?.genres ?? [], genres) }
}

/** The id of `name` in `names` (index + 1), or 0 when it is unknown. */
export const labelId = (names: ReadonlyArray<string>, name: string): number => names.indexOf(name) + 1
