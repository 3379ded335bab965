/**
 * Token shard files read by row group: footers for row-group sizes, and the `tokens` lists of a
 * few rows of one row group. The runtime's `TableReader` only streams whole tables, so this opens
 * the shard files itself with parquet-wasm (on this thread, loaded on first use) and apache-arrow.
 */
import type * as arrow from "apache-arrow"
import * as fs from "node:fs"
import type { ParquetFile } from "parquet-wasm"
import { ArtifactReadError } from "../runtime/index.ts"

/** Parquet shard files opened for reading token lists; `close` frees what the decoder holds. */
export interface ShardFiles {
  /** Rows of each row group of shard `shard`, from its footer. */
  readonly rowGroupRows: (shard: number) => Promise<ReadonlyArray<number>>
  /** The `tokens` lists of rows [first, first + count) of row group `rowGroup` of shard `shard`, copied out. */
  readonly tokenRows: (shard: number, rowGroup: number, first: number, count: number) => Promise<ReadonlyArray<Int16Array>>
  readonly close: () => void
}

/** Opens the shard files at `paths` (absolute) lazily: nothing is read until asked. */
export const shardFiles = (paths: ReadonlyArray<string>): ShardFiles => {
  const open = new Map<number, Promise<ParquetFile>>()
  const file = (shard: number): Promise<ParquetFile> => {
    let opened = open.get(shard)
    if (opened === undefined) {
      opened = import("parquet-wasm").then(async ({ ParquetFile }) => ParquetFile.fromFile(await fs.openAsBlob(paths[shard]!)))
      open.set(shard, opened)
    }
    return opened
  }
  const failing = <A>(shard: number, what: string, read: () => Promise<A>): Promise<A> =>
    read().catch((error: unknown) => {
      if (error instanceof ArtifactReadError) throw error
      throw new ArtifactReadError({ path: paths[shard]!, reason: `${what} (${error instanceof Error ? error.message : String(error)})` })
    })
  return {
    rowGroupRows: (shard) =>
      failing(shard, "not a readable Parquet file", async () => (await file(shard)).metadata().rowGroups().map((group) => group.numRows())),
    tokenRows: (shard, rowGroup, first, count) =>
      failing(shard, `row group ${rowGroup} is unreadable`, async () => {
        const table = await (await file(shard)).read({ columns: ["tokens"], rowGroups: [rowGroup], offset: first, limit: count, batchSize: count })
        const { tableFromIPC } = await import("apache-arrow")
        const rows = tableFromIPC(table.intoIPCStream()).batches.flatMap((batch) => tokenLists(batch.getChild("tokens")?.data[0], paths[shard]!))
        if (rows.length !== count) {
          throw new ArtifactReadError({ path: paths[shard]!, reason: `row group ${rowGroup}: asked for rows ${first}–${first + count - 1}, got ${rows.length}` })
        }
        return rows
      }),
    close: () => {
      for (const opened of open.values()) opened.then((f) => f.free(), () => {})
      open.clear()
    },
  }
}

/** The rows of one record batch's `tokens` column, each copied out of the batch's buffers. */
const tokenLists = (data: arrow.Data | undefined, path: string): Int16Array[] => {
  const items = data?.children[0]
  if (data === undefined || items === undefined || !(items.values instanceof Int16Array)) {
    throw new ArtifactReadError({ path, reason: 'column "tokens" is not a list of int16' })
  }
  const values = (items.values as Int16Array).subarray(items.offset)
  const offsets = data.valueOffsets as Int32Array
  return Array.from({ length: data.length }, (_, i) => values.slice(offsets[data.offset + i]!, offsets[data.offset + i + 1]!))
}
