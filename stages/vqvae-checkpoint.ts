/** Reading a `vqvae-train` checkpoint back into a model, for `encode`, `decode` and `evaluate`. */
import { readFile } from "node:fs/promises"
import { join } from "node:path"
import { assignFromTensors } from "../models/checkpoint.ts"
import { decodeSafetensors } from "../models/safetensors.ts"
import { type Autoencoder, autoencoderVariables, createAutoencoder } from "../models/vqvae.ts"
import type { VqvaeConfig } from "../schemas/vqvae.ts"
import type { CheckpointValue } from "../runtime/index.ts"

/** The trained autoencoder of a checkpoint. */
export const loadAutoencoder = async ({ dir, config }: CheckpointValue<VqvaeConfig>): Promise<Autoencoder> => {
  const { level: _level, sampleRate: _rate, hop: _hop, steps: _steps, seed, ...sizes } = config
  const model = createAutoencoder(sizes, seed)
  const file = join(dir, "model.safetensors")
  assignFromTensors(autoencoderVariables(model), decodeSafetensors(await readFile(file), file).tensors, file)
  return model
}
