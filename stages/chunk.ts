/**
 * `chunk`: fixed-length training chunks with their labels — the timing signal (total length,
 * start, fraction elapsed), artist and genre ids from the vocabulary, a lyric window centred on
 * what is sung in the chunk, and a held-out split decided by the song id. Chunks carry no audio:
 * training reads it from `ingest` by song and start.
 */
import { Effect, Schema } from "effect"
import { chunkStarts, isHeldOut, labelId } from "../dataset/chunks.ts"
import { lyricIds, lyricWindowStart, type TimedWord } from "../dataset/lyrics.ts"
import { Alignments } from "../schemas/alignment.ts"
import { type Chunk, Chunks, Vocab } from "../schemas/chunks.ts"
import { Songs } from "../schemas/songs.ts"
import { Stage } from "../runtime/index.ts"

/** Cuts every song into labelled chunks. */
export const chunk = Stage.define({
  name: "chunk",
  version: 1,
  description: "fixed-length chunks with timing, artist, genre and lyric-window labels",
  params: Schema.Struct({
    seconds: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 6 }),
    lyricChars: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 128 }),
    heldOutPercent: Schema.optionalWith(Schema.Number.pipe(Schema.between(0, 100)), { default: () => 10 }),
  }),
  inputs: { songs: Songs, alignments: Alignments, vocab: Vocab },
  output: Chunks,
  run: ({ songs, alignments, vocab }, p, ctx) =>
    Effect.gen(function* () {
      const bySong = new Map((yield* alignments.all()).map((a) => [a.song, a]))
      const chunks: Chunk[] = []
      for (const song of yield* songs.all()) {
        const alignment = bySong.get(song.id)
        if (!alignment) continue // set aside upstream
        const starts = chunkStarts(alignment.seconds, p.seconds)
        if (starts.length === 0) {
          yield* ctx.skip(song.id, `${alignment.seconds.toFixed(2)} s is shorter than one ${p.seconds} s chunk`)
          continue
        }
        const words: TimedWord[] = [...alignment.wordStart].map((start, i) => ({
          start, end: alignment.wordEnd[i]!, charStart: alignment.charStart[i]!, charEnd: alignment.charEnd[i]!,
        }))
        const genres = Int32Array.from(song.genres, (g) => labelId(vocab.genres, g))
        starts.forEach((start, index) => {
          const from = lyricWindowStart(words, alignment.lyrics.length, alignment.seconds, start, start + p.seconds, p.lyricChars)
          const window = alignment.lyrics.slice(from, from + p.lyricChars)
          const ids = new Int32Array(p.lyricChars) // padded with 0
          ids.set(lyricIds(window))
          chunks.push({
            song: song.id, index, start, seconds: p.seconds, total: alignment.seconds, fraction: start / alignment.seconds,
            artist: labelId(vocab.artists, song.artist), genres, lyrics: window, lyricIds: ids,
            split: isHeldOut(song.id, p.heldOutPercent) ? "heldout" : "train",
          })
        })
      }
      return chunks
    }),
})
