/**
 * `align`, one partition per song: NUS AutoLyricsAlign word times mapped back onto the original
 * lyric characters, or the paper's linear spread when the song has no alignment file; vocal
 * activity from the separated vocals. A bad alignment file sets the song aside.
 */
import { Effect } from "effect"
import { readFile } from "node:fs/promises"
import { vocalActivity } from "../audio/vocal-activity.ts"
import { mapAlignment, normaliseLyrics, nusWords, parseNusAlignment } from "../dataset/lyrics.ts"
import { type Alignment, Alignments } from "../schemas/alignment.ts"
import { Ingested } from "../schemas/audio.ts"
import { Songs } from "../schemas/songs.ts"
import { Stage } from "../runtime/index.ts"

/** Aligns each song's lyrics with its audio. */
export const align = Stage.define({
  name: "align",
  version: 1,
  description: "word times on the lyric characters (NUS, or linear), and vocal activity",
  inputs: { songs: Songs, audio: Ingested },
  partitionBy: { input: "songs", column: "id", join: { audio: "song" } },
  files: ({ inputs }) => Effect.map(inputs.songs.all(), (songs) => songs.flatMap((s) => (s.alignment ? [s.alignment] : []))),
  output: Alignments,
  run: ({ songs, audio }, _params, ctx) =>
    Effect.gen(function* () {
      const sources = yield* audio.all()
      const rows: Alignment[] = []
      for (const song of yield* songs.all()) {
        const mix = sources.find((s) => s.song === song.id && s.source === "mix")
        if (!mix) continue // set aside by ingest already
        const vocals = sources.find((s) => s.song === song.id && s.source === "vocals")
        const lyrics = normaliseLyrics(song.lyrics)
        let words = { words: [] as ReturnType<typeof mapAlignment>["words"], total: nusWords(lyrics).length }
        if (song.alignment) {
          const path = song.alignment
          const text = yield* Effect.promise(() => readFile(ctx.resolve(path), "utf8"))
          const parsed = yield* Effect.either(Effect.try({ try: () => parseNusAlignment(text, path, mix.seconds), catch: (e) => (e as Error).message }))
          if (parsed._tag === "Left") {
            yield* ctx.reject(song.id, parsed.left)
            continue
          }
          words = mapAlignment(lyrics, parsed.right)
        }
        const activity = vocals ? vocalActivity([vocals.left, vocals.right], vocals.sampleRate) : undefined
        rows.push({
          song: song.id,
          method: song.alignment ? "nus" : "linear",
          seconds: mix.seconds,
          lyrics,
          wordsAligned: words.words.length,
          wordsTotal: words.total,
          wordStart: Float32Array.from(words.words, (w) => w.start),
          wordEnd: Float32Array.from(words.words, (w) => w.end),
          charStart: Int32Array.from(words.words, (w) => w.charStart),
          charEnd: Int32Array.from(words.words, (w) => w.charEnd),
          frameSeconds: activity?.frameSeconds ?? 0,
          vocalActivity: activity?.active ?? new Int8Array(0),
          vocalSeconds: activity?.seconds ?? 0,
        })
      }
      return rows
    }),
})
