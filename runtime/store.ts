/**
 * The artifact store: content-addressed objects and the cache entries that point at them.
 *
 *   objects/ab/<hash>/   an artifact: its files and `artifact.json`, named by the hash of what it holds
 *   keys/ab/<key>.json   a cache entry (cache key → artifact hash); written last, so it is the commit marker
 *   tmp/                 where runs write before publishing; never read
 *   scratch/<key>/       state a killed run of the same key resumes from (checkpoints)
 *   locks/, runs/, state/, index/, quarantine/
 *
 * Writes are atomic: files are fsynced, an object is published by renaming its finished folder,
 * and the cache entry is written to a temp file, fsynced and renamed into place.
 */
import { Effect, Schema } from "effect"
import { randomBytes } from "node:crypto"
import { promises as fs, readFileSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import { TableSummary } from "./artifact.ts"
import { StoreError } from "./errors.ts"
import { canonicalJson, sha256, sha256File } from "./hash.ts"

/** One file of an artifact. */
export const ArtifactFile = Schema.Struct({ path: Schema.String, bytes: Schema.Number, sha256: Schema.String })

/** A shard of a table artifact, as recorded in its manifest. */
export const ShardRecord = Schema.Struct({ path: Schema.String, rows: Schema.Number, bytes: Schema.Number, rowGroups: Schema.Number })

/** What `artifact.json` says of an artifact. `hash` is the SHA-256 of the rest, canonically encoded. */
export const ArtifactManifest = Schema.Struct({
  hash: Schema.String,
  kind: Schema.Literal("Table", "Json", "Files", "Checkpoint", "Partitioned"),
  files: Schema.Array(ArtifactFile),
  bytes: Schema.Number,
  table: Schema.optional(Schema.Struct({
    columns: Schema.Array(Schema.Struct({ name: Schema.String, type: Schema.String })),
    rows: Schema.Number,
    shards: Schema.Array(ShardRecord),
  })),
  /** A table's summaries, which `inspect` runs; a partitioned stage's carries its members'. */
  summaries: Schema.optional(Schema.Array(TableSummary)),
  /** For the output of a partitioned stage: partition value → member artifact hash. */
  partitions: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
})
export type ArtifactManifest = typeof ArtifactManifest.Type

/** A cache entry: the key's components (for `explain`) and the artifact it produced. */
export const KeyEntry = Schema.Struct({
  key: Schema.String,
  stage: Schema.String,
  partition: Schema.optional(Schema.String),
  artifact: Schema.String,
  components: Schema.Unknown,
  /** Input items the stage set aside, with why. */
  rejected: Schema.optional(Schema.Array(Schema.Struct({ item: Schema.String, reason: Schema.String, skipped: Schema.optional(Schema.Boolean) }))),
  seconds: Schema.Number,
  createdAt: Schema.String,
})
export type KeyEntry = typeof KeyEntry.Type


const fail = (path: string, what: string) => (error: unknown) =>
  new StoreError({ path, reason: `${what}: ${error instanceof Error ? error.message : String(error)}` })

const tryStore = <A>(path: string, what: string, f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: fail(path, what) })

/** fsyncs a file or folder by path. */
export const fsyncPath = async (path: string): Promise<void> => {
  const handle = await fs.open(path, "r")
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Writes a file atomically: temp file, fsync, rename, fsync of the folder. */
export const writeFileAtomic = async (path: string, data: string | Uint8Array): Promise<void> => {
  await fs.mkdir(dirname(path), { recursive: true })
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`
  const handle = await fs.open(tmp, "w")
  try {
    await handle.writeFile(data)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await fs.rename(tmp, path)
  await fsyncPath(dirname(path))
}

/** Every regular file under `dir`, as paths relative to it, sorted. */
export const listFiles = async (dir: string): Promise<string[]> => {
  const out: string[] = []
  const walk = async (at: string) => {
    for (const entry of await fs.readdir(at, { withFileTypes: true })) {
      const full = join(at, entry.name)
      if (entry.isDirectory()) await walk(full)
      else if (entry.isFile()) out.push(relative(dir, full))
    }
  }
  await walk(dir)
  return out.sort()
}

/** The hash an artifact manifest must have: SHA-256 of its canonical content without `hash`. */
export const manifestHash = (manifest: Omit<ArtifactManifest, "hash">): string => {
  const { bytes: _bytes, ...content } = manifest
  return sha256(canonicalJson(content))
}

/** A store rooted at one folder. */
export class Store {
  constructor(readonly root: string) {}

  /** Folder of the object with this hash. */
  objectDir(hash: string): string {
    return join(this.root, "objects", hash.slice(0, 2), hash)
  }

  /** Path of the cache entry for this key. */
  keyPath(key: string): string {
    return join(this.root, "keys", key.slice(0, 2), `${key}.json`)
  }

  /** Folder that survives killed runs of this key. */
  scratchDir(key: string): string {
    return join(this.root, "scratch", key)
  }

  /** Path under the store's own folders (`runs`, `locks`, `state`, `index`, `quarantine`). */
  path(...parts: string[]): string {
    return join(this.root, ...parts)
  }

  /**
   * The cache entry for `key` when it exists and its artifact is in the store. Entries and
   * manifests are small: they are read synchronously, which is ten times faster than async reads
   * when a plan looks up thousands of partitions.
   */
  lookup(key: string): Effect.Effect<KeyEntry | undefined, StoreError> {
    const path = this.keyPath(key)
    return Effect.try({
      try: () => {
        let text: string
        try {
          text = readFileSync(path, "utf8")
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined
          throw error
        }
        const entry = JSON.parse(text) as KeyEntry
        if (typeof entry.artifact !== "string" || entry.key !== key) throw new Error("not a cache entry")
        try {
          this.readManifest(entry.artifact)
        } catch {
          return undefined
        }
        return entry
      },
      catch: fail(path, "cannot read cache entry"),
    })
  }

  private readonly manifests = new Map<string, ArtifactManifest>()

  /** Objects never change once published, so each manifest is read once per store instance. */
  private readManifest(hash: string): ArtifactManifest {
    let manifest = this.manifests.get(hash)
    if (!manifest) {
      manifest = JSON.parse(readFileSync(join(this.objectDir(hash), "artifact.json"), "utf8")) as ArtifactManifest
      if (manifest.hash !== hash || !Array.isArray(manifest.files)) throw new Error(`artifact.json of ${hash} is not its manifest`)
      this.manifests.set(hash, manifest)
    }
    return manifest
  }

  /** Reads an object's manifest. */
  manifest(hash: string): Effect.Effect<ArtifactManifest, StoreError> {
    const path = join(this.objectDir(hash), "artifact.json")
    return Effect.try({ try: () => this.readManifest(hash), catch: fail(path, "cannot read artifact manifest") })
  }

  /** A fresh temp folder for one run of `key`, removed when the scope closes. */
  tempDir(key: string): Effect.Effect<string, StoreError, import("effect").Scope.Scope> {
    const dir = join(this.root, "tmp", `${key.slice(0, 16)}.${process.pid}.${randomBytes(4).toString("hex")}`)
    return Effect.acquireRelease(
      tryStore(dir, "cannot create temp folder", async () => {
        await fs.mkdir(dir, { recursive: true })
        return dir
      }),
      () => Effect.promise(() => fs.rm(dir, { recursive: true, force: true })),
    )
  }

  /**
   * Publishes the finished folder `dir` as an object: hashes and fsyncs every file, writes
   * `artifact.json`, and renames the folder into `objects/`. If an identical object is already
   * there, `dir` is dropped and the existing one kept.
   */
  publish(dir: string, content: Omit<ArtifactManifest, "hash" | "files" | "bytes">): Effect.Effect<ArtifactManifest, StoreError> {
    return tryStore(dir, "cannot publish artifact", async () => {
      const files: Array<typeof ArtifactFile.Type> = []
      for (const path of await listFiles(dir)) {
        const full = join(dir, path)
        await fsyncPath(full)
        files.push({ path, bytes: (await fs.stat(full)).size, sha256: await sha256File(full) })
      }
      const bytes = files.reduce((sum, f) => sum + f.bytes, 0)
      const body = { ...content, files, bytes }
      const manifest: ArtifactManifest = { hash: manifestHash(body), ...body }
      await fs.writeFile(join(dir, "artifact.json"), JSON.stringify(manifest, null, 1))
      await fsyncPath(join(dir, "artifact.json"))
      await fsyncPath(dir)
      const target = this.objectDir(manifest.hash)
      await fs.mkdir(dirname(target), { recursive: true })
      try {
        await fs.rename(dir, target)
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code
        if (code !== "ENOTEMPTY" && code !== "EEXIST") throw error
        await fs.rm(dir, { recursive: true, force: true })
      }
      await fsyncPath(dirname(target))
      return manifest
    })
  }

  /**
   * Publishes an object with no files of its own (the union of a partitioned stage's results).
   * Its members share one output kind, so the first member's summaries are all of theirs.
   */
  publishComposite(partitions: Readonly<Record<string, string>>, memberBytes: number): Effect.Effect<ArtifactManifest, StoreError> {
    const sorted = Object.fromEntries(Object.entries(partitions).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    const store = this
    return Effect.gen(function* () {
      const first = Object.values(sorted)[0]
      const summaries = first === undefined ? undefined : (yield* store.manifest(first)).summaries
      const body = { kind: "Partitioned" as const, files: [], bytes: memberBytes, partitions: sorted, ...(summaries ? { summaries } : {}) }
      const manifest: ArtifactManifest = { hash: manifestHash(body), ...body }
      const dir = store.objectDir(manifest.hash)
      return yield* tryStore(dir, "cannot publish artifact", async () => {
        try {
          await fs.access(join(dir, "artifact.json"))
        } catch {
          await writeFileAtomic(join(dir, "artifact.json"), JSON.stringify(manifest, null, 1))
        }
        return manifest
      })
    })
  }

  /** Writes the cache entry: the commit marker, last of all. */
  commit(entry: KeyEntry): Effect.Effect<void, StoreError> {
    const path = this.keyPath(entry.key)
    return tryStore(path, "cannot write cache entry", () => writeFileAtomic(path, JSON.stringify(entry, null, 1)))
  }
}
