/**
 * Prior presets: the demo's (a laptop CPU, for the demo VQ-VAE at 22.05 kHz with 256 codes) and the
 * paper's (the reference's hparams). The prior-train stage sets the label vocabularies and codebook
 * sizes of its own dataset on top of these.
 */
import { LYRIC_VOCABULARY_SIZE } from "../dataset/lyrics.ts"
import type { LabelConfig, UpsamplerConditionerConfig } from "./conditioning.ts"
import type { LyricsSurgery, PriorConfig } from "./prior.ts"
import type { AttentionType, TransformerConfig } from "./transformer.ts"


const ROW_COLUMN_PREVIOUS: readonly AttentionType[] = ["row", "column", "previous-row"]

/** The demo's Transformer shape: widths 64–128, three layers (one of each factorized kind), 1024 tokens as 32 blocks of 32. */
const demoTransformer = (width: number): TransformerConfig => ({
  vocab: 256,
  contextLength: 1024,
  width,
  depth: 3,
  heads: 2,
  blockLength: 32,
  pattern: ROW_COLUMN_PREVIOUS,
  initScale: 0.02,
  attentionMultiplier: 0.25,
  mlpMultiplier: 1,
  conditioning: true,
})

/** Placeholder label vocabularies: a prior-train stage sets them from the vocabulary (names + 1 for "unknown"). */
const DEMO_LABELS: LabelConfig = { artists: 64, genres: 32 }

/** The demo conditioner: one ×4 stage (the demo VQ-VAE's hops 8, 32, 128) of three blocks. */
const DEMO_UPSAMPLER: UpsamplerConditionerConfig = { upperVocab: 256, strides: [4], width: 32, depth: 3, dilationGrowth: 3, initScale: 0.1 }

/**
 * The demo's priors, for DEMO_VQVAE (22.05 kHz, codebook 256): 1024-token windows of about 5.9 s,
 * 1.5 s and 0.37 s. The top prior trains without lyrics; `addLyrics(top, DEMO_LYRICS)` adds them.
 */
export const DEMO_PRIORS = {
  top: { hopLength: 128, sampleRate: 22050, transformer: demoTransformer(128), labels: DEMO_LABELS, timing: { bins: 64, minSeconds: 0, maxSeconds: 300 } },
  middle: { hopLength: 32, sampleRate: 22050, transformer: demoTransformer(64), labels: DEMO_LABELS, upsampler: DEMO_UPSAMPLER },
  bottom: { hopLength: 8, sampleRate: 22050, transformer: demoTransformer(64), labels: DEMO_LABELS, upsampler: DEMO_UPSAMPLER },
} as const satisfies Record<string, PriorConfig>

/** The demo's lyrics: a dense 2-layer encoder over the chunk stage's 128-character windows, one encoder-decoder layer after the three. */
export const DEMO_LYRICS: LyricsSurgery = {
  lyrics: {
    encoder: { ...demoTransformer(64), vocab: LYRIC_VOCABULARY_SIZE, contextLength: 128, depth: 2, blockLength: 16, pattern: ["dense"], conditioning: false },
    lossFraction: 0.4,
  },
  depth: 4,
  pattern: [...ROW_COLUMN_PREVIOUS, "encoder-decoder"],
}

/** The reference's Transformer shape: 8192 tokens as 128 blocks of 64; its init_scale × 0.02 as ours (its weights are N(0, (0.02 · init_scale)²)). */
const jukeboxTransformer = (width: number, heads: number, initScale: number): TransformerConfig => ({
  vocab: 2048,
  contextLength: 8192,
  width,
  depth: 72,
  heads,
  blockLength: 64,
  pattern: ROW_COLUMN_PREVIOUS,
  initScale: 0.02 * initScale,
  attentionMultiplier: 0.25,
  mlpMultiplier: 1,
  conditioning: true,
})

/** The reference's label vocabularies (y_bins) — replaced by a stage from its own vocabulary. */
const JUKEBOX_LABELS: LabelConfig = { artists: 4111, genres: 120 }

/** The reference's upsampler conditioner: two ×2 stages of 16 blocks of width 1024, dilations cycling 1 … 3^7. */
const JUKEBOX_UPSAMPLER: UpsamplerConditionerConfig = { upperVocab: 2048, strides: [2, 2], width: 1024, depth: 16, dilationGrowth: 3, dilationCycle: 8, initScale: 0.01 }

/**
 * The paper's priors (Appendix B.2-B.3; the reference's hparams prior_5b, upsampler_level_0/1),
 * 44.1 kHz: the 5B top prior (width 4800, 72 layers, 8 heads) with timing over songs of 60-600 s
 * in 128 buckets, and the 1B upsamplers (width 1920, 72 layers, 1 head).
 */
export const JUKEBOX_PRIORS = {
  top: { hopLength: 128, sampleRate: 44100, transformer: jukeboxTransformer(4800, 8, 0.1), labels: JUKEBOX_LABELS, timing: { bins: 128, minSeconds: 60, maxSeconds: 600 } },
  middle: { hopLength: 32, sampleRate: 44100, transformer: jukeboxTransformer(1920, 1, 0.4), labels: JUKEBOX_LABELS, upsampler: JUKEBOX_UPSAMPLER },
  bottom: { hopLength: 8, sampleRate: 44100, transformer: jukeboxTransformer(1920, 1, 0.4), labels: JUKEBOX_LABELS, upsampler: JUKEBOX_UPSAMPLER },
} as const satisfies Record<string, PriorConfig>

/**
 * The paper's lyrics (the reference's prior_5b_lyrics): an encoder of width 1280, 18 layers, 4 heads
 * over 512 characters (32 blocks of 16); 79 decoder layers, an encoder-decoder layer after every
 * nine of the 72 but the first nine (its attn_order 10).
 */
export const JUKEBOX_LYRICS: LyricsSurgery = {
  lyrics: {
    encoder: { ...jukeboxTransformer(1280, 4, 0.7), vocab: LYRIC_VOCABULARY_SIZE, contextLength: 512, depth: 18, blockLength: 16, conditioning: false },
    lossFraction: 0.4,
  },
  depth: 79,
  pattern: [...repeat(ROW_COLUMN_PREVIOUS, 3), ...repeat<AttentionType>([...repeat(ROW_COLUMN_PREVIOUS, 3), "encoder-decoder"], 7)],
}

function repeat<T>(items: readonly T[], times: number): T[] {
  return Array.from({ length: times }, () => items).flat()
}
