/**
 * `jukeflow sample PIPELINE --artist A --genre G --lyrics FILE --seconds 20 [--prime song.wav] [--n 4] [--seed 7]`:
 * runs the pipeline's `sample` stage on a request made from the flags, after what it needs (the
 * priors and VQ-VAEs, cached when trained before), with progress per level, and prints where
 * the samples are. The request's stage is the pipeline's own `sample` use, copied with new params,
 * so its inputs are wired as the pipeline wires them (or found by stage: prior-train per level,
 * vqvae-train per level, vocab, encode). Its result is cached like any stage's: asking again for
 * the same request answers at once.
 */
import { Effect, ParseResult, Schema } from "effect"
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs"
import { join, relative, resolve } from "node:path"
import { SampleRequest } from "../schemas/sample.ts"
import { type Args, flag, parseArgs, Pipeline, PipelineError, type ProjectCommand, runPipeline, UsageError, use, type Use } from "../runtime/index.ts"
import { sample } from "./sample.ts"

/** The flags of `sample` (and, with its own, `compose`): name → takes a value. */
export const REQUEST_FLAGS = {
  artist: true, genre: true, change: true, lyrics: true, seconds: true, "total-seconds": true, prime: true, "prime-seconds": true,
  n: true, seed: true, temperature: true, "hop-fraction": true, "top-k": true, "top-p": true, continue: true, upsample: true, help: false,
} as const

const USAGE = "PIPELINE --artist A[=W,B=W…] --genre G[=W,…] --seconds S [--change SECOND:ARTIST:GENRE]… [--lyrics FILE] [--prime AUDIO|SONG] [--prime-seconds S] [--n N] [--seed N] [--temperature T|TOP,MIDDLE,BOTTOM] [--hop-fraction F|TOP,MIDDLE,BOTTOM] [--top-k K] [--top-p P] [--total-seconds S] [--continue CODES] [--upsample CODES]"

/** The request's field for each flag, to name the flag when the request is refused. */
const FLAG_OF: Readonly<Record<string, string>> = {
  artist: "--artist", genre: "--genre", changes: "--change", lyrics: "--lyrics", seconds: "--seconds", totalSeconds: "--total-seconds", prime: "--prime",
  n: "--n", seed: "--seed", temperature: "--temperature", hopFraction: "--hop-fraction", topK: "--top-k", topP: "--top-p", codes: "--continue/--upsample",
}

/** The stage name a command's request runs under. */
export const REQUEST_STAGE = "sample-request"

export const command: ProjectCommand = {
  summary: "sample music from a pipeline's priors (trained and cached by its run), with progress per level",
  usage: USAGE,
  run: (argv) =>
    Effect.gen(function* () {
      const args = yield* Effect.try({ try: () => parseArgs(["sample", ...argv], REQUEST_FLAGS), catch: (e) => e as UsageError })
      if (args.flags.has("help")) return yield* Effect.sync(() => (process.stdout.write(`usage: jukeflow sample ${USAGE}\n`), 0))
      const file = args.positionals[0]
      if (!file) return yield* new UsageError({ reason: `sample needs a pipeline file, e.g. jukeflow sample pipelines/demo.ts --artist A --genre G --seconds 8` })
      const request = yield* requestOf(args, { seconds: true })
      const run = yield* runPipeline({ file, extend: (base) => withRequest(base, file, request), until: [REQUEST_STAGE] })
      const dir = run.artifactDir(REQUEST_STAGE)
      if (!dir) return 1
      yield* Effect.sync(() => process.stdout.write(`${outputLines(dir)}\n`))
      return 0
    }),
}

/** A label flag: a name, or a blend "Ada Vale=0.7,Bo Carver=0.3". */
const labelOf = (text: string): unknown =>
  text.includes("=") ? text.split(",").map((part) => ({ name: part.slice(0, part.lastIndexOf("=")).trim(), weight: Number(part.slice(part.lastIndexOf("=") + 1)) })) : text.trim()

/** The request of the flags, checked; a refusal names the flag in one sentence. */
export const requestOf = (args: Args, need: { readonly seconds: boolean }): Effect.Effect<SampleRequest, UsageError> =>
  Effect.gen(function* () {
    const usage = (reason: string) => new UsageError({ reason })
    const number = (name: string): number | undefined => {
      const text = flag(args, name)
      return text === undefined ? undefined : Number(text)
    }
    const raw: Record<string, unknown> = {}
    for (const name of ["artist", "genre"] as const) {
      const value = flag(args, name)
      if (value === undefined) return yield* usage(`--${name} is needed (a name from the pipeline's vocabulary: jukeflow inspect vocab)`)
      raw[name] = labelOf(value)
    }
    raw.changes = []
    for (const change of args.flags.get("change") ?? []) {
      const match = /^([^:]+):([^:]+):([^:]+)$/.exec(change)
      if (!match) return yield* usage(`--change ${change}: expected SECOND:ARTIST:GENRE, e.g. --change "4:Bo Carver:blues"`)
      if (!(Number(match[1]) > 0)) return yield* usage(`--change ${change}: the second must be a number above 0`)
      ;(raw.changes as unknown[]).push({ second: Number(match[1]), artist: labelOf(match[2]!), genre: labelOf(match[3]!) })
    }
    const lyricsFile = flag(args, "lyrics")
    if (lyricsFile !== undefined) {
      if (!existsSync(lyricsFile) || !statSync(lyricsFile).isFile()) return yield* usage(`--lyrics ${lyricsFile}: no such file`)
      raw.lyrics = readFileSync(lyricsFile, "utf8")
    }
    const seconds = number("seconds")
    if (seconds === undefined && need.seconds) return yield* usage("--seconds is needed: how many seconds to sample")
    raw.seconds = seconds ?? 1
    if (flag(args, "total-seconds") !== undefined) raw.totalSeconds = number("total-seconds")
    for (const [name, field] of [["n", "n"], ["seed", "seed"], ["top-k", "topK"], ["top-p", "topP"]] as const) {
      if (flag(args, name) !== undefined) raw[field] = number(name)
    }
    for (const [name, field] of [["temperature", "temperature"], ["hop-fraction", "hopFraction"]] as const) {
      const text = flag(args, name)
      if (text === undefined) continue
      const values = text.split(",").map(Number)
      if (values.length !== 1 && values.length !== 3) return yield* usage(`--${name} ${text}: give one number, or three (top,middle,bottom)`)
      const [top, middle = top, bottom = top] = values
      raw[field] = { top, middle, bottom }
    }
    const prime = flag(args, "prime")
    if (prime !== undefined) {
      const primeSeconds = number("prime-seconds") ?? Math.min(4, (seconds ?? 8) / 2)
      raw.prime = existsSync(prime) ? { file: resolve(prime), seconds: primeSeconds } : { song: prime, seconds: primeSeconds }
      if (!existsSync(prime) && /[/\\.]/.test(prime)) return yield* usage(`--prime ${prime}: no such file (a dataset song is named by its id)`)
    }
    const earlier = (["continue", "upsample"] as const).filter((mode) => flag(args, mode) !== undefined)
    if (earlier.length > 1) return yield* usage("give --continue or --upsample, not both")
    if (earlier[0]) {
      const codes = flag(args, earlier[0])!
      if (!existsSync(codes)) return yield* usage(`--${earlier[0]} ${codes}: no such file or folder (a sample's folder, or its codes-*.parquet)`)
      raw.codes = { file: resolve(codes), mode: earlier[0] }
    }
    const decoded = Schema.decodeUnknownEither(SampleRequest)(raw)
    if (decoded._tag === "Left") {
      const issue = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)[0]!
      const field = String(issue.path[0] ?? "")
      return yield* usage(`${FLAG_OF[field] ?? field} ${issue.path.length > 1 ? `(${issue.path.slice(1).join(".")}) ` : ""}${issue.message}`)
    }
    return decoded.right
  })

/**
 * The pipeline with the request as a `sample` use named REQUEST_STAGE, wired as the pipeline's
 * own `sample` use or, without one, to the stages that make each input.
 */
export const withRequest = (base: Pipeline, file: string, request: SampleRequest): Pipeline => {
  const inputs = sampleWiring(base, file)
  const params = Schema.encodeSync(SampleRequest)(request)
  return Pipeline.extend(base, base.name, { [REQUEST_STAGE]: use(sample, { params, inputs: inputs as never }) } as never)
}

/** The stage feeding each of `sample`'s inputs: as the pipeline's own `sample` use wires them, or found. */
export const sampleWiring = (base: Pipeline, file: string): Record<keyof typeof sample.inputs, string> => {
  const uses = Object.entries(base.uses as Record<string, Use>)
  const own = uses.find(([, u]) => u.stage.name === sample.name)
  return (own ? own[1].inputs : inferWiring(uses, file)) as Record<keyof typeof sample.inputs, string>
}

/** The stage names feeding `sample`'s inputs, found by what each stage is and its level. */
const inferWiring = (uses: ReadonlyArray<[string, Use]>, file: string): Record<string, string> => {
  const find = (stage: string, level?: number) => uses.find(([, u]) => u.stage.name === stage && (level === undefined || (u.params as { level?: number }).level === level))?.[0]
  const wiring = {
    topPrior: find("prior-train", 2), middlePrior: find("prior-train", 1), bottomPrior: find("prior-train", 0),
    bottom: find("vqvae-train", 0), middle: find("vqvae-train", 1), top: find("vqvae-train", 2),
    vocab: find("vocab"), tokens: find("encode"),
  }
  const missing = Object.entries(wiring).filter(([, stage]) => stage === undefined).map(([input]) => input)
  if (missing.length > 0) {
    throw new PipelineError({ where: file, reason: `has no sample stage to copy the wiring of, and no stage makes ${missing.join(", ")}; add a sample stage (see pipelines/demo.ts)` })
  }
  return wiring as Record<string, string>
}

/** Where the samples are: the folder, each page and each sample's best WAV. */
export const outputLines = (dir: string): string => {
  const files = readdirSync(dir).sort()
  const show = (f: string) => relative(process.cwd(), join(dir, f))
  const pages = files.filter((f) => f.endsWith(".html"))
  const wavs = files.filter((f) => /-level-0\.wav$/.test(f))
  return [`samples in ${relative(process.cwd(), dir) || "."}:`, ...pages.map((f) => `  page   ${show(f)}`), ...wavs.map((f) => `  audio  ${show(f)}`), `  codes  ${show("codes-00000.parquet")}`].join("\n")
}
