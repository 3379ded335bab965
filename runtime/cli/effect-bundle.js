// @ts-check
/**
 * Start-up speed: Node takes ~0.6 s to load the `effect` package as its 360 separate ES modules,
 * and twice that once tsx's loader hooks see every import. The CLI instead loads `effect` as one
 * pre-bundled CommonJS file compiled with a V8 code cache (both built on first use and kept in
 * `node_modules/.cache/jukeflow`), and a resolve hook points every `import ... from "effect"` —
 * the runtime's, the pipeline's and the stages' — at a module re-exporting that one instance.
 * Deep imports (`effect/Schema`) still load the package itself.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import { createRequire, register } from "node:module"
import { dirname, join } from "node:path"
import { pathToFileURL } from "node:url"
import vm from "node:vm"

const require = createRequire(import.meta.url)
const GLOBAL = "__jukeflowEffect"

/**
 * @param {string} file
 * @param {string | Uint8Array} data
 */
const writeAtomic = (file, data) => {
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, data)
  renameSync(tmp, file)
}

/** Builds the CommonJS bundle of `effect` and the ES module that re-exports it. */
const build = async (/** @type {string} */ pkgDir, /** @type {string} */ bundle, /** @type {string} */ shim) => {
  const esbuild = await import("esbuild")
  const built = await esbuild.build({
    stdin: { contents: 'module.exports = require("effect")', resolveDir: pkgDir, loader: "js" },
    bundle: true, platform: "node", format: "cjs", write: false, minifySyntax: true, minifyWhitespace: true, logLevel: "silent",
  })
  mkdirSync(dirname(bundle), { recursive: true })
  writeAtomic(bundle, built.outputFiles[0]?.contents ?? new Uint8Array())
  const names = Object.keys(require(bundle)).filter((n) => /^[A-Za-z_$][\w$]*$/.test(n))
  writeAtomic(shim, `const __effect = globalThis.${GLOBAL}\nexport const { ${names.join(", ")} } = __effect\n`)
}

/** Runs the bundle through a code-cached script and leaves its exports on `globalThis`. */
const load = (/** @type {string} */ bundle) => {
  const cacheFile = `${bundle}.v8-${process.version}`
  const cachedData = existsSync(cacheFile) ? readFileSync(cacheFile) : undefined
  const source = `(function (exports, require, module, __filename, __dirname) {${readFileSync(bundle, "utf8")}\n})`
  const script = new vm.Script(source, { filename: bundle, ...(cachedData ? { cachedData } : {}) })
  const module = { exports: {} }
  script.runInThisContext()(module.exports, require, module, bundle, dirname(bundle))
  Object.defineProperty(globalThis, GLOBAL, { value: module.exports })
  if (!cachedData || script.cachedDataRejected) writeAtomic(cacheFile, script.createCachedData())
}

/** Loads `effect` as one bundle and sends later `"effect"` imports to it; on any trouble, leaves things as they are. */
export const useEffectBundle = async () => {
  try {
    const pkg = require.resolve("effect/package.json")
    const version = JSON.parse(readFileSync(pkg, "utf8")).version
    const dir = join(dirname(dirname(pkg)), ".cache", "jukeflow")
    const bundle = join(dir, `effect-${version}.cjs`)
    const shim = join(dir, `effect-${version}.mjs`)
    if (!existsSync(bundle) || !existsSync(shim)) await build(dirname(pkg), bundle, shim)
    load(bundle)
    const url = pathToFileURL(shim).href
    const hook = `export const resolve = (specifier, context, next) =>
      specifier === "effect" ? { url: ${JSON.stringify(url)}, shortCircuit: true } : next(specifier, context)`
    register(`data:text/javascript,${encodeURIComponent(hook)}`)
  } catch {
    // the plain package still works, only slower to load
  }
}
