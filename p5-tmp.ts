import * as fs from "node:fs"
import * as arrow from "apache-arrow"
const pq = await import("parquet-wasm")
// time stages of writing one 20M-token table in isolation
let seed = 1; const random = () => { seed = (seed + 0x6d2b79f5) | 0; let t = Math.imul(seed ^ (seed >>> 15), 1 | seed); t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t; return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32 }
const N = 20_000_000, L = 8192, G = 256
const tok = new Int16Array(N); let c = 1024
for (let i = 0; i < N; i++) { c = random() < 0.02 ? Math.floor(random() * 2048) : (c + Math.round((random() - 0.5) * 96) + 2048) % 2048; tok[i] = c }
const schema = new arrow.Schema([new arrow.Field("tokens", new arrow.List(new arrow.Field("item", new arrow.Int16(), false)), false)])
const batches: arrow.RecordBatch[] = []
for (let r = 0; r * L < N; r += G) {
  const rows = Math.min(G, Math.ceil((N - r * L) / L))
  const start = r * L, end = Math.min(N, (r + rows) * L)
  const offs = new Int32Array(rows + 1); for (let i = 0; i <= rows; i++) offs[i] = Math.min(i * L, end - start)
  const child = arrow.makeData({ type: new arrow.Int16(), length: end - start, data: tok.slice(start, end) })
  const list = arrow.makeData({ type: schema.fields[0]!.type, length: rows, valueOffsets: offs, child })
  batches.push(new arrow.RecordBatch(schema, arrow.makeData({ type: new arrow.Struct(schema.fields), length: rows, children: [list] })))
}
const time = (label: string, f: () => any) => { const t = performance.now(); const r = f(); console.log(label, (performance.now() - t).toFixed(0), "ms"); return r }
const ipc = time("tableToIPC all", () => batches.map((b) => arrow.tableToIPC(new arrow.Table([b]), "stream")))
const wb = time("fromIPCStream all", () => ipc.map((b) => { const t = pq.Table.fromIPCStream(b); const [x] = t.recordBatches(); t.free(); return x }))
const wholeIpc = arrow.tableToIPC(new arrow.Table(batches), "stream")
time("tableToIPC again", () => batches.map((b) => arrow.tableToIPC(new arrow.Table([b]), "stream")))
time("fromIPCStream again", () => ipc.map((b) => { const t = pq.Table.fromIPCStream(b); const [x] = t.recordBatches(); t.free(); return x }))
const variants: [string, (b: any) => any][] = [
  ["zstd dict stats=chunk", (b) => b.setCompression(pq.Compression.ZSTD).setStatisticsEnabled(pq.EnabledStatistics.Chunk)],
  ["zstd dict stats=page", (b) => b.setCompression(pq.Compression.ZSTD)],
  ["zstd dict stats=none", (b) => b.setCompression(pq.Compression.ZSTD).setStatisticsEnabled(pq.EnabledStatistics.None)],
  ["zstd dict none v2", (b) => b.setCompression(pq.Compression.ZSTD).setStatisticsEnabled(pq.EnabledStatistics.None).setWriterVersion(pq.WriterVersion.V2)],
  ["zstd dict none bigpage", (b) => b.setCompression(pq.Compression.ZSTD).setStatisticsEnabled(pq.EnabledStatistics.None).setDataPageSizeLimit(8 << 20).setWriteBatchSize(8192)],
  ["uncompressed dict", (b) => b.setCompression(pq.Compression.UNCOMPRESSED).setStatisticsEnabled(pq.EnabledStatistics.None)],
  ["zstd nodict", (b) => b.setCompression(pq.Compression.ZSTD).setDictionaryEnabled(false).setStatisticsEnabled(pq.EnabledStatistics.None)],
  ["uncompressed nodict", (b) => b.setCompression(pq.Compression.UNCOMPRESSED).setDictionaryEnabled(false).setStatisticsEnabled(pq.EnabledStatistics.None)],
  ["zstd nodict BSS?", (b) => b.setCompression(pq.Compression.ZSTD).setDictionaryEnabled(false).setStatisticsEnabled(pq.EnabledStatistics.None).setColumnEncoding("tokens.list.item", pq.Encoding.DELTA_BINARY_PACKED)],
]
for (const [name, f] of variants) {
  const props = f(new pq.WriterPropertiesBuilder().setMaxRowGroupSize(G)).build()
  const whole = pq.Table.fromIPCStream(wholeIpc)
  const out = time("writeParquet " + name, () => pq.writeParquet(whole, props))
  console.log("   bytes", out.length)
  fs.writeFileSync("/tmp/proto/v.parquet", out)
  const f2 = await pq.ParquetFile.fromFile(await fs.openAsBlob("/tmp/proto/v.parquet"))
  const n = f2.metadata().numRowGroups()
  let t = performance.now()
  const tabs = []
  for (let i = 0; i < n; i++) tabs.push(await f2.read({ rowGroups: [i], batchSize: G }))
  const tRead = performance.now() - t; t = performance.now()
  const ipcs = tabs.map((x) => x.intoIPCStream())
  const tIpc = performance.now() - t; t = performance.now()
  ipcs.map((x) => arrow.tableFromIPC(x))
  console.log(`   read ${tRead.toFixed(0)} ms, intoIPC ${tIpc.toFixed(0)} ms, fromIPC ${(performance.now() - t).toFixed(0)} ms`)
}
