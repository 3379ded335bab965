/**
 * `Stage.define`: a stage is a plain value — name, version, params schema, input and output kinds,
 * and a `run` that turns input values into an output value. Types flow from the object, so the
 * pipeline file that wires stages is checked by the compiler.
 */
import type { Effect } from "effect"
import { Schema } from "effect"
import type { ArtifactKind, InputValue, OutputValue, TableKind } from "./artifact.ts"
import { callerFile } from "./internal/callsite.ts"

/** Where a stage runs: `cpu`, or a GPU from the device pool. */
export type DeviceKind = "cpu" | "gpu"

/** The device a running stage was given. */
export type Device =
  | { readonly kind: "cpu" }
  | { readonly kind: "gpu"; readonly id: string }

/** Where a stage of the run stood: settled ("ran", "cached", "failed", "skipped", "interrupted") or not yet ("pending": waiting or running). */
export type PipelineStageStatus = "ran" | "cached" | "failed" | "skipped" | "interrupted" | "pending"

/** One stage of the run, as it stood when the stage reading it started. */
export interface PipelineStageState {
  /** Its name in the pipeline, and the name of the stage it uses. */
  readonly name: string
  readonly stage: string
  /** Input name → the name of the stage feeding it: the edges of the graph. */
  readonly inputs: Readonly<Record<string, string>>
  readonly status: PipelineStageStatus
  /** Why it ran, or what kept it from running; empty while pending. */
  readonly reason: string
  /** Seconds it took in this run (0 when cached or pending). */
  readonly seconds: number
  /** For a partitioned stage: how many partitions ran, came from the cache, failed. */
  readonly partitions?: { readonly total: number; readonly ran: number; readonly cached: number; readonly failed: number }
}

/**
 * The run a stage is part of, as it stood when the stage started: every stage of the pipeline in
 * order (inputs before the stages that read them). Every input of the reading stage has settled by
 * then; stages that do not feed it may still be pending. Not part of the cache key: a stage that
 * shows it and is cached shows the run that computed it.
 */
export interface PipelineState {
  /** The pipeline's name. */
  readonly name: string
  readonly stages: ReadonlyArray<PipelineStageState>
}

/** What a stage's `run` may call on the runtime; `O` is the stage's output kind. */
export interface StageContext<O extends ArtifactKind = ArtifactKind> {
  /** The stage's name in the pipeline. */
  readonly stage: string
  /** The partition value when the stage is partitioned, else undefined. */
  readonly partition: string | undefined
  /** Folder for `Files` and `Checkpoint` outputs; published atomically when `run` succeeds. */
  readonly outDir: string
  /** Folder that survives a killed run of the same cache key (resumable training); removed on success. */
  readonly scratchDir: string
  /** The project's root folder: relative paths in params are relative to it. */
  readonly root: string
  /** The device given to this run. */
  readonly device: Device
  /** Cores this run may use. */
  readonly cores: number
  /** Resolves a path from params against the project root. */
  readonly resolve: (path: string) => string
  /** Logs one line under the stage's name. */
  readonly log: (message: string) => Effect.Effect<void>
  /** Reports progress: `done` of `total` `unit`s. */
  readonly progress: (done: number, total: number, unit?: string) => Effect.Effect<void>
  /** Records which compute backend (and kernels) the stage used, for the run record. */
  readonly reportBackend: (backend: string) => Effect.Effect<void>
  /**
   * Sets one bad input item aside (a song that cannot be decoded, say) with one sentence saying
   * why; the stage goes on with the rest. Rejections are listed in the run summary and kept with
   * the cached result; under `--strict` any rejection fails the stage.
   */
  readonly reject: (item: string, reason: string) => Effect.Effect<void>
  /**
   * Leaves one item out for an expected reason (a song shorter than one chunk): listed in the run
   * summary and kept with the cached result like a rejection, but `--strict` does not fail on it.
   */
  readonly skip: (item: string, reason: string) => Effect.Effect<void>
  /**
   * For an `incremental` stage: its own output from its last successful run, read as an input
   * (a vocabulary that only grows, say); undefined on its first run and for other stages.
   */
  readonly previous: InputValue<O> | undefined
  /** The run this stage is part of, as it stood when the stage started (a run report draws it). */
  readonly pipeline: PipelineState
}

/** Input kinds of a stage, by input name. */
export type InputKinds = Readonly<Record<string, ArtifactKind>>

/** The values `run` receives, by input name. */
export type InputValues<I extends InputKinds> = { readonly [K in keyof I]: InputValue<I[K]> }

/** Names of the table inputs of `I` (the inputs a stage can be partitioned by). */
export type TableInputNames<I extends InputKinds> = { [K in keyof I]: I[K] extends TableKind<any> ? K : never }[keyof I] & string

/** Row type of table input `K`. */
type RowOf<I extends InputKinds, K extends keyof I> = I[K] extends TableKind<infer Row> ? Row : never

/** Columns of table input `K` whose values can name a partition. */
type KeyColumns<I extends InputKinds, K extends keyof I> =
  { [C in keyof RowOf<I, K>]: RowOf<I, K>[C] extends string | number ? C : never }[keyof RowOf<I, K>] & string

/**
 * Partitioning: one cached result per distinct value of `column` in table input `input`. Other
 * table inputs named in `join` are cut the same way (rows whose join column holds the partition's
 * value), so a partition depends only on its own rows of each.
 */
export interface PartitionBy<I extends InputKinds, K extends TableInputNames<I> = TableInputNames<I>> {
  readonly input: K
  readonly column: KeyColumns<I, K>
  readonly join?: { readonly [J in Exclude<TableInputNames<I>, K>]?: KeyColumns<I, J> }
}

/** Arguments of a stage's `files` declaration. */
export interface FilesArgs<P, I extends InputKinds> {
  readonly params: P
  readonly inputs: InputValues<I>
  /** The project's root folder: declared paths are relative to it. */
  readonly root: string
}

/**
 * The size of the model a stage trains, worked out from its params alone (nothing built, no input
 * read): `jukeflow plan` prints it, with the memory its weights and optimizer state need.
 */
export interface ModelSize {
  /** Numbers the optimizer trains: each is a float32 weight with Adam's two float32 moments (12 bytes). */
  readonly parameters: number
  /** Numbers saved with the weights but not trained by the optimizer (a codebook kept by moving averages): 4 bytes each. */
  readonly buffers?: number
}

/** The object given to `Stage.define`. */
export interface StageSpec<
  Name extends string,
  P extends Schema.Schema<any, any, never>,
  I extends InputKinds,
  O extends ArtifactKind,
  E,
> {
  /** Stable name; also the default name of its instance in a pipeline. */
  readonly name: Name
  /** Bump when the stage's meaning changes without its code changing. */
  readonly version: number
  /** One line saying what the stage does. */
  readonly description?: string
  /** Params as an Effect Schema (usually a `Schema.Struct`); defaults belong in the schema. */
  readonly params?: P
  /** Upstream outputs this stage reads, by name. */
  readonly inputs?: I
  /** What the stage produces. */
  readonly output: O
  /** `gpu` stages are queued on the device pool; default `cpu`. */
  readonly device?: DeviceKind
  /** Cores the stage uses (default 1); the scheduler never runs more than the machine has. */
  readonly cores?: number
  /**
   * Runs each unit of the stage in a process of its own (default: `gpu` stages do). Model stages
   * want this: a TensorFlow.js backend such as wasm computes on one thread per process, so only
   * separate processes put independent stages on separate cores. `JUKEFLOW_INPROCESS=1` runs
   * every stage in the runner's process (for a debugger).
   */
  readonly isolated?: boolean
  /** One cached result per partition of a table input. */
  readonly partitionBy?: PartitionBy<I>
  /**
   * The stage reads its own last output (`ctx.previous`) and extends it, so that ids stay stable
   * as data is added. The last output is not part of the key: with unchanged inputs the stage
   * stays cached; when they change, it runs and extends what it gave last.
   */
  readonly incremental?: boolean
  /** External files the result depends on (audio, lyrics), relative to the project root. */
  readonly files?: (args: FilesArgs<Schema.Schema.Type<P>, I>) => Effect.Effect<ReadonlyArray<string>, unknown>
  /**
   * The size of the model the stage trains, from its params alone: `plan` prints it. Inputs are not
   * read, so a size that depends on them (a vocabulary's length) takes a typical value.
   */
  readonly estimate?: (params: Schema.Schema.Type<P>) => ModelSize
  /**
   * Files of its output to point the user at after a run, by name with `*` wildcards (a report's
   * `report.html`, a sample's `*.wav`): `run` lists them, by path, under the summary.
   */
  readonly shows?: ReadonlyArray<string>
  /** Computes the output. */
  readonly run: (inputs: InputValues<I>, params: Schema.Schema.Type<P>, ctx: StageContext<O>) => Effect.Effect<OutputValue<O>, E>
}

/** A defined stage. */
export interface Stage<
  Name extends string = string,
  P extends Schema.Schema<any, any, never> = Schema.Schema<any, any, never>,
  I extends InputKinds = InputKinds,
  O extends ArtifactKind = ArtifactKind,
  E = unknown,
> extends Required<Omit<StageSpec<Name, P, I, O, E>, "description" | "partitionBy" | "files" | "incremental" | "isolated" | "estimate" | "shows">> {
  readonly isolated: boolean
  readonly incremental: boolean
  readonly _tag: "Stage"
  readonly description: string
  readonly partitionBy: PartitionBy<I> | undefined
  readonly files: StageSpec<Name, P, I, O, E>["files"]
  readonly estimate: StageSpec<Name, P, I, O, E>["estimate"]
  readonly shows: ReadonlyArray<string>
  /** The source file that defined the stage: the root of its code fingerprint. */
  readonly module: string
}

/** Any stage, whatever its types. */
export type AnyStage = Stage<string, Schema.Schema<any, any, never>, any, any, any>

const NoParams = Schema.Struct({})

/** Defines a stage. The calling file is recorded as the stage's module for its code fingerprint. */
const define = <
  const Name extends string,
  O extends ArtifactKind,
  E = never,
  P extends Schema.Schema<any, any, never> = typeof NoParams,
  I extends InputKinds = {},
>(spec: StageSpec<Name, P, I, O, E>): Stage<Name, P, I, O, E> => {
  if (!/^[a-z][a-z0-9-]*$/.test(spec.name)) {
    throw new TypeError(`Stage.define: name "${spec.name}" must be lower-case letters, digits and dashes`)
  }
  if (!Number.isInteger(spec.version) || spec.version < 0) {
    throw new TypeError(`Stage.define: stage "${spec.name}": version must be a non-negative integer`)
  }
  return {
    _tag: "Stage",
    name: spec.name,
    version: spec.version,
    description: spec.description ?? "",
    params: spec.params ?? (NoParams as unknown as P),
    inputs: spec.inputs ?? ({} as I),
    output: spec.output,
    device: spec.device ?? "cpu",
    cores: spec.cores ?? 1,
    isolated: spec.isolated ?? spec.device === "gpu",
    partitionBy: spec.partitionBy,
    incremental: spec.incremental ?? false,
    files: spec.files,
    estimate: spec.estimate,
    shows: spec.shows ?? [],
    run: spec.run,
    module: callerFile(),
  }
}

/** Stage constructors. */
export const Stage = { define } as const
