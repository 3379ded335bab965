/**
 * Run snapshots: after a complete, successful run, the runner records every file the run's cache
 * keys depend on (the pipeline file and the project modules it imports, each stage's code, the
 * declared external files, the config, the runtime itself) with its size, mtime and inode, plus
 * every key and artifact. While none of those files changed and every artifact is still in the
 * store, the same command is fully cached: `cli/fastpath.js` answers it without loading the
 * pipeline (as `make` answers from timestamps). The stages' model sizes go with it, for `plan`.
 */
import { Effect } from "effect"
import { existsSync, promises as fs } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { canonicalJson } from "./hash.ts"
import { snapshotFile } from "./internal/project.js"
import { FileMemo } from "./filememo.ts"
import { codeFingerprint } from "./fingerprint.ts"
import { type Graph, modelSizes } from "./graph.ts"
import type { KeyComponents } from "./keys.ts"
import type { RunRecord } from "./record.ts"
import { listFiles, type Store, writeFileAtomic } from "./store.ts"
import type { Shown } from "./shows.ts"

const RUNTIME_DIR = dirname(fileURLToPath(import.meta.url))

/** Where the snapshot of a pipeline file lives in a store. */
export const snapshotPath = (store: Store, pipelineFile: string): string => snapshotFile(store.root, pipelineFile)

/** One watched file; `missing` records a file whose later appearance must invalidate the snapshot. */
export interface Watched {
  readonly path: string
  readonly size: number
  readonly mtimeMs: number
  readonly ino: number
  readonly missing?: boolean
}

const stat = async (path: string): Promise<Watched> => {
  try {
    const st = await fs.stat(path)
    return { path, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino }
  } catch {
    return { path, size: 0, mtimeMs: 0, ino: 0, missing: true }
  }
}

/** Writes the snapshot of a successful run of `graph`. */
export const writeSnapshot = (graph: Graph, store: Store, record: RunRecord, configFile: string, shown: ReadonlyArray<Shown> = []): Effect.Effect<void> =>
  Effect.promise(async () => {
    const memo = await FileMemo.load(store.path("state", "files.json"))
    const files = new Set<string>([graph.file, configFile])
    for (const rel of Object.keys(await codeFingerprint(graph.file, graph.root, memo))) files.add(join(graph.root, rel))
    for (const stage of record.stages) {
      const components = stage.components as KeyComponents | undefined
      for (const rel of Object.keys(components?.code ?? {})) files.add(join(graph.root, rel))
      for (const rel of Object.keys(components?.files ?? {})) files.add(resolve(graph.root, rel))
    }
    for (const rel of await listFiles(RUNTIME_DIR)) files.add(join(RUNTIME_DIR, rel))
    const objects = new Set<string>()
    const keys = new Set<string>()
    for (const stage of record.stages) {
      if (stage.key) keys.add(stage.key)
      for (const key of Object.values(stage.partitions?.keys ?? {})) keys.add(key)
      if (!stage.artifact) continue
      objects.add(stage.artifact)
      const manifest = JSON.parse(await fs.readFile(join(store.objectDir(stage.artifact), "artifact.json"), "utf8")) as { partitions?: Record<string, string> }
      for (const member of Object.values(manifest.partitions ?? {})) objects.add(member)
    }
    const cachedRecord = {
      ...record,
      stages: record.stages.map((s) => ({ ...s, status: "cached" as const, reason: "cached", seconds: 0, ...(s.partitions ? { partitions: { ...s.partitions, ran: 0, cached: s.partitions.total } } : {}) })),
    }
    const watch = await Promise.all([...files].sort().map(stat))
    // the stages' model sizes, so that a cached `plan` prints them as the full one does
    const sizes = Effect.runSync(Effect.orElseSucceed(modelSizes(graph), () => ({})))
    const snapshot = { format: 1, pipeline: graph.file, watch, keys: [...keys].sort(), objects: [...objects].sort(), record: cachedRecord, sizes, shown }
    await writeFileAtomic(snapshotPath(store, graph.file), canonicalJson(snapshot))
  })

/** Removes the snapshot of a pipeline file (any run that is not complete and cached invalidates it). */
export const dropSnapshot = (store: Store, pipelineFile: string): Effect.Effect<void> =>
  Effect.promise(async () => {
    const path = snapshotPath(store, pipelineFile)
    if (existsSync(path)) await fs.rm(path, { force: true })
  })
