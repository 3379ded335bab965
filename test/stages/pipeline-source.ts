/**
 * The source of a test pipeline over a dataset folder `data/`: songs → ingest → vocab → align →
 * chunk, then whatever uses a test adds, with every stage of the repository importable.
 */
import { REPO, RUNTIME } from "../runtime/fixture.ts"

const STAGES = ["songs", "ingest", "vocab", "align", "chunk", "vqvae-train", "encode", "decode", "evaluate", "prior-train", "sample"]
const exportName = (file: string) => file.replace(/-(\w)/g, (_, c: string) => c.toUpperCase())

/** A pipeline file: the first stages (chunk params as given, ingest at `sampleRate`), then `more` lines of uses. */
export const pipelineSource = (options: { readonly chunk: string; readonly sampleRate?: number; readonly more?: ReadonlyArray<string> }): string => `import { Pipeline, use } from "${RUNTIME}"
${STAGES.map((s) => `import { ${exportName(s)} } from "${REPO}/stages/${s}.ts"`).join("\n")}
export default Pipeline.define("test", {
  songs: use(songs, { params: { manifest: "data/manifest.jsonl" } }),
  ingest: use(ingest, { params: { sampleRate: ${options.sampleRate ?? 22050} }, inputs: { songs: "songs" } }),
  vocab: use(vocab, { inputs: { songs: "songs" } }),
  align: use(align, { inputs: { songs: "songs", audio: "ingest" } }),
  chunk: use(chunk, { params: ${options.chunk}, inputs: { songs: "songs", alignments: "align", vocab: "vocab" } }),
${(options.more ?? []).map((line) => `  ${line}`).join("\n")}
})
`
