/**
 * Cache keys and the reasons a stage runs. A key is the hash of its components; comparing the
 * components of two keys says, in the user's words, what changed.
 */
import { canonicalJson, sha256 } from "./hash.ts"

/** Everything a stage result depends on. */
export interface KeyComponents {
  /** The stage definition's name and version. */
  readonly stage: string
  readonly version: number
  /** Source file → hash, for the stage's module and the project modules it imports. */
  readonly code: Readonly<Record<string, string>>
  /** Params, encoded canonically (defaults applied). */
  readonly params: Readonly<Record<string, unknown>>
  /** Input name → hash of the upstream artifact (of the partition's rows, for the partition input). */
  readonly inputs: Readonly<Record<string, string>>
  /** Declared external file → content hash. */
  readonly files: Readonly<Record<string, string>>
  /** The partition value, for partitioned stages. */
  readonly partition?: string
}

/** Bumped when the meaning of keys changes, so old entries stop matching. */
const KEY_FORMAT = 1

/** The cache key of a set of components. */
export const cacheKey = (components: KeyComponents): string => sha256(canonicalJson({ format: KEY_FORMAT, ...components }))

const show = (value: unknown): string => {
  const text = value === undefined ? "(none)" : typeof value === "string" ? value : canonicalJson(value)
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}

const changedKeys = (a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): string[] =>
  [...new Set([...Object.keys(a), ...Object.keys(b)])].sort().filter((k) => canonicalJson(a[k]) !== canonicalJson(b[k]))

/** Every difference between two sets of components, one line each, `old → new`. */
export const differences = (before: KeyComponents, after: KeyComponents): string[] => {
  const out: string[] = []
  if (before.stage !== after.stage) out.push(`stage definition: ${before.stage} → ${after.stage}`)
  if (before.version !== after.version) out.push(`version: ${before.version} → ${after.version}`)
  for (const file of changedKeys(before.code, after.code)) {
    const was = before.code[file]
    const now = after.code[file]
    out.push(`code changed: ${file} (${was ? was.slice(0, 8) : "new file"} → ${now ? now.slice(0, 8) : "removed"})`)
  }
  for (const param of changedKeys(before.params, after.params)) {
    out.push(`params changed: ${param} ${show(before.params[param])} → ${show(after.params[param])}`)
  }
  for (const input of changedKeys(before.inputs, after.inputs)) {
    out.push(`input changed: ${input} (${show(before.inputs[input]?.slice(0, 12))} → ${show(after.inputs[input]?.slice(0, 12))})`)
  }
  for (const file of changedKeys(before.files, after.files)) {
    const was = before.files[file]
    const now = after.files[file]
    out.push(`file changed: ${file} (${was ? was.slice(0, 8) : "new"} → ${now ? now.slice(0, 8) : "gone"})`)
  }
  return out
}

/**
 * The one reason a stage runs, as `plan` prints it: the first difference from its last recorded
 * components, in the order definition, code, params, input, file; or "no cached result".
 * `inputNames` maps an input name to the upstream stage, so the reason names the stage.
 */
export const reasonToRun = (
  before: KeyComponents | undefined,
  after: KeyComponents,
  inputNames: Readonly<Record<string, string>>,
): string => {
  if (!before) return "no cached result"
  if (before.stage !== after.stage || before.version !== after.version) {
    return `definition changed: ${before.stage} v${before.version} → ${after.stage} v${after.version}`
  }
  const code = changedKeys(before.code, after.code)
  if (code.length > 0) return `code changed: ${code.join(", ")}`
  const params = changedKeys(before.params, after.params)
  if (params.length > 0) {
    return `params changed: ${params.map((p) => `${p} ${show(before.params[p])} → ${show(after.params[p])}`).join(", ")}`
  }
  const inputs = changedKeys(before.inputs, after.inputs)
  if (inputs.length > 0) return `input changed: ${inputs.map((i) => inputNames[i] ?? i).join(", ")}`
  const files = changedKeys(before.files, after.files)
  if (files.length > 0) return `file changed: ${files.join(", ")}`
  return "no cached result"
}
