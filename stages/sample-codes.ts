/**
 * Where a sample's codes start and where they are kept as it goes (stages/sample.ts): a primer's
 * codes (a dataset song's from `encode`, or an audio file encoded by the VQ-VAEs), or an earlier
 * sample's codes to continue or upsample; and the progress files a killed run resumes from.
 */
import { Chunk, Effect, Stream } from "effect"
import { existsSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { readAudioFile } from "../audio/decode.ts"
import { resample } from "../audio/resample.ts"
import { downmix } from "../audio/stats.ts"
import { sequenceOf } from "../dataset/tokens.ts"
import { encodeSong } from "../models/segments.ts"
import type { Autoencoder } from "../models/vqvae.ts"
import type { SampleRequest } from "../schemas/sample.ts"
import { TokenShards, type TokenWindow } from "../schemas/tokens.ts"
import { openTableFiles, type StageFailed, type TableReader } from "../runtime/index.ts"

export const LEVEL_NAMES = ["bottom", "middle", "top"] as const

/** Codes per sequence at each level (bottom first) for `top` top-level codes and the upsampling ratios (bottom, middle). */
export const levelLengths = (top: number, ratios: ReadonlyArray<number>): number[] => [top * ratios[1]! * ratios[0]!, top * ratios[1]!, top]

/** Whether a path is a folder (an earlier sample's output) rather than a file. */
export const isFolder = (path: string): boolean => existsSync(path) && statSync(path).isDirectory()

export interface Start {
  /** (n, length) row-major per level, bottom first; undefined: sample from scratch. */
  readonly codes: ReadonlyArray<Int32Array | undefined>
  /** Set by upsample-only: the top level's length is the earlier codes'. */
  readonly topLength?: number
  readonly mode: "scratch" | "prime" | "continue" | "upsample"
}

export const startingCodes = (
  tokens: TableReader<TokenWindow>,
  p: SampleRequest,
  c: { vqvaes: Autoencoder[]; hops: number[]; sampleRate: number; ratios: number[]; fail: (reason: string) => StageFailed },
): Effect.Effect<Start, StageFailed> =>
  Effect.gen(function* () {
    const { fail } = c
    // Codes per level of a primer of `secondsKept`: whole top-level codes, the levels below in step.
    const primerLengths = (secondsKept: number) => levelLengths(Math.max(1, Math.floor((secondsKept * c.sampleRate) / c.hops[2]!)), c.ratios)
    const repeat = (codes: ArrayLike<number>, length: number) => {
      const out = new Int32Array(p.n * length)
      for (let i = 0; i < p.n; i++) for (let t = 0; t < length; t++) out[i * length + t] = codes[t]!
      return out
    }
    if (p.prime && p.codes) return yield* fail("give either a primer or earlier codes, not both")
    if (p.prime && "song" in p.prime) {
      const song = p.prime.song
      // Only the primer song's windows are kept as the shards stream by.
      const windows = yield* tokens.stream().pipe(
        Stream.filter((w) => w.song_id === song),
        Stream.runCollect,
        Effect.map(Chunk.toReadonlyArray),
        Effect.mapError((e) => fail(e.message)),
      )
      if (windows.length === 0) return yield* fail(`the primer song "${song}" is not among the encoded songs`)
      const lengths = primerLengths(p.prime.seconds)
      const codes = lengths.map((length, level) => {
        const sequence = sequenceOf(windows.filter((w) => w.level === level))
        return sequence.length >= length ? repeat(sequence, length) : undefined
      })
      if (codes.some((x) => x === undefined)) return yield* fail(`the primer song "${song}" is shorter than the ${p.prime.seconds} s asked of it`)
      return { codes, mode: "prime" }
    }
    if (p.prime && "file" in p.prime) {
      const file = p.prime.file
      const decoded = yield* Effect.tryPromise({ try: () => readAudioFile(file), catch: (e) => fail(`the primer cannot be decoded: ${(e as Error).message}`) })
      const mono = resample([downmix(decoded.channels, 0.5)], decoded.sampleRate, c.sampleRate)[0]!
      const lengths = primerLengths(p.prime.seconds)
      if (mono.length < lengths[0]! * c.hops[0]!) return yield* fail(`the primer ${file} lasts ${(mono.length / c.sampleRate).toFixed(2)} s, less than the ${p.prime.seconds} s asked of it`)
      // The whole file, as `encode` encodes a song: the codes near the primer's end hear what follows it.
      return { codes: lengths.map((length, level) => repeat(encodeSong(c.vqvaes[level]!, mono, c.hops[level]!), length)), mode: "prime" }
    }
    if (p.codes) {
      const { file, mode } = p.codes
      const shards = isFolder(file) ? readdirSync(file).filter((f) => f.endsWith(".parquet") && f.startsWith("codes")).sort().map((f) => join(file, f)) : [file]
      if (shards.length === 0) return yield* fail(`${file} holds no codes-*.parquet`)
      const table = yield* Effect.mapError(openTableFiles(TokenShards, shards), (e) => fail(e.message))
      const rows = yield* Effect.mapError(table.all(), (e) => fail(e.message))
      const songs = [...new Set(rows.map((r) => r.song_id))].sort()
      if (songs.length !== 1 && songs.length !== p.n) return yield* fail(`${file} holds ${songs.length} samples; ask for n = ${songs.length} (or give a file of one)`)
      const levels = mode === "upsample" ? [2] : [0, 1, 2]
      const sequences = songs.map((song) => [0, 1, 2].map((level) => sequenceOf(rows.filter((r) => r.song_id === song && r.level === level))))
      const top = sequences[0]![2]!.length
      if (top === 0) return yield* fail(`${file} has no top-level codes`)
      const expectedLengths = levelLengths(top, c.ratios)
      for (const level of levels) {
        const expected = expectedLengths[level]!
        if (sequences.some((s) => s[level]!.length !== expected)) return yield* fail(`${file}: the ${LEVEL_NAMES[level]} level's codes are not ${expected} per sample, in step with the top level's ${top}`)
      }
      const stack = (level: number) => {
        const length = sequences[0]![level]!.length
        const out = new Int32Array(p.n * length)
        for (let i = 0; i < p.n; i++) out.set(sequences[songs.length === 1 ? 0 : i]![level]!, i * length)
        return out
      }
      const codes = [0, 1, 2].map((level) => (levels.includes(level) ? stack(level) : undefined))
      return mode === "upsample" ? { codes, topLength: top, mode } : { codes, mode }
    }
    return { codes: [undefined, undefined, undefined], mode: "scratch" }
  })

// ---------------------------------------------------------------------------------------------
// Progress files: level-<l>.json (filled, length, batch) beside level-<l>.i32 (the codes)

export const saveLevel = (dir: string, level: number, codes: Int32Array, batch: number, length: number, filled: number) => {
  const known = new Int32Array(batch * filled)
  for (let b = 0; b < batch; b++) known.set(codes.subarray(b * length, b * length + filled), b * filled)
  writeFileSync(join(dir, `level-${level}.i32.tmp`), known)
  renameSync(join(dir, `level-${level}.i32.tmp`), join(dir, `level-${level}.i32`))
  writeFileSync(join(dir, `level-${level}.json.tmp`), JSON.stringify({ filled, length, batch }))
  renameSync(join(dir, `level-${level}.json.tmp`), join(dir, `level-${level}.json`))
}

export const loadLevel = (dir: string, level: number, batch: number, length: number): { filled: number; codes: Int32Array } | undefined => {
  try {
    const meta = JSON.parse(readFileSync(join(dir, `level-${level}.json`), "utf8")) as { filled: number; length: number; batch: number }
    const bytes = readFileSync(join(dir, `level-${level}.i32`))
    if (meta.length !== length || meta.batch !== batch || bytes.length !== batch * meta.filled * 4) return undefined
    return { filled: meta.filled, codes: new Int32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)) }
  } catch {
    return undefined
  }
}
