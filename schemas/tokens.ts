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

/** Bins of the code-usage histogram, per level. */
const HISTOGRAM_BINS = 16

/** What `jukeflow inspect encode` prints: tokens per level, code usage and entropy, a histogram per level. */
const tokenSummaries = [
  {
    title: "tokens per level",
    sql: "SELECT level, count(DISTINCT song_id) AS songs, count(*) AS windows, sum(len(tokens)) AS tokens FROM t GROUP BY level ORDER BY level",
  },
  {
    title: "codes per level",
    sql: `WITH counts AS (SELECT level, code, count(*) AS n FROM (SELECT level, unnest(tokens) AS code FROM t) GROUP BY level, code)
SELECT level, count(*) AS "codes used", max(code) AS "largest code", round(-sum(n / total * log2(n / total)), 2) AS "entropy bits"
FROM (SELECT *, sum(n) OVER (PARTITION BY level) AS total FROM counts) GROUP BY level ORDER BY level`,
  },
  {
    title: "code usage",
    // the rows do not hold the codebook size: the next power of two above the largest code stands in for it
    sql: `WITH codes AS (SELECT level, unnest(tokens) AS code FROM t),
bins AS (SELECT level, greatest(${HISTOGRAM_BINS}, pow(2, ceil(log2(max(code) + 1))))::INTEGER // ${HISTOGRAM_BINS} AS width FROM codes GROUP BY level),
counts AS (SELECT level, code // width AS bin, count(*) AS n FROM codes JOIN bins USING (level) GROUP BY ALL)
SELECT level, (bin * width) || '–' || (bin * width + width - 1) AS codes, coalesce(n, 0) AS tokens
FROM bins CROSS JOIN range(${HISTOGRAM_BINS}) AS r(bin) LEFT JOIN counts USING (level, bin) ORDER BY level, bin`,
    chart: { type: "bar", label: "codes", value: "tokens", group: "level" },
  },
] as const

/** The token shards table: bounded shards of 256-window row groups. */
export const TokenShards = Table(TokenWindow, { rowGroupRows: 256, shardBytes: 64 * 1024 * 1024, summaries: tokenSummaries })
