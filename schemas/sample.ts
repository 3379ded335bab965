/**
 * Sample requests and what a `sample` stage writes: the request is the stage's params (the
 * `jukeflow sample` command builds one from its flags), `samples.json` the index of its output.
 */
import { Schema } from "effect"

/** One number per level, top first as sampling runs, or one number for every level (`--set sample.temperature=0.9`). */
const PerLevel = (top: number, middle: number, bottom: number, check: Schema.Schema<number>) => {
  const levels = Schema.Struct({
    top: Schema.optionalWith(check, { default: () => top }),
    middle: Schema.optionalWith(check, { default: () => middle }),
    bottom: Schema.optionalWith(check, { default: () => bottom }),
  })
  const one = Schema.transform(check, Schema.typeSchema(levels), {
    strict: true,
    decode: (value) => ({ top: value, middle: value, bottom: value }),
    encode: (levels) => levels.top,
  })
  return Schema.optionalWith(Schema.Union(levels, one), { default: () => ({ top, middle, bottom }) })
}

const Positive = Schema.Number.pipe(Schema.positive({ message: () => "must be a number above 0" }))

/** Codes to start from: a primer's, or an earlier sample's. */
export const SamplePrime = Schema.Union(
  /** A song of the pipeline's dataset, by id: its codes from `encode`, first `seconds` of them. */
  Schema.Struct({ song: Schema.String, seconds: Positive }),
  /** An audio file (WAV, FLAC, MP3, Ogg, Opus), encoded by the three VQ-VAEs, first `seconds` of it. */
  Schema.Struct({ file: Schema.String, seconds: Positive }),
)
export type SamplePrime = typeof SamplePrime.Type

/** An earlier sample's codes (its `codes-*.parquet`, or the folder that holds them): continue them, or upsample their top level. */
export const SampleCodes = Schema.Struct({
  file: Schema.String,
  /** "continue": keep every level's codes and sample on to `seconds`; "upsample": keep the top level's, sample the levels below. */
  mode: Schema.Literal("continue", "upsample"),
})
export type SampleCodes = typeof SampleCodes.Type

/** A label: a name from the pipeline's vocabulary (`jukeflow inspect vocab`), or a blend of names (their embeddings mixed by weight). */
export const SampleLabel = Schema.Union(
  Schema.String,
  Schema.NonEmptyArray(Schema.Struct({ name: Schema.String, weight: Schema.Number.pipe(Schema.positive({ message: () => "must be a weight above 0" })) })),
)
export type SampleLabel = typeof SampleLabel.Type

/** The labels from `second` on: a duet's second voice, a change of style. */
export const SampleChange = Schema.Struct({ second: Positive, artist: SampleLabel, genre: SampleLabel })
export type SampleChange = typeof SampleChange.Type

/** What to sample: the `sample` stage's params. */
export const SampleRequest = Schema.Struct({
  artist: SampleLabel,
  genre: SampleLabel,
  /** Label changes, in order of their seconds; each lands at the first window at or after its second (models/sampling.ts `labelSchedule`). */
  changes: Schema.optionalWith(Schema.Array(SampleChange), { default: () => [] }),
  /** The words to sing; characters outside the lyrics vocabulary are refused. Ignored by a top prior without lyrics. */
  lyrics: Schema.optionalWith(Schema.String, { default: () => "" }),
  /** Seconds of audio to make (the primer or continued codes included). */
  seconds: Positive,
  /** The whole song's length the timing signal is told, ≥ seconds [seconds]. */
  totalSeconds: Schema.optional(Positive),
  /** Softmax temperature per level [the reference: 0.98, 0.99, 0.99]; 0 takes the most likely code. */
  temperature: PerLevel(0.98, 0.99, 0.99, Schema.Number.pipe(Schema.nonNegative({ message: () => "must be 0 or above" }))),
  /** A window starts this fraction of the context after the one before [paper: 0.5, 0.5, 0.125]. */
  hopFraction: PerLevel(0.5, 0.5, 0.125, Schema.Number.pipe(Schema.greaterThan(0, { message: () => "must be in (0, 1]" }), Schema.lessThanOrEqualTo(1, { message: () => "must be in (0, 1]" }))),
  /** Keep the k most likely codes (0: all), and the nucleus of probability p (1: all). */
  topK: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative({ message: () => "must be a whole number, 0 or above" })), { default: () => 0 }),
  topP: Schema.optionalWith(Schema.Number.pipe(Schema.greaterThan(0, { message: () => "must be in (0, 1]" }), Schema.lessThanOrEqualTo(1, { message: () => "must be in (0, 1]" })), { default: () => 1 }),
  prime: Schema.optional(SamplePrime),
  codes: Schema.optional(SampleCodes),
  seed: Schema.optionalWith(Schema.Int, { default: () => 0 }),
  /** Samples, drawn as one batch. */
  n: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 64, { message: () => "must be a whole number from 1 to 64" })), { default: () => 1 }),
})
export type SampleRequest = typeof SampleRequest.Type

/** One sample's files, relative to the stage's output folder. */
export const SampleFiles = Schema.Struct({
  id: Schema.String,
  /** A WAV per level, bottom (the finest) first: `sample-0-level-0.wav`, … */
  wav: Schema.Array(Schema.String),
  /** The sample's HTML page: players, lyrics and their alignment. */
  page: Schema.String,
})

/** `samples.json`: what was asked, what was made, how fast. */
export const SampleIndex = Schema.Struct({
  request: Schema.Unknown,
  /** The labels as words, e.g. "Ada Vale 0.7 + Bo Carver 0.3, folk; from 4 s Bo Carver, blues". */
  labels: Schema.String,
  lyrics: Schema.String,
  sampleRate: Schema.Number,
  /** Per level, bottom first: samples per code, codes per sample, codes sampled (not kept). Nothing timed: the same request gives the same bytes. */
  levels: Schema.Array(Schema.Struct({ level: Schema.Int, hop: Schema.Int, codes: Schema.Int, sampled: Schema.Int })),
  /** Codes per sample kept from a primer or earlier codes, per level (bottom first). */
  primed: Schema.Array(Schema.Int),
  samples: Schema.Array(SampleFiles),
})
export type SampleIndex = typeof SampleIndex.Type
