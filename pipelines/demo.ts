/**
 * The demo: the whole Jukebox method on a small generated corpus, sized to run on a laptop CPU.
 * Run it with `npm start` (or `npx jukeflow run pipelines/demo.ts`): the corpus, the three
 * VQ-VAEs and what they encode, the top prior with lyrics and the two upsamplers, and two samples
 * (one ancestral with lyrics, one primed from a held-out song), each decoded to WAV with a page,
 * and the run report (`report.html`: the graph, the curves, reconstructions and samples).
 */
import { Pipeline, use } from "../runtime/index.ts"
import { align } from "../stages/align.ts"
import { chunk } from "../stages/chunk.ts"
import { demoCorpus } from "../stages/demo-corpus.ts"
import { ingest } from "../stages/ingest.ts"
import { datasetSongs } from "../stages/songs.ts"
import { vocab } from "../stages/vocab.ts"
import { vqvaeTrain } from "../stages/vqvae-train.ts"
import { encode } from "../stages/encode.ts"
import { decode } from "../stages/decode.ts"
import { evaluate } from "../stages/evaluate.ts"
import { priorTrain } from "../stages/prior-train.ts"
import { sample } from "../stages/sample.ts"
import { report } from "../stages/report.ts"

/**
 * Demo-sized VQ-VAE training: 120 steps per level, each level in a process of its own.
 * A learning rate ten times the paper's makes those few steps count (pipelines/quality.ts trains longer).
 */
export const vqvae = (level: number, params: { steps: number; batch: number; learningRate: number; checkpointEvery: number }) =>
  use(vqvaeTrain, {
    params: { level, preset: "demo", clipSamples: 8192, warmupSteps: 10, ...params },
    inputs: { chunks: "chunk", audio: "ingest" },
  })
const demoTraining = { steps: 120, batch: 2, learningRate: 3e-3, checkpointEvery: 40 }
const levels = { bottom: "vqvae-bottom", middle: "vqvae-middle", top: "vqvae-top" } as const

/** Everything but the VQ-VAE's training: the data stages, and encode → decode → evaluate. */
export const dataStages = {
  corpus: use(demoCorpus, { params: { songs: 24, seconds: 20, sampleRate: 22050, seed: 7 } }),
  songs: use(datasetSongs, { inputs: { dataset: "corpus" } }),
  ingest: use(ingest, { params: { sampleRate: 22050 }, inputs: { songs: "songs" } }),
  vocab: use(vocab, { inputs: { songs: "songs" } }),
  align: use(align, { inputs: { songs: "songs", audio: "ingest" } }),
  chunk: use(chunk, { params: { seconds: 6, lyricChars: 128, heldOutPercent: 10 }, inputs: { songs: "songs", alignments: "align", vocab: "vocab" } }),
}

/** The demo's priors: the top prior with lyrics, and the two upsamplers, each a few minutes of CPU. */
const priorInputs = { tokens: "encode", chunks: "chunk", alignments: "align", vocab: "vocab", ...levels } as const
export const priorStages = {
  "top-prior": use(priorTrain, { params: { level: 2, lyrics: true, steps: 400, batch: 4 }, inputs: priorInputs }),
  "middle-upsampler": use(priorTrain, { params: { level: 1, steps: 300, batch: 4 }, inputs: priorInputs }),
  "bottom-upsampler": use(priorTrain, { params: { level: 0, steps: 300, batch: 4 }, inputs: priorInputs }),
}

/** The words the demo's first sample sings: characters of the lyrics vocabulary (dataset/lyrics.ts). */
const SAMPLE_LYRICS = `Oh, the night is long
and I sing my song;
hold on, hold on,
the morning comes.`

/**
 * Two samples from the priors, 6 s each: one sampled from nothing with lyrics, one continuing 3 s
 * of a held-out song (s003, Cy Ember, never seen in training). `jukeflow sample` makes more.
 */
const sampleInputs = { topPrior: "top-prior", middlePrior: "middle-upsampler", bottomPrior: "bottom-upsampler", ...levels, vocab: "vocab", tokens: "encode" } as const
export const sampleStages = {
  sample: use(sample, { params: { artist: "Ada Vale", genre: "folk", lyrics: SAMPLE_LYRICS, seconds: 6, seed: 7 }, inputs: sampleInputs }),
  "sample-primed": use(sample, { params: { artist: "Cy Ember", genre: "rock", seconds: 6, prime: { song: "s003", seconds: 3 }, seed: 7 }, inputs: sampleInputs }),
}

/** The codec stages, fed by the three levels. */
export const codecStages = {
  encode: use(encode, { params: { windowTokens: 8192 }, inputs: { songs: "songs", audio: "ingest", ...levels } }),
  decode: use(decode, { inputs: { tokens: "encode", ...levels } }),
  evaluate: use(evaluate, { inputs: { audio: "ingest", chunks: "chunk", tokens: "encode", decoded: "decode", ...levels } }),
}

/** The run on one page, last: it reads the checkpoints, the evaluation, the held-out song and both samples. */
export const reportStage = use(report, {
  inputs: {
    audio: "ingest", evaluation: "evaluate", decoded: "decode", ...levels,
    topPrior: "top-prior", middlePrior: "middle-upsampler", bottomPrior: "bottom-upsampler", sample: "sample", secondSample: "sample-primed",
  },
})

export default Pipeline.define("demo", {
  ...dataStages,
  "vqvae-bottom": vqvae(0, demoTraining),
  "vqvae-middle": vqvae(1, demoTraining),
  "vqvae-top": vqvae(2, demoTraining),
  ...codecStages,
  ...priorStages,
  ...sampleStages,
  report: reportStage,
})
