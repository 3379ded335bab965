import * as fs from "node:fs"
import * as arrow from "apache-arrow"
const pq = await import("parquet-wasm")
let seed = 1; const random = () => { seed = (seed + 0x6d2b79f5) | 0; let t = Math.imul(seed ^ (seed >>> 15), 1 | seed); t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t; return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32 }
const N = 20_000_000, L = 8192, G = Number(process.env.G ?? 256)
const tok = new Int16Array(N); let c = 1024
for (let i = 0; i < N; i++) { c = random() < 0.02 ? Math.floor(random() * 2048) : (c + Math.round((random() - 0.5) * 96) + 2048) % 2048; tok[i] = c }
const listSchema = new arrow.Schema([new arrow.Field("tokens", new arrow.List(new arrow.Field("item", new arrow.Int16(), false)), false)])
const flatSchema = new arrow.Schema([new arrow.Field("tokens", new arrow.Int16(), false)])
const ipcs = (flat: boolean) => {
  const out: Uint8Array[] = []
  for (let r = 0; r * L < N; r += G) {
    const rows = Math.min(G, Math.ceil((N - r * L) / L)); const start = r * L, end = Math.min(N, (r + rows) * L)
    const child = arrow.makeData({ type: new arrow.Int16(), length: end - start, data: tok.subarray(start, end) })
    let b
    if (flat) b = new arrow.RecordBatch(flatSchema, arrow.makeData({ type: new arrow.Struct(flatSchema.fields), length: end - start, children: [child] }))
    else {
      const offs = new Int32Array(rows + 1); for (let i = 0; i <= rows; i++) offs[i] = Math.min(i * L, end - start)
      const list = arrow.makeData({ type: listSchema.fields[0]!.type, length: rows, valueOffsets: offs, child })
      b = new arrow.RecordBatch(listSchema, arrow.makeData({ type: new arrow.Struct(listSchema.fields), length: rows, children: [list] }))
    }
    out.push(arrow.tableToIPC(new arrow.Table([b]), "stream"))
  }
  return out
}
const L_IPC = ipcs(false), F_IPC = ipcs(true)
const write = async (name: string, data: Uint8Array[], f: (b: any) => any) => {
  const times: number[] = []; let size = 0
  for (let k = 0; k < 3; k++) {
    let i = 0
    const t = performance.now()
    const input = new ReadableStream({ pull(ctl) { if (i >= data.length) { ctl.close(); return } const w = pq.Table.fromIPCStream(data[i++]!); const [b] = w.recordBatches(); w.free(); ctl.enqueue(b) } }, { highWaterMark: 0 })
    const out = await pq.transformParquetStream(input, f(new pq.WriterPropertiesBuilder().setMaxRowGroupSize(data === F_IPC ? G * L : G)).build())
    const chunks: Uint8Array[] = []
    for await (const ch of out as any) chunks.push(ch)
    times.push(performance.now() - t); size = chunks.reduce((s, c) => s + c.length, 0)
    if (k === 2) fs.writeFileSync(`/tmp/proto/${name}.parquet`, Buffer.concat(chunks))
  }
  times.sort((a, b) => a - b)
  const file = await pq.ParquetFile.fromFile(await fs.openAsBlob(`/tmp/proto/${name}.parquet`))
  const rt: number[] = []
  for (let k = 0; k < 3; k++) {
    const t = performance.now()
    for (let g = 0; g < file.metadata().numRowGroups(); g++) { const tab = await file.read({ rowGroups: [g], batchSize: 1 << 30 }); tab.intoIPCStream() }
    rt.push(performance.now() - t)
  }
  rt.sort((a, b) => a - b)
  console.log(`${name.padEnd(28)} write ${times[1]!.toFixed(0)} ms  read ${rt[1]!.toFixed(0)} ms  ${(size / 1e6).toFixed(1)} MB`)
}
const Z = (b: any) => b.setCompression(pq.Compression.ZSTD)
await write("list zstd stats=page", L_IPC, Z)
await write("list zstd stats=chunk", L_IPC, (b) => Z(b).setStatisticsEnabled(pq.EnabledStatistics.Chunk))
await write("list zstd stats=none", L_IPC, (b) => Z(b).setStatisticsEnabled(pq.EnabledStatistics.None))
await write("list zstd chunk bigpage", L_IPC, (b) => Z(b).setStatisticsEnabled(pq.EnabledStatistics.Chunk).setDataPageSizeLimit(16 << 20).setWriteBatchSize(1 << 16))
await write("list zstd none bigpage", L_IPC, (b) => Z(b).setStatisticsEnabled(pq.EnabledStatistics.None).setDataPageSizeLimit(16 << 20).setWriteBatchSize(1 << 16))
await write("list zstd chunk v2", L_IPC, (b) => Z(b).setStatisticsEnabled(pq.EnabledStatistics.Chunk).setWriterVersion(pq.WriterVersion.V2))
await write("list snappy chunk", L_IPC, (b) => b.setCompression(pq.Compression.SNAPPY).setStatisticsEnabled(pq.EnabledStatistics.Chunk))
await write("list none chunk", L_IPC, (b) => b.setCompression(pq.Compression.UNCOMPRESSED).setStatisticsEnabled(pq.EnabledStatistics.Chunk))
await write("flat zstd chunk", F_IPC, (b) => Z(b).setStatisticsEnabled(pq.EnabledStatistics.Chunk))
await write("flat zstd none", F_IPC, (b) => Z(b).setStatisticsEnabled(pq.EnabledStatistics.None))
