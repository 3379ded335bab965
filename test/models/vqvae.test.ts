/** The autoencoder's shapes at the paper's hops, its weight names and layouts, and its determinism. */
import * as tf from "@tensorflow/tfjs-core"
import { beforeAll, describe, expect, it } from "vitest"
import { useBestBackend } from "../../models/backend.ts"
import {
  autoencoderParameterCount,
  autoencoderVariables,
  bottleneckStateSize,
  createAutoencoder,
  decodeCodes,
  encodeToCodes,
  hopLength,
  JUKEBOX_VQVAE,
  levelConfig,
  residualDilations,
  type VQVAEConfig,
} from "../../models/vqvae.ts"
import { BACKENDS, normal, onBackend } from "./helpers.ts"

/** The paper's three levels (3, 5 and 7 downsampling blocks), narrow enough to run in a test. */
const SMALL: VQVAEConfig = {
  ...JUKEBOX_VQVAE,
  codebookSize: 16,
  embeddingWidth: 8,
  levels: JUKEBOX_VQVAE.levels.map((level) => ({ ...level, width: 8, depth: 2, residualWidth: 8 })),
}

describe.each(BACKENDS)("VQ-VAE on %s", (backend) => {
  beforeAll(() => onBackend(backend))

  it.each([0, 1, 2])("level %i: audio (B, T, 1) → vectors and codes of length T/hop → audio (B, T, 1)", (level) => {
    const config = levelConfig(SMALL, level)
    expect(hopLength(config)).toBe([8, 32, 128][level])
    const autoencoder = createAutoencoder(config, 1)
    const audio = normal([2, 1024, 1], 2, 0.3) as tf.Tensor3D
    const length = 1024 / hopLength(config)
    expect(autoencoder.encode(audio).shape).toEqual([2, length, 8])
    const codes = encodeToCodes(autoencoder, audio)
    expect(codes.shape).toEqual([2, length])
    expect(codes.dtype).toBe("int32")
    expect(autoencoder.decode(normal([2, length, 8], 3) as tf.Tensor3D).shape).toEqual([2, 1024, 1])
    expect(decodeCodes(autoencoder, codes).shape).toEqual([2, 1024, 1])
  })

  it("refuses audio whose length is not a multiple of the hop", () => {
    const autoencoder = createAutoencoder(levelConfig(SMALL, 1), 1)
    expect(() => autoencoder.encode(tf.zeros([1, 1000, 1]))).toThrow(/multiple of the hop 32/)
  })
})

describe("VQ-VAE weights", () => {
  beforeAll(() => onBackend("wasm"))

  it("are named like a PyTorch state_dict, (K, Cin, Cout), with the paper's sizes", () => {
    const bottom = createAutoencoder(levelConfig(JUKEBOX_VQVAE, 0), 1)
    const shapes = Object.fromEntries([...autoencoderVariables(bottom)].map(([name, v]) => [name, v.shape]))
    expect(shapes["encoder.blocks.0.down.weight"]).toEqual([4, 1, 32])
    expect(shapes["encoder.blocks.2.down.bias"]).toEqual([32])
    expect(shapes["encoder.blocks.2.res.7.conv3.weight"]).toEqual([3, 32, 64])
    expect(shapes["encoder.blocks.2.res.7.conv1.weight"]).toEqual([1, 64, 32])
    expect(shapes["encoder.out.weight"]).toEqual([3, 32, 64])
    expect(shapes["decoder.in.weight"]).toEqual([3, 64, 32])
    expect(shapes["decoder.blocks.1.up.weight"]).toEqual([4, 32, 32])
    expect(shapes["decoder.blocks.2.up.weight"]).toEqual([4, 32, 64])
    expect(shapes["decoder.out.weight"]).toEqual([3, 64, 1])
    expect(shapes["bottleneck.codebook"]).toEqual([2048, 64])
    expect(shapes["bottleneck.ema_sum"]).toEqual([2048, 64])
    expect(shapes["bottleneck.ema_count"]).toEqual([2048])
    expect(Object.keys(shapes)).toHaveLength(((1 + 8 * 2) * 3 * 2 + 3) * 2 + 3) // 105 convs, 3 bottleneck tensors
    expect([...bottom.weights.values()].every((w) => w.trainable)).toBe(true)
    expect([...autoencoderVariables(bottom).values()].filter((w) => !w.trainable)).toHaveLength(3)
  })

  it("are counted without building them: convs trained, the bottleneck's state beside them", () => {
    // widths all different, so that a count mixing them up cannot agree by chance
    const uneven: VQVAEConfig = { ...SMALL, channels: 2, embeddingWidth: 5, levels: SMALL.levels.map((l, i) => ({ ...l, width: 6, residualWidth: 7, depth: i + 1 })) }
    for (const level of [0, 1, 2]) {
      const config = levelConfig(uneven, level)
      const autoencoder = createAutoencoder(config, 1)
      const size = (vars: Iterable<tf.Variable>) => [...vars].reduce((n, v) => n + v.size, 0)
      expect(autoencoderParameterCount(config)).toBe(size(autoencoder.weights.values()))
      expect(bottleneckStateSize(config)).toBe(size(autoencoderVariables(autoencoder).values()) - size(autoencoder.weights.values()))
      tf.dispose([...autoencoderVariables(autoencoder).values()])
    }
  })

  it("residual stacks dilate 1, 3, 9, ... (or cycle), decoders in reverse", () => {
    expect(residualDilations({ depth: 4, dilationGrowth: 3 })).toEqual([1, 3, 9, 27])
    expect(residualDilations({ depth: 5, dilationGrowth: 3, dilationCycle: 3 })).toEqual([1, 3, 9, 1, 3])
  })

  it("are the same for a seed on every backend, and differ between seeds", async () => {
    const values = (seed: number) => [...createAutoencoder(levelConfig(SMALL, 0), seed).weights.values()].map((w) => [...w.dataSync()])
    const onWasm = values(5)
    await useBestBackend({ prefer: "cpu" })
    expect(values(5)).toEqual(onWasm)
    expect(values(6)).not.toEqual(onWasm)
    const weight = values(5)[0]!
    const std = Math.sqrt(weight.reduce((a, v) => a + v * v, 0) / weight.length)
    expect(std).toBeGreaterThan(0.01) // N(0, 0.02²): loosely, on 32 draws
    expect(std).toBeLessThan(0.03)
  })
})
