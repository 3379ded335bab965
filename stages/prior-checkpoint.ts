/** Reading a `prior-train` checkpoint back into a prior, for `sample` and `jukeflow compose`. */
import { readFile } from "node:fs/promises"
import { join } from "node:path"
import { assignFromTensors } from "../models/checkpoint.ts"
import { createPrior, type Prior, type PriorConfig } from "../models/prior.ts"
import { decodeSafetensors } from "../models/safetensors.ts"
import type { PriorCheckpointConfig } from "../schemas/prior.ts"
import type { CheckpointValue } from "../runtime/index.ts"

/** The trained prior of a checkpoint (its config is checked when the model is built from it). */
export const loadPrior = async ({ dir, config }: CheckpointValue<PriorCheckpointConfig>): Promise<Prior> => {
  const prior = createPrior(config.model as unknown as PriorConfig, config.seed)
  const file = join(dir, "model.safetensors")
  assignFromTensors(prior.weights, decodeSafetensors(await readFile(file), file).tensors, file)
  return prior
}
