import { afterEach, describe, expect, it } from "vitest"
import { makeProject, type Project, RUNTIME } from "./fixture.ts"

let project: Project | undefined
afterEach(() => project?.remove())

/** A manifest of songs (a JSON file declared as an external file) → per-song stage → summary. */
const files = {
  "stages/songs.ts": `import { Effect, Schema } from "effect"
import { readFileSync } from "node:fs"
import { Col, Json, Stage, Table } from "${RUNTIME}"
export const Song = Schema.Struct({ id: Col.dictionary, length: Col.int32 })
export const Stats = Schema.Struct({ id: Col.dictionary, double: Col.int32 })
export const songs = Stage.define({
  name: "songs", version: 1,
  params: Schema.Struct({ manifest: Schema.String }),
  files: ({ params }) => Effect.succeed([params.manifest]),
  output: Table(Song),
  run: (_i, p, ctx) => Effect.sync(() => JSON.parse(readFileSync(ctx.resolve(p.manifest), "utf8"))),
})
export const perSong = Stage.define({
  name: "per-song", version: 1,
  inputs: { songs: Table(Song) },
  partitionBy: { input: "songs", column: "id" },
  output: Table(Stats),
  run: ({ songs }, _p, ctx) => Effect.map(songs.all(), (rows) => rows.map((r) => ({ id: r.id, double: r.length * 2 }))),
})
export const total = Stage.define({
  name: "total", version: 1,
  inputs: { stats: Table(Stats) },
  output: Json(Schema.Struct({ songs: Schema.Number, sum: Schema.Number })),
  run: ({ stats }) => Effect.map(stats.all(), (rows) => ({ songs: rows.length, sum: rows.reduce((a, r) => a + r.double, 0) })),
})
`,
  "pipelines/songs.ts": `import { Pipeline, use } from "${RUNTIME}"
import { songs, perSong, total } from "../stages/songs.ts"
export default Pipeline.define("songs", {
  songs: use(songs, { params: { manifest: "data/songs.json" } }),
  perSong: use(perSong, { inputs: { songs: "songs" } }),
  total: use(total, { inputs: { stats: "perSong" } }),
})
`,
}

const manifest = (ids: string[]) => JSON.stringify(ids.map((id, i) => ({ id, length: 10 + i })))
const partitionsOf = (record: Awaited<ReturnType<Project["run"]>>) => record.stages.find((s) => s.name === "perSong")!.partitions!

describe("partitioned stages", () => {
  it("computes only new partitions, and nothing when one is removed", async () => {
    project = makeProject({ ...files, "data/songs.json": manifest(["a", "b", "c"]) })
    const first = await project.run("pipelines/songs.ts")
    expect(partitionsOf(first)).toMatchObject({ total: 3, ran: 3, cached: 0 })

    project.write("data/songs.json", manifest(["a", "b", "c", "d", "e"]))
    const added = await project.run("pipelines/songs.ts")
    expect(added.stages.find((s) => s.name === "songs")!.reason).toBe("file changed: data/songs.json")
    expect(partitionsOf(added)).toMatchObject({ total: 5, ran: 2, cached: 3 })
    expect(added.stages.find((s) => s.name === "perSong")!.reason).toBe("2 of 5 partitions: new partition")

    project.write("data/songs.json", manifest(["a", "b", "c", "d"]))
    const removed = await project.run("pipelines/songs.ts")
    expect(partitionsOf(removed)).toMatchObject({ total: 4, ran: 0, cached: 4 })
    expect(removed.stages.find((s) => s.name === "total")!.status).toBe("ran")
  })

  it("re-runs a partition whose rows changed, and only it", async () => {
    project = makeProject({ ...files, "data/songs.json": manifest(["a", "b", "c"]) })
    await project.run("pipelines/songs.ts")
    project.write("data/songs.json", JSON.stringify([{ id: "a", length: 10 }, { id: "b", length: 99 }, { id: "c", length: 12 }]))
    const changed = await project.run("pipelines/songs.ts")
    expect(partitionsOf(changed)).toMatchObject({ total: 3, ran: 1, cached: 2 })
  })

  it("cuts joined inputs by the same value, so a partition depends only on its own rows", async () => {
    const stages = `import { Effect, Schema } from "effect"
import { readFileSync } from "node:fs"
import { Col, Stage, Table } from "${RUNTIME}"
import { Song, songs } from "./songs.ts"
export const Note = Schema.Struct({ song: Col.dictionary, text: Col.string })
export const notes = Stage.define({
  name: "notes", version: 1, params: Schema.Struct({ file: Schema.String }),
  files: ({ params }) => Effect.succeed([params.file]), output: Table(Note),
  run: (_i, p, ctx) => Effect.sync(() => JSON.parse(readFileSync(ctx.resolve(p.file), "utf8"))),
})
export const annotate = Stage.define({
  name: "annotate", version: 1,
  inputs: { songs: Table(Song), notes: Table(Note) },
  partitionBy: { input: "songs", column: "id", join: { notes: "song" } },
  output: Table(Note),
  run: ({ songs, notes }) => Effect.gen(function* () {
    const texts = (yield* notes.all()).map((n) => n.text).join("+")
    return (yield* songs.all()).map((s) => ({ song: s.id, text: s.id + ":" + texts }))
  }),
})
`
    project = makeProject({
      ...files,
      "stages/notes.ts": stages,
      "data/songs.json": manifest(["a", "b", "c"]),
      "data/notes.json": JSON.stringify([{ song: "a", text: "x" }, { song: "b", text: "y" }]),
      "pipelines/notes.ts": `import { Pipeline, use } from "${RUNTIME}"
import { songs } from "../stages/songs.ts"
import { notes, annotate } from "../stages/notes.ts"
export default Pipeline.define("notes", {
  songs: use(songs, { params: { manifest: "data/songs.json" } }),
  notes: use(notes, { params: { file: "data/notes.json" } }),
  annotate: use(annotate, { inputs: { songs: "songs", notes: "notes" } }),
})
`,
    })
    const first = await project.run("pipelines/notes.ts")
    expect(first.stages.find((s) => s.name === "annotate")!.partitions).toMatchObject({ total: 3, ran: 3 })
    project.write("data/notes.json", JSON.stringify([{ song: "a", text: "x" }, { song: "b", text: "y" }, { song: "c", text: "z" }]))
    const second = await project.run("pipelines/notes.ts")
    expect(second.stages.find((s) => s.name === "annotate")!.partitions).toMatchObject({ total: 3, ran: 1, cached: 2 })
    const { Effect } = await import("effect")
    const { inputValue } = await import("../../runtime/inputs.ts")
    const { Table } = await import("../../runtime/artifact.ts")
    const { Schema } = await import("effect")
    const { Col } = await import("../../runtime/columns.ts")
    const kind = Table(Schema.Struct({ song: Col.dictionary, text: Col.string }))
    const manifestOf = await Effect.runPromise(project.store.manifest(second.stages.find((s) => s.name === "annotate")!.artifact!))
    const reader = await Effect.runPromise(inputValue(project.store, kind, manifestOf)) as { all: () => import("effect").Effect.Effect<ReadonlyArray<{ text: string }>> }
    expect((await Effect.runPromise(reader.all())).map((r) => r.text)).toEqual(["a:x", "b:y", "c:z"])
  })
})
