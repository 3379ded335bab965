/**
 * A throwaway project for runtime tests, generated on disk: a package.json, stage modules and a
 * pipeline file that import the runtime by absolute path. Runs in-process or as a child CLI.
 */
import { Effect } from "effect"
import { spawn, type ChildProcess } from "node:child_process"
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { loadGraph } from "../../runtime/cli/load.ts"
import type { Overrides } from "../../runtime/graph.ts"
import { silentReporter } from "../../runtime/reporter.ts"
import { runGraph, type RunOptions } from "../../runtime/runner.ts"
import { Store } from "../../runtime/store.ts"

/** The repository root. */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..")
/** Import path of the runtime for generated files. */
export const RUNTIME = join(REPO, "runtime/index.ts")
const BIN = join(REPO, "bin/jukeflow.js")

/** A generated project folder. */
export interface Project {
  readonly dir: string
  readonly write: (path: string, text: string) => void
  readonly path: (...parts: string[]) => string
  readonly store: Store
  /** Runs the pipeline in this process and returns its run record. */
  readonly run: (pipeline: string, options?: Partial<RunOptions> & { overrides?: Overrides }) => Promise<import("../../runtime/record.ts").RunRecord>
  /** Runs the CLI in a child process. */
  readonly cli: (args: ReadonlyArray<string>, env?: NodeJS.ProcessEnv) => Promise<{ code: number | null; stdout: string; stderr: string }>
  /** Starts the CLI in a child process without waiting. */
  readonly spawnCli: (args: ReadonlyArray<string>, env?: NodeJS.ProcessEnv) => ChildProcess
  readonly remove: () => void
}

/** Creates a project with `files` (relative path → text). */
export const makeProject = (files: Readonly<Record<string, string>>): Project => {
  const dir = mkdtempSync(join(tmpdir(), "jukeflow-test-"))
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true })
    writeFileSync(join(dir, path), text)
  }
  write("package.json", JSON.stringify({ name: "fixture", type: "module", private: true }))
  symlinkSync(join(REPO, "node_modules"), join(dir, "node_modules"), "dir")
  for (const [path, text] of Object.entries(files)) write(path, text)
  const store = new Store(join(dir, ".jukeflow"))
  const spawnCli = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}) =>
    spawn(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
  return {
    dir,
    write,
    path: (...parts) => join(dir, ...parts),
    store,
    run: (pipeline, options = {}) =>
      Effect.runPromise(Effect.gen(function* () {
        const { project, graph } = yield* loadGraph(join(dir, pipeline), options.overrides ?? {})
        return yield* runGraph(graph, new Store(project.storeDir), {
          command: "test", cores: 2, devices: [], reporter: silentReporter, ...options,
        })
      })),
    cli: (args, env) =>
      new Promise((resolvePromise) => {
        const child = spawnCli(args, env)
        let stdout = ""
        let stderr = ""
        child.stdout!.on("data", (d) => (stdout += d))
        child.stderr!.on("data", (d) => (stderr += d))
        child.on("close", (code) => resolvePromise({ code, stdout, stderr }))
      }),
    spawnCli,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}

/** Status of each stage in a run record, by name. */
export const statuses = (record: { stages: ReadonlyArray<{ name: string; status: string }> }): Record<string, string> =>
  Object.fromEntries(record.stages.map((s) => [s.name, s.status]))

/** Names of the stages that ran. */
export const ran = (record: { stages: ReadonlyArray<{ name: string; status: string }> }): string[] =>
  record.stages.filter((s) => s.status === "ran").map((s) => s.name).sort()
