import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as arrow from "apache-arrow"
import { Chunk, Effect, Either, Schema, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Table } from "../../runtime/artifact.ts"
import type { ShardInfo, TableKind } from "../../runtime/artifact.ts"
import { Col } from "../../runtime/columns.ts"
import { ArtifactWriteError, arrowSchemaOf, openTable, readShardMeta, tableColumns, writeTable } from "../../runtime/parquet.ts"

let root: string
let dirs = 0
beforeAll(() => { root = fs.mkdtempSync(path.join(os.tmpdir(), "jukeflow-parquet-")) })
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

const freshDir = () => {
  const dir = path.join(root, `t${dirs++}`)
  fs.mkdirSync(dir)
  return dir
}

const located = (dir: string, shards: ReadonlyArray<ShardInfo>) => shards.map((shard) => ({ ...shard, absolutePath: path.join(dir, shard.path) }))

/** Writes rows into a fresh folder and opens them again. */
const roundTrip = async <Row>(kind: TableKind<Row>, rows: Iterable<Row> | AsyncIterable<Row> | Stream.Stream<Row>) => {
  const dir = freshDir()
  const written = await Effect.runPromise(writeTable(kind, rows, dir))
  return { dir, written, reader: openTable(kind, located(dir, written.shards)) }
}

const Everything = Schema.Struct({
  i8: Col.int8,
  i16: Col.int16,
  i32: Col.int32,
  i64: Col.int64,
  f32: Col.float32,
  f64: Col.float64,
  flag: Col.bool,
  name: Col.string,
  song: Col.dictionary,
  bytes: Col.int8List,
  tokens: Col.int16List,
  ids: Col.int32List,
  audio: Col.float32List,
  wide: Col.float64List,
  words: Col.list(Col.string),
  maybeInt: Col.nullable(Col.int32),
  maybeName: Col.nullable(Col.string),
  maybeSong: Col.nullable(Col.dictionary),
  maybeTokens: Col.nullable(Col.int16List),
})

const everythingRow = (i: number): typeof Everything.Type => ({
  i8: (i % 256) - 128,
  i16: i * 7 - 32768,
  i32: i * 100_003 - 2_000_000_000,
  i64: 2 ** 53 - 1 - i,
  f32: Math.fround(i / 3),
  f64: i / 7,
  flag: i % 3 === 0,
  name: `név ${i} 🎵`,
  song: `song-${i % 4}`,
  bytes: Int8Array.from({ length: i % 5 }, (_, k) => k - 2),
  tokens: Int16Array.from({ length: i % 9 }, (_, k) => k * 1000 - 4000),
  ids: Int32Array.of(i, -i),
  audio: Float32Array.of(i / 2),
  wide: Float64Array.of(Math.PI * i),
  words: Array.from({ length: i % 3 }, (_, k) => `w${k}`),
  maybeInt: i % 2 === 0 ? null : i,
  maybeName: i % 3 === 0 ? null : `n${i}`,
  maybeSong: i % 4 === 0 ? null : `s${i % 2}`,
  maybeTokens: i % 5 === 0 ? null : Int16Array.of(i),
})

describe("tableColumns", () => {
  it("maps each column to its Arrow type, in order", () => {
    const columns = tableColumns(Schema.Struct({ a: Col.int16, b: Col.nullable(Col.dictionary), c: Col.list(Col.float32), d: Schema.Number }))
    expect(columns.map((c) => c.name)).toEqual(["a", "b", "c", "d"])
    expect(columns[1]!.type).toEqual({ _tag: "Nullable", inner: { _tag: "Dictionary" } })
    const schema = arrowSchemaOf(columns)
    expect(schema.fields.map((f) => `${f.name}:${String(f.type)}:${f.nullable}`)).toEqual([
      "a:Int16:false", "b:Dictionary<Int32, Utf8>:true", "c:List<Float32>:false", "d:Float64:false",
    ])
  })

  it("names the column it cannot map", () => {
    expect(() => tableColumns(Schema.Struct({ ok: Col.int8, when: Schema.Date }))).toThrow(/column when/)
  })
})

describe("writeTable and openTable", () => {
  it("round-trips every column type, nulls included", async () => {
    const rows = Array.from({ length: 50 }, (_, i) => everythingRow(i))
    const { written, reader } = await roundTrip(Table(Everything, { rowGroupRows: 16 }), rows)
    expect(written.rows).toBe(50)
    expect(written.shards).toEqual([expect.objectContaining({ path: "part-00000.parquet", rows: 50, rowGroups: 4 })])
    const back = await Effect.runPromise(reader.all())
    expect(back).toEqual(rows)
    expect(back[3]!.tokens).toBeInstanceOf(Int16Array)
    expect(reader.rows).toBe(50)
  })

  it("round-trips Int16Array token windows of varied lengths from a Stream", async () => {
    const lengths = [0, 1, 8192, 3, 0, 1000, 8191, 2]
    const rows = lengths.map((n, i) => ({ song_id: `s${i % 2}`, tokens: Int16Array.from({ length: n }, (_, k) => ((k * 31 + i) % 2048) - 1024) }))
    const Window = Schema.Struct({ song_id: Col.dictionary, tokens: Col.int16List })
    const { reader } = await roundTrip(Table(Window, { rowGroupRows: 3 }), Stream.fromIterable(rows))
    expect(await Effect.runPromise(reader.all())).toEqual(rows)
  })

  it("round-trips windows sliced out of one Int16Array, leaving the array intact", async () => {
    const song = Int16Array.from({ length: 10_000 }, (_, k) => (k * 7) % 2048)
    const rows = Array.from({ length: 10 }, (_, w) => ({ tokens: song.subarray(w * 1000, w * 1000 + 1000) }))
    const { reader } = await roundTrip(Table(Schema.Struct({ tokens: Col.int16List }), { rowGroupRows: 4 }), rows)
    expect(await Effect.runPromise(reader.all())).toEqual(rows)
    expect(song.length).toBe(10_000)
    expect(song[9_999]).toBe((9_999 * 7) % 2048)
  })

  it("stops reading when the stream is cut short", async () => {
    const kind = Table(Schema.Struct({ n: Col.int32 }), { rowGroupRows: 5 })
    const { reader } = await roundTrip(kind, Array.from({ length: 100 }, (_, n) => ({ n })))
    const first = await Effect.runPromise(Stream.runCollect(Stream.take(reader.stream(), 7)))
    expect(Chunk.toReadonlyArray(first).map((r) => r.n)).toEqual([0, 1, 2, 3, 4, 5, 6])
  })

  it("accepts async iterables", async () => {
    async function* rows() { for (let i = 0; i < 10; i++) yield { n: i } }
    const { reader } = await roundTrip(Table(Schema.Struct({ n: Col.int32 }), { rowGroupRows: 4 }), rows())
    expect((await Effect.runPromise(reader.all())).map((r) => r.n)).toEqual([...Array(10).keys()])
  })

  it("writes one empty shard for an empty table", async () => {
    const { written, reader } = await roundTrip(Table(Schema.Struct({ n: Col.int32 })), [])
    expect(written).toEqual({ rows: 0, shards: [expect.objectContaining({ rows: 0, rowGroups: 0 })] })
    expect(await Effect.runPromise(reader.all())).toEqual([])
  })

  it("splits shards by rows, in whole row groups, keeping row order", async () => {
    const kind = Table(Schema.Struct({ n: Col.int32 }), { shardRows: 25, rowGroupRows: 10 })
    const { written, reader } = await roundTrip(kind, Array.from({ length: 60 }, (_, n) => ({ n })))
    expect(written.shards.map((s) => [s.path, s.rows, s.rowGroups])).toEqual([
      ["part-00000.parquet", 20, 2], ["part-00001.parquet", 20, 2], ["part-00002.parquet", 20, 2],
    ])
    expect((await Effect.runPromise(reader.all())).map((r) => r.n)).toEqual([...Array(60).keys()])
  })

  it("splits shards by bytes, keeping row order", async () => {
    const kind = Table(Schema.Struct({ i: Col.int32, noise: Col.float32List }), { shardBytes: 20_000, rowGroupRows: 4 })
    const rows = Array.from({ length: 40 }, (_, i) => ({ i, noise: Float32Array.from({ length: 500 }, () => Math.random()) }))
    const { written, reader } = await roundTrip(kind, rows)
    expect(written.shards.length).toBeGreaterThan(2)
    for (const shard of written.shards) expect(shard.bytes).toBeLessThanOrEqual(20_000)
    expect(written.shards.reduce((sum, s) => sum + s.rows, 0)).toBe(40)
    expect(await Effect.runPromise(reader.all())).toEqual(rows)
  })

  it("reads only the requested columns", async () => {
    const { reader } = await roundTrip(Table(Everything, { rowGroupRows: 8 }), Array.from({ length: 20 }, (_, i) => everythingRow(i)))
    const back = await Effect.runPromise(Stream.runCollect(reader.stream({ columns: ["tokens", "song"] })))
    expect(Chunk.size(back)).toBe(20)
    expect(Object.keys(Chunk.unsafeGet(back, 7))).toEqual(["tokens", "song"])
    expect(Chunk.unsafeGet(back, 7)).toEqual({ tokens: everythingRow(7).tokens, song: "song-3" })
  })

  it("fails on a bad value, naming the column and the row", async () => {
    const kind = Table(Schema.Struct({ level: Col.int8, tokens: Col.int16List }), { rowGroupRows: 4 })
    const rows = Array.from({ length: 10 }, (_, i) => ({ level: i === 6 ? 300 : 1, tokens: new Int16Array(2) }))
    const dir = freshDir()
    const error = await Effect.runPromise(Effect.flip(writeTable(kind, rows, dir)))
    expect(error).toBeInstanceOf(ArtifactWriteError)
    expect(error.message).toMatch(/row 6, column "level": expected an int8/)
    const wrongArray = [{ level: 1, tokens: new Int16Array(1) }, { level: 1, tokens: [1, 2] as unknown as Int16Array }]
    const second = await Effect.runPromise(Effect.flip(writeTable(kind, wrongArray, freshDir())))
    expect(second.message).toMatch(/row 1, column "tokens": expected a Int16Array, got a Array/)
    expect(fs.readdirSync(dir).filter((f) => f.startsWith("part-00001"))).toEqual([])
  })

  it("reports a failing row stream as a write error", async () => {
    const rows = Stream.concat(Stream.make({ n: 1 }), Stream.fail("disk on fire"))
    const error = await Effect.runPromise(Effect.flip(writeTable(Table(Schema.Struct({ n: Col.int32 })), rows, freshDir())))
    expect(error.reason).toMatch(/row stream failed: disk on fire/)
  })

  it("gives ArtifactReadError naming a truncated, corrupt or missing shard", async () => {
    const kind = Table(Schema.Struct({ n: Col.int32, tokens: Col.int16List }), { rowGroupRows: 8 })
    const { dir, written } = await roundTrip(kind, Array.from({ length: 30 }, (_, n) => ({ n, tokens: new Int16Array(100).fill(n) })))
    const [shard] = located(dir, written.shards)
    const bytes = fs.readFileSync(shard!.absolutePath)
    fs.writeFileSync(shard!.absolutePath, bytes.subarray(0, bytes.length - 100))
    for (const damage of [
      () => {},
      () => fs.writeFileSync(shard!.absolutePath, Buffer.concat([bytes.subarray(0, 200), Buffer.alloc(200, 7), bytes.subarray(400)])),
      () => fs.rmSync(shard!.absolutePath),
    ]) {
      damage()
      const error = await Effect.runPromise(Effect.flip(openTable(kind, [shard!]).all()))
      expect(error._tag).toBe("ArtifactReadError")
      expect(error.path).toBe(shard!.absolutePath)
    }
  })

  it("rejects a shard whose column types differ from the schema", async () => {
    const { dir, written } = await roundTrip(Table(Schema.Struct({ n: Col.int32 })), [{ n: 1 }])
    const error = await Effect.runPromise(Effect.flip(openTable(Table(Schema.Struct({ n: Col.int16 })), located(dir, written.shards)).all()))
    expect(error.reason).toMatch(/column "n" is Int32 in the file, but the schema says int16/)
  })
})

describe("the files", () => {
  it("are Parquet with zstd and dictionary-encoded tokens, readable without jukeflow", async () => {
    const Window = Schema.Struct({ song_id: Col.dictionary, level: Col.int8, window: Col.int32, start: Col.int64, tokens: Col.int16List })
    const rows = Array.from({ length: 12 }, (_, i) => ({ song_id: `song${i % 3}`, level: 2, window: i, start: i * 8192, tokens: Int16Array.from({ length: 64 }, (_, k) => (k * i) % 2048) }))
    const { dir, written } = await roundTrip(Table(Window, { rowGroupRows: 5 }), rows)
    const file = path.join(dir, written.shards[0]!.path)
    const bytes = fs.readFileSync(file)
    expect(bytes.subarray(0, 4).toString()).toBe("PAR1")
    expect(bytes.subarray(bytes.length - 4).toString()).toBe("PAR1")

    const meta = await Effect.runPromise(readShardMeta(file))
    expect(meta).toMatchObject({ rows: 12, rowGroups: 3, bytes: bytes.length })
    const tokens = meta.columns.find((c) => c.path === "tokens.list.item")!
    expect(tokens.compression).toBe("ZSTD")
    expect(tokens.encodings).toContain("RLE_DICTIONARY")

    // An independent reader: parquet-wasm's whole-file reader, decoded by apache-arrow alone.
    const { readParquet } = await import("parquet-wasm")
    const table = arrow.tableFromIPC(readParquet(bytes).intoIPCStream())
    expect(table.numRows).toBe(12)
    expect(table.schema.fields.map((f) => `${f.name}:${String(f.type)}`)).toEqual([
      "song_id:Dictionary<Int32, Utf8>", "level:Int8", "window:Int32", "start:Int64", "tokens:List<Int16>",
    ])
    expect(table.getChild("start")!.get(11)).toBe(11n * 8192n)
    expect(Array.from(table.getChild("tokens")!.get(5)!)).toEqual(Array.from(rows[5]!.tokens))
    expect(Either.isRight(await Effect.runPromise(Effect.either(readShardMeta(path.join(dir, "missing.parquet")))))).toBe(false)
  })
})
