import { readFileSync } from "node:fs"
import { afterEach, describe, expect, it } from "vitest"
import { makeProject, type Project, REPO, RUNTIME } from "./fixture.ts"

let project: Project | undefined
afterEach(() => project?.remove())

const manifest = (...artists: string[]) => artists.map((artist, i) => JSON.stringify({ id: `s${i}`, audio: "a.wav", artist, genre: "pop" })).join("\n")

describe("incremental stages", () => {
  it("extend their last output when inputs change, and stay cached when they do not", async () => {
    project = makeProject({
      "data/a.wav": "RIFF",
      "data/manifest.jsonl": manifest("Bo", "Cy"),
      "pipelines/p.ts": `import { Pipeline, use } from "${RUNTIME}"
import { songs } from "${REPO}/stages/songs.ts"
import { vocab } from "${REPO}/stages/vocab.ts"
export default Pipeline.define("p", { songs: use(songs, { params: { manifest: "data/manifest.jsonl" } }), vocab: use(vocab, { inputs: { songs: "songs" } }) })
`,
    })
    const vocabOf = (record: Awaited<ReturnType<Project["run"]>>) =>
      JSON.parse(readFileSync(`${project!.store.objectDir(record.stages.find((s) => s.name === "vocab")!.artifact!)}/value.json`, "utf8"))
    const first = await project.run("pipelines/p.ts")
    expect(vocabOf(first)).toEqual({ artists: ["Bo", "Cy"], genres: ["pop"] })
    const again = await project.run("pipelines/p.ts")
    expect(again.stages.every((s) => s.status === "cached")).toBe(true)
    project.write("data/manifest.jsonl", manifest("Bo", "Cy", "Aaron"))
    const added = await project.run("pipelines/p.ts")
    expect(vocabOf(added)).toEqual({ artists: ["Bo", "Cy", "Aaron"], genres: ["pop"] })
  })
})
