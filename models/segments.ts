/**
 * Encoding and decoding whole songs with a level's autoencoder, a segment at a time so memory
 * stays bounded whatever the song's length. Plain arrays in and out.
 */
import * as tf from "@tensorflow/tfjs-core"
import { decodeCodes, encodeToCodes, type Autoencoder } from "./vqvae.ts"

/** Samples encoded at once: a multiple of every hop up to 2^16. */
const SEGMENT_SAMPLES = 1 << 16
/** Codes decoded at once. */
const SEGMENT_CODES = 4096

/** The codes of mono audio at a level of `hop` samples per code; the tail is zero-padded to the hop. */
export const encodeSong = (model: Autoencoder, mono: Float32Array, hop: number): Int16Array => {
  const padded = new Float32Array(Math.ceil(mono.length / hop) * hop)
  padded.set(mono)
  const out = new Int16Array(padded.length / hop)
  for (let start = 0; start < padded.length; start += SEGMENT_SAMPLES) {
    const segment = padded.subarray(start, Math.min(padded.length, start + SEGMENT_SAMPLES))
    const codes = tf.tidy(() => encodeToCodes(model, tf.tensor3d(segment, [1, segment.length, 1])))
    out.set(Int16Array.from(codes.dataSync()), start / hop)
    codes.dispose()
  }
  return out
}

/** Mono audio (codes × hop samples) of a code sequence. */
export const decodeSong = (model: Autoencoder, codes: Int16Array, hop: number): Float32Array => {
  const out = new Float32Array(codes.length * hop)
  for (let start = 0; start < codes.length; start += SEGMENT_CODES) {
    const segment = codes.subarray(start, Math.min(codes.length, start + SEGMENT_CODES))
    const audio = tf.tidy(() => decodeCodes(model, tf.tensor2d(Int32Array.from(segment), [1, segment.length], "int32")))
    out.set(audio.dataSync() as Float32Array, start * hop)
    audio.dispose()
  }
  return out
}
