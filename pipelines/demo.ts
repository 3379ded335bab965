/**
 * The demo: the whole Jukebox method on a small generated corpus, sized to run on a laptop CPU.
 * Run it with `npm start` (or `npx jukeflow run pipelines/demo.ts`). Stages are added here as
 * they are built; today it runs from the corpus through the VQ-VAE's `evaluate`.
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

/** Demo-sized VQ-VAE training: a few dozen steps per level, the three levels side by side. */
const vqvae = (level: number) =>
  use(vqvaeTrain, {
    params: { level, preset: "demo", steps: 40, batch: 2, clipSamples: 8192, warmupSteps: 10, checkpointEvery: 20 },
    inputs: { chunks: "chunk", audio: "ingest" },
  })
const levels = { bottom: "vqvae-bottom", middle: "vqvae-middle", top: "vqvae-top" } as const

export default Pipeline.define("demo", {
  corpus: use(demoCorpus, { params: { songs: 24, seconds: 20, sampleRate: 22050, seed: 7 } }),
  songs: use(datasetSongs, { inputs: { dataset: "corpus" } }),
  ingest: use(ingest, { params: { sampleRate: 22050 }, inputs: { songs: "songs" } }),
  vocab: use(vocab, { inputs: { songs: "songs" } }),
  align: use(align, { inputs: { songs: "songs", audio: "ingest" } }),
  chunk: use(chunk, { params: { seconds: 6, lyricChars: 128, heldOutPercent: 10 }, inputs: { songs: "songs", alignments: "align", vocab: "vocab" } }),
  "vqvae-bottom": vqvae(0),
  "vqvae-middle": vqvae(1),
  "vqvae-top": vqvae(2),
  encode: use(encode, { params: { windowTokens: 8192 }, inputs: { songs: "songs", audio: "ingest", ...levels } }),
  decode: use(decode, { inputs: { tokens: "encode", ...levels } }),
  evaluate: use(evaluate, { inputs: { audio: "ingest", chunks: "chunk", tokens: "encode", decoded: "decode", ...levels } }),
})
