/** The command line, parsed: a command, positionals, and flags (repeatable ones collect). */
import { UsageError } from "../errors.ts"

/** Flags each command accepts; `true` marks a flag that takes a value. */
const FLAGS: Readonly<Record<string, boolean>> = {
  only: true, from: true, until: true, force: true, set: true, json: false, sql: true, keep: true,
  "max-size": true, "dry-run": false, rows: true, pipeline: true, help: false, strict: false, executor: true,
}

/** The parsed command line. */
export interface Args {
  readonly command: string
  readonly positionals: ReadonlyArray<string>
  readonly flags: ReadonlyMap<string, ReadonlyArray<string>>
}

/** Parses `argv` (without node and the script); `known` gives the flags (name → takes a value), the built-in commands' by default. */
export const parseArgs = (argv: ReadonlyArray<string>, known: Readonly<Record<string, boolean>> = FLAGS): Args => {
  const [command = "help", ...rest] = argv
  const positionals: string[] = []
  const flags = new Map<string, string[]>()
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!
    if (!arg.startsWith("--")) {
      positionals.push(arg)
      continue
    }
    const eq = arg.indexOf("=")
    const name = arg.slice(2, eq < 0 ? undefined : eq)
    if (!(name in known)) throw new UsageError({ reason: `unknown option --${name}; see \`${known === FLAGS ? "jukeflow help" : `jukeflow ${command} --help`}\`` })
    let value = "true"
    if (known[name]) {
      const next = eq >= 0 ? arg.slice(eq + 1) : rest[++i]
      if (next === undefined) throw new UsageError({ reason: `option --${name} needs a value` })
      value = next
    }
    flags.set(name, [...(flags.get(name) ?? []), value])
  }
  return { command, positionals, flags }
}

/** All values of a list flag, split on commas. */
export const listFlag = (args: Args, name: string): string[] => (args.flags.get(name) ?? []).flatMap((v) => v.split(",")).filter((v) => v.length > 0)

/** The last value of a flag. */
export const flag = (args: Args, name: string): string | undefined => args.flags.get(name)?.at(-1)

/** `--set stage.param=value` flags, by stage then param. */
export const overridesOf = (args: Args): Record<string, Record<string, string>> => {
  const out: Record<string, Record<string, string>> = {}
  for (const item of args.flags.get("set") ?? []) {
    const match = /^([^.=]+)\.([^=]+)=(.*)$/s.exec(item)
    if (!match) throw new UsageError({ reason: `--set ${item}: expected stage.param=value` })
    const [, stage, param, value] = match
    out[stage!] = { ...out[stage!], [param!]: value! }
  }
  return out
}

/** Parses a size like `500M`, `2G`, `1048576`. */
export const parseSize = (text: string): number => {
  const match = /^(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?$/i.exec(text.trim())
  if (!match) throw new UsageError({ reason: `--max-size ${text}: expected a size such as 500M or 2G` })
  const scale = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[match[2]!.toUpperCase() as "" | "K" | "M" | "G" | "T"]
  return Math.round(Number(match[1]) * scale)
}
