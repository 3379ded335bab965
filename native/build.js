// Builds the native kernels (native/README.md) with node-gyp; `npm install` runs it as the package's
// install script. Prints one line, built or why not, and always exits 0: without a compiler the
// models run on tfjs's own kernels. Run it by hand with `node native/build.js`.
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const HERE = dirname(fileURLToPath(import.meta.url))
const ADDON = join(HERE, "build", "Release", "jukeflow_native.node")
const LOG = join(HERE, "build", "build-log.txt")

/** @param {string} message */
const say = (message) => console.log(`jukeflow: ${message}`)

/** @param {string} command @param {string[]} args */
const runs = (command, args) => spawnSync(command, args, { stdio: "ignore" }).status === 0

/** The node-gyp that ships with npm: npm names it to install scripts; otherwise look beside npm. */
const findNodeGyp = () => {
  const candidates = [
    process.env.npm_config_node_gyp,
    process.env.npm_execpath && resolve(dirname(process.env.npm_execpath), "../node_modules/node-gyp/bin/node-gyp.js"),
    resolve(dirname(process.execPath), "../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"),
    resolve(dirname(process.execPath), "node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"),
  ]
  return candidates.find((path) => path && existsSync(path))
}

/**
 * node-gyp downloads Node's headers unless told where they are; npm may name them (nodedir), and
 * most installs of Node carry them in <prefix>/include/node. Naming them keeps the build offline.
 */
const nodedirArgs = () => {
  if (process.env.npm_config_nodedir) return []
  const prefix = resolve(dirname(process.execPath), "..")
  return existsSync(join(prefix, "include", "node", "common.gypi")) ? [`--nodedir=${prefix}`] : []
}

/** The line of a failed build's output that says most about why. */
const firstError = (/** @type {string} */ output) => {
  const lines = output.split("\n").map((line) => line.trim())
  return (
    lines.find((line) => /\berror\b:/i.test(line) && !line.startsWith("gyp")) ??
    lines.find((line) => line.startsWith("gyp ERR! stack Error:"))?.replace("gyp ERR! stack ", "") ??
    lines.find((line) => line.startsWith("gyp ERR!")) ??
    "no output"
  )
}

/** What the built addon reports about its BLAS, from a separate process so that a crash cannot stop the install. */
const probe = () => {
  const script = `const a = require(${JSON.stringify(ADDON)}); console.log(a.blas() ? "BLAS " + a.blas() : "ERROR " + a.blasError())`
  const result = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 30_000 })
  return result.status === 0 ? result.stdout.trim() : `ERROR it does not load: ${firstError(result.stderr || String(result.error))}`
}

const build = () => {
  if (process.env.JUKEFLOW_NATIVE === "0") return "native kernels not built (JUKEFLOW_NATIVE=0)"
  const compiler = process.env.CC ?? "cc"
  if (process.platform !== "win32" && !runs(compiler, ["--version"])) return `native kernels not built: no C compiler (${compiler}); the models use tfjs's kernels`
  if (process.platform !== "win32" && !runs("make", ["--version"])) return "native kernels not built: no make; the models use tfjs's kernels"
  const nodeGyp = findNodeGyp()
  if (nodeGyp === undefined) return "native kernels not built: node-gyp not found (it ships with npm); the models use tfjs's kernels"
  const result = spawnSync(process.execPath, [nodeGyp, "rebuild", ...nodedirArgs()], { cwd: HERE, encoding: "utf8", timeout: 300_000 })
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}${result.error ? String(result.error) : ""}`
  mkdirSync(dirname(LOG), { recursive: true })
  writeFileSync(LOG, output)
  if (result.status !== 0) return `native kernels not built: node-gyp failed: ${firstError(output)} (log: ${LOG}); the models use tfjs's kernels`
  const found = probe()
  return found.startsWith("BLAS ")
    ? `native kernels built, on ${found.slice(5)}`
    : `native kernels built, but unusable: ${found.slice(6)} (install libopenblas0, or name a BLAS in JUKEFLOW_BLAS)`
}

try {
  say(build())
} catch (error) {
  say(`native kernels not built: ${error instanceof Error ? error.message : String(error)}`)
}
