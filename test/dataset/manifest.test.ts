import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { parseCsv, readManifest } from "../../dataset/manifest.ts"

let root: string | undefined
afterEach(() => root && rmSync(root, { recursive: true, force: true }))

/** A project root with a dataset folder `data/` holding `files`. */
const dataset = (files: Record<string, string | Uint8Array>): string => {
  root = mkdtempSync(join(tmpdir(), "jukeflow-manifest-"))
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, "data", path)), { recursive: true })
    writeFileSync(join(root, "data", path), content)
  }
  return root
}

const song = (id: string, extra: Record<string, unknown> = {}) => JSON.stringify({ id, audio: `audio/${id}.wav`, artist: "Ada", ...extra })
const audio = (...ids: string[]) => Object.fromEntries(ids.map((id) => [`audio/${id}.wav`, "RIFF"]))

describe("dataset manifests", () => {
  it("reads every field of a JSONL manifest, paths relative to the project root", () => {
    const dir = dataset({
      ...audio("s001", "s002"),
      "lyrics/s001.txt": "Hold on, (hold on) to the night\n",
      "separated/s001/vocals.wav": "RIFF",
      "separated/s001/accompaniment.flac": "fLaC",
      "align/s001.txt": "0.50 0.90 HOLD\n",
      "manifest.jsonl": [
        song("s001", { genre: ["blues", "rock"], year: 1999, lyrics: "lyrics/s001.txt", stems: "separated/s001", alignment: "align/s001.txt" }),
        "",
        song("s002", { genre: "folk", lyrics: { text: "la la" } }),
      ].join("\n"),
    })
    const { songs, rejected, files } = readManifest("data/manifest.jsonl", dir)
    expect(rejected).toEqual([])
    expect(songs).toEqual([
      {
        id: "s001", audio: "data/audio/s001.wav", artist: "Ada", genres: ["blues", "rock"], year: 1999,
        lyrics: "Hold on, (hold on) to the night\n", vocals: "data/separated/s001/vocals.wav",
        accompaniment: "data/separated/s001/accompaniment.flac", alignment: "data/align/s001.txt", source: "data/manifest.jsonl:1",
      },
      {
        id: "s002", audio: "data/audio/s002.wav", artist: "Ada", genres: ["folk"], year: null, lyrics: "la la",
        vocals: null, accompaniment: null, alignment: null, source: "data/manifest.jsonl:3",
      },
    ])
    expect([...files].sort()).toEqual(["data/lyrics/s001.txt", "data/manifest.jsonl"])
  })

  it("reads a CSV manifest with the same columns", () => {
    const dir = dataset({
      ...audio("a1"),
      "manifest.csv": 'id,audio,artist,genre,year\na1,audio/a1.wav,"Bo, Jr.",blues;rock,1970\n',
    })
    const { songs } = readManifest("data/manifest.csv", dir)
    expect(songs[0]).toMatchObject({ id: "a1", artist: "Bo, Jr.", genres: ["blues", "rock"], year: 1970, source: "data/manifest.csv:2" })
  })

  it("parses quoted CSV fields with commas, quotes and newlines", () => {
    expect(parseCsv('a,"b ""c"", d","e\nf"\r\n1,2,3')).toEqual([["a", 'b "c", d', "e\nf"], ["1", "2", "3"]])
  })

  const rejectedFor = (lines: string[], files: Record<string, string | Uint8Array> = {}) => {
    const dir = dataset({ ...audio("ok"), ...files, "manifest.jsonl": [song("ok"), ...lines].join("\n") })
    const { songs, rejected } = readManifest("data/manifest.jsonl", dir)
    expect(songs.map((s) => s.id)).toEqual(["ok"])
    expect(rejected).toHaveLength(1)
    return rejected[0]!
  }

  it("sets aside a line that is not JSON, naming the manifest line", () => {
    expect(rejectedFor(["{oops"]).reason).toMatch(/^data\/manifest\.jsonl:2: not valid JSON/)
  })

  it("sets aside a song without a required field", () => {
    expect(rejectedFor([JSON.stringify({ id: "x", audio: "audio/ok.wav" })])).toEqual({
      item: "x", reason: 'data/manifest.jsonl:2: field "artist": is missing',
    })
  })

  it("sets aside an id that is not a safe file name", () => {
    expect(rejectedFor([song("../evil")]).reason).toBe('data/manifest.jsonl:2: id "../evil" is not a safe file name (letters, digits, ".", "_" and "-", starting with a letter or digit)')
  })

  it("sets aside a duplicate id", () => {
    expect(rejectedFor([song("ok")])).toEqual({ item: "ok (line 2)", reason: 'data/manifest.jsonl:2: id "ok" repeats line 1' })
  })

  it("sets aside a path that leaves the dataset's folder", () => {
    expect(rejectedFor([song("x", { audio: "../../etc/passwd" })]).reason).toBe('data/manifest.jsonl:2: audio "../../etc/passwd" leaves the dataset\'s folder')
    expect(rejectedFor([song("y", { audio: "/etc/passwd" })]).reason).toBe('data/manifest.jsonl:2: audio "/etc/passwd" leaves the dataset\'s folder')
  })

  it("sets aside a song whose file is missing", () => {
    expect(rejectedFor([song("gone")]).reason).toBe("data/manifest.jsonl:2: audio audio/gone.wav: no such file")
  })

  it("sets aside lyrics that are not UTF-8", () => {
    const latin1 = new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x0a]) // "café" in Latin-1
    expect(rejectedFor([song("ok2", { audio: "audio/ok.wav", lyrics: "lyrics/x.txt" })], { "lyrics/x.txt": latin1 }).reason)
      .toBe("data/manifest.jsonl:2: lyrics lyrics/x.txt is not UTF-8 text")
  })

  it("sets aside stems that are not a Spleeter 2stems folder", () => {
    expect(rejectedFor([song("ok3", { audio: "audio/ok.wav", stems: "sep" })], { "sep/drums.wav": "RIFF" }).reason)
      .toBe("data/manifest.jsonl:2: stems sep: not a Spleeter 2stems folder: no vocals file (expected vocals.wav or another Spleeter codec)")
  })
})
