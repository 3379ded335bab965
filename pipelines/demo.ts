/**
 * The demo: the whole Jukebox method on a small generated corpus, sized to run on a laptop CPU.
 * Run it with `npm start` (or `npx jukeflow run pipelines/demo.ts`). Stages are added here as
 * they are built; today it runs from the corpus through `chunk`.
 */
import { Pipeline, use } from "../runtime/index.ts"
import { align } from "../stages/align.ts"
import { chunk } from "../stages/chunk.ts"
import { demoCorpus } from "../stages/demo-corpus.ts"
import { ingest } from "../stages/ingest.ts"
import { datasetSongs } from "../stages/songs.ts"
import { vocab } from "../stages/vocab.ts"

export default Pipeline.define("demo", {
  corpus: use(demoCorpus, { params: { songs: 24, seconds: 20, sampleRate: 22050, seed: 7 } }),
  songs: use(datasetSongs, { inputs: { dataset: "corpus" } }),
  ingest: use(ingest, { params: { sampleRate: 22050 }, inputs: { songs: "songs" } }),
  vocab: use(vocab, { inputs: { songs: "songs" } }),
  align: use(align, { inputs: { songs: "songs", audio: "ingest" } }),
  chunk: use(chunk, { params: { seconds: 6, lyricChars: 128, heldOutPercent: 10 }, inputs: { songs: "songs", alignments: "align", vocab: "vocab" } }),
})
