/**
 * `demo-corpus`: generates a small corpus of synthetic songs — stereo WAV audio, lyrics, and a
 * JSONL manifest in jukeflow's dataset format — so the demo runs with no download.
 */
import { Effect, Schema } from "effect"
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { seededRandom, synthesizeSong, type Timbre } from "../audio/synth.ts"
import { encodeWav } from "../audio/wav.ts"
import { Files, Stage } from "../runtime/index.ts"

const ARTISTS: ReadonlyArray<{ name: string; timbre: Timbre; genres: ReadonlyArray<string>; minor: boolean }> = [
  { name: "Ada Sine", timbre: "sine", genres: ["ambient"], minor: false },
  { name: "Bo Saw", timbre: "saw", genres: ["rock", "blues"], minor: true },
  { name: "Cy Square", timbre: "square", genres: ["chiptune"], minor: false },
  { name: "Di Pluck", timbre: "pluck", genres: ["folk"], minor: true },
]

const WORDS = ["the", "night", "river", "sings", "slow", "light", "under", "my", "window", "we", "ran", "home", "again",
  "golden", "rain", "falls", "on", "your", "quiet", "street", "hold", "on", "to", "morning", "blue", "heart", "of", "the", "sea"]

const lyricsFor = (seed: number, lines: number): string => {
  const random = seededRandom(seed)
  return Array.from({ length: lines }, () =>
    Array.from({ length: 4 + Math.floor(random() * 4) }, () => WORDS[Math.floor(random() * WORDS.length)]).join(" "))
    .map((line) => line[0]!.toUpperCase() + line.slice(1))
    .join("\n") + "\n"
}

/** Generates the demo corpus. */
export const demoCorpus = Stage.define({
  name: "demo-corpus",
  version: 1,
  description: "synthetic songs with lyrics and a JSONL manifest",
  params: Schema.Struct({
    songs: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 1000)), { default: () => 8 }),
    seconds: Schema.optionalWith(Schema.Number.pipe(Schema.between(1, 600)), { default: () => 12 }),
    sampleRate: Schema.optionalWith(Schema.Int.pipe(Schema.between(8000, 192000)), { default: () => 22050 }),
    seed: Schema.optionalWith(Schema.Int, { default: () => 7 }),
  }),
  output: Files("corpus"),
  run: (_inputs, p, ctx) =>
    Effect.gen(function* () {
      yield* Effect.promise(() => Promise.all([mkdir(join(ctx.outDir, "audio")), mkdir(join(ctx.outDir, "lyrics"))]))
      const manifest: string[] = []
      for (let i = 0; i < p.songs; i++) {
        const id = `s${String(i + 1).padStart(3, "0")}`
        const artist = ARTISTS[i % ARTISTS.length]!
        const seed = p.seed * 1000 + i
        const random = seededRandom(seed)
        const audio = synthesizeSong({
          seconds: p.seconds, sampleRate: p.sampleRate, timbre: artist.timbre, minor: artist.minor, seed,
          tempo: 90 + Math.floor(random() * 60), rootMidi: 45 + Math.floor(random() * 12),
        })
        yield* Effect.promise(() => writeFile(join(ctx.outDir, "audio", `${id}.wav`), encodeWav(audio, p.sampleRate)))
        yield* Effect.promise(() => writeFile(join(ctx.outDir, "lyrics", `${id}.txt`), lyricsFor(seed, Math.ceil(p.seconds / 3))))
        manifest.push(JSON.stringify({
          id, audio: `audio/${id}.wav`, artist: artist.name, genre: artist.genres, year: 1990 + (i % 30), lyrics: `lyrics/${id}.txt`,
        }))
        yield* ctx.progress(i + 1, p.songs, "songs")
      }
      yield* Effect.promise(() => writeFile(join(ctx.outDir, "manifest.jsonl"), `${manifest.join("\n")}\n`))
    }),
})
