// @ts-check
/**
 * The cached-run fast path: `jukeflow run|plan PIPELINE` when nothing changed since the last complete
 * run. It reads that run's snapshot (see `snapshot.ts`), checks that every watched file has the
 * same size, mtime and inode and that every artifact is still in the store, and then prints the
 * summary and records the run — without loading TypeScript, Effect or the pipeline. Any doubt
 * (a changed file, a missing artifact, an unreadable snapshot) hands over to the full runner.
 */
import { promises as fs } from "node:fs"
import { availableParallelism } from "node:os"
import { join, relative, resolve } from "node:path"
import { findRoot, newRunId, snapshotFile, storeDirOf, visibleGpus } from "../internal/project.js"
import { doneLine, planLine, planTable, rejectedLines, shownLines, summaryTable } from "./format.js"

/**
 * @typedef {{ path: string, size: number, mtimeMs: number, ino: number, missing?: boolean }} Watched
 * @typedef {{ format: number, pipeline: string, watch: Watched[], keys: string[], objects: string[],
 *   record: { stages: import("./format.js").SummaryStage[] } & Record<string, unknown>,
 *   sizes?: Record<string, import("./format.js").ModelSize>, shown?: Array<{ stage: string, path: string }> }} Snapshot
 */

/** @param {string} path */
const exists = (path) => fs.access(path).then(() => true, () => false)

/** @param {Watched} w */
const unchanged = async (w) => {
  try {
    const st = await fs.stat(w.path)
    return !w.missing && st.size === w.size && st.mtimeMs === w.mtimeMs && st.ino === w.ino
  } catch {
    return w.missing === true
  }
}

/**
 * Answers `run PIPELINE [--json]` and `plan PIPELINE [--json]` from the snapshot when everything is cached.
 * @param {ReadonlyArray<string>} argv the arguments after `jukeflow`
 * @returns {Promise<number | undefined>} the exit code, or undefined to hand over to the full runner
 */
export const tryCachedRun = async (argv) => {
  const started = Date.now()
  const [command, file, ...rest] = argv
  const asJson = rest.length === 1 && rest[0] === "--json"
  if ((command !== "run" && command !== "plan") || !file || file.startsWith("--") || (rest.length > 0 && !asJson)) return undefined
  const pipeline = resolve(file)
  const root = findRoot(resolve(pipeline, ".."))
  const configPath = join(root, "jukeflow.config.json")
  /** @type {{ store?: string, cores?: number, devices?: string[] }} */
  let config = {}
  try {
    config = JSON.parse(await fs.readFile(configPath, "utf8"))
  } catch (error) {
    if (/** @type {NodeJS.ErrnoException} */ (error).code !== "ENOENT") return undefined
  }
  const storeDir = storeDirOf(root, config.store)
  /** @type {Snapshot} */
  let snapshot
  try {
    snapshot = JSON.parse(await fs.readFile(snapshotFile(storeDir, pipeline), "utf8"))
  } catch {
    return undefined
  }
  if (snapshot.format !== 1 || snapshot.pipeline !== pipeline) return undefined
  const checks = await Promise.all([
    ...snapshot.watch.map(unchanged),
    ...snapshot.keys.map((key) => exists(join(storeDir, "keys", key.slice(0, 2), `${key}.json`))),
    ...snapshot.objects.map((hash) => exists(join(storeDir, "objects", hash.slice(0, 2), hash, "artifact.json"))),
  ])
  if (!checks.every(Boolean)) return undefined
  if (command === "plan") {
    const stages = snapshot.record.stages.map((s) => planLine({ ...s, status: "cached" }, snapshot.sizes?.[s.name]))
    process.stdout.write(asJson
      ? `${JSON.stringify({ pipeline: snapshot.record.pipeline, file: snapshot.record.file, stages })}\n`
      : `${planTable(stages)}\n`)
    return 0
  }
  const now = new Date()
  const record = {
    ...snapshot.record,
    id: newRunId(now),
    command: ["jukeflow", ...argv].join(" "),
    started: new Date(started).toISOString(),
    finished: now.toISOString(),
    status: "success",
    cores: Math.min(config.cores ?? availableParallelism(), availableParallelism()),
    devices: config.devices ?? visibleGpus(),
  }
  const runs = join(storeDir, "runs")
  await fs.mkdir(runs, { recursive: true })
  const tmp = join(runs, `${record.id}.json.tmp`)
  await fs.writeFile(tmp, JSON.stringify(record, null, 1))
  await fs.rename(tmp, join(runs, `${record.id}.json`))
  process.stdout.write(asJson
    ? `${JSON.stringify(record)}\n`
    : `${summaryTable(record)}\n${rejectedLines(record)}\n${doneLine(record, (Date.now() - started) / 1000, relative(process.cwd(), storeDir))}\n${(snapshot.shown ?? []).length > 0 ? `${shownLines(snapshot.shown ?? [], process.cwd())}` : ""}`)
  return 0
}
