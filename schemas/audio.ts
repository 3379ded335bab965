/** Decoded audio as the store keeps it: each source of each song once, resampled to the pipeline's rate. */
import { Schema } from "effect"
import { Col, Table } from "../runtime/index.ts"

/** One source (the mix, or a stem) of a song: stereo samples and what ingest measured. */
export const IngestedAudio = Schema.Struct({
  song: Col.dictionary,
  /** "mix", "vocals" or "accompaniment". */
  source: Col.dictionary,
  sampleRate: Col.int32,
  /** Channels in the file (stereo is kept; mono has left = right). */
  channels: Col.int8,
  seconds: Col.float64,
  peakDbfs: Col.float32,
  rmsDbfs: Col.float32,
  clippedFraction: Col.float32,
  /** What the decoder said that did not stop it (a downmix, a mislabelled extension). */
  warnings: Col.list(Col.string),
  left: Col.float32List,
  right: Col.float32List,
})
export type IngestedAudio = typeof IngestedAudio.Type

/** The ingest table: one row per song source; a row group each, so a song is read on its own. */
export const Ingested = Table(IngestedAudio, { rowGroupRows: 1 })
