/**
 * What the benchmarks share: generated projects on disk (as the runtime tests make them), timing
 * whole processes, medians, and the one JSON line each bench ends with.
 */
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

export { formatSeconds, table } from "../runtime/cli/format.js"
import type { PriorConfig } from "../models/prior.ts"
import { nativeStatus } from "../models/native-kernels.ts"

/** The repository root. */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..")
/** Import path of the runtime for generated stage and pipeline files. */
export const RUNTIME = join(REPO, "runtime/index.ts")
/** The `jukeflow` command. */
export const BIN = join(REPO, "bin/jukeflow.js")

/** Writes a project into `dir`: package.json, a node_modules link to ours, and `files` (relative path → text). */
export const writeProject = (dir: string, files: Readonly<Record<string, string>>): void => {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "bench-project", type: "module", private: true }))
  if (!existsSync(join(dir, "node_modules"))) symlinkSync(join(REPO, "node_modules"), join(dir, "node_modules"), "dir")
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true })
    writeFileSync(join(dir, path), text)
  }
}

/** One finished process: its wall time from spawn to exit, exit status and output. */
export interface Timed {
  readonly seconds: number
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `command args` to completion in `cwd` and times it as a whole process. */
export const timeProcess = (command: string, args: ReadonlyArray<string>, cwd: string, env: NodeJS.ProcessEnv = {}): Timed => {
  const start = performance.now()
  const result = spawnSync(command, args, { cwd, env: { ...process.env, ...env }, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 })
  const seconds = (performance.now() - start) / 1000
  if (result.error) throw result.error
  return { seconds, status: result.status, stdout: result.stdout, stderr: result.stderr }
}

/** Runs `jukeflow args` in `cwd` and fails loudly when it exits non-zero. */
export const jukeflow = (args: ReadonlyArray<string>, cwd: string, env: NodeJS.ProcessEnv = {}): Timed => {
  const run = timeProcess(process.execPath, [BIN, ...args], cwd, env)
  if (run.status !== 0) throw new Error(`jukeflow ${args.join(" ")} exited ${run.status}:\n${run.stdout}\n${run.stderr}`)
  return run
}

/** The results of `repeats` calls of `once` after `warmups` discarded ones. */
export const repeat = <A>(repeats: number, warmups: number, once: () => A): A[] => {
  for (let i = 0; i < warmups; i++) once()
  return Array.from({ length: repeats }, () => once())
}

/** The median (upper median for an even count). */
export const median = (xs: ReadonlyArray<number>): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

/** Seconds with millisecond precision, for JSON figures. */
export const round3 = (s: number): number => Math.round(s * 1000) / 1000

/** Table cells for a series of timed runs: median, min, max, in seconds. */
export const spread = (runs: ReadonlyArray<Timed>): string[] => {
  const s = runs.map((r) => r.seconds)
  return [median(s).toFixed(3), Math.min(...s).toFixed(3), Math.max(...s).toFixed(3), String(s.length)]
}

/** Header cells that go with `spread`. */
export const SPREAD = ["median s", "min s", "max s", "runs"] as const

/** Prints a bench's figures as its last line: one JSON object. */
export const emit = (figures: Readonly<Record<string, unknown>>): void => {
  console.log(JSON.stringify(figures))
}

/** True when `command` is on PATH. */
export const onPath = (command: string): boolean => spawnSync("sh", ["-c", `command -v ${command}`]).status === 0

/**
 * Makes sure `command` is on PATH, installing Debian's `pkg` with apt-get when we are root (for
 * the benchmark only); false, having said why, when it cannot.
 */
export const ensureDebianTool = (command: string, pkg: string = command): boolean => {
  if (onPath(command)) return true
  if (process.getuid?.() !== 0 || !onPath("apt-get")) {
    console.log(`${command} is not installed and we are not root: its figures are null`)
    return false
  }
  const apt = (...args: string[]) => spawnSync("apt-get", args, { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } }).status === 0
  console.log(`${command} is not installed: running apt-get install -y ${pkg} (for this benchmark only)`)
  if (!apt("install", "-y", "-q", pkg)) {
    console.log("apt-get install failed: running apt-get update, then trying again")
    if (!apt("update", "-q") || !apt("install", "-y", "-q", pkg)) {
      console.log(`could not install ${pkg}: its figures are null`)
      return false
    }
  }
  return onPath(command)
}


/**
 * Median seconds of `once` per setting, over `runs` calls each after `warmups` discarded ones, the
 * settings taking turns call by call (`set` switches to one).
 */
export const timeMedians = <S>(settings: readonly S[], set: (setting: S) => void, runs: number, warmups: number, once: () => void): number[] => {
  for (const setting of settings) {
    set(setting)
    for (let i = 0; i < warmups; i++) once()
  }
  const seconds = settings.map((): number[] => [])
  for (let i = 0; i < runs; i++) {
    settings.forEach((setting, s) => {
      set(setting)
      const start = performance.now()
      once()
      seconds[s]!.push((performance.now() - start) / 1000)
    })
  }
  return seconds.map(median)
}

/** Width 256 × 8 layers × context 2048: the Transformer shape the speed work aims at. */
export const WIDTH_256: PriorConfig = {
  hopLength: 128,
  sampleRate: 22_050,
  transformer: {
    vocab: 2048,
    contextLength: 2048,
    width: 256,
    depth: 8,
    heads: 2,
    blockLength: 64,
    pattern: ["row", "column", "previous-row"],
    initScale: 0.02,
    attentionMultiplier: 0.25,
    mlpMultiplier: 1,
    conditioning: false,
  },
}

/** The Python with Debian's PyTorch, the benches' peer. */
export const PYTHON = "/usr/bin/python3"

/** Why the PyTorch peer cannot run (with how to install it), or undefined when it can. */
export const torchProblem = (): string | undefined => {
  const probe = spawnSync(PYTHON, ["-c", "import torch"], { encoding: "utf8" })
  if (probe.status === 0) return undefined
  return `${PYTHON} cannot import torch (${(probe.stderr || String(probe.error)).trim().split("\n").at(-1)}); install it with: apt-get install python3-torch libopenblas0`
}

/**
 * A PyTorch reference script's `bench` command on the inputs in `dir`, at `threads` threads (OpenMP,
 * OpenBLAS and MKL set to match): its last line of output as JSON, or undefined, having said why,
 * when it fails.
 */
export const runTorchBench = <T>(script: string, dir: string, args: Readonly<Record<string, unknown>>, threads: number): T | undefined => {
  const n = String(threads)
  const run = spawnSync(PYTHON, [script, "bench", dir, JSON.stringify(args)], {
    encoding: "utf8",
    env: { ...process.env, OMP_NUM_THREADS: n, OPENBLAS_NUM_THREADS: n, MKL_NUM_THREADS: n },
    maxBuffer: 64 * 1024 * 1024,
  })
  if (run.status !== 0) {
    console.log(`the PyTorch reference failed at ${threads} threads: ${(run.stderr || String(run.error)).trim()}`)
    return undefined
  }
  return JSON.parse(run.stdout.trim().split("\n").at(-1)!) as T
}

/** The native BLAS's threads, from its description ("... (pthreads, 2 threads; ...)"); null without the native kernels. */
export const nativeThreads = (): number | null => {
  const status = nativeStatus()
  const threads = status.available ? /(\d+) threads?/.exec(status.blas) : null
  return threads ? Number(threads[1]) : null
}
