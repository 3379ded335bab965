/**
 * Sampling speed of the demo's priors, with and without the KV cache, against the PyTorch reference
 * (bench/torch/sampling.py), same weights, same conditions, same run:
 *
 *   npm run bench -- sampling              (--quick: one timed run each, a 64-token uncached prefix)
 *
 * Three priors as pipelines/demo.ts samples them, each over its preset's context (1024 tokens as 32
 * blocks of 32, vocab 256), batch 2 (a typical `--n`): the top prior with lyrics (DEMO_PRIORS.top +
 * DEMO_LYRICS: width 128, row/column/previous-row and one encoder-decoder layer, labels, timing, a
 * 2-layer lyrics encoder over 128 characters) and the middle and bottom upsamplers (width 64, three
 * layers, labels, the ×4 upsampler conditioner over 256 codes of the level above). A fourth, "wide",
 * is the prior bench's bigger Transformer (width 256 × 8 layers, context 2048 as 32 blocks of 64,
 * vocab 2048, no conditioning), where the arithmetic weighs more than the per-op costs. Tokens are
 * chosen greedily (temperature 0), so both sides must choose the same ones.
 *
 *   cached:   models/sampling.ts `sampleWindow` of the whole window: the sampler built (conditioning,
 *             lyric states), start(), then one token at a time through `sampler.step` and its KV
 *             caches, each token chosen by `chooseTokens` from logits read back;
 *   uncached: the first 128 positions (64 with --quick) only, as the cost grows with the square of
 *             the length: each next token from a full `prior.forward` over the tokens so far
 *             (conditioning and lyrics encoder included), then `chooseTokens` on its last row.
 *
 * jukeflow runs in this process on the backend `useBestBackend()` takes, with the native BLAS at 1
 * and at 2 threads (`setNativeThreads`, taking turns run by run): median of 3 runs each (1 with
 * --quick) after a short warm-up (a 64-token window; a 16-token prefix). The reference does the
 * same with `CachedDecoder` (keys and values in a buffer per layer, each kind's visible keys sliced,
 * as the Jukebox reference does) and `Prior.forward`, under `inference_mode`, in one process per
 * thread count (1 and 2, thread variables set to match). Each side's figure takes its best thread
 * count. Tokens per second = batch × positions sampled ÷ seconds. The greedy tokens of the first
 * 128 (64) positions must be the same from all four: the bench warns, and says
 * `tokensAgree: false`, when they are not. Without torch at /usr/bin/python3 its figures are null.
 *
 * Ends with one JSON line: speedRatio (jukeflow cached tokens/s ÷ PyTorch cached tokens/s, top
 * prior; at least 1 meets the goal), cachedRatio and uncachedRatio per level (the same division),
 * tokensAgree, tokens per second per level and thread count on both sides. About 1 min
 * (--quick: about 20 s).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as tf from "@tensorflow/tfjs-core"
import { LYRIC_VOCABULARY_SIZE } from "../dataset/lyrics.ts"
import { describeBackend, useBestBackend } from "../models/backend.ts"
import { variablesToTensors } from "../models/checkpoint.ts"
import { nativeStatus, setNativeThreads } from "../models/native-kernels.ts"
import { createPrior, withLyrics, type Prior, type PriorConditions, type PriorConfig } from "../models/prior.ts"
import { DEMO_LYRICS, DEMO_PRIORS } from "../models/prior-presets.ts"
import { seededRandom } from "../models/random.ts"
import { encodeSafetensors, type SafeTensor } from "../models/safetensors.ts"
import { chooseTokens, sampleWindow } from "../models/sampling.ts"
import { emit, REPO, round3, table, nativeThreads, runTorchBench, timeMedians, torchProblem, WIDTH_256 } from "./lib.ts"

const REFERENCE = join(REPO, "bench/torch/sampling.py")
const TORCH_THREADS = [1, 2]
/** The native BLAS's thread counts jukeflow is timed at (one run without the native kernels). */
const JUKEFLOW_THREADS = nativeStatus().available ? [1, 2] : [null]
const QUICK = process.argv.includes("--quick")
const BATCH = 2
/** Positions sampled without the cache, from the start of the window. */
const PREFIX = QUICK ? 64 : 128
/** Timed runs per figure after the warm-ups, per side; the reference stops at 3 once they took `budget` seconds. */
const RUNS = QUICK ? { runs: 1, warmups: 1, budget: 2 } : { runs: 3, warmups: 1, budget: 5 }
/** The warm-ups' sizes: a window of this many positions, a prefix of that many. */
const WARM_UP = { cached: 64, uncached: 16 }

const LEVELS: ReadonlyArray<{ key: "top" | "middle" | "bottom" | "wide"; label: string; prior: PriorConfig }> = [
  { key: "top", label: "top (width 128, lyrics)", prior: withLyrics(DEMO_PRIORS.top, DEMO_LYRICS) },
  { key: "middle", label: "middle upsampler (width 64)", prior: DEMO_PRIORS.middle },
  { key: "bottom", label: "bottom upsampler (width 64)", prior: DEMO_PRIORS.bottom },
  // the prior bench's bigger Transformer (width 256 × 8 layers, context 2048, vocab 2048): where the arithmetic starts to weigh
  { key: "wide", label: "width 256 × 8, ctx 2048", prior: WIDTH_256 },
]

const MEASURES = ["cached", "uncached"] as const
type Measure = (typeof MEASURES)[number]
type Seconds = Record<Measure, number>

/** jukeflow's figures at one BLAS thread count (null: no native kernels). */
interface JukeflowRun extends Seconds {
  readonly threads: number | null
}

/** One level's figures from one reference process. */
interface TorchLevel extends Seconds {
  readonly runs: Record<Measure, number>
  /** Greedy tokens per sequence: the whole window; the uncached prefix. */
  readonly cachedTokens: number[][]
  readonly uncachedTokens: number[][]
}

/** What one reference process reports. */
interface TorchRun {
  readonly threads: number
  readonly blas: string
  readonly torch: string
  readonly levels: Record<string, TorchLevel>
}

/** B sequences of `count` greedy tokens (row-major), each from a full forward pass over the ones before it. */
const sampleUncached = (prior: Prior, conditions: PriorConditions, count: number): Int32Array => {
  const codes = new Int32Array(BATCH * count)
  const random = seededRandom(0) // unused at temperature 0
  for (let t = 0; t < count; t++) {
    const fed = new Int32Array(BATCH * (t + 1)) // (B, t + 1): tokens 0 … t − 1, then a placeholder 0
    for (let b = 0; b < BATCH; b++) fed.set(codes.subarray(b * count, b * count + t), b * (t + 1))
    const tokens = tf.tensor2d(fed, [BATCH, t + 1], "int32")
    const { logits, lyricLogits } = prior.forward({ tokens, ...conditions }) // row t sees tokens 0 … t − 1
    const last = tf.tidy(() => tf.reshape(tf.slice(logits, [0, t, 0], [BATCH, 1, logits.shape[2]]), [BATCH, logits.shape[2]]) as tf.Tensor2D)
    const chosen = chooseTokens(last, { temperature: 0 }, random)
    for (let b = 0; b < BATCH; b++) codes[b * count + t] = chosen[b]!
    tf.dispose([tokens, logits, lyricLogits, last].filter((x) => x !== undefined))
  }
  return codes
}

/** jukeflow's seconds per BLAS thread count, and the tokens of its last runs: (B, window) cached, (B, PREFIX) uncached. */
const timeJukeflow = (prior: Prior, conditions: PriorConditions, length: number): { runs: JukeflowRun[]; cachedTokens: Int32Array; uncachedTokens: Int32Array } => {
  const set = (threads: number | null) => threads !== null && setNativeThreads(threads)
  const window = (n: number) => sampleWindow(prior, conditions, { batch: BATCH, length: n, seed: 0, temperature: 0 })
  let cachedTokens: Int32Array = new Int32Array(0)
  let uncachedTokens: Int32Array = new Int32Array(0)
  for (const threads of JUKEFLOW_THREADS) {
    set(threads)
    window(WARM_UP.cached)
    sampleUncached(prior, conditions, WARM_UP.uncached)
  }
  const cached = timeMedians(JUKEFLOW_THREADS, set, RUNS.runs, 0, () => (cachedTokens = window(length)))
  const uncached = timeMedians(JUKEFLOW_THREADS, set, RUNS.runs, 0, () => (uncachedTokens = sampleUncached(prior, conditions, PREFIX)))
  return { runs: JUKEFLOW_THREADS.map((threads, i) => ({ threads, cached: cached[i]!, uncached: uncached[i]! })), cachedTokens, uncachedTokens }
}

/** The reference at `threads` threads on the levels in `dir`; undefined, having said why, when it fails. */
const timeTorch = (dir: string, threads: number): TorchRun | undefined => {
  const lengths = Object.fromEntries(LEVELS.map((l) => [l.key, l.prior.transformer.contextLength]))
  return runTorchBench<TorchRun>(REFERENCE, dir, { threads, levels: LEVELS.map((l) => l.key), lengths, prefix: PREFIX, batch: BATCH, ...RUNS }, threads)
}

/** Random labels, timing (a window 0-10 s into a song of 1-4 min), lyrics and upper-level codes for B sequences, as the prior takes them. */
const makeConditions = (config: PriorConfig, length: number, seed: number): { conditions: PriorConditions; plain: Record<string, unknown> } => {
  const random = seededRandom(seed)
  const ints = (columns: number, from: number, below: number) =>
    tf.tensor2d(Int32Array.from({ length: BATCH * columns }, () => from + random.int(below - from)), [BATCH, columns], "int32")
  const sequences = Array.from({ length: BATCH }, (_, i) => i)
  const plain = {
    ...(config.labels ? { artist: sequences.map(() => 1 + random.int(config.labels!.artists - 1)), genres: sequences.map(() => [1 + random.int(config.labels!.genres - 1)]) } : {}),
    ...(config.timing ? { total: sequences.map(() => 60 + 180 * random.uniform()), offset: sequences.map(() => 10 * random.uniform()) } : {}),
  }
  const ratio = config.upsampler ? config.upsampler.strides.reduce((a, s) => a * s, 1) : 1
  return {
    plain,
    conditions: {
      ...plain,
      ...(config.upsampler ? { upper: ints(length / ratio, 0, config.upsampler.upperVocab) } : {}),
      ...(config.lyrics ? { lyrics: ints(config.lyrics.encoder.contextLength, 1, LYRIC_VOCABULARY_SIZE) } : {}),
    },
  }
}

/** Writes config.json, conditions.json, model.safetensors and inputs.safetensors (upper, lyrics) for the reference. */
const writeInputs = (dir: string, prior: Prior, conditions: PriorConditions, plain: Record<string, unknown>): void => {
  mkdirSync(dir, { recursive: true })
  const ids = (t: tf.Tensor): SafeTensor => ({ dtype: "I32", shape: t.shape, data: t.dataSync() as Int32Array })
  writeFileSync(join(dir, "config.json"), JSON.stringify(prior.config))
  writeFileSync(join(dir, "conditions.json"), JSON.stringify(plain))
  writeFileSync(join(dir, "model.safetensors"), encodeSafetensors(variablesToTensors(prior.weights)))
  writeFileSync(join(dir, "inputs.safetensors"), encodeSafetensors({
    ...(conditions.upper ? { upper: ids(conditions.upper) } : {}),
    ...(conditions.lyrics ? { lyrics: ids(conditions.lyrics) } : {}),
  }))
}

/** How many leading positions two sets of B sequences agree on: `codes` (B, width) row-major, `peer` B lists; at most `count`. */
const agreeingPositions = (codes: Int32Array, width: number, peer: number[][], count: number): number => {
  for (let t = 0; t < count; t++) {
    for (let b = 0; b < BATCH; b++) if (codes[b * width + t] !== peer[b]![t]) return t
  }
  return count
}

const main = async () => {
  const backend = describeBackend(await useBestBackend())
  const problem = torchProblem()
  if (problem !== undefined) console.log(`${problem}: its figures are null`)
  const dir = mkdtempSync(join(tmpdir(), "jukeflow-bench-sampling-"))
  try {
    const defaultThreads = nativeThreads()
    const jukeflow = new Map<string, ReturnType<typeof timeJukeflow>>()
    for (const { key, label, prior: config } of LEVELS) {
      const before = tf.memory().numTensors
      const prior = createPrior(config, 1)
      const length = config.transformer.contextLength
      const { conditions, plain } = makeConditions(config, length, 2)
      writeInputs(join(dir, key), prior, conditions, plain)
      jukeflow.set(key, timeJukeflow(prior, conditions, length))
      const parameters = [...prior.weights.values()].reduce((n, w) => n + w.size, 0)
      console.log(`${label}: ${parameters.toLocaleString("en")} parameters, window ${length}, batch ${BATCH}`)
      tf.dispose([conditions.upper, conditions.lyrics, ...prior.weights.values()].filter((t) => t !== undefined))
      const leaked = tf.memory().numTensors - before
      if (leaked !== 0) console.log(`warning: ${label}: ${leaked} tensors left over after timing`)
    }
    if (defaultThreads !== null) setNativeThreads(defaultThreads)
    const torchRuns = problem === undefined ? TORCH_THREADS.map((threads) => timeTorch(dir, threads)) : []
    const ran = torchRuns.filter((r): r is TorchRun => r !== undefined)

    const rows: string[][] = []
    const notes: string[] = []
    const figures: Record<string, unknown> = {}
    const cachedRatio: Record<string, number | null> = {}
    const uncachedRatio: Record<string, number | null> = {}
    const tokensPerSecond: Record<string, unknown> = {}
    let tokensAgree = true
    for (const { key, label, prior: config } of LEVELS) {
      const timed = jukeflow.get(key)!
      const window = config.transformer.contextLength
      const positions: Seconds = { cached: window, uncached: PREFIX }
      const rate = (m: Measure, seconds: number) => (BATCH * positions[m]) / seconds
      // the first PREFIX greedy tokens: jukeflow cached and uncached, and each reference process's cached and uncached
      const agree = {
        jukeflowUncached: agreeingPositions(timed.uncachedTokens, PREFIX, toLists(timed.cachedTokens, window), PREFIX),
        ...Object.fromEntries(ran.flatMap((r) => [
          [`torch${r.threads}Cached`, agreeingPositions(timed.cachedTokens, window, r.levels[key]!.cachedTokens, PREFIX)],
          [`torch${r.threads}Uncached`, agreeingPositions(timed.cachedTokens, window, r.levels[key]!.uncachedTokens, PREFIX)],
        ])),
      }
      const window0 = ran[0] === undefined ? null : agreeingPositions(timed.cachedTokens, window, ran[0].levels[key]!.cachedTokens, window)
      for (const [who, n] of Object.entries(agree)) {
        if (n < PREFIX) {
          tokensAgree = false
          notes.push(`warning: ${label}: jukeflow's cached greedy tokens and ${who}'s differ from position ${n} of the first ${PREFIX}: not the same model`)
        }
      }
      const perLevel: Record<string, unknown> = { window, prefix: PREFIX, distinctTokens: new Set(timed.cachedTokens).size, agreeingPositions: { ...agree, torchCachedWholeWindow: window0 } }
      const perSecond: Record<string, unknown> = {}
      for (const m of MEASURES) {
        const mine = timed.runs.reduce((a, b) => (b[m] < a[m] ? b : a))
        const peer = ran.length === 0 ? undefined : ran.reduce((a, b) => (b.levels[key]![m] < a.levels[key]![m] ? b : a))
        const peerSeconds = peer?.levels[key]![m]
        const ratio = peerSeconds === undefined ? null : rate(m, mine[m]) / rate(m, peerSeconds)
        ;(m === "cached" ? cachedRatio : uncachedRatio)[key] = ratio === null ? null : round3(ratio)
        perSecond[m] = { jukeflow: Math.round(rate(m, mine[m])), torch: peerSeconds === undefined ? null : Math.round(rate(m, peerSeconds)) }
        rows.push([
          label,
          m === "cached" ? `cached, ${window} positions` : `uncached, first ${PREFIX}`,
          ...timed.runs.map((r) => Math.round(rate(m, r[m])).toLocaleString("en")),
          ...torchRuns.map((r) => (r === undefined ? "-" : Math.round(rate(m, r.levels[key]![m])).toLocaleString("en"))),
          ...(torchRuns.length === 0 ? TORCH_THREADS.map(() => "-") : []),
          ratio === null ? "-" : ratio.toFixed(2),
        ])
        perLevel[m] = {
          jukeflowSeconds: round3(mine[m]),
          jukeflowThreads: mine.threads,
          jukeflowTokensPerSecondByThreads: Object.fromEntries(timed.runs.map((r) => [String(r.threads ?? "-"), Math.round(rate(m, r[m]))])),
          torchSeconds: peerSeconds === undefined ? null : round3(peerSeconds),
          torchThreads: peer?.threads ?? null,
          torchRuns: peer?.levels[key]!.runs[m] ?? null,
          torchTokensPerSecondByThreads: Object.fromEntries(TORCH_THREADS.map((t, i) => [t, torchRuns[i] === undefined ? null : Math.round(rate(m, torchRuns[i]!.levels[key]![m]))])),
        }
      }
      tokensPerSecond[key] = perSecond
      figures[key] = perLevel
    }

    const torchInfo = ran[0] && { version: ran[0].torch, blas: ran[0].blas }
    const blasThreads = JUKEFLOW_THREADS[0] === null ? "" : ` at ${JUKEFLOW_THREADS.join(" and ")} BLAS threads`
    const runs = `median of ${RUNS.runs} after a warm-up`
    console.log(`\ngreedy sampling, batch ${BATCH}; tokens per second = ${BATCH} × positions ÷ seconds (${runs}); best thread count per figure`)
    console.log(`jukeflow on ${backend.replace(/ \(\d+ threads?\)/, "")}${blasThreads}; PyTorch ${torchInfo?.version ?? "(not run)"} with ${torchInfo?.blas ?? "?"} BLAS at ${TORCH_THREADS.join(" and ")} threads\n`)
    const jukeflowColumns = JUKEFLOW_THREADS.map((n) => (n === null ? "jukeflow tok/s" : `jukeflow ${n}T tok/s`))
    console.log(table(["prior", "sampling", ...jukeflowColumns, ...TORCH_THREADS.map((n) => `torch ${n}T tok/s`), "ratio"], rows))
    console.log(`\nratio = jukeflow tokens/s ÷ PyTorch tokens/s, each at its best thread count: at least 1 is as fast as PyTorch; the goal is the top prior's cached ratio ≥ 1`)
    console.log(`tokens: the first ${PREFIX} greedy tokens of every level ${tokensAgree ? "are the same" : "DIFFER"} cached and uncached, in jukeflow and PyTorch`)
    if (torchInfo !== undefined && torchInfo.blas !== "openblas") console.log(`warning: torch runs on the ${torchInfo.blas} BLAS, not OpenBLAS (apt-get install libopenblas0): an unfairly slow peer`)
    for (const note of notes) console.log(note)
    emit({
      bench: "sampling",
      speedRatio: cachedRatio.top ?? null,
      cachedRatio,
      uncachedRatio,
      tokensAgree: ran.length === 0 ? null : tokensAgree,
      tokensPerSecond,
      batch: BATCH,
      backend,
      torch: torchInfo?.version ?? null,
      blas: torchInfo?.blas ?? null,
      threads: { jukeflow: JUKEFLOW_THREADS, torch: TORCH_THREADS },
      quick: QUICK,
      ...figures,
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** (B, width) row-major → B lists. */
const toLists = (codes: Int32Array, width: number): number[][] =>
  Array.from({ length: BATCH }, (_, b) => Array.from(codes.subarray(b * width, (b + 1) * width)))

await main()
