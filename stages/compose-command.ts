/**
 * `jukeflow compose PIPELINE --artist A --genre G --seconds 30 [--step 4] [--n 3] [--pick 1,0,2]`:
 * co-composition, the paper's future work. Each round samples n continuations of the top-level
 * codes so far (`--step` seconds each), decodes each through the top level's VQ-VAE for a quick
 * preview WAV, and takes the one the user picks — at a prompt on a terminal, from `--pick`
 * otherwise (one choice per round, or one for all) — until `--seconds` are made. The chosen top
 * level is then upsampled and decoded by the pipeline's `sample` stage (`codes`, mode "upsample"),
 * so it ends as any sample does: codes, a WAV per level, a page.
 *
 * Rounds draw from (seed + round): the same flags and picks give the same music. Previews and the
 * chosen codes are kept under the store, in compose/<time>/.
 */
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import { join, relative } from "node:path"
import { createInterface } from "node:readline/promises"
import { encodeWav } from "../audio/wav.ts"
import { useBestBackend } from "../models/backend.ts"
import { drive, levelSteps } from "../models/sampling.ts"
import { decodeSong } from "../models/segments.ts"
import type { Vocabulary } from "../schemas/chunks.ts"
import type { PriorCheckpointConfig } from "../schemas/prior.ts"
import type { SampleRequest } from "../schemas/sample.ts"
import { TokenShards } from "../schemas/tokens.ts"
import type { VqvaeConfig } from "../schemas/vqvae.ts"
import { type CheckpointValue, flag, listFlag, parseArgs, type ProjectCommand, runPipeline, StageFailed, UsageError, writeTable } from "../runtime/index.ts"
import { loadPrior } from "./prior-checkpoint.ts"
import { requestLabels, windowConditions } from "./sample.ts"
import { outputLines, REQUEST_FLAGS, REQUEST_STAGE, requestOf, sampleWiring, withRequest } from "./sample-command.ts"
import { loadAutoencoder } from "./vqvae-checkpoint.ts"

const USAGE = "PIPELINE --artist A --genre G --seconds S [--step S] [--n N] [--pick I[,I…]] [--lyrics FILE] [--seed N] [--temperature T|TOP,MIDDLE,BOTTOM] [--hop-fraction F|TOP,MIDDLE,BOTTOM] [--top-k K] [--top-p P]"

export const command: ProjectCommand = {
  summary: "co-compose: sample n continuations of the top level, preview each, pick one, repeat; then upsample",
  usage: USAGE,
  run: (argv) =>
    Effect.gen(function* () {
      const { continue: _c, upsample: _u, prime: _p, "prime-seconds": _ps, ...flags } = REQUEST_FLAGS // compose starts from nothing
      const args = yield* Effect.try({ try: () => parseArgs(["compose", ...argv], { ...flags, step: true, pick: true }), catch: (e) => e as UsageError })
      if (args.flags.has("help")) return yield* Effect.sync(() => (process.stdout.write(`usage: jukeflow compose ${USAGE}\n`), 0))
      const file = args.positionals[0]
      if (!file) return yield* new UsageError({ reason: "compose needs a pipeline file, e.g. jukeflow compose pipelines/demo.ts --artist A --genre G --seconds 12" })
      const request = yield* requestOf(args, { seconds: true })
      const step = Number(flag(args, "step") ?? 4)
      if (!(step > 0)) return yield* new UsageError({ reason: `--step ${flag(args, "step")}: must be a number of seconds above 0` })
      const picks = listFlag(args, "pick").map(Number)
      if (picks.some((i) => !Number.isInteger(i) || i < 0 || i >= request.n)) return yield* new UsageError({ reason: `--pick ${listFlag(args, "pick").join(",")}: each choice must be a whole number from 0 to ${request.n - 1} (--n ${request.n})` })
      const interactive = process.stdin.isTTY === true && picks.length === 0

      // The models: the pipeline's run up to what its sample stage reads (cached once trained).
      let inputs: Record<"topPrior" | "top" | "vocab", string> = { topPrior: "", top: "", vocab: "" }
      const models = yield* runPipeline({
        file,
        extend: (base) => ((inputs = sampleWiring(base, file)), base),
        until: () => [inputs.topPrior, inputs.top, inputs.vocab],
      })
      const topPrior = (yield* models.value(inputs.topPrior)) as CheckpointValue<PriorCheckpointConfig>
      const topVqvae = (yield* models.value(inputs.top)) as CheckpointValue<VqvaeConfig>
      const vocab = (yield* models.value(inputs.vocab)) as Vocabulary
      const labels = yield* Effect.try({ try: () => requestLabels(request, vocab), catch: (e) => new UsageError({ reason: (e as Error).message }) })
      yield* Effect.promise(() => useBestBackend())
      const prior = yield* Effect.promise(() => loadPrior(topPrior))
      const decoder = yield* Effect.promise(() => loadAutoencoder(topVqvae))
      const { hop, sampleRate } = topVqvae.config
      const totalLength = Math.max(1, Math.round((request.seconds * sampleRate) / hop))
      const stepLength = Math.max(1, Math.round((step * sampleRate) / hop))
      const totalSeconds = request.totalSeconds ?? request.seconds
      const lyricChars = prior.config.lyrics?.encoder.contextLength ?? 0
      const conditionsFor = windowConditions({ ...labels, n: request.n, totalSeconds, lyricChars, hop, sampleRate })
      const session = join(models.storeRoot, "compose", new Date().toISOString().replace(/[:.]/g, "-"))
      mkdirSync(session, { recursive: true })
      const say = (line: string) => Effect.sync(() => process.stdout.write(`${line}\n`))
      yield* say(`composing ${request.seconds} s in steps of ${step} s, ${request.n} candidates a round; previews in ${relative(process.cwd(), session)}`)

      // Rounds: n continuations, previews, a pick.
      let chosen = new Int32Array(0)
      for (let round = 0; chosen.length < totalLength; round++) {
        const length = Math.min(totalLength, chosen.length + stepLength)
        const prefix = new Int32Array(request.n * chosen.length)
        for (let i = 0; i < request.n; i++) prefix.set(chosen, i * chosen.length)
        const started = Date.now()
        let shown = 0
        const candidates = yield* Effect.tryPromise({
          try: (signal) => drive(levelSteps(prior, conditionsFor, {
            batch: request.n, totalLength: length, hopFraction: request.hopFraction.top, prefix, level: 2, seed: request.seed + round,
            temperature: request.temperature.top, topK: request.topK, topP: request.topP,
            onProgress: (done, total) => {
              if (Date.now() - shown < 200) return
              shown = Date.now()
              process.stderr.write(`\r  round ${round + 1}: ${done}/${total} codes`)
            },
          }), { signal }),
          catch: (e) => new StageFailed({ stage: "compose", reason: (e as Error).message }),
        })
        process.stderr.write(`\r  round ${round + 1}: ${length - chosen.length} codes × ${request.n} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
        for (let i = 0; i < request.n; i++) {
          const audio = decodeSong(decoder, Int16Array.from(candidates.subarray(i * length, (i + 1) * length)), hop)
          const preview = join(session, `round-${round + 1}-candidate-${i}.wav`)
          writeFileSync(preview, encodeWav([audio], sampleRate))
          yield* say(`  [${i}] ${relative(process.cwd(), preview)}  (${(length * hop / sampleRate).toFixed(1)} s)`)
        }
        const pick = interactive ? yield* ask(request.n) : picks[Math.min(round, picks.length - 1)] ?? 0
        if (pick === "stop") break
        yield* say(`  round ${round + 1}: took [${pick}]`)
        chosen = candidates.slice(pick * length, (pick + 1) * length)
      }
      if (chosen.length === 0) return yield* say("nothing chosen; nothing to upsample").pipe(Effect.as(0))

      // The chosen top level, upsampled and decoded by the sample stage.
      yield* writeTable(TokenShards, [{ song_id: "sample-0", level: 2, window: 0, start: 0, tokens: Int16Array.from(chosen) }], session, { prefix: "codes" })
      tf.dispose([...prior.weights.values()])
      const upsample: SampleRequest = { ...request, n: 1, seconds: (chosen.length * hop) / sampleRate, codes: { file: session, mode: "upsample" } }
      yield* say(`upsampling the chosen ${(chosen.length * hop / sampleRate).toFixed(1)} s`)
      const run = yield* runPipeline({ file, extend: (base) => withRequest(base, file, upsample), until: [REQUEST_STAGE] })
      const dir = run.artifactDir(REQUEST_STAGE)
      if (!dir) return 1
      yield* say(outputLines(dir))
      return 0
    }),
}

/** Asks on the terminal for a candidate: its number, Enter for 0, q to stop with what is chosen so far. */
const ask = (n: number): Effect.Effect<number | "stop"> =>
  Effect.promise(async () => {
    const prompt = createInterface({ input: process.stdin, output: process.stdout })
    try {
      for (;;) {
        const answer = (await prompt.question(`  pick 0–${n - 1} (Enter: 0, q: stop here) › `)).trim()
        if (answer === "q") return "stop" as const
        const i = answer === "" ? 0 : Number(answer)
        if (Number.isInteger(i) && i >= 0 && i < n) return i
      }
    } finally {
      prompt.close()
    }
  })
