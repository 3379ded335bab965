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
import {
  attentionWeights,
  keyValueCache,
  maskedAttention,
  selfAttention,
  selfAttentionWeights,
  type AttentionType,
  type SelfAttentionType,
} from "./attention.ts"
import { hasNativeKernels } from "./native-kernels.ts"
import { addBias, linear, nativeLayerNormOp } from "./ops.ts"
import { Parameters } from "./parameters.ts"
import { seededRandom } from "./random.ts"

export type { AttentionType } from "./attention.ts"

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

/** Attention width A = attentionMultiplier × W, a multiple of the heads. */
export const attentionWidth = (config: TransformerConfig): number => Math.round(config.attentionMultiplier * config.width)

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
  const logits = (h: tf.Tensor3D): tf.Tensor3D => head(finalNorm(h))
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
      // every position's embedding and conditioning, (B·span, W), once: a step gathers its rows
      const positioned = tf.tidy(() => tf.reshape(withPositions(tf.zeros([batch, span, width]), 0, inputs.conditioning), [batch * span, width]))
      let length = 0
      const run = (embedded: () => tf.Tensor3D, count: number): tf.Tensor3D => {
        if (length + count > contextLength) throw new RangeError(`sampler: position ${length + count - 1} is past the context of ${contextLength}`)
        if (length + count > span) throw new RangeError(`sampler: the conditioning covers ${span} positions, not ${length + count}`)
        const out = tf.tidy(() => {
          const rows = Int32Array.from({ length: batch * count }, (_, i) => Math.floor(i / count) * span + length + (i % count))
          let h = tf.add(embedded(), tf.reshape(tf.gather(positioned, rows), [batch, count, width])) as tf.Tensor3D // (B, n, W)
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
          return run(() => startSlot(batch), 1)
        },
        step: (tokens) => {
          if (length === 0) throw new Error("sampler: call start() before step()")
          if (tokens.shape[0] !== batch) throw new RangeError(`sampler: ${tokens.shape[0]} sequences of tokens, the sampler has ${batch}`)
          return run(() => embed(tokens), tokens.shape[1])
        },
        dispose: () => {
          steppers.forEach((s) => s.dispose())
          positioned.dispose()
        },
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
// Modules: each creates its weights under a name and returns its forward function(s).

type Module = (x: tf.Tensor3D) => tf.Tensor3D

/** A layer's incremental form while sampling. */
interface Stepper {
  /** x (B, n, W) of the next n positions → (B, n, W). */
  readonly step: Module
  readonly dispose: () => void
}

/** A residual block or attention layer: over whole sequences, or stepwise; and its attention's weights. */
interface Layer {
  readonly forward: (x: tf.Tensor3D, encoderOutput?: tf.Tensor3D) => tf.Tensor3D
  readonly stepper: (encoderOutput?: tf.Tensor3D) => Stepper
  /** The layer's input (B, T, W) → its attention's softmax weights (B·H, T, Tkeys). */
  readonly attentionWeights: (x: tf.Tensor3D, encoderOutput?: tf.Tensor3D) => tf.Tensor3D
}

/** x + attention(LN(x)), then x + MLP(LN(x)): (B, T, W) → (B, T, W). */
const block = (p: Parameters, name: string, c: TransformerConfig, type: AttentionType): Layer => {
  const norm1 = layerNorm(p, `${name}.ln_1`, c.width)
  const attention = type === "encoder-decoder" ? encoderDecoderAttention(p, `${name}.attn`, c) : causalSelfAttention(p, `${name}.attn`, c, type)
  const norm2 = layerNorm(p, `${name}.ln_2`, c.width)
  const perceptron = mlp(p, `${name}.mlp`, c.width, Math.round(c.mlpMultiplier * c.width))
  const residual = (x: tf.Tensor3D, attend: Module): tf.Tensor3D => {
    const h = tf.add(x, attend(norm1(x))) as tf.Tensor3D
    return tf.add(h, perceptron(norm2(h)))
  }
  return {
    forward: (x, encoderOutput) => residual(x, (h) => attention.forward(h, encoderOutput)),
    stepper: (encoderOutput) => {
      const inner = attention.stepper(encoderOutput)
      return { step: (x) => residual(x, inner.step), dispose: inner.dispose }
    },
    attentionWeights: (x, encoderOutput) => attention.attentionWeights(norm1(x), encoderOutput),
  }
}

/** Self-attention of one kind: (B, T, W) → q, k, v (B·H, T, dh) → (B, T, W). */
const causalSelfAttention = (p: Parameters, name: string, c: TransformerConfig, type: SelfAttentionType): Layer => {
  const width = attentionWidth(c)
  const qkv = dense(p, `${name}.qkv`, c.width, 3 * width)
  const out = dense(p, `${name}.out`, width, c.width)
  const project = (x: tf.Tensor3D) => tf.split(qkv(x), 3, 2).map((t) => splitHeads(t as tf.Tensor3D, c.heads)) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D]
  const output = (heads: tf.Tensor3D, batch: number) => out(mergeHeads(heads, batch))
  return {
    forward: (x) => {
      const [q, k, v] = project(x)
      return output(selfAttention(type, q, k, v, c.blockLength), x.shape[0])
    },
    stepper: () => {
      const cache = keyValueCache(type, c.blockLength)
      return {
        step: (x) => output(cache.attend(...project(x)), x.shape[0]),
        dispose: () => cache.dispose(),
      }
    },
    attentionWeights: (x) => {
      const [q, k] = project(x)
      return selfAttentionWeights(type, q, k, c.blockLength)
    },
  }
}

/** Queries from x (B, T, W), keys and values from the context (B, Tctx, We), no mask → (B, T, W). */
const encoderDecoderAttention = (p: Parameters, name: string, c: TransformerConfig): Layer => {
  const width = attentionWidth(c)
  const query = dense(p, `${name}.q`, c.width, width)
  const keyValue = dense(p, `${name}.kv`, c.encoderWidth!, 2 * width)
  const out = dense(p, `${name}.out`, width, c.width)
  const keysValues = (context: tf.Tensor3D) => tf.split(keyValue(context), 2, 2).map((t) => splitHeads(t as tf.Tensor3D, c.heads)) as [tf.Tensor3D, tf.Tensor3D]
  const queries = (x: tf.Tensor3D) => splitHeads(query(x), c.heads)
  const attend = (x: tf.Tensor3D, [k, v]: [tf.Tensor3D, tf.Tensor3D]) => out(mergeHeads(maskedAttention(queries(x), k, v), x.shape[0]))
  return {
    forward: (x, encoderOutput) => attend(x, keysValues(encoderOutput!)),
    stepper: (encoderOutput) => {
      const projected = tf.tidy(() => keysValues(encoderOutput!)) // once per sampler
      return { step: (x) => attend(x, projected), dispose: () => tf.dispose(projected) }
    },
    attentionWeights: (x, encoderOutput) => attentionWeights(queries(x), keysValues(encoderOutput!)[0]),
  }
}

/** x·σ(1.702x) between two dense layers: (B, T, W) → (B, T, M) → (B, T, W). */
const mlp = (p: Parameters, name: string, width: number, hidden: number): Module => {
  const fc = dense(p, `${name}.fc`, width, hidden)
  const proj = dense(p, `${name}.proj`, hidden, width)
  return (x) => {
    const h = fc(x)
    return proj(tf.mul(h, tf.sigmoid(tf.mul(h, 1.702))))
  }
}

/**
 * LayerNorm over the last axis (ε = 1e-5, PyTorch's), weights `name.weight` and `name.bias`: (…, W) → (…, W).
 * With the native kernels, one op each way (ops.ts's `nativeLayerNormOp`); else tfjs's ops.
 */
export const layerNorm = (p: Parameters, name: string, width: number): Module => {
  const gain = p.ones(`${name}.weight`, [width]) as tf.Variable<tf.Rank.R1>
  const bias = p.zeros(`${name}.bias`, [width]) as tf.Variable<tf.Rank.R1>
  return (x) => {
    if (hasNativeKernels()) return nativeLayerNormOp(x, gain, bias, 1e-5)
    const { mean, variance } = tf.moments(x, -1, true)
    return addBias(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), gain) as tf.Tensor3D, bias)
  }
}

/** A dense layer's weights, (Cin, Cout) from N(0, s²) and a zero bias: (…, Cin) → (…, Cout). */
const dense = (p: Parameters, name: string, inputs: number, outputs: number): Module => {
  const weight = p.normal(`${name}.weight`, [inputs, outputs]) as tf.Variable<tf.Rank.R2>
  const bias = p.zeros(`${name}.bias`, [outputs]) as tf.Variable<tf.Rank.R1>
  return (x) => linear(x, weight, bias) as tf.Tensor3D
}

/** (B, T, A) → (B·H, T, A/H): head h is columns h·dh … (h + 1)·dh − 1. */
const splitHeads = (x: tf.Tensor3D, heads: number): tf.Tensor3D => {
  const [batch, length, width] = x.shape
  const perHead = width / heads
  if (length === 1) return tf.reshape(x, [batch * heads, 1, perHead]) // one position: the transpose moves nothing
  return tf.reshape(tf.transpose(tf.reshape(x, [batch, length, heads, perHead]), [0, 2, 1, 3]), [batch * heads, length, perHead])
}

/** (B·H, T, dh) → (B, T, H·dh). */
const mergeHeads = (x: tf.Tensor3D, batch: number): tf.Tensor3D => {
  const [rows, length, perHead] = x.shape
  const heads = rows / batch
  if (length === 1) return tf.reshape(x, [batch, 1, heads * perHead])
  return tf.reshape(tf.transpose(tf.reshape(x, [batch, heads, length, perHead]), [0, 2, 1, 3]), [batch, length, heads * perHead])
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
