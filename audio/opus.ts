/**
 * Opus as a yardstick for the VQ-VAE: the same audio through `opusenc`/`opusdec` (Debian's
 * `opus-tools`) at the bitrate a VQ-VAE level spends, so `evaluate` can put their spectral
 * convergence side by side. Opus cannot go below 6 kb/s; a lower target is raised to that floor.
 */
import { spawn } from "node:child_process"
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { decodeAudio } from "./decode.ts"
import { resample } from "./resample.ts"
import { encodeWav } from "./wav.ts"

/** Opus's lowest bitrate, in kb/s. */
export const OPUS_FLOOR_KBPS = 6

/** The bitrate a VQ-VAE level spends, in kb/s: codes per second × bits per code. */
export const levelBitrateKbps = (sampleRate: number, hop: number, codebookSize: number): number =>
  ((sampleRate / hop) * Math.log2(codebookSize)) / 1000

const run = (command: string, args: ReadonlyArray<string>) =>
  new Promise<{ code: number | null; stderr: string }>((resolve) => {
    let stderr = ""
    const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] })
    child.stderr.on("data", (d) => (stderr += d))
    child.on("error", (error) => resolve({ code: -1, stderr: error.message }))
    child.on("close", (code) => resolve({ code, stderr }))
  })

/** True when `opusenc` and `opusdec` can be run. */
export const opusAvailable = async (): Promise<boolean> =>
  (await run("opusenc", ["--version"])).code === 0 && (await run("opusdec", ["--version"])).code === 0

/**
 * The audio after an Opus round trip at `kbps` (raised to the 6 kb/s floor), at the input's rate
 * and length; with the bitrate actually used. Rejects when opus-tools are missing or fail.
 */
export const opusRoundTrip = async (
  channels: ReadonlyArray<Float32Array>,
  sampleRate: number,
  kbps: number,
): Promise<{ channels: Float32Array[]; kbps: number }> => {
  const used = Math.max(OPUS_FLOOR_KBPS, kbps)
  const dir = await mkdtemp(join(tmpdir(), "jukeflow-opus-"))
  try {
    await writeFile(join(dir, "in.wav"), encodeWav(channels, sampleRate, "float32"))
    const enc = await run("opusenc", ["--quiet", "--hard-cbr", "--bitrate", used.toFixed(3), join(dir, "in.wav"), join(dir, "out.opus")])
    if (enc.code !== 0) throw new Error(`opusenc failed: ${enc.stderr.trim().split("\n")[0]}`)
    const dec = await run("opusdec", ["--quiet", "--float", "--rate", "48000", join(dir, "out.opus"), join(dir, "out.wav")])
    if (dec.code !== 0) throw new Error(`opusdec failed: ${dec.stderr.trim().split("\n")[0]}`)
    const decoded = await decodeAudio(await readFile(join(dir, "out.wav")), "opus round trip")
    const back = resample(decoded.channels, decoded.sampleRate, sampleRate)
    const frames = channels[0]?.length ?? 0
    const fit = (x: Float32Array) => {
      const out = new Float32Array(frames)
      out.set(x.subarray(0, frames))
      return out
    }
    return { channels: channels.map((_, c) => fit(back[Math.min(c, back.length - 1)]!)), kbps: used }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
