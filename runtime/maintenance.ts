/**
 * Looking after the store: `verify` re-hashes every object and quarantines (never deletes) a bad
 * one; `gc` keeps what the last N runs used and removes the rest, optionally down to a size cap.
 */
import { Effect } from "effect"
import { promises as fs } from "node:fs"
import { hostname } from "node:os"
import { join } from "node:path"
import { sha256File } from "./hash.ts"
import { processAlive } from "./lock.ts"
import { loadRecords } from "./record.ts"
import { ArtifactManifest, manifestHash, type Store, writeFileAtomic } from "./store.ts"
import { Schema } from "effect"

const decodeManifest = Schema.decodeUnknownSync(ArtifactManifest)

/** One problem `verify` found. */
export interface Problem {
  readonly object: string
  readonly file: string
  readonly reason: string
  readonly quarantinedTo: string
}

const listDir = async (dir: string): Promise<string[]> => {
  try {
    return (await fs.readdir(dir)).sort()
  } catch {
    return []
  }
}

/** Every object hash in the store. */
export const objectHashes = async (store: Store): Promise<string[]> => {
  const out: string[] = []
  for (const prefix of await listDir(store.path("objects"))) {
    for (const hash of await listDir(store.path("objects", prefix))) out.push(hash)
  }
  return out
}

/** Every cache entry file: key → path. */
const keyFiles = async (store: Store): Promise<Map<string, string>> => {
  const out = new Map<string, string>()
  for (const prefix of await listDir(store.path("keys"))) {
    for (const name of await listDir(store.path("keys", prefix))) {
      if (name.endsWith(".json")) out.set(name.slice(0, -5), store.path("keys", prefix, name))
    }
  }
  return out
}

const checkObject = async (store: Store, hash: string): Promise<{ file: string; reason: string } | undefined> => {
  const dir = store.objectDir(hash)
  let manifest: ArtifactManifest
  try {
    manifest = decodeManifest(JSON.parse(await fs.readFile(join(dir, "artifact.json"), "utf8")))
  } catch (error) {
    return { file: "artifact.json", reason: `manifest unreadable (${error instanceof Error ? error.message.split("\n")[0] : String(error)})` }
  }
  const { hash: _claimed, ...body } = manifest
  if (manifest.hash !== hash || manifestHash(body) !== hash) return { file: "artifact.json", reason: "manifest does not hash to the object's name" }
  for (const file of manifest.files) {
    const path = join(dir, file.path)
    try {
      const actual = await sha256File(path)
      if (actual !== file.sha256) return { file: file.path, reason: `checksum mismatch (expected ${file.sha256.slice(0, 12)}, found ${actual.slice(0, 12)})` }
    } catch {
      return { file: file.path, reason: "missing" }
    }
  }
  return undefined
}

/** Re-hashes every object; moves bad ones to `quarantine/` with a note saying why. */
export const verifyStore = (store: Store, onProgress: (done: number, total: number) => void = () => {}) =>
  Effect.promise(async () => {
    const hashes = await objectHashes(store)
    const problems: Problem[] = []
    let done = 0
    for (const hash of hashes) {
      const problem = await checkObject(store, hash)
      onProgress(++done, hashes.length)
      if (!problem) continue
      const target = store.path("quarantine", `${hash}.${Date.now()}`)
      await fs.mkdir(store.path("quarantine"), { recursive: true })
      await fs.rename(store.objectDir(hash), target)
      await writeFileAtomic(`${target}.reason.txt`, `${problem.file}: ${problem.reason}\n`)
      problems.push({ object: hash, file: join("objects", hash.slice(0, 2), hash, problem.file), reason: problem.reason, quarantinedTo: target })
    }
    return { checked: hashes.length, problems }
  })

/** What `gc` did (or would do, with `dryRun`). */
export interface GcReport {
  readonly keptObjects: number
  readonly removedObjects: number
  readonly removedKeys: number
  readonly removedBytes: number
  readonly keptBytes: number
}

const dirBytes = async (dir: string): Promise<number> => {
  let total = 0
  for (const entry of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name)
    total += entry.isDirectory() ? await dirBytes(path) : (await fs.stat(path)).size
  }
  return total
}

/** Objects an artifact needs: itself and, for a partitioned one, its members. */
const closure = async (store: Store, hash: string, into: Set<string>) => {
  if (into.has(hash)) return
  into.add(hash)
  try {
    const manifest = decodeManifest(JSON.parse(await fs.readFile(join(store.objectDir(hash), "artifact.json"), "utf8")))
    for (const member of Object.values(manifest.partitions ?? {})) await closure(store, member, into)
  } catch {
    // already gone: nothing more to keep
  }
}

/**
 * Keeps the artifacts and cache entries used by the last `keepRuns` runs (of any pipeline), removes
 * the rest; then, while the store is over `maxBytes`, drops the oldest kept runs (never the newest).
 */
export const gcStore = (store: Store, options: { readonly keepRuns: number; readonly maxBytes?: number; readonly dryRun?: boolean }) =>
  Effect.gen(function* () {
    const records = yield* loadRecords(store)
    return yield* Effect.promise(async () => {
      const sizes = new Map<string, number>()
      for (const hash of await objectHashes(store)) sizes.set(hash, await dirBytes(store.objectDir(hash)))
      const total = (set: Set<string>) => [...set].reduce((sum, h) => sum + (sizes.get(h) ?? 0), 0)
      let keepCount = Math.max(1, options.keepRuns)
      const keptFor = async (count: number) => {
        const objects = new Set<string>()
        const keys = new Set<string>()
        for (const record of records.slice(0, count)) {
          for (const stage of record.stages) {
            if (stage.artifact) await closure(store, stage.artifact, objects)
            if (stage.key) keys.add(stage.key)
            for (const key of Object.values(stage.partitions?.keys ?? {})) keys.add(key)
          }
        }
        return { objects, keys }
      }
      let kept = await keptFor(keepCount)
      while (options.maxBytes !== undefined && keepCount > 1 && total(kept.objects) > options.maxBytes) {
        keepCount -= 1
        kept = await keptFor(keepCount)
      }
      const entries = await keyFiles(store)
      let removedKeys = 0
      for (const [key, path] of entries) {
        if (kept.keys.has(key)) continue
        removedKeys += 1
        if (!options.dryRun) await fs.rm(path, { force: true })
      }
      let removedObjects = 0
      let removedBytes = 0
      for (const [hash, bytes] of sizes) {
        if (kept.objects.has(hash)) continue
        removedObjects += 1
        removedBytes += bytes
        if (!options.dryRun) await fs.rm(store.objectDir(hash), { recursive: true, force: true })
      }
      if (!options.dryRun) await cleanLeftovers(store)
      // A cluster executor's job folders (jobs/): those from before the oldest kept run go with it.
      const oldestKept = records.slice(0, keepCount).at(-1)?.started
      if (!options.dryRun && oldestKept !== undefined) {
        for (const name of await listDir(store.path("jobs"))) {
          const stat = await fs.stat(store.path("jobs", name)).catch(() => undefined)
          if (stat && stat.mtime < new Date(oldestKept)) await fs.rm(store.path("jobs", name), { recursive: true, force: true })
        }
      }
      return { keptObjects: kept.objects.size, removedObjects, removedKeys, removedBytes, keptBytes: total(kept.objects) } satisfies GcReport
    })
  })

/** Removes temp folders and locks of dead runners, and partition indexes of removed objects. */
const cleanLeftovers = async (store: Store) => {
  for (const name of await listDir(store.path("tmp"))) {
    const pid = Number(name.split(".")[1])
    if (!Number.isFinite(pid) || !processAlive(pid)) await fs.rm(store.path("tmp", name), { recursive: true, force: true })
  }
  for (const name of await listDir(store.path("locks"))) {
    const holder = await fs.readFile(store.path("locks", name), "utf8").then((t) => JSON.parse(t) as { pid: number; host: string }, () => undefined)
    if (holder && holder.host === hostname() && !processAlive(holder.pid)) await fs.rm(store.path("locks", name), { force: true })
  }
  const alive = new Set(await objectHashes(store))
  for (const name of await listDir(store.path("index"))) {
    if (!alive.has(name.split(".")[0]!)) await fs.rm(store.path("index", name), { force: true })
  }
}
