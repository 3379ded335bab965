/**
 * Ingest throughput against ffmpeg, decoding and resampling the same files in the same run:
 *
 *   npm run bench -- ingest
 *
 * Makes 60 s of 44.1 kHz stereo music-like audio as WAV (16-bit), FLAC (`flac`) and MP3 (`lame`
 * -b 192), then times, per file, jukeflow's `readAudioFile` + `resample` to 22,050 Hz in this
 * process, and `ffmpeg -i IN -af aresample=resampler=soxr -ar 22050 -f f32le -y OUT` as a whole
 * process (what an ingest that shells out to ffmpeg pays per song). One warm-up each, then the
 * median of 5, the two interleaved. Throughput is seconds of audio per second of wall time.
 * ffmpeg is installed with apt-get when missing and we are root (for this benchmark only); without
 * it, its figures are null.
 * Ends with one JSON line; `ratio` is jukeflow's throughput ÷ ffmpeg's over all three files.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { readAudioFile } from "../audio/decode.ts"
import { resample } from "../audio/resample.ts"
import { encodeWav } from "../audio/wav.ts"
import { musicLike } from "../test/audio/signals.ts"
import { emit, ensureDebianTool, median, onPath, round3, table, timeProcess } from "./lib.ts"

const SECONDS = 60
const SOURCE_RATE = 44_100
const TARGET_RATE = 22_050
const RUNS = 5



/** Encodes in.wav to `out` with `tool args`, or with ffmpeg when the tool is missing; false when neither can. */
const encode = (dir: string, out: string, tool: string, args: string[], ffmpegArgs: string[]): boolean => {
  const run = onPath(tool)
    ? spawnSync(tool, args, { cwd: dir })
    : onPath("ffmpeg") ? spawnSync("ffmpeg", ["-v", "error", "-i", "in.wav", ...ffmpegArgs, "-y", out], { cwd: dir }) : undefined
  if (run?.status !== 0) console.log(`could not make ${out}: neither ${tool} nor ffmpeg worked; its figures are null`)
  return run?.status === 0
}

/** One jukeflow ingest of `path`: decode, then resample; the seconds of each. */
const jukeflowOnce = async (path: string) => {
  const start = performance.now()
  const decoded = await readAudioFile(path)
  const decodedAt = performance.now()
  const channels = resample(decoded.channels, decoded.sampleRate, TARGET_RATE)
  const end = performance.now()
  if (channels[0]!.length !== SECONDS * TARGET_RATE) throw new Error(`jukeflow gave ${channels[0]!.length} frames for ${path}`)
  return { decode: (decodedAt - start) / 1000, resample: (end - decodedAt) / 1000, total: (end - start) / 1000 }
}

const ffmpegOnce = (dir: string, input: string) => {
  const run = timeProcess("ffmpeg", ["-v", "error", "-i", input, "-af", "aresample=resampler=soxr", "-ar", String(TARGET_RATE), "-f", "f32le", "-y", "out.f32"], dir)
  if (run.status !== 0) throw new Error(`ffmpeg failed on ${input}: ${run.stderr}`)
  return run.seconds
}

const main = async () => {
  const dir = mkdtempSync(join(tmpdir(), "jukeflow-bench-ingest-"))
  try {
    const hasFfmpeg = ensureDebianTool("ffmpeg")
    writeFileSync(join(dir, "in.wav"), encodeWav(musicLike(SECONDS, SOURCE_RATE), SOURCE_RATE, "pcm16"))
    const inputs = {
      wav: "in.wav",
      flac: encode(dir, "in.flac", "flac", ["-s", "-f", "in.wav", "-o", "in.flac"], ["-c:a", "flac"]) ? "in.flac" : undefined,
      mp3: encode(dir, "in.mp3", "lame", ["--quiet", "-b", "192", "in.wav", "in.mp3"], ["-c:a", "libmp3lame", "-b:a", "192k"]) ? "in.mp3" : undefined,
    }

    const rows: string[][] = []
    const figures: Record<string, unknown> = {}
    let jukeflowTotal = 0
    let ffmpegTotal = 0
    for (const [format, input] of Object.entries(inputs)) {
      if (input === undefined) {
        figures[format] = null
        continue
      }
      const path = join(dir, input)
      await jukeflowOnce(path) // warm-up: compiles the decoder's and the resampler's WebAssembly
      if (hasFfmpeg) ffmpegOnce(dir, input)
      // Interleaved, so that a slow moment of the machine weighs on both alike.
      const runs: Array<Awaited<ReturnType<typeof jukeflowOnce>>> = []
      const ffmpegRuns: number[] = []
      for (let i = 0; i < RUNS; i++) {
        runs.push(await jukeflowOnce(path))
        if (hasFfmpeg) ffmpegRuns.push(ffmpegOnce(dir, input))
      }
      const jukeflow = median(runs.map((r) => r.total))
      const ffmpeg = hasFfmpeg ? median(ffmpegRuns) : null
      if (ffmpeg !== null && readFileSync(join(dir, "out.f32")).length !== SECONDS * TARGET_RATE * 2 * 4) {
        console.log(`note: ffmpeg's output for ${input} is not ${SECONDS * TARGET_RATE} stereo frames`)
      }
      jukeflowTotal += jukeflow
      ffmpegTotal += ffmpeg ?? 0
      const ratio = ffmpeg === null ? null : ffmpeg / jukeflow
      rows.push([
        format,
        jukeflow.toFixed(3), median(runs.map((r) => r.decode)).toFixed(3), median(runs.map((r) => r.resample)).toFixed(3),
        `${(SECONDS / jukeflow).toFixed(0)}x`,
        ffmpeg === null ? "-" : ffmpeg.toFixed(3), ffmpeg === null ? "-" : `${(SECONDS / ffmpeg).toFixed(0)}x`,
        ratio === null ? "-" : ratio.toFixed(2),
      ])
      figures[format] = {
        jukeflowSeconds: round3(jukeflow),
        decodeSeconds: round3(median(runs.map((r) => r.decode))),
        resampleSeconds: round3(median(runs.map((r) => r.resample))),
        jukeflowThroughput: round3(SECONDS / jukeflow),
        ffmpegSeconds: ffmpeg === null ? null : round3(ffmpeg),
        ffmpegThroughput: ffmpeg === null ? null : round3(SECONDS / ffmpeg),
        ratio: ratio === null ? null : round3(ratio),
      }
    }

    console.log(`${SECONDS} s of 44.1 kHz stereo, decoded and resampled to ${TARGET_RATE} Hz; median of ${RUNS} after a warm-up`)
    console.log("jukeflow: readAudioFile + resample in this process; ffmpeg: a whole process writing f32le (soxr)\n")
    console.log(table(["input", "jukeflow s", "decode s", "resample s", "jukeflow ×realtime", "ffmpeg s", "ffmpeg ×realtime", "ratio"], rows))
    const ratio = hasFfmpeg && ffmpegTotal > 0 ? ffmpegTotal / jukeflowTotal : null
    console.log(`\nratio = jukeflow throughput ÷ ffmpeg throughput: ${ratio === null ? "unavailable" : ratio.toFixed(2)} overall`)
    emit({ bench: "ingest", ratio: ratio === null ? null : round3(ratio), ...figures })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
