/**
 * Runs one benchmark by name:
 *
 *   npm run bench -- cached-rerun
 *
 * A bench is a file `bench/NAME.ts` that runs when imported, prints a readable table and ends with
 * one JSON line of its figures. With no name or an unknown one, lists the benches and exits 2.
 */
import { readdirSync } from "node:fs"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { REPO } from "./lib.ts"

const NOT_BENCHES = new Set(["run", "lib"])

const benches = readdirSync(join(REPO, "bench"))
  .filter((f) => f.endsWith(".ts") && !NOT_BENCHES.has(f.slice(0, -3)))
  .map((f) => f.slice(0, -3))
  .sort()

const name = process.argv[2]
if (!name || !benches.includes(name)) {
  if (name) process.stderr.write(`no bench named "${name}"\n`)
  process.stderr.write(`usage: npm run bench -- NAME\nbenches: ${benches.join(", ")}\n`)
  process.exit(2)
}
await import(pathToFileURL(join(REPO, "bench", `${name}.ts`)).href)
