/**
 * Token shards: the VQ-VAE's codes of every song and level, in windows of up to a prior's context,
 * as Parquet that DuckDB, pyarrow or Polars read directly (DESIGN.md's schema, column for column).
 */
import { Schema } from "effect"
import { Col, Table } from "../runtime/index.ts"

/** One window of codes of one song at one level. */
export const TokenWindow = Schema.Struct({
  song_id: Col.dictionary,
  /** 0 = bottom (finest), up to the top level. */
  level: Col.int8,
  window: Col.int32,
  /** Index of the window's first code in the song's code sequence at this level. */
  start: Col.int64,
  tokens: Col.int16List,
})
export type TokenWindow = typeof TokenWindow.Type

/** The token shards table: bounded shards of 256-window row groups. */
export const TokenShards = Table(TokenWindow, { rowGroupRows: 256, shardBytes: 64 * 1024 * 1024 })
