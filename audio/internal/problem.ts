/**
 * A problem found while parsing a file, before its name is known to the parser: `decodeAudio`
 * turns it into the tagged error of `audio/errors.ts` that names the file.
 */
export class AudioProblem extends Error {
  constructor(
    readonly kind: "truncated" | "malformed" | "unsupported",
    /** A clause that completes "FILE is a truncated WAV file: …" (or "… damaged …", "… looks like …"). */
    readonly reason: string,
  ) {
    super(reason)
  }
}

/** A byte count as people read it: 1,764,000. */
export const bytesText = (n: number): string => n.toLocaleString("en-US")

/** The four bytes at `at` as text (for chunk ids and magic numbers). */
export const fourCC = (bytes: Uint8Array, at: number): string =>
  at + 4 <= bytes.length ? String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!) : ""
