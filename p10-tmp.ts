import * as arrow from "apache-arrow"
const pq = await import("parquet-wasm")
let seed = 1; const random = () => { seed = (seed + 0x6d2b79f5) | 0; let t = Math.imul(seed ^ (seed >>> 15), 1 | seed); t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t; return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32 }
const N = 20_000_000, L = 8192, G = 256
const tok = new Int16Array(N); let c = 1024
for (let i = 0; i < N; i++) { c = random() < 0.02 ? Math.floor(random() * 2048) : (c + Math.round((random() - 0.5) * 96) + 2048) % 2048; tok[i] = c }
const listSchema = new arrow.Schema([new arrow.Field("tokens", new arrow.List(new arrow.Field("item", new arrow.Int16(), false)), false)])
const data: Uint8Array[] = []
for (let r = 0; r * L < N; r += G) {
  const rows = Math.min(G, Math.ceil((N - r * L) / L)); const start = r * L, end = Math.min(N, (r + rows) * L)
  const child = arrow.makeData({ type: new arrow.Int16(), length: end - start, data: tok.subarray(start, end) })
  const offs = new Int32Array(rows + 1); for (let i = 0; i <= rows; i++) offs[i] = Math.min(i * L, end - start)
  const list = arrow.makeData({ type: listSchema.fields[0]!.type, length: rows, valueOffsets: offs, child })
  data.push(arrow.tableToIPC(new arrow.Table([new arrow.RecordBatch(listSchema, arrow.makeData({ type: new arrow.Struct(listSchema.fields), length: rows, children: [list] }))]), "stream"))
}
const write = async (f: (b: any) => any) => {
  let i = 0
  const t = performance.now()
  const input = new ReadableStream({ pull(ctl) { if (i >= data.length) { ctl.close(); return } const w = pq.Table.fromIPCStream(data[i++]!); const [b] = w.recordBatches(); w.free(); ctl.enqueue(b) } }, { highWaterMark: 0 })
  const out = await pq.transformParquetStream(input, f(new pq.WriterPropertiesBuilder().setMaxRowGroupSize(G)).build())
  let size = 0
  for await (const ch of out as any) size += ch.length
  return [performance.now() - t, size]
}
const Z = (b: any) => b.setCompression(pq.Compression.ZSTD)
const configs: Record<string, (b: any) => any> = {
  "zstd dict chunk": (b) => Z(b).setStatisticsEnabled(pq.EnabledStatistics.Chunk),
  "zstd dict page(default)": (b) => Z(b),
  "zstd dict none": (b) => Z(b).setStatisticsEnabled(pq.EnabledStatistics.None),
  "zstd dict chunk wb64k": (b) => Z(b).setStatisticsEnabled(pq.EnabledStatistics.Chunk).setWriteBatchSize(65536),
  "zstd dict chunk wb64k pg8M": (b) => Z(b).setStatisticsEnabled(pq.EnabledStatistics.Chunk).setWriteBatchSize(65536).setDataPageSizeLimit(8 << 20),
  "zstd dict none wb64k pg8M": (b) => Z(b).setStatisticsEnabled(pq.EnabledStatistics.None).setWriteBatchSize(65536).setDataPageSizeLimit(8 << 20),
  "uncompr dict chunk": (b) => b.setCompression(pq.Compression.UNCOMPRESSED).setStatisticsEnabled(pq.EnabledStatistics.Chunk),
  "uncompr nodict none": (b) => b.setCompression(pq.Compression.UNCOMPRESSED).setDictionaryEnabled(false).setStatisticsEnabled(pq.EnabledStatistics.None),
}
const res: Record<string, number[]> = {}
let sizes: Record<string, number> = {}
for (let k = 0; k < 5; k++) for (const [name, f] of Object.entries(configs)) { const [t, s] = await write(f); (res[name] ??= []).push(t!); sizes[name] = s! }
for (const [name, ts] of Object.entries(res)) { ts.sort((a, b) => a - b); console.log(name.padEnd(28), "min", ts[0]!.toFixed(0), "median", ts[2]!.toFixed(0), (sizes[name]! / 1e6).toFixed(1), "MB") }
