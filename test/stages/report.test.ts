/**
 * The `report` stage on a tiny full pipeline (4 songs × 3 s, 2-step VQ-VAEs, context-64 priors,
 * two samples), opened in headless Chromium: no console error, exception or failed load, nothing
 * fetched, every <audio> loads with a duration above zero, every image decodes, strings from the
 * dataset come out as text; a full-page screenshot goes to test-artifacts/report.png (CI keeps
 * it). Without Chromium the browser check is skipped, unless CI=1 or JUKEFLOW_SLOW=1, where it
 * fails. And the page on its own: every string escaped, nothing outside the file.
 *
 *   npx vitest run test/stages/report.test.ts
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { inflateSync } from "node:zlib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { PipelineState } from "../../runtime/index.ts"
import { writeDemoCorpus } from "../../stages/demo-corpus.ts"
import { encodePng } from "../../stages/report-png.ts"
import { reportPage, type ReportPageInput } from "../../stages/report-page.ts"
import { spectrogramImage } from "../../stages/report-spectrogram.ts"
import { makeProject, REPO, type Project } from "../runtime/fixture.ts"
import { findChromium, openPage } from "./chromium.ts"
import { pipelineSource } from "./pipeline-source.ts"

const NASTY = `Ada "<b>Vale</b>" <script>window.pwned = 1</script> & 'co'`
/** Lyrics may hold quotes and ampersands (dataset/lyrics.ts), not angle brackets. */
const LYRICS = `She said "don't" & left, la la`

const level = (name: string, n: number) =>
  `${name}: use(vqvaeTrain, { params: { level: ${n}, steps: 2, batch: 1, clipSamples: 2048, warmupSteps: 1 }, inputs: { chunks: "chunk", audio: "ingest" } }),`
const priorInputs = `{ tokens: "encode", chunks: "chunk", alignments: "align", vocab: "vocab", bottom: "bottom", middle: "middle", top: "top" }`
const sampleInputs = `{ topPrior: "top-prior", middlePrior: "middle-upsampler", bottomPrior: "bottom-upsampler", bottom: "bottom", middle: "middle", top: "top", vocab: "vocab", tokens: "encode" }`
const reportInputs = `{ audio: "ingest", evaluation: "evaluate", decoded: "decode", bottom: "bottom", middle: "middle", top: "top", topPrior: "top-prior", middlePrior: "middle-upsampler", bottomPrior: "bottom-upsampler", sample: "sample", secondSample: "sample-primed" }`

const pipeline = (primer: string) => pipelineSource({
  chunk: "{ seconds: 2, heldOutPercent: 30 }",
  more: [
    level("bottom", 0), level("middle", 1), level("top", 2),
    `encode: use(encode, { params: { windowTokens: 4096 }, inputs: { songs: "songs", audio: "ingest", bottom: "bottom", middle: "middle", top: "top" } }),`,
    `decode: use(decode, { inputs: { tokens: "encode", bottom: "bottom", middle: "middle", top: "top" } }),`,
    `evaluate: use(evaluate, { inputs: { audio: "ingest", chunks: "chunk", tokens: "encode", decoded: "decode", bottom: "bottom", middle: "middle", top: "top" } }),`,
    `"top-prior": use(priorTrain, { params: { level: 2, lyrics: true, context: 64, steps: 3, batch: 2 }, inputs: ${priorInputs} }),`,
    `"middle-upsampler": use(priorTrain, { params: { level: 1, context: 64, steps: 3, batch: 2 }, inputs: ${priorInputs} }),`,
    `"bottom-upsampler": use(priorTrain, { params: { level: 0, context: 64, steps: 3, batch: 2 }, inputs: ${priorInputs} }),`,
    `sample: use(sample, { params: { artist: ${JSON.stringify(NASTY)}, genre: "folk", lyrics: ${JSON.stringify(LYRICS)}, seconds: 0.5, seed: 3 }, inputs: ${sampleInputs} }),`,
    `"sample-primed": use(sample, { params: { artist: "Bo Carver", genre: "blues", seconds: 0.5, prime: { song: "${primer}", seconds: 0.2 }, seed: 3 }, inputs: ${sampleInputs} }),`,
    `report: use(report, { inputs: ${reportInputs} }),`,
  ],
})

const chromium = findChromium()
const required = process.env.CI === "1" || process.env.JUKEFLOW_SLOW === "1"

let project: Project
let html = ""
let reportFile = ""
beforeAll(async () => {
  project = makeProject({})
  await writeDemoCorpus(project.path("data"), { songs: 4, seconds: 3, seed: 9 })
  // one artist renamed to markup: it travels through the vocabulary into a sample's labels
  const manifest = readFileSync(project.path("data/manifest.jsonl"), "utf8").trim().split("\n").map((line) => JSON.parse(line) as { id: string; artist: string })
  expect(manifest.some((song) => song.artist === "Ada Vale")).toBe(true)
  writeFileSync(project.path("data/manifest.jsonl"), manifest.map((song) => JSON.stringify(song.artist === "Ada Vale" ? { ...song, artist: NASTY } : song)).join("\n") + "\n")
  project.write("pipelines/p.ts", pipeline(manifest[0]!.id).replace("export default", `import { report } from "${REPO}/stages/report.ts"\nexport default`))
}, 60_000)
afterAll(() => project?.remove())

describe("report", () => {
  it("writes one self-contained page of the run, escaped, and is cached when nothing changed", { timeout: 400_000 }, async () => {
    const record = await project.run("pipelines/p.ts")
    expect(record.stages.filter((s) => s.error).map((s) => `${s.name}: ${s.error}`)).toEqual([])
    const stage = record.stages.find((s) => s.name === "report")!
    expect(stage.status).toBe("ran")
    reportFile = join(project.store.objectDir(stage.artifact!), "report.html")
    html = readFileSync(reportFile, "utf8")
    console.log(`report.html: ${(html.length / 1e6).toFixed(2)} MB`)
    expect(html.length).toBeLessThan(4e6)
    // the graph: a box per stage, the report's own marked
    expect(html).toContain(`${record.stages.length} stages: ${record.stages.length - 1} ran;`) // ctx.pipeline: every input settled before the report
    expect(html).toMatch(/this report/)
    expect((html.match(/<g class="node/g) ?? []).length).toBe(record.stages.length)
    // players: the held-out original and three levels, and one per sample
    expect((html.match(/<audio /g) ?? []).length).toBe(4 + 2)
    expect(html).not.toMatch(/(src|href)="(?!data:)/)
    // dataset strings escaped
    expect(html).not.toContain("<script>window.pwned")
    expect(html).not.toContain("<b>Vale")
    expect(html).toContain("Ada &quot;&lt;b&gt;Vale&lt;/b&gt;&quot; &lt;script&gt;window.pwned = 1&lt;/script&gt; &amp; &#39;co&#39;")
    expect(html).toContain("She said &quot;don&#39;t&quot; &amp; left, la la")

    const again = await project.run("pipelines/p.ts")
    const cached = again.stages.find((s) => s.name === "report")!
    expect(cached.status).toBe("cached")
    expect(cached.artifact).toBe(stage.artifact)
  })

  it.skipIf(!chromium && !required)("opens in headless Chromium without errors, every player loaded, and saves a screenshot", { timeout: 120_000 }, async () => {
    expect(chromium, "chromium is not installed (apt-get install chromium); .ci/run installs it").toBeDefined()
    expect(reportFile, "the report was not built").not.toBe("")
    const page = await openPage(chromium!, reportFile)
    try {
      const durations = await page.evaluate<number[]>(`Promise.all([...document.querySelectorAll("audio")].map((a) =>
        a.readyState >= 1 ? a.duration : new Promise((done, fail) => {
          a.addEventListener("loadedmetadata", () => done(a.duration));
          a.addEventListener("error", () => fail(new Error("audio failed: " + (a.error && a.error.message))));
          setTimeout(() => fail(new Error("audio did not load in 20 s")), 20000);
        })))`)
      expect(durations).toHaveLength(6)
      for (const d of durations) expect(d).toBeGreaterThan(0)
      const images = await page.evaluate<Array<[number, number]>>(`Promise.all([...document.querySelectorAll("image")].map(async (node) => {
        const img = new Image(); img.src = node.getAttribute("href"); await img.decode(); return [img.naturalWidth, img.naturalHeight];
      }))`)
      expect(images).toHaveLength(6)
      for (const [w, h] of images) expect(w * h).toBeGreaterThan(0)
      const injected = await page.evaluate<{ pwned: boolean; bold: number; text: boolean }>(
        `({ pwned: "pwned" in window, bold: document.querySelectorAll("b").length, text: document.body.textContent.includes(${JSON.stringify(NASTY)}) })`)
      expect(injected).toEqual({ pwned: false, bold: 0, text: true })
      mkdirSync(join(REPO, "test-artifacts"), { recursive: true })
      const shot = await page.screenshot()
      writeFileSync(join(REPO, "test-artifacts/report.png"), shot)
      expect(shot.subarray(1, 4).toString()).toBe("PNG")
      expect(page.errors()).toEqual([])
      expect(page.requests()).toEqual([])
    } finally {
      await page.close()
    }
  })
})

describe("report page", () => {
  const sine = Float32Array.from({ length: 4000 }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 440 * i) / 8000))
  const clip = (label: string) => ({ label, audio: "data:audio/wav;base64,UklGRg==", spectrogram: spectrogramImage(sine, 8000) })
  const STATE: PipelineState = {
    name: NASTY,
    stages: [
      { name: "songs", stage: "songs", inputs: {}, status: "cached", reason: "cached", seconds: 0 },
      { name: "train", stage: "vqvae-train", inputs: { songs: "songs" }, status: "ran", reason: `params changed: ${NASTY}`, seconds: 12.5 },
      { name: "report", stage: "report", inputs: { train: "train" }, status: "pending", reason: "", seconds: 0 },
    ],
  }
  const INPUT: ReportPageInput = {
    pipeline: STATE,
    self: "report",
    vqvae: [{ name: "train", level: 0, hop: 8, codebookSize: 256, metrics: [1, 2, 3].map((step) => ({ step, loss: 1 / step, l2: 0, spectral: 0, commit: 0, usage: 3 * step, entropy: 1 })) }],
    evaluation: { heldOutSongs: [NASTY], opus: "not installed", levels: [{ level: 0, hop: 8, bitrateKbps: 22, spectralConvergenceDb: -3, opusKbps: null, opusSpectralConvergenceDb: null, codesUsed: 9, entropyBits: 2.5 }] },
    heldOut: { song: NASTY, clips: [clip("original"), clip(`level 0 ${NASTY}`)] },
    priors: [{ name: NASTY, level: 2, unigramBits: 7, heldOutBits: null, heldOutLyricsBits: null, metrics: [{ step: 1, priorBits: 8, lyricsBits: 0, heldOutBits: Number.NaN }, { step: 2, priorBits: 6, lyricsBits: 0, heldOutBits: 6.5 }] }],
    samples: [{ source: NASTY, id: NASTY, labels: `${NASTY}, folk`, lyrics: NASTY, seconds: 6, seed: 1, primer: `3 s of ${NASTY}`, clip: clip("level 0 (bottom)") }],
  }

  it("escapes every string from the data and points at nothing outside the file", () => {
    const page = reportPage(INPUT)
    expect(page).not.toContain("<script>window")
    expect(page).not.toContain("<b>")
    expect(page).toContain("Ada &quot;&lt;b&gt;Vale&lt;/b&gt;&quot;")
    expect((page.match(/<script>/g) ?? []).length).toBe(1) // the page's own
    expect(page).not.toMatch(/(src|href)="(?!data:)/)
    expect(page).toContain(`default-src 'none'`)
    expect(page).toContain("this report")
  })

  it("encodes indexed PNGs a decoder reads back", () => {
    const pixels = Uint8Array.from({ length: 3 * 2 }, (_, i) => i % 2)
    const png = Buffer.from(encodePng({ width: 3, height: 2, pixels, palette: Uint8Array.of(0, 0, 0, 255, 255, 255) }))
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([3, 2])
    const idat = png.indexOf("IDAT")
    const raw = inflateSync(png.subarray(idat + 4, idat + 4 + png.readUInt32BE(idat - 4)))
    expect([...raw]).toEqual([0, 0, 1, 0, 0, 1, 0, 1])
  })
})
