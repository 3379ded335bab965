import * as arrow from "apache-arrow"
const pq = await import("parquet-wasm")
const L = 8192, G = 256, n = L * G
const schema = new arrow.Schema([new arrow.Field("tokens", new arrow.List(new arrow.Field("item", new arrow.Int16(), false)), false)])
const mk = () => {
  const offs = new Int32Array(G + 1); for (let i = 0; i <= G; i++) offs[i] = i * L
  const child = arrow.makeData({ type: new arrow.Int16(), length: n, data: new Int16Array(n).map((_, i) => i % 2048) })
  const list = arrow.makeData({ type: schema.fields[0]!.type, length: G, valueOffsets: offs, child })
  return new arrow.RecordBatch(schema, arrow.makeData({ type: new arrow.Struct(schema.fields), length: G, children: [list] }))
}
const b = mk()
for (let k = 0; k < 3; k++) {
  let t = performance.now()
  let ipc!: Uint8Array
  for (let i = 0; i < 10; i++) ipc = arrow.tableToIPC(new arrow.Table([b]), "stream")
  const a = (performance.now() - t) / 10; t = performance.now()
  for (let i = 0; i < 10; i++) { const w = pq.Table.fromIPCStream(ipc); w.free() }
  const c = (performance.now() - t) / 10; t = performance.now()
  for (let i = 0; i < 10; i++) { const w = pq.Table.fromIPCStream(ipc); const bs = w.recordBatches(); w.free(); bs[0]!.free() }
  const d = (performance.now() - t) / 10
  console.log(`per 4MB batch: tableToIPC ${a.toFixed(1)} ms, fromIPCStream ${c.toFixed(1)} ms, +recordBatches ${d.toFixed(1)} ms, mem ${(pq.wasmMemory().buffer.byteLength / 1e6).toFixed(0)}MB`)
}
