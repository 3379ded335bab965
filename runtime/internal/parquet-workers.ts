/** The worker threads that run parquet-wasm: encoding row groups and reading files, in parallel and crash-isolated. */
import { createRequire } from "node:module"
import * as os from "node:os"
import { Worker } from "node:worker_threads"

/** The codecs of one leaf column, as a shard's footer names them. */
export interface ColumnCodecs {
  readonly path: string
  readonly compression: string
  readonly encodings: ReadonlyArray<string>
}


/** A shard footer as a worker reports it. */
export interface FooterMeta {
  readonly rows: number
  /** Rows of each row group. */
  readonly rowGroups: ReadonlyArray<number>
  /** The file's Arrow schema as an IPC stream. */
  readonly schema: Uint8Array
  readonly columns: ReadonlyArray<ColumnCodecs>
}

/**
 * The worker's program. It is plain CommonJS handed to `new Worker(..., { eval: true })`, so it
 * runs as written under node, tsx and vitest alike. Ops: `encode` (an Arrow IPC batch into a
 * one-row-group Parquet file), `meta` (a file's footer), `read` (one row group of a file, kept
 * open per `scope`), `release` (close a scope's file).
 */
const WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require("node:worker_threads")
const fs = require("node:fs")
const pq = require(workerData.parquetWasm)
const scopes = new Map()
const open = async (path) => pq.ParquetFile.fromFile(await fs.openAsBlob(path))
const release = (scope) => {
  const entry = scopes.get(scope)
  if (!entry) return
  entry.released = true
  if (entry.users > 0) return
  scopes.delete(scope)
  entry.file.then((file) => file.free(), () => {})
}
const writerProperties = (rows) => new pq.WriterPropertiesBuilder()
  .setCompression(pq.Compression.ZSTD)
  .setDictionaryEnabled(true)
  .setStatisticsEnabled(pq.EnabledStatistics.Chunk)
  .setMaxRowGroupSize(Math.max(rows, 1))
  .build()
const footer = (file) => {
  const meta = file.metadata()
  const rowGroups = meta.rowGroups()
  const columns = rowGroups.length === 0 ? [] : rowGroups[0].columns().map((column) => ({
    path: column.columnPath().join("."),
    compression: pq.Compression[column.compression()],
    encodings: column.encodings().map((encoding) => pq.Encoding[encoding]),
  }))
  const schema = file.schema().intoIPCStream()
  return [{ rows: meta.fileMetadata().numRows(), rowGroups: rowGroups.map((group) => group.numRows()), schema, columns }, [schema.buffer]]
}
const ops = {
  encode: async ({ ipc, rows }) => {
    const bytes = pq.writeParquet(pq.Table.fromIPCStream(ipc), writerProperties(rows))
    return [bytes, [bytes.buffer]]
  },
  meta: async ({ path }) => {
    const file = await open(path)
    try { return footer(file) } finally { file.free() }
  },
  read: async ({ scope, path, rowGroup, columns, rows }) => {
    let entry = scopes.get(scope)
    if (!entry) scopes.set(scope, entry = { file: open(path), users: 0, released: false })
    entry.users++
    try {
      const table = await (await entry.file).read({ columns, rowGroups: [rowGroup], batchSize: Math.max(rows, 1) })
      const ipc = table.intoIPCStream()
      return [ipc, [ipc.buffer]]
    } finally {
      entry.users--
      if (entry.released) release(scope)
    }
  },
  release: async ({ scope }) => [release(scope), []],
}
parentPort.on("message", async ({ id, op, ...args }) => {
  try {
    const [ok, transfer] = await ops[op](args)
    parentPort.postMessage({ id, ok }, transfer)
  } catch (error) {
    parentPort.postMessage({ id, error: String((error && error.message) || error) })
    // A trapped wasm instance is not safe to reuse: leave, and the pool starts a fresh one.
    if (error instanceof WebAssembly.RuntimeError) process.exit(1)
  }
})
`

interface Slot {
  readonly worker: Worker
  readonly pending: Map<number, { readonly resolve: (value: any) => void; readonly reject: (error: Error) => void }>
}

/** Worker threads running parquet-wasm, started on first use; idle workers do not keep the process alive. */
class ParquetWorkers {
  private readonly slots: Array<Slot | undefined>
  private nextId = 0

  constructor(readonly size: number, private readonly parquetWasm: string) {
    this.slots = Array.from({ length: size }, () => undefined)
  }

  /** Sends a message to the least busy worker and resolves with its answer. */
  call<A>(message: { readonly op: string } & Record<string, unknown>, transfer: ReadonlyArray<ArrayBuffer | SharedArrayBuffer> = []): Promise<A> {
    let index = 0
    for (let i = 0; i < this.size; i++) {
      if ((this.slots[i]?.pending.size ?? 0) < (this.slots[index]?.pending.size ?? 0)) index = i
    }
    return this.send(this.slots[index] ??= this.spawn(index), message, transfer)
  }

  /** Sends a message to every running worker, without waiting for answers. */
  broadcast(message: { readonly op: string } & Record<string, unknown>): void {
    for (const slot of this.slots) if (slot) this.send(slot, message, []).catch(() => {})
  }

  private send<A>(slot: Slot, message: Record<string, unknown>, transfer: ReadonlyArray<ArrayBuffer | SharedArrayBuffer>): Promise<A> {
    const id = this.nextId++
    return new Promise<A>((resolve, reject) => {
      if (slot.pending.size === 0) slot.worker.ref()
      slot.pending.set(id, { resolve, reject })
      slot.worker.postMessage({ ...message, id }, transfer as ArrayBuffer[])
    })
  }

  private spawn(index: number): Slot {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { parquetWasm: this.parquetWasm } })
    worker.unref()
    const slot: Slot = { worker, pending: new Map() }
    const fail = (error: Error) => {
      for (const request of slot.pending.values()) request.reject(error)
      slot.pending.clear()
      if (this.slots[index] === slot) this.slots[index] = undefined
    }
    worker.on("message", ({ id, ok, error }: { id: number; ok?: unknown; error?: string }) => {
      const request = slot.pending.get(id)
      if (request === undefined) return
      slot.pending.delete(id)
      if (slot.pending.size === 0) worker.unref()
      if (error === undefined) request.resolve(ok)
      else request.reject(new Error(error))
    })
    worker.on("error", (error) => fail(new Error(`parquet-wasm crashed (${error.message}); the file is likely corrupt`)))
    worker.on("exit", (code) => fail(new Error(`the Parquet worker stopped (exit code ${code})`)))
    return slot
  }
}

let pool: ParquetWorkers | undefined
/** The process's Parquet workers: one per core, at most 8. */
export const workers = (): ParquetWorkers =>
  (pool ??= new ParquetWorkers(Math.max(1, Math.min(8, os.availableParallelism())), createRequire(import.meta.url).resolve("parquet-wasm")))

