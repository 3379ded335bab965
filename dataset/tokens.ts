/** Token windows back into whole code sequences. */
import type { TokenWindow } from "../schemas/tokens.ts"

/** The code sequence of one song at one level, from its windows in order. */
export const sequenceOf = (windows: ReadonlyArray<TokenWindow>): Int16Array => {
  const sorted = [...windows].sort((a, b) => a.start - b.start)
  const out = new Int16Array(sorted.reduce((n, w) => Math.max(n, w.start + w.tokens.length), 0))
  for (const w of sorted) out.set(w.tokens, w.start)
  return out
}
