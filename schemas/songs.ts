/**
 * Songs: one line of a dataset manifest as users write it, and a song as the pipeline carries it.
 *
 *   {"id": "s001", "audio": "audio/s001.flac", "artist": "Ada", "genre": ["blues", "rock"], "year": 1999,
 *    "lyrics": "lyrics/s001.txt", "stems": "separated/s001", "alignment": "align/s001.txt"}
 */
import { Schema } from "effect"
import { Col, Table } from "../runtime/index.ts"

/** One line of a JSONL manifest (or one CSV row); paths are relative to the manifest's folder. */
export const ManifestEntry = Schema.Struct({
  id: Schema.String,
  audio: Schema.String,
  artist: Schema.String,
  /** One genre or several. */
  genre: Schema.optional(Schema.Union(Schema.String, Schema.Array(Schema.String))),
  year: Schema.optional(Schema.Int),
  /** A path to a text file, or the lyrics themselves. */
  lyrics: Schema.optional(Schema.Union(Schema.String, Schema.Struct({ text: Schema.String }))),
  /** A Spleeter 2stems output folder (vocals.* and accompaniment.*). */
  stems: Schema.optional(Schema.String),
  /** A NUS AutoLyricsAlign output file. */
  alignment: Schema.optional(Schema.String),
})
export type ManifestEntry = typeof ManifestEntry.Type

/** A song as the pipeline carries it; paths are relative to the project root. */
export const Song = Schema.Struct({
  id: Col.string,
  audio: Col.string,
  artist: Col.dictionary,
  genres: Col.list(Col.string),
  year: Col.nullable(Col.int32),
  /** The lyric text, "" when the song has none. */
  lyrics: Col.string,
  /** The vocals and accompaniment stems, when the manifest names a Spleeter folder. */
  vocals: Col.nullable(Col.string),
  accompaniment: Col.nullable(Col.string),
  alignment: Col.nullable(Col.string),
  /** The manifest file and line the song came from, for messages. */
  source: Col.string,
})
export type Song = typeof Song.Type

/** The songs table. */
export const Songs = Table(Song)
