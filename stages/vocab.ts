/**
 * `vocab`: artist and genre ids. Incremental: it extends its own last output, so adding a song by
 * a new artist gives that artist the next id and renumbers no one.
 */
import { Effect } from "effect"
import { extendVocabulary } from "../dataset/chunks.ts"
import { Vocab } from "../schemas/chunks.ts"
import { Songs } from "../schemas/songs.ts"
import { Stage } from "../runtime/index.ts"

/** Builds (or extends) the label vocabulary from the songs. */
export const vocab = Stage.define({
  name: "vocab",
  version: 1,
  description: "artist and genre ids that never change once given",
  inputs: { songs: Songs },
  output: Vocab,
  incremental: true,
  run: ({ songs }, _params, ctx) =>
    Effect.map(songs.all(), (rows) => extendVocabulary(ctx.previous, rows.map((s) => s.artist), rows.flatMap((s) => s.genres))),
})
