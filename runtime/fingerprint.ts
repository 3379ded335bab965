/**
 * Code fingerprints: the hashes of a stage's module and of every project-local module it imports,
 * transitively. Editing any of them changes the stage's cache key; files under `node_modules` and
 * the framework's own `runtime/` folder are not part of it (upgrading jukeflow is not a change to
 * a stage).
 */
import { existsSync } from "node:fs"
import { dirname, relative, resolve, sep } from "node:path"
import { fileURLToPath } from "node:url"
import type { FileMemo } from "./filememo.ts"

const RUNTIME_DIR = dirname(fileURLToPath(import.meta.url)) + sep

/** Relative path (from the project root) → SHA-256 of each file in a stage's code. */
export type CodeFingerprint = Readonly<Record<string, string>>

const IMPORT_PATTERNS = [
  /\bfrom\s*["'](\.{1,2}\/[^"']+)["']/g,
  /\bimport\s*["'](\.{1,2}\/[^"']+)["']/g,
  /\bimport\s*\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g,
]

/** Relative module specifiers in a source text. */
export const scanImports = (text: string): ReadonlyArray<string> => {
  const found = new Set<string>()
  for (const pattern of IMPORT_PATTERNS) for (const m of text.matchAll(pattern)) found.add(m[1]!)
  return [...found]
}

/** Resolves a relative specifier the way tsx does: `.js` may name a `.ts` file; no extension tries `.ts`, `.js`, `/index.ts`. */
export const resolveSpecifier = (from: string, specifier: string): string | undefined => {
  const base = resolve(dirname(from), specifier)
  const candidates = /\.(c|m)?js$/.test(base)
    ? [base.replace(/\.(c|m)?js$/, ".$1ts"), base]
    : /\.(c|m)?tsx?$/.test(base) || /\.json$/.test(base)
      ? [base]
      : [`${base}.ts`, `${base}.tsx`, `${base}.js`, `${base}/index.ts`, `${base}/index.js`]
  return candidates.find((c) => existsSync(c))
}

const isCode = (file: string, root: string) =>
  file.startsWith(root) && !file.startsWith(RUNTIME_DIR) && !file.includes(`${sep}node_modules${sep}`)

/** The fingerprint of `entry` and the project-local modules it reaches. */
export const codeFingerprint = async (entry: string, root: string, memo: FileMemo): Promise<CodeFingerprint> => {
  const rootDir = root.endsWith(sep) ? root : root + sep
  const out: Record<string, string> = {}
  const seen = new Set<string>()
  const queue = [entry]
  while (queue.length > 0) {
    const file = queue.pop()!
    if (seen.has(file) || !isCode(file, rootDir)) continue
    seen.add(file)
    const { hash, imports } = await memo.source(file, (text) =>
      scanImports(text).flatMap((s) => resolveSpecifier(file, s) ?? []))
    out[relative(root, file)] = hash
    queue.push(...imports)
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)))
}
