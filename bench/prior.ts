/**
 * Training throughput of the Transformer prior against its PyTorch reference (bench/torch/prior.py),
 * same weights, same batch, same run:
 *
 *   npm run bench -- prior              (--quick: fewer repeats; --profile: also jukeflow's kernels)
 *
 * Two configs:
 *   - the demo's top prior as pipelines/demo.ts trains it: DEMO_PRIORS.top with DEMO_LYRICS (width
 *     128, row/column/previous-row then one encoder-decoder layer, 2 heads, context 1024 as 32
 *     blocks of 32, vocab 256; labels, timing, and the 2-layer lyrics encoder over 128 characters),
 *     batch 4;
 *   - a bigger one: width 256, 8 layers cycling row/column/previous-row, 2 heads (of width 32),
 *     context 2048 as 32 blocks of 64, vocab 2048 (the paper's codebook), no conditioning, batch 2.
 * Per config: a training step (`priorTrainStep`: forward, loss in bits, gradients, global-norm
 * clipping, Adam with warm-up) and a forward pass (`prior.forward`: the logits, and the lyric
 * logits with lyrics), timed in this process on the backend `useBestBackend()` takes, with the
 * native BLAS at 1 and at 2 threads (`setNativeThreads`; taking turns run by run, so that other
 * load on the machine weighs on both alike): median of 5 steps and 7 forwards per thread count,
 * after one warm-up each. Then the reference does the same from the same safetensors weights and
 * batch, in one Python process per thread count (1 and 2; OMP/OpenBLAS/MKL thread variables set to
 * match; median of 10 after 2 warm-ups, or of 3 or more once they took 5 s). Each side's figure
 * takes its best thread count; both are reported. Both sides' first steps start from the same
 * weights on the same batch, so their losses must agree: the bench says when they do not.
 * Tokens per second = batch × context ÷ seconds (the music tokens; lyric characters not counted).
 * Without torch at /usr/bin/python3 its figures are null.
 *
 * Ends with one JSON line: trainRatio, forwardRatio (jukeflow seconds ÷ PyTorch seconds, each at
 * its best thread count, width-256 config; above 1 means slower than PyTorch), demoTrainRatio,
 * demoForwardRatio, tokens per second, and the absolute figures by thread count.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as tf from "@tensorflow/tfjs-core"
import { LYRIC_VOCABULARY_SIZE } from "../dataset/lyrics.ts"
import { adamVariables, createAdam, type AdamState } from "../models/adam.ts"
import { describeBackend, useBestBackend } from "../models/backend.ts"
import { variablesToTensors } from "../models/checkpoint.ts"
import { nativeStatus, setNativeThreads } from "../models/native-kernels.ts"
import { createPrior, priorTrainStep, withLyrics, type Prior, type PriorBatch, type PriorConfig } from "../models/prior.ts"
import { DEMO_LYRICS, DEMO_PRIORS } from "../models/prior-presets.ts"
import { seededRandom } from "../models/random.ts"
import { encodeSafetensors, type SafeTensor } from "../models/safetensors.ts"
import { transformerTrainConfig, type TransformerTrainConfig } from "../models/transformer-train.ts"
import { emit, REPO, round3, table, nativeThreads, runTorchBench, timeMedians, torchProblem, WIDTH_256 } from "./lib.ts"

const REFERENCE = join(REPO, "bench/torch/prior.py")
const TORCH_THREADS = [1, 2]
/** The native BLAS's thread counts jukeflow is timed at (one run without the native kernels). */
const JUKEFLOW_THREADS = nativeStatus().available ? [1, 2] : [null]
const QUICK = process.argv.includes("--quick")
const PROFILE = process.argv.includes("--profile")
/** Timed runs after warm-ups, per side. */
const RUNS = QUICK
  ? { jukeflow: { train: 2, forward: 3, warmups: 1 }, torch: { repeats: 3, warmups: 1, budget: 2 } }
  : { jukeflow: { train: 5, forward: 7, warmups: 1 }, torch: { repeats: 10, warmups: 2, budget: 5 } }
/** First-step losses further apart than this (bits) mean the two sides do not run the same model. */
const LOSS_TOLERANCE = 1e-3

const CONFIGS: ReadonlyArray<{ key: "demo" | "width256"; label: string; prior: PriorConfig; batch: number }> = [
  { key: "demo", label: "demo top (width 128, lyrics)", prior: withLyrics(DEMO_PRIORS.top, DEMO_LYRICS), batch: 4 },
  { key: "width256", label: "width 256 × 8, ctx 2048", prior: WIDTH_256, batch: 2 },
]

const MEASURES = ["train", "forward"] as const
type Measure = (typeof MEASURES)[number]
type Seconds = Record<Measure, number>

/** What one step reports, to check that both sides ran the same model. */
interface FirstStep {
  readonly loss: number
  readonly gradientNorm: number
}

/** What one reference process reports. */
interface TorchRun extends Seconds {
  readonly threads: number
  /** Timed runs per figure: `repeats`, or fewer (3 at least) past `budget` seconds. */
  readonly runs: Seconds
  readonly blas: string
  readonly torch: string
  readonly firstStep: FirstStep
}


/** jukeflow's figures at one BLAS thread count (null: no native kernels). */
interface JukeflowRun extends Seconds {
  readonly threads: number | null
}

/** jukeflow's figures per BLAS thread count, and its first training step's loss and gradient norm (the first step of all). */
const timeJukeflow = (prior: Prior, optimizer: AdamState, batch: PriorBatch, config: TransformerTrainConfig): { runs: JukeflowRun[]; firstStep: FirstStep } => {
  const { train, forward, warmups } = RUNS.jukeflow
  const set = (threads: number | null) => threads !== null && setNativeThreads(threads)
  let firstStep: FirstStep | undefined
  const trainSeconds = timeMedians(JUKEFLOW_THREADS, set, train, warmups, () => {
    const m = priorTrainStep(prior, optimizer, batch, config)
    firstStep ??= { loss: m.loss, gradientNorm: m.gradientNorm }
  })
  const forwardSeconds = timeMedians(JUKEFLOW_THREADS, set, forward, warmups, () => {
    const { logits, lyricLogits } = prior.forward(batch)
    logits.dataSync()
    lyricLogits?.dataSync()
    tf.dispose([logits, lyricLogits].filter((t) => t !== undefined))
  })
  return { runs: JUKEFLOW_THREADS.map((threads, i) => ({ threads, train: trainSeconds[i]!, forward: forwardSeconds[i]! })), firstStep: firstStep! }
}

/**
 * Time per kernel of one training step, in ms, busiest first. tf.profile also records each custom
 * gradient's scope (ops.ts's `customGradient`: "unnamed scope", "logSoftmax__op"), around kernels
 * that it records too: those are left out of the kernels and their sum, and reported apart.
 */
const profileStep = async (prior: Prior, optimizer: AdamState, batch: PriorBatch, config: TransformerTrainConfig) => {
  const start = performance.now()
  const info = await tf.profile(() => {
    priorTrainStep(prior, optimizer, batch, config)
  })
  const wallMs = performance.now() - start
  const byName = new Map<string, { ms: number; calls: number }>()
  for (const k of info.kernels) {
    const entry = byName.get(k.name) ?? { ms: 0, calls: 0 }
    entry.ms += k.kernelTimeMs as number
    entry.calls += 1
    byName.set(k.name, entry)
  }
  const all = [...byName].map(([name, e]) => ({ name, ...e })).sort((a, b) => b.ms - a.ms)
  const isKernel = (name: string) => tf.getKernel(name, tf.getBackend()) !== undefined
  const kernels = all.filter((k) => isKernel(k.name))
  const scopes = all.filter((k) => !isKernel(k.name))
  return { wallMs, kernelMs: kernels.reduce((s, k) => s + k.ms, 0), kernels, scopes }
}

/** The reference at `threads` threads on the inputs in `dir`; undefined, having said why, when it fails. */
const timeTorch = (dir: string, threads: number): TorchRun | undefined => runTorchBench<TorchRun>(REFERENCE, dir, { threads, ...RUNS.torch }, threads)

/** `batch` sequences of random tokens and, as the prior takes them, labels, timing and lyric windows. */
const makeBatch = (config: PriorConfig, batch: number, seed: number): { batch: PriorBatch; conditions: Record<string, unknown> } => {
  const random = seededRandom(seed)
  const { vocab, contextLength } = config.transformer
  const ints = (rows: number, columns: number, below: number) =>
    tf.tensor2d(Int32Array.from({ length: rows * columns }, () => random.int(below)), [rows, columns], "int32")
  const sequences = Array.from({ length: batch }, (_, i) => i)
  const conditions = {
    ...(config.labels
      ? { artist: sequences.map(() => 1 + random.int(config.labels!.artists - 1)), genres: sequences.map(() => [1 + random.int(config.labels!.genres - 1), 1 + random.int(config.labels!.genres - 1)]) }
      : {}),
    ...(config.timing ? { total: sequences.map(() => 60 + 200 * random.uniform()), offset: sequences.map(() => 40 * random.uniform()) } : {}),
  }
  return {
    batch: {
      tokens: ints(batch, contextLength, vocab),
      ...conditions,
      ...(config.lyrics ? { lyrics: ints(batch, config.lyrics.encoder.contextLength, LYRIC_VOCABULARY_SIZE) } : {}),
    },
    conditions,
  }
}

/** Writes config.json, conditions.json, train.json, model.safetensors and inputs.safetensors for the reference. */
const writeInputs = (dir: string, prior: Prior, batch: PriorBatch, conditions: Record<string, unknown>, train: TransformerTrainConfig): void => {
  mkdirSync(dir, { recursive: true })
  const ids = (t: tf.Tensor): SafeTensor => ({ dtype: "I32", shape: t.shape, data: t.dataSync() as Int32Array })
  writeFileSync(join(dir, "config.json"), JSON.stringify(prior.config))
  writeFileSync(join(dir, "conditions.json"), JSON.stringify(conditions))
  writeFileSync(join(dir, "train.json"), JSON.stringify({ ...train, step: 0 }))
  writeFileSync(join(dir, "model.safetensors"), encodeSafetensors(variablesToTensors(prior.weights)))
  writeFileSync(join(dir, "inputs.safetensors"), encodeSafetensors({ tokens: ids(batch.tokens), ...(batch.lyrics ? { lyrics: ids(batch.lyrics) } : {}) }))
}

const capitalized = (s: string): string => s[0]!.toUpperCase() + s.slice(1)

const main = async () => {
  const choice = await useBestBackend()
  const backend = describeBackend(choice)
  const problem = torchProblem()
  if (problem !== undefined) console.log(`${problem}: its figures are null`)
  const dir = mkdtempSync(join(tmpdir(), "jukeflow-bench-prior-"))
  try {
    const rows: string[][] = []
    const figures: Record<string, unknown> = {}
    const ratios: Record<string, number | null> = {}
    const tokensPerSecond: Record<string, { jukeflow: number; torch: number | null }> = {}
    const notes: string[] = []
    let torchInfo: { version: string; blas: string } | undefined
    let profile: (Awaited<ReturnType<typeof profileStep>> & { threads: number | null }) | undefined
    const defaultThreads = nativeThreads()
    for (const { key, label, prior: config, batch: size } of CONFIGS) {
      const before = tf.memory().numTensors
      const prior = createPrior(config, 1)
      const optimizer = createAdam(prior.weights)
      const { batch, conditions } = makeBatch(config, size, 2)
      const train = transformerTrainConfig()
      writeInputs(join(dir, key), prior, batch, conditions, train)
      const parameters = [...prior.weights.values()].reduce((n, w) => n + w.size, 0)

      const timed = timeJukeflow(prior, optimizer, batch, train)
      const bestOf = <R extends Seconds>(runs: readonly R[], m: Measure): R => runs.reduce((a, b) => (b[m] < a[m] ? b : a))
      const jukeflow = { ...timed, train: bestOf(timed.runs, "train").train, forward: bestOf(timed.runs, "forward").forward }
      if (PROFILE && key === "width256") {
        const threads = bestOf(timed.runs, "train").threads
        if (threads !== null) setNativeThreads(threads)
        profile = { ...(await profileStep(prior, optimizer, batch, train)), threads }
      }
      if (defaultThreads !== null) setNativeThreads(defaultThreads)
      const torchRuns = problem === undefined ? TORCH_THREADS.map((threads) => timeTorch(join(dir, key), threads)) : []
      const ran = torchRuns.filter((r): r is TorchRun => r !== undefined)
      torchInfo ??= ran[0] && { version: ran[0].torch, blas: ran[0].blas }
      const best = (m: Measure) => (ran.length === 0 ? undefined : ran.reduce((a, b) => (b[m] < a[m] ? b : a)))
      for (const r of ran) {
        const apart = Math.abs(r.firstStep.loss - jukeflow.firstStep.loss)
        if (!(apart <= LOSS_TOLERANCE)) {
          notes.push(`warning: ${label}: first-step loss ${jukeflow.firstStep.loss.toFixed(5)} bits here, ${r.firstStep.loss.toFixed(5)} in PyTorch at ${r.threads} threads: not the same model`)
        }
      }

      const tokens = size * config.transformer.contextLength
      const perConfig: Record<string, unknown> = {
        parameters,
        batch: size,
        context: config.transformer.contextLength,
        width: config.transformer.width,
        depth: config.transformer.depth,
        heads: config.transformer.heads,
        blockLength: config.transformer.blockLength,
        vocab: config.transformer.vocab,
        lyrics: config.lyrics !== undefined,
        firstStepLoss: { jukeflow: round5(jukeflow.firstStep.loss), torch: ran[0] ? round5(ran[0].firstStep.loss) : null },
        firstStepGradientNorm: { jukeflow: round5(jukeflow.firstStep.gradientNorm), torch: ran[0] ? round5(ran[0].firstStep.gradientNorm) : null },
      }
      for (const m of MEASURES) {
        const peer = best(m)
        const ratio = peer === undefined ? null : jukeflow[m] / peer[m]
        const name = key === "demo" ? `demo${capitalized(m)}` : m
        ratios[`${name}Ratio`] = ratio === null ? null : round3(ratio)
        tokensPerSecond[name] = { jukeflow: Math.round(tokens / jukeflow[m]), torch: peer === undefined ? null : Math.round(tokens / peer[m]) }
        const mine = bestOf(timed.runs, m)
        rows.push([
          label, m,
          ...timed.runs.map((r) => r[m].toFixed(3)),
          `${Math.round(tokens / jukeflow[m]).toLocaleString("en")}${mine.threads === null ? "" : ` @${mine.threads}`}`,
          ...torchRuns.map((r) => (r === undefined ? "-" : r[m].toFixed(3))),
          ...(torchRuns.length === 0 ? TORCH_THREADS.map(() => "-") : []),
          peer === undefined ? "-" : `${Math.round(tokens / peer[m]).toLocaleString("en")} @${peer.threads}`,
          ratio === null ? "-" : ratio.toFixed(1),
        ])
        perConfig[m] = {
          jukeflowSeconds: round3(jukeflow[m]),
          jukeflowTokensPerSecond: Math.round(tokens / jukeflow[m]),
          jukeflowThreads: mine.threads,
          jukeflowSecondsByThreads: Object.fromEntries(timed.runs.map((r) => [String(r.threads ?? "-"), round3(r[m])])),
          torchSeconds: peer === undefined ? null : round3(peer[m]),
          torchTokensPerSecond: peer === undefined ? null : Math.round(tokens / peer[m]),
          torchThreads: peer === undefined ? null : peer.threads,
          torchRuns: peer === undefined ? null : peer.runs[m],
          torchSecondsByThreads: Object.fromEntries(TORCH_THREADS.map((t, i) => [t, torchRuns[i] === undefined ? null : round3(torchRuns[i]![m])])),
        }
      }
      figures[key] = perConfig
      const c = config.transformer
      console.log(
        `${label}: ${parameters.toLocaleString("en")} parameters; width ${c.width}, ${c.depth} layers (${c.pattern.join(", ")}), ${c.heads} heads, ` +
          `context ${c.contextLength} as blocks of ${c.blockLength}, vocab ${c.vocab}${config.lyrics ? `, lyrics over ${config.lyrics.encoder.contextLength} characters` : ""}` +
          `${config.labels ? ", labels" : ""}${config.timing ? ", timing" : ""}; batch ${size}; first-step loss ${jukeflow.firstStep.loss.toFixed(4)} bits (PyTorch ${ran[0]?.firstStep.loss.toFixed(4) ?? "-"})`,
      )
      tf.dispose([batch.tokens, batch.lyrics, ...prior.weights.values(), ...adamVariables(optimizer).values()].filter((t) => t !== undefined))
      const leaked = tf.memory().numTensors - before
      if (leaked !== 0) notes.push(`warning: ${label}: ${leaked} tensors left over after timing`)
    }

    const { jukeflow: j, torch: t } = RUNS
    const blasThreads = JUKEFLOW_THREADS[0] === null ? "" : ` at ${JUKEFLOW_THREADS.join(" and ")} BLAS threads`
    console.log(`\njukeflow on ${backend.replace(/ \(\d+ threads?\)/, "")}${blasThreads} (median of ${j.train} training steps, ${j.forward} forwards, after ${j.warmups} warm-up); best thread count per figure`)
    console.log(`PyTorch ${torchInfo?.version ?? "(not run)"} with ${torchInfo?.blas ?? "?"} BLAS at ${TORCH_THREADS.join(" and ")} threads (median of ${t.repeats} after ${t.warmups} warm-up${t.warmups === 1 ? "" : "s"}, or of 3 or more once they took ${t.budget} s); best thread count per figure\n`)
    const jukeflowColumns = JUKEFLOW_THREADS.map((n) => (n === null ? "jukeflow s" : `jukeflow ${n}T s`))
    console.log(table(["config", "what", ...jukeflowColumns, "jukeflow best tokens/s", ...TORCH_THREADS.map((n) => `torch ${n}T s`), "torch best tokens/s", "ratio"], rows))
    console.log("\nratio = jukeflow seconds ÷ PyTorch seconds, each at its best thread count: above 1 is slower than PyTorch; a training step is forward, loss, backward, clipping and Adam")
    if (torchInfo !== undefined && torchInfo.blas !== "openblas") console.log(`warning: torch runs on the ${torchInfo.blas} BLAS, not OpenBLAS (apt-get install libopenblas0): an unfairly slow peer`)
    for (const note of notes) console.log(note)
    if (profile !== undefined) {
      const { wallMs, kernelMs, kernels, scopes, threads } = profile
      const at = threads === null ? "" : ` at ${threads} BLAS thread${threads === 1 ? "" : "s"}`
      console.log(`\njukeflow's kernels in one training step of width 256 × 8${at} (tf.profile: ${(wallMs / 1000).toFixed(2)} s wall, ${(kernelMs / 1000).toFixed(2)} s in ${kernels.length} kinds of kernel; the 10 busiest)\n`)
      console.log(table(["kernel", "ms", "share", "calls"], kernels.slice(0, 10).map((k) => [k.name, k.ms.toFixed(0), `${((100 * k.ms) / kernelMs).toFixed(1)}%`, String(k.calls)])))
      if (scopes.length > 0) console.log(`custom-gradient scopes, around kernels counted above: ${scopes.map((k) => `${k.name} ${k.ms.toFixed(0)} ms (${k.calls})`).join(", ")}`)
    }
    emit({
      bench: "prior",
      ...ratios,
      tokensPerSecond,
      backend,
      torch: torchInfo?.version ?? null,
      blas: torchInfo?.blas ?? null,
      threads: { jukeflow: JUKEFLOW_THREADS, torch: TORCH_THREADS },
      quick: QUICK,
      ...figures,
      ...(profile
        ? { profile: profile.kernels.slice(0, 10).map((k) => ({ kernel: k.name, ms: Math.round(k.ms), calls: k.calls })), profileThreads: profile.threads }
        : {}),
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const round5 = (x: number): number => Math.round(x * 1e5) / 1e5

await main()
