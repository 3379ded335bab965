/**
 * The VQ-VAE against its PyTorch reference (bench/torch/vqvae.py), same weights, same audio, same run:
 *
 *   npm run bench -- vqvae              (npm run bench -- vqvae --quick: fewer repeats, ~1 min)
 *
 * Two bottom-level configs at 22.05 kHz: the demo's (DEMO_VQVAE level 0: width 16, three residual
 * blocks, codebook 256 × 32), batch 2 × 8192 as pipelines/demo.ts trains it; and the paper's
 * (JUKEBOX_VQVAE level 0: width 32, eight residual blocks of width 64 with dilations up to 2187,
 * codebook 2048 × 64), batch 4 × 8192. Per config: a training step (`trainStep`: forward, L2 +
 * spectral + commit loss, gradients, clipping, Adam, codebook EMA), a forward pass
 * (`encodeToCodes` then `decodeCodes`) and an encode (`encodeToCodes`), timed in this process on
 * the backend `useBestBackend()` takes: median of 5 steps and of 7 forwards and encodes, after one
 * warm-up each (the first step fills the codebook). Then the reference does the same
 * from the same safetensors weights and audio, in one Python process per thread count (1 and 2;
 * OMP/OpenBLAS/MKL thread variables set to match; median of 10 after 2 warm-ups, or of 3 or more
 * once they took 5 s, for a thread count that a busy machine makes very slow), and each figure
 * takes its best thread count.
 * Debian's torch is a fair peer only with OpenBLAS (`libopenblas0`): the bench says which BLAS
 * torch loaded. Without torch at /usr/bin/python3 its figures are null.
 *
 * Ends with one JSON line: trainRatio, forwardRatio, encodeRatio (jukeflow seconds ÷ PyTorch
 * seconds, width-32 config; above 1 means slower than PyTorch), demoTrainRatio, demoForwardRatio,
 * demoEncodeRatio, and the absolute figures.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as tf from "@tensorflow/tfjs-core"
import { createAdam } from "../models/adam.ts"
import { useBestBackend } from "../models/backend.ts"
import { variablesToTensors } from "../models/checkpoint.ts"
import { measureLossScale } from "../models/losses.ts"
import { setNativeThreads } from "../models/native-kernels.ts"
import { encodeSafetensors } from "../models/safetensors.ts"
import { trainConfig, trainStep, type TrainConfig } from "../models/train-step.ts"
import { autoencoderVariables, createAutoencoder, decodeCodes, DEMO_VQVAE, encodeToCodes, JUKEBOX_VQVAE, levelConfig, type Autoencoder, type VQVAEConfig } from "../models/vqvae.ts"
import { musicLike } from "../test/audio/signals.ts"
import { emit, REPO, round3, table, runTorchBench, timeMedians, torchProblem } from "./lib.ts"

const REFERENCE = join(REPO, "bench/torch/vqvae.py")
const SAMPLE_RATE = 22_050
const CLIP = 8192
const TORCH_THREADS = [1, 2]
const QUICK = process.argv.includes("--quick")
/** Timed runs after warm-ups, per side; a jukeflow training step takes seconds, a torch one a tenth of that. */
const RUNS = QUICK
  ? { jukeflow: { train: 2, other: 3, warmups: 1 }, torch: { repeats: 3, warmups: 1, budget: 2 } }
  : { jukeflow: { train: 5, other: 7, warmups: 1 }, torch: { repeats: 10, warmups: 2, budget: 5 } }

const CONFIGS: ReadonlyArray<{ key: "demo" | "width32"; label: string; vqvae: VQVAEConfig; batch: number }> = [
  { key: "demo", label: "demo (width 16)", vqvae: DEMO_VQVAE, batch: 2 },
  { key: "width32", label: "width 32 (paper)", vqvae: { ...JUKEBOX_VQVAE, sampleRate: SAMPLE_RATE }, batch: 4 },
]

const MEASURES = ["train", "forward", "encode"] as const
type Measure = (typeof MEASURES)[number]
type Seconds = Record<Measure, number>

/** What one reference process reports. */
interface TorchRun extends Seconds {
  readonly threads: number
  /** Timed runs per figure: `repeats`, or fewer (3 at least) past `budget` seconds. */
  readonly runs: Seconds
  readonly blas: string
  readonly torch: string
}

/** BLAS thread counts jukeflow is timed at, taking turns; each figure takes the best. */
const JUKEFLOW_THREADS = [1, 2] as const

/** The best over JUKEFLOW_THREADS of the median seconds of `once` (without native kernels the setting does nothing). */
const timeMedian = (runs: number, warmups: number, once: () => void): number =>
  Math.min(...timeMedians(JUKEFLOW_THREADS, setNativeThreads, runs, warmups, once))

/** jukeflow's three figures; the training step first, whose first (warm-up) step fills the codebook. */
const timeJukeflow = (autoencoder: Autoencoder, audio: tf.Tensor3D, config: TrainConfig): Seconds => {
  const optimizer = createAdam(autoencoder.weights)
  const { train, other, warmups } = RUNS.jukeflow
  return {
    train: timeMedian(train, warmups, () => trainStep(autoencoder, optimizer, audio, config)),
    forward: timeMedian(other, warmups, () => {
      const codes = encodeToCodes(autoencoder, audio)
      const output = decodeCodes(autoencoder, codes)
      output.dataSync()
      tf.dispose([codes, output])
    }),
    encode: timeMedian(other, warmups, () => {
      const codes = encodeToCodes(autoencoder, audio)
      codes.dataSync()
      codes.dispose()
    }),
  }
}

/** The reference at `threads` threads on the inputs in `dir`; undefined, having said why, when it fails. */
const timeTorch = (dir: string, threads: number): TorchRun | undefined => runTorchBench<TorchRun>(REFERENCE, dir, { threads, ...RUNS.torch }, threads)

/** Writes config.json, model.safetensors and audio.safetensors for the reference (bench/torch/vqvae.py). */
const writeInputs = (dir: string, autoencoder: Autoencoder, audio: tf.Tensor3D, config: TrainConfig): void => {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, "config.json"), JSON.stringify({ ...autoencoder.config, train: { ...config, step: 0 } }))
  writeFileSync(join(dir, "model.safetensors"), encodeSafetensors(variablesToTensors(autoencoderVariables(autoencoder))))
  writeFileSync(join(dir, "audio.safetensors"), encodeSafetensors({ audio: { dtype: "F32", shape: audio.shape, data: audio.dataSync() as Float32Array } }))
}

/** `batch` clips of music-like audio: (batch, CLIP, 1). */
const clips = (batch: number): tf.Tensor3D => {
  const [left] = musicLike((batch * CLIP) / SAMPLE_RATE + 0.1, SAMPLE_RATE)
  return tf.tensor3d(left.subarray(0, batch * CLIP), [batch, CLIP, 1])
}

const main = async () => {
  const backend = await useBestBackend()
  const problem = torchProblem()
  if (problem !== undefined) console.log(`${problem}: its figures are null`)
  const dir = mkdtempSync(join(tmpdir(), "jukeflow-bench-vqvae-"))
  try {
    const rows: string[][] = []
    const figures: Record<string, unknown> = {}
    const ratios: Record<string, number | null> = {}
    let torchInfo: { version: string; blas: string } | undefined
    for (const { key, label, vqvae, batch } of CONFIGS) {
      const autoencoder = createAutoencoder(levelConfig(vqvae, 0), 1)
      const audio = clips(batch)
      const stfts = trainConfig(vqvae).stfts
      const config = trainConfig(vqvae, { warmupSteps: 10, lossScale: measureLossScale(audio, stfts) })
      writeInputs(join(dir, key), autoencoder, audio, config)
      const parameters = [...autoencoder.weights.values()].reduce((n, w) => n + w.size, 0)

      const jukeflow = timeJukeflow(autoencoder, audio, config)
      const torchRuns = problem === undefined ? TORCH_THREADS.map((threads) => timeTorch(join(dir, key), threads)) : []
      const ran = torchRuns.filter((r): r is TorchRun => r !== undefined)
      torchInfo ??= ran[0] && { version: ran[0].torch, blas: ran[0].blas }
      const best = (m: Measure) => (ran.length === 0 ? undefined : ran.reduce((a, b) => (b[m] < a[m] ? b : a)))

      const samples = batch * CLIP
      const perConfig: Record<string, unknown> = { config: levelConfig(vqvae, 0), parameters, batch, clipSamples: CLIP }
      for (const m of MEASURES) {
        const peer = best(m)
        const ratio = peer === undefined ? null : jukeflow[m] / peer[m]
        ratios[(key === "demo" ? `demo${m[0]!.toUpperCase()}${m.slice(1)}` : m) + "Ratio"] = ratio === null ? null : round3(ratio)
        const atThreads = TORCH_THREADS.map((t) => torchRuns[TORCH_THREADS.indexOf(t)]?.[m])
        rows.push([
          label, m,
          jukeflow[m].toFixed(3), `${(samples / jukeflow[m] / 1000).toFixed(0)}k`,
          ...atThreads.map((s) => (s === undefined ? "-" : s.toFixed(3))),
          peer === undefined ? "-" : `${(samples / peer[m] / 1000).toFixed(0)}k @${peer.threads}`,
          ratio === null ? "-" : ratio.toFixed(1),
        ])
        perConfig[m] = {
          jukeflowSeconds: round3(jukeflow[m]),
          jukeflowSamplesPerSecond: Math.round(samples / jukeflow[m]),
          torchSeconds: peer === undefined ? null : round3(peer[m]),
          torchSamplesPerSecond: peer === undefined ? null : Math.round(samples / peer[m]),
          torchThreads: peer === undefined ? null : peer.threads,
          torchRuns: peer === undefined ? null : peer.runs[m],
          torchSecondsByThreads: Object.fromEntries(TORCH_THREADS.map((t, i) => [t, torchRuns[i] === undefined ? null : round3(torchRuns[i]![m])])),
        }
      }
      figures[key] = perConfig
      console.log(`${label}: ${parameters.toLocaleString("en")} parameters, batch ${batch} × ${CLIP} samples at ${SAMPLE_RATE} Hz`)
      tf.dispose([audio, ...autoencoderVariables(autoencoder).values()])
    }

    const { jukeflow: j, torch: t } = RUNS
    console.log(`\njukeflow on ${backend.name}, best of 1 and 2 BLAS threads taking turns (median of ${j.train} training steps, ${j.other} forwards/encodes per thread count, after ${j.warmups} warm-up)`)
    console.log(`PyTorch ${torchInfo?.version ?? "(not run)"} with ${torchInfo?.blas ?? "?"} BLAS at ${TORCH_THREADS.join(" and ")} threads (median of ${t.repeats} after ${t.warmups} warm-up${t.warmups === 1 ? "" : "s"}${t.repeats > 3 ? `, or of 3 or more once they took ${t.budget} s` : ""}); best thread count per figure\n`)
    console.log(table(["config", "what", "jukeflow s", "jukeflow samples/s", ...TORCH_THREADS.map((n) => `torch ${n}T s`), "torch best samples/s", "ratio"], rows))
    console.log("\nratio = jukeflow seconds ÷ PyTorch seconds (best thread count): above 1 is slower than PyTorch")
    if (torchInfo !== undefined && torchInfo.blas !== "openblas") console.log(`warning: torch runs on the ${torchInfo.blas} BLAS, not OpenBLAS (apt-get install libopenblas0): an unfairly slow peer`)
    emit({
      bench: "vqvae",
      ...ratios,
      backend: backend.name,
      torch: torchInfo?.version ?? null,
      blas: torchInfo?.blas ?? null,
      quick: QUICK,
      ...figures,
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
