/**
 * Token shard I/O against its peer, the raw file: writes then reads 20M int16 tokens as a token
 * shard table (Parquet, zstd + dictionary, default shard and row-group sizes) and as one raw
 * Int16Array file (fs write + fsync, fs.readFile), in the same process and temp folder.
 *
 *   npx tsx bench/shard-io.ts
 *
 * Prints a table of medians over 3 runs and ends with one JSON line; `ratio` is raw time / table
 * time (1 means the table is as fast as the raw file). Windows are views into one token array,
 * as an encode stage slices them from a song, so the writer takes them without copying.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Schema } from "effect"
import { Table } from "../runtime/artifact.ts"
import type { ShardInfo } from "../runtime/artifact.ts"
import { Col } from "../runtime/columns.ts"
import { openTable, writeTable } from "../runtime/parquet.ts"

const TOKENS = 20_000_000
const WINDOW = 8192
const VOCAB = 2048
const REPEATS = 3

const TokenWindow = Schema.Struct({
  song_id: Col.dictionary,
  level: Col.int8,
  window: Col.int32,
  start: Col.int64,
  tokens: Col.int16List,
})
const TokenShards = Table(TokenWindow)

/** A random walk over the vocabulary with occasional jumps: compressible, but not trivially. */
const tokenStream = (n: number): Int16Array => {
  const tokens = new Int16Array(n)
  let seed = 12345
  const random = () => { // mulberry32
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
  let code = VOCAB / 2
  for (let i = 0; i < n; i++) {
    const r = random()
    code = r < 0.02 ? Math.floor(random() * VOCAB) : (code + Math.round((random() - 0.5) * 96) + VOCAB) % VOCAB
    tokens[i] = code
  }
  return tokens
}

const windowsOf = (tokens: Int16Array) =>
  Array.from({ length: Math.ceil(tokens.length / WINDOW) }, (_, w) => ({
    song_id: `song-${String(Math.floor(w / 40)).padStart(4, "0")}`,
    level: 2,
    window: w % 40,
    start: w * WINDOW,
    tokens: tokens.subarray(w * WINDOW, Math.min((w + 1) * WINDOW, tokens.length)),
  }))

const seconds = async (f: () => Promise<unknown>): Promise<number> => {
  const start = performance.now()
  await f()
  return (performance.now() - start) / 1000
}

const dirBytes = (dir: string) => fs.readdirSync(dir).reduce((sum, f) => sum + fs.statSync(path.join(dir, f)).size, 0)

interface Run { readonly write: number; readonly read: number; readonly bytes: number }

const tableRun = async (rows: ReturnType<typeof windowsOf>, dir: string): Promise<Run> => {
  let shards: ReadonlyArray<ShardInfo> = []
  const write = await seconds(async () => { shards = (await Effect.runPromise(writeTable(TokenShards, rows, dir))).shards })
  let tokens = 0
  const read = await seconds(async () => {
    const reader = openTable(TokenShards, shards.map((s) => ({ ...s, absolutePath: path.join(dir, s.path) })))
    for (const row of await Effect.runPromise(reader.all())) tokens += row.tokens.length
  })
  if (tokens !== TOKENS) throw new Error(`read back ${tokens} tokens, expected ${TOKENS}`)
  return { write, read, bytes: dirBytes(dir) }
}

const rawRun = async (tokens: Int16Array, dir: string): Promise<Run> => {
  const file = path.join(dir, "tokens.i16")
  const write = await seconds(async () => {
    const handle = await fs.promises.open(file, "w")
    await handle.writeFile(new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength))
    await handle.sync()
    await handle.close()
  })
  let back = new Int16Array(0)
  const read = await seconds(async () => {
    const bytes = await fs.promises.readFile(file)
    back = new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2)
  })
  if (back.length !== tokens.length || back[12345] !== tokens[12345]) throw new Error("raw read back differs")
  return { write, read, bytes: dirBytes(dir) }
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
const medianRun = (runs: ReadonlyArray<Run>): Run => ({
  write: median(runs.map((r) => r.write)),
  read: median(runs.map((r) => r.read)),
  bytes: median(runs.map((r) => r.bytes)),
})

const main = async () => {
  const tokens = tokenStream(TOKENS)
  const rows = windowsOf(tokens)
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "jukeflow-shard-io-"))
  try {
    // Warm-up: starts the Parquet workers (each compiles parquet-wasm) outside the timings.
    await Effect.runPromise(writeTable(TokenShards, rows.slice(0, 300), fs.mkdtempSync(path.join(root, "warmup-"))))
    const table: Run[] = []
    const raw: Run[] = []
    for (let i = 0; i < REPEATS; i++) {
      table.push(await tableRun(rows, fs.mkdtempSync(path.join(root, "table-"))))
      raw.push(await rawRun(tokens, fs.mkdtempSync(path.join(root, "raw-"))))
    }
    const t = medianRun(table)
    const r = medianRun(raw)
    const tableSeconds = t.write + t.read
    const rawSeconds = r.write + r.read
    const line = (name: string, x: Run) =>
      `${name.padEnd(22)}${x.write.toFixed(3).padStart(9)}${x.read.toFixed(3).padStart(9)}${(x.write + x.read).toFixed(3).padStart(10)}${(x.bytes / 1e6).toFixed(1).padStart(10)}`
    console.log(`${(TOKENS / 1e6).toFixed(0)}M int16 tokens, ${rows.length} rows of ${WINDOW}; median of ${REPEATS}`)
    console.log(`${"".padEnd(22)}${"write s".padStart(9)}${"read s".padStart(9)}${"total s".padStart(10)}${"MB".padStart(10)}`)
    console.log(line("table (parquet zstd)", t))
    console.log(line("raw Int16Array file", r))
    console.log(`ratio raw/table: write ${(r.write / t.write).toFixed(2)}, read ${(r.read / t.read).toFixed(2)}, total ${(rawSeconds / tableSeconds).toFixed(2)}; bits/token on disk ${(t.bytes * 8 / TOKENS).toFixed(1)}`)
    console.log(JSON.stringify({ bench: "shard-io", ratio: rawSeconds / tableSeconds, tableSeconds, rawSeconds, bytes: t.bytes }))
  } finally {
    fs.rmSync(root, { recursive: true, force: true })
  }
}

await main()
