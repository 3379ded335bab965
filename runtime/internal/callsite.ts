/** Finds the source location of the code that called into the runtime, from a stack trace. */
import { fileURLToPath } from "node:url"

const OWN_DIR = fileURLToPath(new URL("..", import.meta.url))

/** A source position: absolute file, 1-based line. */
export interface CallSite {
  readonly file: string
  readonly line: number
}

/** The first stack frame outside `runtime/`: the user's file that called `Stage.define` or `use`. */
export const callerSite = (): CallSite => {
  const stack = new Error().stack ?? ""
  for (const frame of stack.split("\n").slice(1)) {
    const match = /\(?((?:file:\/\/)?\/[^():]+):(\d+):\d+\)?\s*$/.exec(frame)
    if (!match) continue
    const file = match[1]!.startsWith("file://") ? fileURLToPath(match[1]!) : match[1]!
    if (file.startsWith(OWN_DIR) || file.includes("/node_modules/")) continue
    return { file, line: Number(match[2]) }
  }
  return { file: "<unknown>", line: 0 }
}

/** The file of `callerSite()`. */
export const callerFile = (): string => callerSite().file
