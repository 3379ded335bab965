/**
 * A training stage's resumable state in its scratch folder — weights, optimizer moments, the step
 * and the metrics so far — written atomically (a folder renamed into place), and the weight files
 * of its output. Shared by `vqvae-train` and `prior-train`.
 */
import type * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { existsSync } from "node:fs"
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { assignFromTensors, variablesToTensors } from "../models/checkpoint.ts"
import { decodeSafetensors, encodeSafetensors } from "../models/safetensors.ts"

/** Where a killed run stopped. */
export interface TrainingState<M> {
  readonly step: number
  readonly metrics: ReadonlyArray<M>
}

type Variables = ReadonlyMap<string, tf.Variable>

/** `model.safetensors` and `optimizer.safetensors` in `dir`. */
export const writeWeights = (dir: string, model: Variables, optimizer: Variables, step: number, metadata: Record<string, string> = {}) =>
  Effect.promise(async () => {
    await writeFile(join(dir, "model.safetensors"), encodeSafetensors(variablesToTensors(model), metadata))
    await writeFile(join(dir, "optimizer.safetensors"), encodeSafetensors(variablesToTensors(optimizer), { step: String(step) }))
  })

/** Saves the state to `dir` (replacing what was there) through a temporary folder. */
export const saveTrainingState = <M>(dir: string, model: Variables, optimizer: Variables, state: TrainingState<M>) =>
  Effect.gen(function* () {
    const tmp = `${dir}.tmp`
    yield* Effect.promise(() => mkdir(tmp, { recursive: true }))
    yield* writeWeights(tmp, model, optimizer, state.step)
    yield* Effect.promise(async () => {
      await writeFile(join(tmp, "state.json"), JSON.stringify(state, (_key, value: unknown) => (typeof value === "number" && !Number.isFinite(value) ? String(value) : value)))
      await rm(dir, { recursive: true, force: true })
      await rename(tmp, dir)
    })
  })

/** Loads the state saved in `dir` into the variables; undefined when there is none. */
export const loadTrainingState = <M>(dir: string, model: Variables, optimizer: Variables) =>
  Effect.promise(async (): Promise<TrainingState<M> | undefined> => {
    if (!existsSync(join(dir, "state.json"))) return undefined
    // metrics hold NaN where a figure was not measured; JSON has no NaN, so it is kept as a string
    const state = JSON.parse(await readFile(join(dir, "state.json"), "utf8"), (_key, value: unknown) =>
      value === "NaN" || value === "Infinity" || value === "-Infinity" ? Number(value) : value) as TrainingState<M>
    for (const [file, variables] of [["model.safetensors", model], ["optimizer.safetensors", optimizer]] as const) {
      assignFromTensors(variables, decodeSafetensors(await readFile(join(dir, file)), file).tensors, "scratch checkpoint")
    }
    return state
  })
