/**
 * The Transformer's layers (transformer.ts builds the whole from them): a residual block of
 * attention — self-attention of one factorized kind, or encoder-decoder attention — and an MLP,
 * each branch normalising its input inside its first dense layer and adding its residual inside
 * its last; each layer also steps one position at a time through its KV cache while sampling
 * (with the native kernels, a whole block in one kernel), and gives its attention's weights.
 */
import * as tf from "@tensorflow/tfjs-core"
import {
  attentionWeights,
  keyValueCache,
  mergeHeads,
  splitHeads,
  maskedAttention,
  selfAttention,
  selfAttentionWeights,
  type AttentionType,
  type SelfAttentionType,
} from "./attention.ts"
import { nativeBlockStep, stepsNatively, type BlockWeights, type DenseWeights } from "./native-kernels.ts"
import { layerNorm as normalize, linear, type LinearOptions } from "./ops.ts"
import type { Parameters } from "./parameters.ts"
import type { TransformerConfig } from "./transformer.ts"

/** Attention width A = attentionMultiplier × W, a multiple of the heads. */
export const attentionWidth = (config: TransformerConfig): number => Math.round(config.attentionMultiplier * config.width)

// Modules: each creates its weights under a name and returns its forward function(s).

export type Module = (x: tf.Tensor3D) => tf.Tensor3D

/** A residual branch: x (B, T, Cin) → residual + its output (B, T, W), the sum in its last layer's kernel where it can. */
type Branch = (x: tf.Tensor3D, residual: tf.Tensor3D) => tf.Tensor3D

/** A layer's incremental form while sampling. */
interface Stepper<F> {
  /** Of the next n positions, (B, n, W). */
  readonly step: F
  readonly dispose: () => void
}

/** A residual block: over whole sequences, or stepwise; and its attention's weights. */
export interface Layer {
  readonly forward: (x: tf.Tensor3D, encoderOutput?: tf.Tensor3D) => tf.Tensor3D
  readonly stepper: (encoderOutput?: tf.Tensor3D) => Stepper<Module>
  /** The layer's input (B, T, W) → its attention's softmax weights (B·H, T, Tkeys). */
  readonly attentionWeights: (x: tf.Tensor3D, encoderOutput?: tf.Tensor3D) => tf.Tensor3D
}

/** An attention layer of LN(x), its output added to a residual: over whole sequences, or stepwise; and its softmax weights. */
interface AttentionLayer {
  readonly forward: (x: tf.Tensor3D, residual: tf.Tensor3D, encoderOutput?: tf.Tensor3D) => tf.Tensor3D
  readonly stepper: (encoderOutput?: tf.Tensor3D) => Stepper<Branch> & {
    /** One position x (B, 1, W) through the whole block on the native kernel (`stepsNatively`), the rest of the block's weights given. */
    readonly stepBlock: (x: tf.Tensor3D, rest: Omit<BlockWeights, "input" | "output">) => tf.Tensor3D
  }
  /** The layer's input (B, T, W) → its softmax weights (B·H, T, Tkeys). */
  readonly attentionWeights: (x: tf.Tensor3D, encoderOutput?: tf.Tensor3D) => tf.Tensor3D
}

/** x + attention(LN(x)), then x + MLP(LN(x)): (B, T, W) → (B, T, W). */
export const block = (p: Parameters, name: string, c: TransformerConfig, type: AttentionType): Layer => {
  const norm1 = layerNorm(p, `${name}.ln_1`, c.width)
  const attention = type === "encoder-decoder" ? encoderDecoderAttention(p, `${name}.attn`, c, norm1) : causalSelfAttention(p, `${name}.attn`, c, type, norm1)
  const norm2 = layerNorm(p, `${name}.ln_2`, c.width)
  const perceptron = mlp(p, `${name}.mlp`, c.width, Math.round(c.mlpMultiplier * c.width), norm2)
  // each branch normalises its input in its first dense layer and adds its residual in its last
  const residual = (x: tf.Tensor3D, attend: Branch): tf.Tensor3D => {
    const h = attend(x, x)
    return perceptron(h, h)
  }
  return {
    forward: (x, encoderOutput) => residual(x, (h, r) => attention.forward(h, r, encoderOutput)),
    stepper: (encoderOutput) => {
      const inner = attention.stepper(encoderOutput)
      const rest = { norm1, norm2, fc: perceptron.fc, proj: perceptron.proj }
      return { step: (x) => (stepsNatively(x) ? inner.stepBlock(x, rest) : residual(x, inner.step)), dispose: inner.dispose }
    },
    attentionWeights: (x, encoderOutput) => attention.attentionWeights(x, encoderOutput),
  }
}

/** Self-attention of one kind of norm(x): (B, T, W) → q, k, v (B·H, T, dh) → (B, T, W). */
const causalSelfAttention = (p: Parameters, name: string, c: TransformerConfig, type: SelfAttentionType, norm: Norm): AttentionLayer => {
  const width = attentionWidth(c)
  const qkvDense = dense(p, `${name}.qkv`, c.width, 3 * width)
  const out = dense(p, `${name}.out`, width, c.width)
  const qkv = (x: tf.Tensor3D) => qkvDense(x, { norm }) // (B, T, 3A): [q | k | v]
  const project = (x: tf.Tensor3D) => tf.split(qkv(x), 3, 2).map((t) => splitHeads(t as tf.Tensor3D, c.heads)) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D]
  const output = (heads: tf.Tensor3D, residual: tf.Tensor3D) => out(mergeHeads(heads, residual.shape[0]), { residual })
  return {
    forward: (x, residual) => {
      const [q, k, v] = project(x)
      return output(selfAttention(type, q, k, v, c.blockLength), residual)
    },
    stepper: () => {
      const cache = keyValueCache(type, c.blockLength, c.heads)
      return {
        step: (x, residual) => out(cache.attend(qkv(x)), { residual }),
        stepBlock: (x, rest) => cache.stepWith((run, seen, attendsRun) =>
          nativeBlockStep(x, { ...rest, input: qkvDense, output: out }, { heads: c.heads, parts: 3, attendsRun }, run, seen) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D]),
        dispose: () => cache.dispose(),
      }
    },
    attentionWeights: (x) => {
      const [q, k] = project(x)
      return selfAttentionWeights(type, q, k, c.blockLength)
    },
  }
}

/** Queries from norm(x) (B, T, W), keys and values from the context (B, Tctx, We), no mask → (B, T, W). */
const encoderDecoderAttention = (p: Parameters, name: string, c: TransformerConfig, norm: Norm): AttentionLayer => {
  const width = attentionWidth(c)
  const queryDense = dense(p, `${name}.q`, c.width, width)
  const query = (x: tf.Tensor3D) => queryDense(x, { norm })
  const keyValue = dense(p, `${name}.kv`, c.encoderWidth!, 2 * width)
  const out = dense(p, `${name}.out`, width, c.width)
  const keysValues = (context: tf.Tensor3D) => tf.split(keyValue(context), 2, 2).map((t) => splitHeads(t as tf.Tensor3D, c.heads)) as [tf.Tensor3D, tf.Tensor3D]
  const queries = (x: tf.Tensor3D) => splitHeads(query(x), c.heads)
  const attend = (x: tf.Tensor3D, residual: tf.Tensor3D, [k, v]: [tf.Tensor3D, tf.Tensor3D]) =>
    out(mergeHeads(maskedAttention(queries(x), k, v), x.shape[0]), { residual })
  return {
    forward: (x, residual, encoderOutput) => attend(x, residual, keysValues(encoderOutput!)),
    stepper: (encoderOutput) => {
      const projected = tf.tidy(() => keysValues(encoderOutput!)) // once per sampler
      return {
        step: (x, residual) => attend(x, residual, projected),
        stepBlock: (x, rest) => nativeBlockStep(x, { ...rest, input: queryDense, output: out }, { heads: c.heads, parts: 1, attendsRun: true }, projected) as tf.Tensor3D,
        dispose: () => tf.dispose(projected),
      }
    },
    attentionWeights: (x, encoderOutput) => attentionWeights(queries(x), keysValues(encoderOutput!)[0]),
  }
}

/** x·σ(1.702x) between two dense layers of norm(x): (B, T, W) → (B, T, M) → (B, T, W), added to the residual; and its weights. */
const mlp = (p: Parameters, name: string, width: number, hidden: number, norm: Norm): Branch & { fc: Dense; proj: Dense } => {
  const fc = dense(p, `${name}.fc`, width, hidden)
  const proj = dense(p, `${name}.proj`, hidden, width)
  return Object.assign((x: tf.Tensor3D, residual: tf.Tensor3D) => proj(fc(x, { norm, activation: "quick-gelu" }), { residual }), { fc, proj })
}

/** A LayerNorm: the function, and its weights for a dense layer to apply it first (`LinearOptions.norm`). */
type Norm = Module & NonNullable<LinearOptions["norm"]>

/** LayerNorm over the last axis (ε = 1e-5, PyTorch's), weights `name.weight` and `name.bias`: (…, W) → (…, W); ops.ts's `layerNorm`. */
export const layerNorm = (p: Parameters, name: string, width: number): Norm => {
  const gain = p.ones(`${name}.weight`, [width]) as tf.Variable<tf.Rank.R1>
  const bias = p.zeros(`${name}.bias`, [width]) as tf.Variable<tf.Rank.R1>
  const epsilon = 1e-5
  return Object.assign((x: tf.Tensor3D) => normalize(x, gain, bias, epsilon), { gain, bias, epsilon })
}

/** A dense layer: (…, Cin) → (…, Cout) with `linear`'s options; and its weights. */
type Dense = ((x: tf.Tensor3D, options?: LinearOptions) => tf.Tensor3D) & DenseWeights

/** A dense layer's weights, (Cin, Cout) from N(0, s²) and a zero bias. */
const dense = (p: Parameters, name: string, inputs: number, outputs: number): Dense => {
  const weight = p.normal(`${name}.weight`, [inputs, outputs]) as tf.Variable<tf.Rank.R2>
  const bias = p.zeros(`${name}.bias`, [outputs]) as tf.Variable<tf.Rank.R1>
  return Object.assign((x: tf.Tensor3D, options?: LinearOptions) => linear(x, weight, bias, options) as tf.Tensor3D, { weight, bias })
}
