/** Label vocabularies and training chunks: what the priors and the VQ-VAE train on. */
import { Schema } from "effect"
import { Col, Json, Table } from "../runtime/index.ts"

/** Artist and genre names; a name's id is its index + 1 (0 means unknown). Ids never change once given. */
export const Vocabulary = Schema.Struct({
  artists: Schema.Array(Schema.String),
  genres: Schema.Array(Schema.String),
})
export type Vocabulary = typeof Vocabulary.Type

/** The vocabulary artifact. */
export const Vocab = Json(Vocabulary)

/** One fixed-length training chunk of a song, with its labels. */
export const Chunk = Schema.Struct({
  song: Col.dictionary,
  /** Chunk number within the song. */
  index: Col.int32,
  /** Where the chunk starts and how long it is, in seconds. */
  start: Col.float64,
  seconds: Col.float32,
  /** The timing signal: total song length (s), start (s) and fraction of the song elapsed. */
  total: Col.float32,
  fraction: Col.float32,
  artist: Col.int32,
  genres: Col.int32List,
  /** The lyric window: `lyricChars` characters (normalised), and their ids (0 = unknown or padding). */
  lyrics: Col.string,
  lyricIds: Col.int32List,
  /** "train" or "heldout", decided by the song id alone. */
  split: Col.dictionary,
})
export type Chunk = typeof Chunk.Type

/** The chunks table. */
export const Chunks = Table(Chunk)
