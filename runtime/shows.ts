/**
 * What a run points the user at: the output files each stage names in `shows` (Stage.define),
 * matched by name with `*` wildcards, as absolute paths in the store. A partitioned stage's
 * members are not searched: its own files only.
 */
import { Effect } from "effect"
import { join } from "node:path"
import type { Graph } from "./graph.ts"
import type { RunRecord } from "./record.ts"
import type { Store } from "./store.ts"

/** A file a stage points at. */
export interface Shown {
  readonly stage: string
  readonly path: string
}

/** The files the stages of a run point at, in pipeline order, then in the order of their patterns, then by name. */
export const shownFiles = (graph: Graph, store: Store, record: RunRecord): Effect.Effect<Shown[]> =>
  Effect.gen(function* () {
    const out: Shown[] = []
    for (const stage of record.stages) {
      const patterns = graph.nodes.get(stage.name)?.stage.shows ?? []
      if (patterns.length === 0 || !stage.artifact) continue
      const manifest = yield* Effect.option(store.manifest(stage.artifact))
      if (manifest._tag === "None") continue
      const names = manifest.value.files.map((f) => f.path).sort()
      const files = new Set(patterns.flatMap((pattern) => names.filter((name) => wildcard(pattern).test(name)))) // in the order of the patterns
      for (const file of files) out.push({ stage: stage.name, path: join(store.objectDir(stage.artifact), file) })
    }
    return out
  })

/** A name pattern with `*` (any characters but `/`) as a regular expression. */
const wildcard = (pattern: string): RegExp =>
  new RegExp(`^${pattern.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join("[^/]*")}$`)
