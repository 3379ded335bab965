// @ts-check
/**
 * Small facts about a project shared by the TypeScript runtime and the plain-JS cached-run fast
 * path: where its root and store are, which GPUs are visible, how runs and snapshots are named.
 */
import { createHash } from "node:crypto"
import { existsSync } from "node:fs"
import { dirname, join, resolve } from "node:path"

/**
 * The nearest folder at or above `start` holding `jukeflow.config.json` or `package.json`.
 * @param {string} start
 * @returns {string}
 */
export const findRoot = (start) => {
  let dir = resolve(start)
  for (;;) {
    if (existsSync(join(dir, "jukeflow.config.json")) || existsSync(join(dir, "package.json"))) return dir
    const parent = dirname(dir)
    if (parent === dir) return resolve(start)
    dir = parent
  }
}

/**
 * The store folder: `JUKEFLOW_STORE`, else the config's `store` (relative to the root), else `.jukeflow/`.
 * @param {string} root
 * @param {string | undefined} configured
 * @param {NodeJS.ProcessEnv} [env]
 */
export const storeDirOf = (root, configured, env = process.env) =>
  env.JUKEFLOW_STORE ? resolve(env.JUKEFLOW_STORE) : resolve(root, configured ?? ".jukeflow")

/**
 * GPU ids from `CUDA_VISIBLE_DEVICES` (empty, unset, or "-1" mean none).
 * @param {NodeJS.ProcessEnv} [env]
 * @returns {string[]}
 */
export const visibleGpus = (env = process.env) => {
  const value = env.CUDA_VISIBLE_DEVICES?.trim()
  if (!value || value === "-1" || value === "NoDevFiles") return []
  return value.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
}

/**
 * A new run id, sortable by time.
 * @param {Date} [now]
 */
export const newRunId = (now = new Date()) => `${now.toISOString().replace(/[:.]/g, "-")}-${process.pid}`

/**
 * Where the snapshot of a pipeline file lives in a store.
 * @param {string} storeDir
 * @param {string} pipelineFile
 */
export const snapshotFile = (storeDir, pipelineFile) =>
  join(storeDir, "snapshots", `${createHash("sha256").update(resolve(pipelineFile)).digest("hex").slice(0, 24)}.json`)
