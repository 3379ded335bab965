/**
 * `demo-corpus`: generates synthetic songs in jukeflow's dataset format — stereo mixes, Spleeter
 * 2stems folders, lyrics, NUS AutoLyricsAlign word alignments and a JSONL manifest — so the demo
 * runs with no download. `writeDemoCorpus` writes the same files to a folder (`jukeflow demo-data DIR`).
 */
import { Effect, Schema } from "effect"
import { mkdir, writeFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import { demoManifest, generateDemoCorpus, planDemoCorpus, renderDemoSong, type DemoFile } from "../audio/demo-corpus.ts"
import { Files, type ProjectCommand, Stage } from "../runtime/index.ts"

const SampleRate = Schema.Int.pipe(Schema.between(8000, 192000))

/** Params of the demo corpus, with their defaults. */
export const DemoCorpusParams = Schema.Struct({
  songs: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 1000)), { default: () => 24 }),
  seconds: Schema.optionalWith(Schema.Number.pipe(Schema.between(1, 600)), { default: () => 20 }),
  sampleRate: Schema.optionalWith(SampleRate, { default: () => 22050 }),
  seed: Schema.optionalWith(Schema.Int, { default: () => 7 }),
  /** Sample rate of the stems; the mixes' rate when absent. */
  stemSampleRate: Schema.optional(SampleRate),
})

/** Generates the demo corpus. */
export const demoCorpus = Stage.define({
  name: "demo-corpus",
  version: 2,
  description: "synthetic songs with vocals, stems, lyrics, word alignments and a JSONL manifest",
  params: DemoCorpusParams,
  output: Files("corpus"),
  run: (_inputs, params, ctx) =>
    Effect.gen(function* () {
      const songs = planDemoCorpus(params)
      for (const [i, song] of songs.entries()) {
        yield* Effect.promise(() => writeFiles(ctx.outDir, renderDemoSong(song, params)))
        yield* ctx.progress(i + 1, songs.length, "songs")
      }
      yield* Effect.promise(() => writeFiles(ctx.outDir, [demoManifest(songs)]))
    }),
})

/** Writes the demo corpus to `dir` (created if missing): the stage's files, with the same defaults. */
export const writeDemoCorpus = async (dir: string, params: typeof DemoCorpusParams.Encoded = {}): Promise<void> => {
  for (const file of generateDemoCorpus(Schema.decodeUnknownSync(DemoCorpusParams)(params))) await writeFiles(dir, [file])
}

const writeFiles = async (dir: string, files: Iterable<DemoFile>) => {
  for (const file of files) {
    const path = join(dir, file.path)
    await mkdir(dirname(path), { recursive: true })
    await writeFile(path, file.bytes)
  }
}

/** `jukeflow demo-data DIR [--songs N] [--seconds S] [--sample-rate HZ] [--seed N]`: the demo corpus as a dataset folder. */
export const command: ProjectCommand = {
  summary: "write the generated demo corpus (audio, stems, lyrics, NUS alignments, manifest) to DIR",
  usage: "DIR [--songs N] [--seconds S] [--sample-rate HZ] [--seed N]",
  run: async (args) => {
    const [dir, ...rest] = args
    const flags: Record<string, string> = {}
    for (let i = 0; i < rest.length; i += 2) flags[rest[i]!.replace(/^--/, "")] = rest[i + 1] ?? ""
    const known = { songs: "songs", seconds: "seconds", "sample-rate": "sampleRate", seed: "seed" } as const
    const unknown = Object.keys(flags).find((f) => !(f in known))
    if (!dir || dir.startsWith("--") || unknown) {
      process.stderr.write(`jukeflow demo-data: ${unknown ? `unknown option --${unknown}` : "needs a folder"}; usage: jukeflow demo-data ${command.usage}\n`)
      return 2
    }
    const params = Object.fromEntries(Object.entries(flags).map(([f, v]) => [known[f as keyof typeof known], Number(v)]))
    const decoded = Schema.decodeUnknownEither(DemoCorpusParams)(params)
    if (decoded._tag === "Left") {
      process.stderr.write(`jukeflow demo-data: ${decoded.left.message.replace(/\s+/g, " ")}\n`)
      return 2
    }
    await writeDemoCorpus(dir, params)
    process.stdout.write(`wrote ${decoded.right.songs} songs to ${dir} (manifest: ${join(dir, "manifest.jsonl")})\n`)
    return 0
  },
}
