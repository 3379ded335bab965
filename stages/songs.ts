/**
 * `songs`: reads a dataset manifest (JSONL, or CSV with the same columns) into checked songs —
 * from a path in the project (`songs`), or from a dataset a stage produced (`dataset-songs`, for
 * the generated demo corpus). A bad song is set aside with the reason (see `ctx.reject`);
 * `--strict` fails the run instead.
 */
import { Effect, Schema } from "effect"
import { existsSync } from "node:fs"
import { join, relative, resolve } from "node:path"
import { readManifest } from "../dataset/manifest.ts"
import { Songs } from "../schemas/songs.ts"
import { Files, Stage, type StageContext } from "../runtime/index.ts"

const readSongs = (manifest: string, ctx: StageContext) =>
  Effect.gen(function* () {
    const contents = yield* Effect.try(() => readManifest(manifest, ctx.root))
    for (const { item, reason } of contents.rejected) yield* ctx.reject(item, reason)
    yield* ctx.log(`${contents.songs.length} songs, ${contents.rejected.length} set aside`)
    return contents.songs
  })

/** Reads the songs of a dataset manifest in the project. */
export const songs = Stage.define({
  name: "songs",
  version: 1,
  description: "the songs of a dataset manifest, checked",
  params: Schema.Struct({
    /** The manifest, relative to the project root. */
    manifest: Schema.String,
  }),
  // a manifest not there yet is declared alone, so that `plan` says it is missing and `run` fails on it
  files: ({ params, root }) => Effect.try(() => (existsSync(resolve(root, params.manifest)) ? readManifest(params.manifest, root).files : [params.manifest])),
  output: Songs,
  run: (_inputs, params, ctx) => readSongs(params.manifest, ctx),
})

/** Reads the songs of a dataset produced by another stage (a folder holding `manifest.jsonl`). */
export const datasetSongs = Stage.define({
  name: "dataset-songs",
  version: 1,
  description: "the songs of a generated dataset, checked",
  inputs: { dataset: Files("corpus") },
  output: Songs,
  run: ({ dataset }, _params, ctx) => readSongs(relative(ctx.root, join(dataset.dirs[0]!, "manifest.jsonl")), ctx),
})
