/** Table summaries: recorded in manifests (a partitioned stage's too), run and drawn by `inspect`. */
import { Effect, Schema } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { Col, Table } from "../../runtime/index.ts"
import { barChart } from "../../runtime/cli/format.js"
import { makeProject, type Project, RUNTIME } from "./fixture.ts"

let project: Project | undefined
afterEach(() => project?.remove())

const files = {
  "stages/windows.ts": `import { Effect, Schema } from "effect"
import { Col, Stage, Table } from "${RUNTIME}"
export const Song = Schema.Struct({ id: Col.dictionary })
export const Window = Schema.Struct({ song: Col.dictionary, level: Col.int8, n: Col.int32 })
export const songs = Stage.define({
  name: "songs", version: 1, output: Table(Song),
  run: () => Effect.succeed([{ id: "a" }, { id: "b" }]),
})
export const windows = Stage.define({
  name: "windows", version: 1,
  inputs: { songs: Table(Song) },
  partitionBy: { input: "songs", column: "id" },
  output: Table(Window, { summaries: [
    { title: "rows per level", sql: "SELECT level, count(*) AS windows, sum(n) AS total FROM t GROUP BY level ORDER BY level" },
    { title: "n by song", sql: "SELECT level, song, sum(n) AS total FROM t GROUP BY ALL ORDER BY level, song",
      chart: { type: "bar", label: "song", value: "total", group: "level" } },
    { title: "broken", sql: "SELECT nope FROM t" },
    { title: "bad chart", sql: "SELECT level FROM t", chart: { type: "bar", label: "song", value: "n" } },
  ] }),
  run: ({ songs }) => Effect.map(songs.all(), (rows) => rows.flatMap((r) =>
    [0, 1].map((level) => ({ song: r.id, level, n: (r.id === "a" ? 10 : 40) * (level + 1) })))),
})
`,
  "pipelines/p.ts": `import { Pipeline, use } from "${RUNTIME}"
import { songs, windows } from "../stages/windows.ts"
export default Pipeline.define("p", { songs: use(songs), windows: use(windows, { inputs: { songs: "songs" } }) })
`,
}

describe("table summaries", () => {
  it("are recorded in each member's manifest and the composite's, and inspect prints them", async () => {
    project = makeProject(files)
    const record = await project.run("pipelines/p.ts")
    expect(record.status).toBe("success")
    const composite = await Effect.runPromise(project.store.manifest(record.stages.find((s) => s.name === "windows")!.artifact!))
    expect(composite.summaries?.map((s) => s.title)).toEqual(["rows per level", "n by song", "broken", "bad chart"])
    const member = await Effect.runPromise(project.store.manifest(Object.values(composite.partitions!)[0]!))
    expect(member.summaries).toEqual(composite.summaries)
    expect((await project.cli(["verify"])).code).toBe(0) // the summaries are part of what each manifest hashes

    const inspect = await project.cli(["inspect", "windows"])
    expect(inspect.code).toBe(0)
    const out = inspect.stdout
    expect(out).toMatch(/rows per level\nlevel\s+windows\s+total\n[─ ]+\n0\s+2\s+50\n1\s+2\s+100/)
    expect(out).toMatch(/n by song, level 0\na\s+10\s+█{18}▎\nb\s+40\s+█{73}\n/)
    expect(out).toMatch(/n by song, level 1\na\s+20\s+█{18}▎\nb\s+80\s+█{73}\n/)
    expect(out).toMatch(/summary "broken": SQL failed: .*nope/)
    expect(out).toContain(`summary "bad chart": its chart needs a column "song", which the query does not return.`)
    expect(out.split("\n").every((line) => line.length <= 80 || !line.includes("█"))).toBe(true)

    const json = JSON.parse((await project.cli(["inspect", "windows", "--json"])).stdout) as { summaries: Array<Record<string, unknown>> }
    expect(json.summaries[0]).toMatchObject({ title: "rows per level", columns: ["level", "windows", "total"], rows: [{ level: 0, windows: "2", total: "50" }, { level: 1, windows: "2", total: "100" }] })
    expect(json.summaries[2]).toMatchObject({ title: "broken", error: expect.stringMatching(/^summary "broken": SQL failed/) })
  })

  it("draws bars scaled to the largest value within 80 columns, a non-zero value never as empty", () => {
    const lines = barChart([{ label: "0–127", value: 1000 }, { label: "128–255", value: 500 }, { label: "256–383", value: 1 }, { label: "384–511", value: 0 }]).split("\n")
    expect(lines.map((l) => l.length)).toEqual([80, 48, 16, 13])
    expect(lines[0]).toBe(`0–127    1000  ${"█".repeat(65)}`)
    expect(lines[1]).toBe(`128–255   500  ${"█".repeat(32)}▌`)
    expect(lines[2]).toBe("256–383     1  ▏")
    expect(lines[3]).toBe("384–511     0")
  })

  it("are checked when the table kind is declared", () => {
    const Row = Schema.Struct({ x: Col.int32 })
    expect(() => Table(Row, { summaries: [{ title: "a", sql: "SELECT 1" }, { title: "a", sql: "SELECT 2" }] })).toThrow(/two summaries are titled "a"/)
    expect(() => Table(Row, { summaries: [{ title: "a", sql: " " }] })).toThrow(/summary 1 needs a title and SQL/)
    expect(Table(Row).summaries).toEqual([])
  })
})
