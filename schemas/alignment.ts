/** Lyrics aligned with the audio: word times on the lyric characters, and when the vocals sing. */
import { Schema } from "effect"
import { Col, Table } from "../runtime/index.ts"

/** One song's alignment. Character spans index `lyrics` (normalised). */
export const Alignment = Schema.Struct({
  song: Col.dictionary,
  /** "nus" (a NUS AutoLyricsAlign file, mapped back onto the lyrics) or "linear" (characters spread evenly). */
  method: Col.dictionary,
  seconds: Col.float64,
  lyrics: Col.string,
  wordsAligned: Col.int32,
  wordsTotal: Col.int32,
  wordStart: Col.float32List,
  wordEnd: Col.float32List,
  charStart: Col.int32List,
  charEnd: Col.int32List,
  /** Vocal activity per frame from the vocals stem (empty without stems). */
  frameSeconds: Col.float32,
  vocalActivity: Col.int8List,
  vocalSeconds: Col.float32,
})
export type Alignment = typeof Alignment.Type

/** The alignments table. */
export const Alignments = Table(Alignment)
