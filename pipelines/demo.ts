/**
 * The demo: the whole Jukebox method on a small generated corpus, sized to run on a laptop CPU.
 * Run it with `npm start` (or `npx jukeflow run pipelines/demo.ts`). Stages are added here as
 * they are built.
 */
import { Pipeline, use } from "../runtime/index.ts"
import { demoCorpus } from "../stages/demo-corpus.ts"

export default Pipeline.define("demo", {
  corpus: use(demoCorpus, { params: { songs: 8, seconds: 12, sampleRate: 22050, seed: 7 } }),
})
