import * as fs from "node:fs"
import { Effect, Schema } from "effect"
import { Table } from "./runtime/artifact.ts"
import { Col } from "./runtime/columns.ts"
import { openTable, writeTable } from "./runtime/parquet.ts"
let seed = 1; const random = () => { seed = (seed + 0x6d2b79f5) | 0; let t = Math.imul(seed ^ (seed >>> 15), 1 | seed); t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t; return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32 }
const N = 20_000_000, L = 8192
const tok = new Int16Array(N); let c = 1024
for (let i = 0; i < N; i++) { c = random() < 0.02 ? Math.floor(random() * 2048) : (c + Math.round((random() - 0.5) * 96) + 2048) % 2048; tok[i] = c }
const K = Table(Schema.Struct({ song_id: Col.dictionary, level: Col.int8, window: Col.int32, start: Col.int64, tokens: Col.int16List }), { rowGroupRows: Number(process.env.RG ?? 256) })
const rows = Array.from({ length: Math.ceil(N / L) }, (_, w) => ({ song_id: `s${w >> 5}`, level: 2, window: w % 32, start: w * L, tokens: tok.subarray(w * L, (w + 1) * L) }))
for (let k = 0; k < 3; k++) {
  const dir = `/tmp/proto/w${k}`; fs.rmSync(dir, { recursive: true, force: true }); fs.mkdirSync(dir, { recursive: true })
  let t = performance.now()
  const w = await Effect.runPromise(writeTable(K, rows, dir))
  const tw = performance.now() - t; t = performance.now()
  const all = await Effect.runPromise(openTable(K, w.shards.map((s) => ({ ...s, absolutePath: `${dir}/${s.path}` }))).all())
  console.log(`write ${tw.toFixed(0)} read ${(performance.now() - t).toFixed(0)} rows ${all.length} bytes ${w.shards[0]!.bytes}`)
}
