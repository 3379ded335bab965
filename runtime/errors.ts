/**
 * The runtime's errors. Each is a tagged value whose `message` is one sentence naming the file,
 * stage or field at fault, ready to print as it is.
 */
import { Schema } from "effect"

/** A pipeline file is wrong: a bad param, a cycle, a missing input, a duplicate name, a bad flag. */
export class PipelineError extends Schema.TaggedError<PipelineError>()("PipelineError", {
  /** `file:line` of the pipeline (or the use) at fault. */
  where: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `${this.where}: ${this.reason}`
  }
}

/** A stage's `run` failed. */
export class StageFailed extends Schema.TaggedError<StageFailed>()("StageFailed", {
  stage: Schema.String,
  partition: Schema.optional(Schema.String),
  reason: Schema.String,
}) {
  override get message() {
    const part = this.partition === undefined ? "" : ` (partition ${this.partition})`
    return `stage "${this.stage}"${part} failed: ${this.reason}`
  }
}

/** The store could not be read or written. */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  path: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `${this.path}: ${this.reason}`
  }
}

/** A command-line argument is wrong. */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", {
  reason: Schema.String,
}) {
  override get message() {
    return this.reason
  }
}

/** One line for any error or defect: the tagged error's message, or the thrown value. */
export const describe = (error: unknown): string => {
  if (error instanceof Error) return error.message
  if (typeof error === "object" && error !== null && "message" in error) return String((error as { message: unknown }).message)
  return String(error)
}
