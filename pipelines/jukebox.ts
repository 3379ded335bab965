/**
 * The paper's sizes (Dhariwal et al. 2020, Tables 4–6) on your own songs: 44.1 kHz audio, three
 * VQ-VAEs of hops 8, 32 and 128 with codebooks of 2048, the 5B top prior with lyrics and the two
 * 1B upsamplers, then a sample decoded to WAV. Put your dataset at `data/manifest.jsonl` (README,
 * "Your own songs"), and replace the sample's artist, genre and lyrics with your dataset's.
 *
 *   npx jukeflow plan pipelines/jukebox.ts    # validates it, with each model's parameters and memory; needs no data
 *   npx jukeflow run pipelines/jukebox.ts
 *
 * Hardware: a GPU cluster, not a laptop. jukeflow gives each model stage one GPU from the pool
 * (`devices` in jukeflow.config.json), and independent stages run side by side; it does not yet
 * split one model across GPUs. The top prior's float32 weights and Adam state alone take 62 GB,
 * 83 GB with its gradients, before any activation: it needs the largest GPUs there are. The paper
 * trained these models on hundreds of V100s for weeks; the batches below are per GPU, and not
 * measured on one.
 */
import { Pipeline, use } from "../runtime/index.ts"
import { align } from "../stages/align.ts"
import { chunk } from "../stages/chunk.ts"
import { ingest } from "../stages/ingest.ts"
import { priorTrain } from "../stages/prior-train.ts"
import { sample } from "../stages/sample.ts"
import { songs } from "../stages/songs.ts"
import { vocab } from "../stages/vocab.ts"
import { vqvaeTrain } from "../stages/vqvae-train.ts"
import { codecStages } from "./demo.ts"

const levels = { bottom: "vqvae-bottom", middle: "vqvae-middle", top: "vqvae-top" } as const

/** One level's VQ-VAE (Table 4): 393,216-sample clips (≈9 s), Adam at 3e-4 for the paper's 384,618 steps; it used batch 256 over many GPUs. */
const vqvae = (level: number) =>
  use(vqvaeTrain, {
    params: { level, preset: "jukebox", clipSamples: 393_216, steps: 384_618, batch: 4, learningRate: 3e-4, checkpointEvery: 1000 },
    inputs: { chunks: "chunk", audio: "ingest" },
  })

/**
 * The priors (Tables 5–6) at the paper's learning rate. paper-notes give no step count for them:
 * the steps are a budget to set. A checkpoint of the top prior (weights and Adam state) is 62 GB.
 */
const priorInputs = { tokens: "encode", chunks: "chunk", alignments: "align", vocab: "vocab", ...levels } as const
const priorTraining = { preset: "jukebox", steps: 100_000, batch: 1, learningRate: 1.5e-4, checkpointEvery: 1000, evalEvery: 1000 } as const

/** Placeholders: the words to sing, and an artist and a genre of your dataset's (`npx jukeflow inspect vocab`). */
const SAMPLE_LYRICS = `Hold on, the night is long,
and I sing my song.`

export default Pipeline.define("jukebox", {
  songs: use(songs, { params: { manifest: "data/manifest.jsonl" } }),
  ingest: use(ingest, { params: { sampleRate: 44100 }, inputs: { songs: "songs" } }),
  vocab: use(vocab, { inputs: { songs: "songs" } }),
  align: use(align, { inputs: { songs: "songs", audio: "ingest" } }),
  // chunks of about one top-prior window (8192 codes × 128 samples at 44.1 kHz ≈ 23.8 s), with the paper's 512 lyric characters
  chunk: use(chunk, { params: { seconds: 24, lyricChars: 512, heldOutPercent: 10 }, inputs: { songs: "songs", alignments: "align", vocab: "vocab" } }),
  "vqvae-bottom": vqvae(0),
  "vqvae-middle": vqvae(1),
  "vqvae-top": vqvae(2),
  ...codecStages,
  "top-prior": use(priorTrain, { params: { level: 2, lyrics: true, ...priorTraining }, inputs: priorInputs }),
  "middle-upsampler": use(priorTrain, { params: { level: 1, ...priorTraining }, inputs: priorInputs }),
  "bottom-upsampler": use(priorTrain, { params: { level: 0, ...priorTraining }, inputs: priorInputs }),
  sample: use(sample, {
    params: { artist: "Your Artist", genre: "your-genre", lyrics: SAMPLE_LYRICS, seconds: 60, seed: 0 },
    inputs: { topPrior: "top-prior", middlePrior: "middle-upsampler", bottomPrior: "bottom-upsampler", ...levels, vocab: "vocab", tokens: "encode" },
  }),
})
