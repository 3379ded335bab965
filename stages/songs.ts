/**
 * `songs`: reads a dataset manifest (JSONL, or CSV with the same columns) into checked songs.
 * A bad song is set aside with the reason (see `ctx.reject`); `--strict` fails the run instead.
 */
import { Effect, Schema } from "effect"
import { readManifest } from "../dataset/manifest.ts"
import { Songs } from "../schemas/songs.ts"
import { Stage } from "../runtime/index.ts"

/** Reads the songs of a dataset. */
export const songs = Stage.define({
  name: "songs",
  version: 1,
  description: "the songs of a dataset manifest, checked",
  params: Schema.Struct({
    /** The manifest, relative to the project root. */
    manifest: Schema.String,
  }),
  files: ({ params, root }) => Effect.try(() => readManifest(params.manifest, root).files),
  output: Songs,
  run: (_inputs, params, ctx) =>
    Effect.gen(function* () {
      const contents = yield* Effect.try(() => readManifest(params.manifest, ctx.root))
      for (const { item, reason } of contents.rejected) yield* ctx.reject(item, reason)
      yield* ctx.log(`${contents.songs.length} songs, ${contents.rejected.length} set aside`)
      return contents.songs
    }),
})
