/**
 * The demo pipeline end to end through the CLI, as `npm start` runs it (slow: set JUKEFLOW_SLOW=1;
 * CI does). The store is a temp folder, so the repository's own `.jukeflow/` is left alone.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { REPO } from "../runtime/fixture.ts"

const store = mkdtempSync(join(tmpdir(), "jukeflow-demo-store-"))
afterAll(() => rmSync(store, { recursive: true, force: true }))

const jukeflow = (...args: string[]) => {
  const result = spawnSync(process.execPath, [join(REPO, "bin/jukeflow.js"), ...args], {
    cwd: REPO, env: { ...process.env, JUKEFLOW_STORE: store }, encoding: "utf8", timeout: 600_000,
  })
  return result
}

describe.runIf(process.env.JUKEFLOW_SLOW === "1")("pipelines/demo.ts", () => {
  it("runs end to end, then fully cached, then re-runs only what a change touches", { timeout: 900_000 }, () => {
    const first = jukeflow("run", "pipelines/demo.ts", "--json")
    expect(first.status, first.stderr).toBe(0)
    const record = JSON.parse(first.stdout) as { stages: Array<{ name: string; status: string }> }
    expect(record.stages.map((s) => s.name)).toEqual([
      "corpus", "songs", "ingest", "vocab", "align", "chunk", "vqvae-bottom", "vqvae-middle", "vqvae-top", "encode", "decode", "evaluate",
      "top-prior", "middle-upsampler", "bottom-upsampler", "sample", "sample-primed", "report",
    ])
    expect(record.stages.every((s) => s.status === "ran")).toBe(true)

    const second = jukeflow("run", "pipelines/demo.ts")
    expect(second.status).toBe(0)
    expect(second.stdout).toMatch(/done: 0 ran, 18 cached/)
    // and says where the report and the samples are
    expect(second.stdout).toMatch(/to look at:\n\s+sample\s+\S+\/sample-0\.html\n\s+sample\s+\S+\/sample-0-level-0\.wav\n[\s\S]*report\s+\S+\/report\.html/)

    // a forced chunk gives the same bytes: nothing downstream runs again (early cut-off)
    const forced = jukeflow("run", "pipelines/demo.ts", "--force", "chunk", "--json")
    const ran = (JSON.parse(forced.stdout) as { stages: Array<{ name: string; status: string }> }).stages.filter((s) => s.status === "ran")
    expect(ran.map((s) => s.name)).toEqual(["chunk"])

    const inspect = jukeflow("inspect", "ingest", "--json")
    const ingest = JSON.parse(inspect.stdout) as { rows: number; columns: Array<{ name: string }> }
    expect(ingest.rows).toBe(72)
    expect(ingest.columns.map((c) => c.name)).toEqual(expect.arrayContaining(["seconds", "peakDbfs", "rmsDbfs", "clippedFraction"]))

    const evaluation = JSON.parse(jukeflow("inspect", "evaluate", "--json").stdout) as { value: { levels: Array<{ hop: number }> } }
    expect(evaluation.value.levels.map((l) => l.hop)).toEqual([8, 32, 128])

    // the priors learn: held-out cross-entropy below what the codes' unigram histogram gives
    for (const prior of ["top-prior", "middle-upsampler", "bottom-upsampler"]) {
      const { config } = JSON.parse(jukeflow("inspect", prior, "--json").stdout) as { config: { heldOutBits: number; unigramBits: number } }
      expect(config.heldOutBits, prior).toBeLessThan(config.unigramBits)
    }

    // two samples, each a WAV per level and a page; the primed one starts with the held-out song's codes
    for (const name of ["sample", "sample-primed"]) {
      const { files } = JSON.parse(jukeflow("inspect", name, "--json").stdout) as { files: Array<{ path: string }> }
      expect(files.map((f) => f.path), name).toEqual(expect.arrayContaining(["samples.json", "sample-0.html", "sample-0-level-0.wav", "sample-0-level-1.wav", "sample-0-level-2.wav"]))
    }
    const { files: reportFiles } = JSON.parse(jukeflow("inspect", "report", "--json").stdout) as { files: Array<{ path: string }> }
    expect(reportFiles.map((f) => f.path)).toContain("report.html")
    const sql = (stage: string, song: string) => JSON.parse(jukeflow("inspect", stage, "--sql", `SELECT tokens FROM ${stage === "encode" ? "encode" : "codes"} WHERE song_id = '${song}' AND level = 2 ORDER BY start`, "--json").stdout) as Array<{ tokens: number[] }>
    const primer = sql("encode", "s003").flatMap((r) => r.tokens).slice(0, 516) // 3 s of top-level codes: ⌊3 × 22050 / 128⌋
    expect(sql("sample-primed", "sample-0").flatMap((r) => r.tokens).slice(0, 516)).toEqual(primer)
  })
})
