/**
 * pipelines/jukebox.ts, the paper's sizes: `jukeflow plan` validates it without its data and prints
 * each model's size. Nothing runs (the pipeline is for a GPU cluster); the store is a temp folder.
 */
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { REPO } from "../runtime/fixture.ts"

const store = mkdtempSync(join(tmpdir(), "jukeflow-jukebox-store-"))
afterAll(() => rmSync(store, { recursive: true, force: true }))

const plan = (...flags: string[]) =>
  spawnSync(process.execPath, [join(REPO, "bin/jukeflow.js"), "plan", "pipelines/jukebox.ts", ...flags], {
    cwd: REPO, env: { ...process.env, JUKEFLOW_STORE: store }, encoding: "utf8", timeout: 60_000,
  })

interface PlanLine {
  readonly stage: string
  readonly action: string
  readonly reason: string
  readonly size?: { parameters: number; buffers: number; weightBytes: number; adamBytes: number }
}

describe("pipelines/jukebox.ts", () => {
  it("plans without its data: every stage will run, each model with its parameters and the memory of its weights and Adam state", () => {
    const result = plan("--json")
    expect(result.status, result.stderr).toBe(0)
    const { stages } = JSON.parse(result.stdout) as { stages: PlanLine[] }
    expect(stages.map((s) => s.stage)).toEqual([
      "songs", "ingest", "vocab", "align", "chunk", "vqvae-bottom", "vqvae-middle", "vqvae-top", "encode", "decode", "evaluate",
      "top-prior", "middle-upsampler", "bottom-upsampler", "sample",
    ])
    expect(stages.every((s) => s.action === "will run")).toBe(true)
    if (!existsSync(join(REPO, "data/manifest.jsonl"))) expect(stages[0]!.reason).toBe("file missing: data/manifest.jsonl")
    const size = Object.fromEntries(stages.filter((s) => s.size).map((s) => [s.stage, s.size!]))
    expect(Object.keys(size)).toEqual(["vqvae-bottom", "vqvae-middle", "vqvae-top", "top-prior", "middle-upsampler", "bottom-upsampler"])

    // Table 4: convs trained by Adam; beside them each level's codebook of 2048 × 64 and its EMA state (2048 × 129)
    expect([size["vqvae-bottom"]!.parameters, size["vqvae-middle"]!.parameters, size["vqvae-top"]!.parameters]).toEqual([435_329, 220_417, 303_489])
    for (const level of ["vqvae-bottom", "vqvae-middle", "vqvae-top"]) expect(size[level]!.buffers).toBe(2048 * 129)
    // Table 6: the paper's "5B" top prior is 5.06B without lyrics; the lyrics encoder (18 layers of
    // width 1280) and the seven encoder-decoder layers of width 4800 make it 5.57B
    expect(size["top-prior"]!.parameters).toBe(5_574_952_880)
    // Table 5: the "1B" upsamplers, 0.985B each
    expect(size["middle-upsampler"]!.parameters).toBe(985_236_096)
    expect(size["bottom-upsampler"]!.parameters).toBe(985_236_096)

    // float32: 4 bytes per weight (and buffer), 8 per parameter for Adam's m and v
    for (const s of Object.values(size)) {
      expect(s.weightBytes).toBe(4 * (s.parameters + s.buffers))
      expect(s.adamBytes).toBe(8 * s.parameters)
    }
    expect((size["top-prior"]!.weightBytes + size["top-prior"]!.adamBytes) / 2 ** 30).toBeCloseTo(62.3, 1)
    expect((size["middle-upsampler"]!.weightBytes + size["middle-upsampler"]!.adamBytes) / 2 ** 30).toBeCloseTo(11.0, 1)
  })

  it("prints the sizes as columns, with a line saying how memory is counted", () => {
    const result = plan()
    expect(result.status, result.stderr).toBe(0)
    const lines = result.stdout.trimEnd().split("\n")
    expect(lines[0]).toMatch(/^stage\s+plan\s+params\s+weights \+ Adam\s+reason$/)
    expect(lines.find((l) => l.startsWith("top-prior "))).toMatch(/will run\s+5\.57B\s+62\.3 GB\s+input changed: encode/)
    expect(lines.find((l) => l.startsWith("middle-upsampler "))).toMatch(/985M\s+11\.0 GB/)
    expect(lines.find((l) => l.startsWith("vqvae-bottom "))).toMatch(/435K\s+6\.0 MB/)
    expect(lines.at(-1)).toMatch(/^weights \+ Adam: float32, 4 bytes per weight/)
  })
})
