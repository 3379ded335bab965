/**
 * The Jukebox VQ-VAE: one independent convolutional autoencoder per level (the paper trains three
 * separate ones, hops 8, 32 and 128), each with its own codebook (bottleneck.ts).
 *
 *   encoder: per downsampling block, conv k4 s2 → residual stack; then conv3 to the embedding width
 *   residual block: x + conv1(ReLU(conv3_dilated(ReLU(x)))), dilations 1, 3, 9, ... (growth 3)
 *   decoder: conv3 from the embedding width; per block, residual stack (dilations contracting) →
 *            transposed conv k4 s2 (the last one to the embedding width); conv3 to the audio channels
 *
 * Weights are plain tf.Variables in a map, named like a PyTorch state_dict of the same modules:
 *   encoder.blocks.{i}.down.weight        (4, Cin, W)     Cin = audio channels for i = 0, else W
 *   encoder.blocks.{i}.res.{j}.conv3.weight  (3, W, R)    dilation growth^j
 *   encoder.blocks.{i}.res.{j}.conv1.weight  (1, R, W)
 *   encoder.out.weight                    (3, W, D)
 *   decoder.in.weight                     (3, D, W)
 *   decoder.blocks.{i}.res.{j}.conv3.weight  (3, W, R)    dilation growth^(depth−1−j)
 *   decoder.blocks.{i}.res.{j}.conv1.weight  (1, R, W)
 *   decoder.blocks.{i}.up.weight          (4, W, W)       (4, W, D) for the last block
 *   decoder.out.weight                    (3, D, channels)
 * each with a `.bias` (Cout), plus the bottleneck's state (bottleneck.ts). Conv weights are
 * (K, Cin, Cout): a PyTorch Conv1d weight is ours.permute(2, 1, 0) and a ConvTranspose1d weight
 * ours.permute(1, 2, 0), i.e. ours is its permute(2, 0, 1) (ops.ts; bench/torch/vqvae.py loads
 * them so). Convs pad like PyTorch's: k4 s2 padding 1, k3 padding = dilation.
 */
import * as tf from "@tensorflow/tfjs-core"
import { bottleneckVariables, codeVectors, createBottleneck, nearestCodes, type Bottleneck, type BottleneckConfig } from "./bottleneck.ts"
import { conv1d, convTranspose1d, relu } from "./ops.ts"
import { Parameters } from "./parameters.ts"
import { seededRandom } from "./random.ts"

/** One level's autoencoder sizes (paper values for bottom / middle / top in brackets). */
export interface LevelConfig {
  /** Downsampling blocks; hop = 2^downs [3, 5, 7 → hops 8, 32, 128]. */
  readonly downs: number
  /** Conv channels W [32]. */
  readonly width: number
  /** Residual blocks per downsampling block [8, 4, 4]. */
  readonly depth: number
  /** Channels R inside a residual block [64, 32, 32]. */
  readonly residualWidth: number
}

/** The whole VQ-VAE: what its levels share, and the levels, bottom first. */
export interface VQVAEConfig extends BottleneckConfig {
  /** Audio sample rate in Hz; the spectral loss's STFT sizes scale with it [44100]. */
  readonly sampleRate: number
  /** Audio channels in and out [1: training downmixes to mono]. */
  readonly channels: number
  /** Dilation factor between consecutive residual blocks [3]. */
  readonly dilationGrowth: number
  /** When set, dilations restart after this many blocks (1, 3, 9, 1, 3, 9, ...) [unset]. */
  readonly dilationCycle?: number
  /** Standard deviation of the initial weights [0.02]. */
  readonly initScale: number
  /** Weight β of the commit loss [0.02]. */
  readonly commitWeight: number
  readonly levels: readonly LevelConfig[]
}

/** The paper's VQ-VAE (Appendix B.1, Table 4). */
export const JUKEBOX_VQVAE: VQVAEConfig = {
  sampleRate: 44100,
  channels: 1,
  dilationGrowth: 3,
  initScale: 0.02,
  codebookSize: 2048,
  embeddingWidth: 64,
  emaDecay: 0.99,
  restartThreshold: 1,
  commitWeight: 0.02,
  levels: [
    { downs: 3, width: 32, depth: 8, residualWidth: 64 },
    { downs: 5, width: 32, depth: 4, residualWidth: 32 },
    { downs: 7, width: 32, depth: 4, residualWidth: 32 },
  ],
}

/**
 * The demo's VQ-VAE: the paper's hops at 22.05 kHz, narrow and shallow enough to train on a laptop
 * CPU. Its initial weights are wider than the paper's N(0, 0.02²) — near the fan-in scale PyTorch
 * gives a conv by default: at width 16, 0.02 shrinks the signal several-fold per conv and the
 * decoder's output stays near silence for hundreds of steps (measured: spectral convergence +0.1 dB
 * after 40 steps at learning rate 3e-4, against −5.2 / −3.1 / −1.2 dB per level with 0.1 and 3e-3).
 */
export const DEMO_VQVAE: VQVAEConfig = {
  ...JUKEBOX_VQVAE,
  sampleRate: 22050,
  initScale: 0.1,
  codebookSize: 256,
  embeddingWidth: 32,
  levels: [
    { downs: 3, width: 16, depth: 3, residualWidth: 16 },
    { downs: 5, width: 16, depth: 2, residualWidth: 16 },
    { downs: 7, width: 16, depth: 2, residualWidth: 16 },
  ],
}

/** Everything one level's autoencoder needs. */
export type AutoencoderConfig = Omit<VQVAEConfig, "levels" | "sampleRate"> & LevelConfig

/** The config of level `level` (0 = bottom). */
export const levelConfig = (config: VQVAEConfig, level: number): AutoencoderConfig => {
  const levelSizes = config.levels[level]
  if (levelSizes === undefined) throw new RangeError(`the VQ-VAE has ${config.levels.length} levels, not a level ${level}`)
  const { levels: _levels, sampleRate: _sampleRate, ...shared } = config
  return { ...shared, ...levelSizes }
}

/** Audio samples per code. */
export const hopLength = (config: Pick<LevelConfig, "downs">): number => 2 ** config.downs

/** Trainable numbers of one level's autoencoder (its convs), without building it; the bottleneck's state is `bottleneckStateSize`. */
export const autoencoderParameterCount = (c: Pick<AutoencoderConfig, "downs" | "width" | "depth" | "residualWidth" | "embeddingWidth" | "channels">): number => {
  const conv = (kernel: number, inChannels: number, outChannels: number) => kernel * inChannels * outChannels + outChannels
  const stack = c.depth * (conv(3, c.width, c.residualWidth) + conv(1, c.residualWidth, c.width))
  let count = conv(3, c.width, c.embeddingWidth) + conv(3, c.embeddingWidth, c.width) + conv(3, c.embeddingWidth, c.channels) // encoder.out, decoder.in, decoder.out
  for (let i = 0; i < c.downs; i++) {
    count += conv(4, i === 0 ? c.channels : c.width, c.width) + stack // encoder block
    count += stack + conv(4, c.width, i === c.downs - 1 ? c.embeddingWidth : c.width) // decoder block
  }
  return count
}

/** Numbers the bottleneck keeps beside the weights, updated by EMA rather than by gradients: codebook and EMA sum (K, D), EMA count (K). */
export const bottleneckStateSize = (c: Pick<BottleneckConfig, "codebookSize" | "embeddingWidth">): number =>
  c.codebookSize * (2 * c.embeddingWidth + 1)

/**
 * Dilations of an encoder residual stack, first block first: growth^j (1, 3, 9, ...), restarting
 * every `dilationCycle` blocks when set. Decoder stacks use them in reverse.
 */
export const residualDilations = (c: Pick<AutoencoderConfig, "depth" | "dilationGrowth" | "dilationCycle">): number[] =>
  Array.from({ length: c.depth }, (_, j) => c.dilationGrowth ** (c.dilationCycle === undefined ? j : j % c.dilationCycle))

/** One level's autoencoder. */
export interface Autoencoder {
  readonly config: AutoencoderConfig
  /** Trainable weights by name, in creation order. */
  readonly weights: ReadonlyMap<string, tf.Variable>
  readonly bottleneck: Bottleneck
  /** Audio (B, T, channels) → encoder vectors (B, T/hop, D); T a multiple of the hop. */
  readonly encode: (audio: tf.Tensor3D) => tf.Tensor3D
  /** Vectors (B, T/hop, D) → audio (B, T, channels). */
  readonly decode: (vectors: tf.Tensor3D) => tf.Tensor3D
}

/** A freshly initialised autoencoder; the same seed gives the same weights on every backend. */
export const createAutoencoder = (config: AutoencoderConfig, seed: number): Autoencoder => {
  const params = new Parameters(seededRandom(seed), config.initScale)
  const hop = hopLength(config)
  const encoderStack = encoder(params, config)
  const decoderStack = decoder(params, config)
  return {
    config,
    weights: params.variables,
    bottleneck: createBottleneck(config),
    encode: (audio) => {
      if (audio.shape[1] % hop !== 0) throw new RangeError(`encode: ${audio.shape[1]} samples is not a multiple of the hop ${hop}`)
      if (audio.shape[2] !== config.channels) throw new RangeError(`encode: ${audio.shape[2]} channels, the model takes ${config.channels}`)
      return encoderStack(audio)
    },
    decode: decoderStack,
  }
}

/** Every variable a checkpoint holds, by name: the weights, then the bottleneck's state. */
export const autoencoderVariables = (autoencoder: Autoencoder): Map<string, tf.Variable> =>
  new Map([...autoencoder.weights, ...bottleneckVariables(autoencoder.bottleneck)])

/** Audio (B, T, channels) → codes (B, T/hop), int32. */
export const encodeToCodes = (autoencoder: Autoencoder, audio: tf.Tensor3D): tf.Tensor2D =>
  tf.tidy(() => {
    const vectors = autoencoder.encode(audio) // (B, T/hop, D)
    const [batch, length, width] = vectors.shape
    return tf.reshape(nearestCodes(autoencoder.bottleneck, tf.reshape(vectors, [batch * length, width])), [batch, length])
  })

/** Codes (B, L) → audio (B, L·hop, channels). */
export const decodeCodes = (autoencoder: Autoencoder, codes: tf.Tensor2D): tf.Tensor3D =>
  tf.tidy(() => autoencoder.decode(codeVectors(autoencoder.bottleneck, codes) as tf.Tensor3D))

// ---------------------------------------------------------------------------------------------
// Modules: each creates its weights under a name and returns its forward function.

type Module = (x: tf.Tensor3D) => tf.Tensor3D

/** Encoder: (B, T, channels) → (B, T/hop, D). */
const encoder = (p: Parameters, c: AutoencoderConfig): Module => {
  const blocks: Module[] = []
  for (let i = 0; i < c.downs; i++) {
    const down = conv(p, `encoder.blocks.${i}.down`, 4, i === 0 ? c.channels : c.width, c.width)
    const residual = residualStack(p, `encoder.blocks.${i}.res`, c, residualDilations(c))
    blocks.push((x) => residual(conv1d(x, down.weight, down.bias, { stride: 2, padding: 1 }))) // (B, T, Cin) → (B, T/2, W)
  }
  const out = conv(p, "encoder.out", 3, c.width, c.embeddingWidth)
  return (x) => conv1d(blocks.reduce((h, block) => block(h), x), out.weight, out.bias, { padding: 1 }) // (B, T/hop, W) → (B, T/hop, D)
}

/** Decoder: (B, T/hop, D) → (B, T, channels). */
const decoder = (p: Parameters, c: AutoencoderConfig): Module => {
  const input = conv(p, "decoder.in", 3, c.embeddingWidth, c.width)
  const blocks: Module[] = []
  for (let i = 0; i < c.downs; i++) {
    const residual = residualStack(p, `decoder.blocks.${i}.res`, c, residualDilations(c).reverse())
    const up = conv(p, `decoder.blocks.${i}.up`, 4, c.width, i === c.downs - 1 ? c.embeddingWidth : c.width)
    blocks.push((x) => convTranspose1d(residual(x), up.weight, up.bias, { stride: 2, padding: 1 })) // (B, T, W) → (B, 2T, W)
  }
  const out = conv(p, "decoder.out", 3, c.embeddingWidth, c.channels)
  return (x) => {
    const h = conv1d(x, input.weight, input.bias, { padding: 1 }) // (B, T/hop, D) → (B, T/hop, W)
    return conv1d(blocks.reduce((y, block) => block(y), h), out.weight, out.bias, { padding: 1 }) // (B, T, D) → (B, T, channels)
  }
}

/** Residual blocks of the given dilations: (B, T, W) → (B, T, W). */
const residualStack = (p: Parameters, name: string, c: AutoencoderConfig, blockDilations: number[]): Module => {
  const blocks = blockDilations.map((dilation, j) => residualBlock(p, `${name}.${j}`, c.width, c.residualWidth, dilation))
  return (x) => blocks.reduce((h, block) => block(h), x)
}

/** x + conv1(ReLU(conv3(ReLU(x)))), conv3 dilated: (B, T, W) → (B, T, R) → (B, T, W). Also the upsampler conditioner's block. */
export const residualBlock = (p: Parameters, name: string, width: number, residualWidth: number, dilation: number): Module => {
  const conv3 = conv(p, `${name}.conv3`, 3, width, residualWidth)
  const conv1 = conv(p, `${name}.conv1`, 1, residualWidth, width)
  return (x) => {
    const h = conv1d(relu(x), conv3.weight, conv3.bias, { dilation, padding: dilation })
    return tf.add(x, conv1d(relu(h), conv1.weight, conv1.bias))
  }
}


/** A conv layer's weights. */
export interface Conv {
  readonly weight: tf.Variable<tf.Rank.R3>
  readonly bias: tf.Variable<tf.Rank.R1>
}

/** A conv's weights: (K, Cin, Cout) drawn from N(0, s²) (the Parameters' scale), zero bias. */
export const conv = (p: Parameters, name: string, kernel: number, inChannels: number, outChannels: number): Conv => ({
  weight: p.normal(`${name}.weight`, [kernel, inChannels, outChannels]) as tf.Variable<tf.Rank.R3>,
  bias: p.zeros(`${name}.bias`, [outChannels]) as tf.Variable<tf.Rank.R1>,
})
