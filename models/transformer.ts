/**
 * The Scalable Transformer of the Jukebox priors and upsamplers (paper Appendix B.2): a decoder-only
 * Transformer over VQ-VAE codes.
 *
 *   input at position t: start embedding (t = 0) or embedding of token t − 1, + position embedding
 *                        (+ per-position conditioning: upsampler conditioner, artist/genre/timing)
 *   block:               x + attention(LN(x)), then x + MLP(LN(x))           (pre-LayerNorm)
 *   attention:           width 0.25 × width, heads of width/heads; its kind per layer from a
 *                        cycled pattern (attention.ts); encoder-decoder layers attend to an
 *                        external context (the lyrics encoder's output)
 *   MLP:                 width × 1, quick GELU x·σ(1.702x) (the reference implementation's `quick_gelu`)
 *   output:              final LayerNorm (`forwardHidden` stops here: a lyrics encoder's output), projection
 *                        to the vocabulary (no bias, as the reference)
 *   logits at position t: the distribution of token t given tokens 0 … t − 1
 *   attentionWeights:    one layer's softmax weights per head (B, H, T, Tkeys), the blocks before
 *                        it run as in `forward`: e.g. an encoder-decoder layer's lyrics alignment
 *   sampler:             a position at a time, the keys and values kept (attention.ts's caches); a
 *                        step's input computed in JS from tables read once, and with the native
 *                        kernels each block one kernel (native-sampling.ts), the head another
 *
 * Initialisation: every weight N(0, s²), position embeddings N(0, (2s)²) (paper-notes; the
 * reference draws them at half its token embeddings' scale instead), biases 0, LayerNorm gains 1.
 *
 * Weights are tf.Variables in a map, named like a PyTorch state_dict; linear weights are
 * (Cin, Cout), i.e. a PyTorch nn.Linear weight transposed (bench/torch/prior.py loads them so):
 *   token_embedding.weight   (vocab, W)
 *   start_embedding          (W)
 *   position_embedding       (contextLength, W)
 *   blocks.{i}.ln_1.weight, .bias                 (W)
 *   blocks.{i}.attn.qkv.weight (W, 3A), .bias     self-attention: columns [q | k | v], head h at h·dh
 *   blocks.{i}.attn.q.weight (W, A), .bias        encoder-decoder: queries from the music ...
 *   blocks.{i}.attn.kv.weight (We, 2A), .bias     ... keys and values [k | v] from the context
 *   blocks.{i}.attn.out.weight (A, W), .bias
 *   blocks.{i}.ln_2.weight, .bias                 (W)
 *   blocks.{i}.mlp.fc.weight (W, M), .bias; blocks.{i}.mlp.proj.weight (M, W), .bias
 *   ln_f.weight, .bias       (W)
 *   head.weight              (W, vocab)
 */
import * as tf from "@tensorflow/tfjs-core"
import type { AttentionType } from "./attention.ts"
import { linear } from "./ops.ts"
import { Parameters } from "./parameters.ts"
import { attentionWidth, block, layerNorm } from "./transformer-layers.ts"
import { seededRandom } from "./random.ts"

export type { AttentionType } from "./attention.ts"
export { attentionWidth, layerNorm } from "./transformer-layers.ts"

/** A Transformer's sizes (paper / reference values in brackets). */
export interface TransformerConfig {
  /** Tokens: the VQ-VAE's codebook size [2048]. */
  readonly vocab: number
  /** Longest sequence, n_ctx [8192]. */
  readonly contextLength: number
  /** Model width W [top prior 4800, upsamplers 1920]. */
  readonly width: number
  /** Layers [72]. */
  readonly depth: number
  /** Attention heads [top prior 8]. */
  readonly heads: number
  /** Positions per block of the factorized attention [reference: contextLength / 64]. */
  readonly blockLength: number
  /** Attention kind of each layer, cycled: layer i has pattern[i mod pattern.length] [row, column, previous-row]. */
  readonly pattern: readonly AttentionType[]
  /** Standard deviation s of the initial weights; position embeddings get 2s. */
  readonly initScale: number
  /** Attention width A ÷ W [0.25]. */
  readonly attentionMultiplier: number
  /** MLP width M ÷ W [1]. */
  readonly mlpMultiplier: number
  /** Whether the model takes a per-position conditioning (B, T, W) added to its input embeddings. */
  readonly conditioning: boolean
  /** Width of the encoder-decoder layers' context [lyrics encoder: 1280]; needed when the pattern has them. */
  readonly encoderWidth?: number
}

/** Inputs besides the tokens, each required exactly when the config says so. */
export interface TransformerInputs {
  /** Added to the input embeddings, (B, T', W) with T' ≥ the positions computed; `config.conditioning`. */
  readonly conditioning?: tf.Tensor3D
  /** What encoder-decoder layers attend to, (B, Tctx, encoderWidth). */
  readonly encoderOutput?: tf.Tensor3D
}

/** A Transformer: weights and the two ways to run them. */
export interface Transformer {
  readonly config: TransformerConfig
  /** Trainable weights by name, in creation order. */
  readonly weights: ReadonlyMap<string, tf.Variable>
  /** Tokens (B, T) int32 → logits (B, T, vocab); row t is the distribution of token t given the tokens before it. */
  readonly forward: (tokens: tf.Tensor2D, inputs?: TransformerInputs) => tf.Tensor3D
  /** Tokens (B, T) int32 → the final LayerNorm's output (B, T, W), what `head` projects: a lyrics encoder's output. */
  readonly forwardHidden: (tokens: tf.Tensor2D, inputs?: TransformerInputs) => tf.Tensor3D
  /** Final hidden states (B, T, W) from `forwardHidden` → logits (B, T, vocab). */
  readonly head: (hidden: tf.Tensor3D) => tf.Tensor3D
  /**
   * Tokens (B, T) int32 → the softmax weights of layer `layer`'s attention, (B, heads, T, Tkeys):
   * Tkeys = T for self-attention (zero where the layer's kind does not look, `selfAttentionWeights`),
   * the context length Tctx for encoder-decoder layers. Runs the blocks before `layer` only.
   */
  readonly attentionWeights: (tokens: tf.Tensor2D, layer: number, inputs?: TransformerInputs) => tf.Tensor4D
  /** A key/value-cached decoder of `batch` sequences; `inputs` cover every position it will compute. */
  readonly sampler: (batch: number, inputs?: TransformerInputs) => Sampler
}

/**
 * Incremental decoding: `start()` gives the logits of token 0, then each `step(tokens)` feeds the
 * next tokens and gives the logits of the token after each. Concatenated, they equal `forward`'s.
 */
export interface Sampler {
  /** Positions whose logits have been returned. */
  readonly length: number
  /** Logits (B, 1, vocab) of token 0; called once, first. */
  start(): tf.Tensor3D
  /** Tokens (B, n) at positions length − 1 … length + n − 2 → logits (B, n, vocab) of positions length … length + n − 1. */
  step(tokens: tf.Tensor2D): tf.Tensor3D
  /** Frees the cache (not the inputs, which stay the caller's). */
  dispose(): void
}

/** Each layer's attention kind: the pattern cycled over the depth. */
export const layerTypes = (config: Pick<TransformerConfig, "depth" | "pattern">): AttentionType[] =>
  Array.from({ length: config.depth }, (_, i) => config.pattern[i % config.pattern.length]!)

/** Indices of the encoder-decoder layers, in order. */
export const encoderDecoderLayers = (config: Pick<TransformerConfig, "depth" | "pattern">): number[] =>
  layerTypes(config).flatMap((type, i) => (type === "encoder-decoder" ? [i] : []))


/** Trainable numbers of a Transformer of `config`, without building it (what `weights` would hold). */
export const transformerParameterCount = (c: TransformerConfig): number => {
  const { vocab, width, contextLength } = c
  const attention = attentionWidth(c)
  const mlpWidth = Math.round(c.mlpMultiplier * width)
  const dense = (inputs: number, outputs: number) => inputs * outputs + outputs
  const perLayer = (type: AttentionType) =>
    4 * width + // ln_1, ln_2
    (type === "encoder-decoder" ? dense(width, attention) + dense(c.encoderWidth!, 2 * attention) : dense(width, 3 * attention)) +
    dense(attention, width) +
    dense(width, mlpWidth) + dense(mlpWidth, width)
  const layers = layerTypes(c).reduce((n, type) => n + perLayer(type), 0)
  return vocab * width + width + contextLength * width + layers + 2 * width + width * vocab
}

/** A freshly initialised Transformer; the same seed gives the same weights on every backend. */
export const createTransformer = (config: TransformerConfig, seed: number): Transformer => {
  checkConfig(config)
  const p = new Parameters(seededRandom(seed), config.initScale)
  const { vocab, width, contextLength } = config
  const tokenEmbedding = p.normal("token_embedding.weight", [vocab, width]) as tf.Variable<tf.Rank.R2>
  const startEmbedding = p.normal("start_embedding", [width]) as tf.Variable<tf.Rank.R1>
  const positionEmbedding = p.normal("position_embedding", [contextLength, width], 2 * config.initScale) as tf.Variable<tf.Rank.R2>
  const blocks = layerTypes(config).map((type, i) => block(p, `blocks.${i}`, config, type))
  const finalNorm = layerNorm(p, "ln_f", width)
  const headWeight = p.normal("head.weight", [width, vocab]) as tf.Variable<tf.Rank.R2>

  /** Input embeddings (B, n, W) of positions from `start` on, plus their positions and conditioning. */
  const withPositions = (h: tf.Tensor3D, start: number, conditioning?: tf.Tensor3D): tf.Tensor3D => {
    const [batch, length] = h.shape
    const positioned = tf.add(h, tf.slice(positionEmbedding, [start, 0], [length, width])) as tf.Tensor3D
    return conditioning === undefined ? positioned : tf.add(positioned, tf.slice(conditioning, [0, start, 0], [batch, length, width]))
  }
  /** Tokens (B, n) → their embeddings (B, n, W). */
  const embed = (tokens: tf.Tensor2D): tf.Tensor3D => tf.gather(tokenEmbedding, tokens) as tf.Tensor as tf.Tensor3D
  /** The start embedding for `batch` sequences: (B, 1, W). */
  const startSlot = (batch: number): tf.Tensor3D => tf.tile(tf.reshape(startEmbedding, [1, 1, width]), [batch, 1, 1])
  /** Final hidden states (B, n, W) → logits (B, n, vocab). */
  const head = (h: tf.Tensor3D): tf.Tensor3D => linear(h, headWeight) as tf.Tensor3D
  /** Last block's output (B, n, W) → logits (B, n, vocab). */
  const logits = (h: tf.Tensor3D): tf.Tensor3D => linear(h, headWeight, undefined, { norm: finalNorm }) as tf.Tensor3D
  /** Tokens (B, T) → the output (B, T, W) of the first `count` blocks (all by default). */
  const blocksOutput = (tokens: tf.Tensor2D, inputs: TransformerInputs, count = blocks.length): tf.Tensor3D => {
    const [batch, length] = tokens.shape
    if (length < 1 || length > contextLength) throw new RangeError(`transformer: ${length} tokens, the context is 1 to ${contextLength}`)
    checkInputs(config, batch, length, inputs)
    const previous = () => embed(tf.slice(tokens, [0, 0], [batch, length - 1])) // (B, T − 1, W)
    const embedded = length === 1 ? startSlot(batch) : tf.concat([startSlot(batch), previous()], 1) // (B, T, W): start, tokens 0 … T − 2
    let h = withPositions(embedded, 0, inputs.conditioning)
    for (const b of blocks.slice(0, count)) h = b.forward(h, inputs.encoderOutput)
    return h
  }

  return {
    config,
    weights: p.variables,
    forward: (tokens, inputs = {}) => tf.tidy(() => logits(blocksOutput(tokens, inputs))), // (B, T, vocab)
    forwardHidden: (tokens, inputs = {}) => tf.tidy(() => finalNorm(blocksOutput(tokens, inputs))), // (B, T, W)
    head: (hidden) => tf.tidy(() => head(hidden)),
    attentionWeights: (tokens, layer, inputs = {}) => {
      if (!Number.isInteger(layer) || layer < 0 || layer >= blocks.length) throw new RangeError(`attentionWeights: layer ${layer} is not one of 0 … ${blocks.length - 1}`)
      return tf.tidy(() => {
        const weights = blocks[layer]!.attentionWeights(blocksOutput(tokens, inputs, layer), inputs.encoderOutput) // (B·H, T, Tkeys)
        const [rows, length, keys] = weights.shape
        return tf.reshape(weights, [tokens.shape[0], rows / tokens.shape[0], length, keys]) // (B, H, T, Tkeys)
      })
    },
    sampler: (batch, inputs = {}) => {
      checkInputs(config, batch, 0, inputs)
      const steppers = blocks.map((b) => b.stepper(inputs.encoderOutput))
      const span = Math.min(contextLength, inputs.conditioning?.shape[1] ?? contextLength)
      // the input tables read once: a step's input is computed here, (token + position) + conditioning in
      // float32 as `withPositions` adds them, and uploaded, where tfjs would run five kernels
      const tables = {
        tokens: tokenEmbedding.dataSync() as Float32Array, // (vocab, W)
        start: startEmbedding.dataSync() as Float32Array, // (W)
        positions: positionEmbedding.dataSync() as Float32Array, // (contextLength, W)
        conditioning: inputs.conditioning?.dataSync() as Float32Array | undefined, // (B, T', W)
      }
      const conditioned = inputs.conditioning?.shape[1] ?? 0
      /** Input rows (B, n, W) of positions length … length + n − 1, from token ids (B, n), −1 for the start slot. */
      const stepInput = (ids: Int32Array | number[], count: number): tf.Tensor3D => {
        const h = new Float32Array(batch * count * width)
        for (let b = 0; b < batch; b++) {
          for (let i = 0; i < count; i++) {
            const id = ids[b * count + i]!
            const [embedding, at] = id < 0 ? [tables.start, 0] : [tables.tokens, id * width]
            const position = (length + i) * width
            const row = (b * count + i) * width
            for (let c = 0; c < width; c++) h[row + c] = embedding[at + c]! + tables.positions[position + c]!
            const conditioning = tables.conditioning
            if (conditioning !== undefined) {
              const from = (b * conditioned + length + i) * width
              for (let c = 0; c < width; c++) h[row + c] = h[row + c]! + conditioning[from + c]!
            }
          }
        }
        return tf.tensor3d(h, [batch, count, width])
      }
      let length = 0
      const run = (ids: Int32Array | number[], count: number): tf.Tensor3D => {
        if (length + count > contextLength) throw new RangeError(`sampler: position ${length + count - 1} is past the context of ${contextLength}`)
        if (length + count > span) throw new RangeError(`sampler: the conditioning covers ${span} positions, not ${length + count}`)
        const out = tf.tidy(() => {
          let h = stepInput(ids, count) // (B, n, W)
          for (const s of steppers) h = s.step(h)
          return logits(h) // (B, n, vocab)
        })
        length += count
        return out
      }
      return {
        get length() {
          return length
        },
        start: () => {
          if (length > 0) throw new Error("sampler: start() is called once, first")
          return run(Array(batch).fill(-1), 1)
        },
        step: (tokens) => {
          if (length === 0) throw new Error("sampler: call start() before step()")
          if (tokens.shape[0] !== batch) throw new RangeError(`sampler: ${tokens.shape[0]} sequences of tokens, the sampler has ${batch}`)
          const ids = tokens.dataSync() as Int32Array
          if (ids.some((id) => !(id >= 0 && id < vocab))) throw new RangeError(`sampler: a token outside 0 … ${vocab - 1}`)
          return run(ids, tokens.shape[1])
        },
        dispose: () => steppers.forEach((s) => s.dispose()),
      }
    },
  }
}

/**
 * Model surgery for lyrics conditioning (paper B.3): a Transformer of `config` — `trained`'s
 * layers with encoder-decoder layers inserted — that holds `trained`'s weights and whose new layers'
 * output projections (attention's and MLP's) are zero, so it computes exactly what `trained` did
 * until the new layers learn.
 */
export const addEncoderDecoderLayers = (trained: Transformer, config: TransformerConfig, seed: number): Transformer => {
  const differing = (["vocab", "contextLength", "width", "heads", "blockLength", "attentionMultiplier", "mlpMultiplier", "conditioning"] as const)
    .filter((key) => trained.config[key] !== config[key])
  if (differing.length > 0) throw new RangeError(`addEncoderDecoderLayers: ${differing.join(", ")} differ from the trained model's`)
  const from = layerTypes(trained.config)
  const to = layerTypes(config)
  const newIndex: number[] = [] // newIndex[j]: where trained layer j goes
  for (let i = 0; i < to.length && newIndex.length < from.length; i++) if (to[i] === from[newIndex.length]) newIndex.push(i)
  const inserted = to.map((_, i) => i).filter((i) => !newIndex.includes(i))
  if (newIndex.length < from.length || inserted.some((i) => to[i] !== "encoder-decoder")) {
    throw new RangeError(`addEncoderDecoderLayers: [${to.join(", ")}] is not [${from.join(", ")}] with encoder-decoder layers inserted`)
  }
  const model = createTransformer(config, seed)
  const rename = (name: string): string => name.replace(/^blocks\.(\d+)\./, (_, j: string) => `blocks.${newIndex[Number(j)]}.`)
  tf.tidy(() => {
    for (const [name, weight] of trained.weights) {
      const target = model.weights.get(rename(name))
      if (target === undefined) throw new RangeError(`addEncoderDecoderLayers: the new model has no weight ${rename(name)} for the trained ${name}`)
      target.assign(weight)
    }
    for (const i of inserted) {
      for (const part of ["attn.out", "mlp.proj"]) for (const kind of ["weight", "bias"]) {
        const weight = model.weights.get(`blocks.${i}.${part}.${kind}`)!
        weight.assign(tf.zerosLike(weight))
      }
    }
  })
  return model
}

// ---------------------------------------------------------------------------------------------

const checkConfig = (c: TransformerConfig): void => {
  const width = attentionWidth(c)
  if (width % c.heads !== 0) throw new RangeError(`transformer: attention width ${width} (${c.attentionMultiplier} × ${c.width}) is not a multiple of ${c.heads} heads`)
  if (c.pattern.length === 0) throw new RangeError("transformer: the attention pattern is empty")
  if (c.pattern.includes("encoder-decoder") && !(c.encoderWidth! > 0)) throw new RangeError("transformer: encoder-decoder layers need an encoderWidth")
}

/** Throws, saying what is wrong, unless the inputs are what the config asks for, the conditioning covering `length` positions. */
const checkInputs = (c: TransformerConfig, batch: number, length: number, inputs: TransformerInputs): void => {
  const { conditioning, encoderOutput } = inputs
  if (c.conditioning !== (conditioning !== undefined)) throw new RangeError(`transformer: the config ${c.conditioning ? "needs" : "takes no"} conditioning`)
  if (conditioning !== undefined) {
    const [b, t, w] = conditioning.shape
    if (b !== batch || t < length || w !== c.width) throw new RangeError(`transformer: conditioning is [${conditioning.shape.join(", ")}], it must be [${batch}, ≥ ${length}, ${c.width}]`)
  }
  const needsEncoder = c.pattern.includes("encoder-decoder")
  if (needsEncoder !== (encoderOutput !== undefined)) throw new RangeError(`transformer: the config ${needsEncoder ? "needs" : "takes no"} encoderOutput`)
  if (encoderOutput !== undefined && (encoderOutput.shape[0] !== batch || encoderOutput.shape[2] !== c.encoderWidth)) {
    throw new RangeError(`transformer: encoderOutput is [${encoderOutput.shape.join(", ")}], it must be [${batch}, Tctx, ${c.encoderWidth}]`)
  }
}
