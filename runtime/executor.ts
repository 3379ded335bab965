/**
 * Executors: where a unit's job runs. `local` forks a process of this machine for isolated stages
 * (the others run in the runner); `slurm` submits every unit as a Slurm job. Either way the runner
 * keeps the lock, the output folder, publishing and the cache entry, so caching and resumption
 * do not depend on the executor.
 */
import { Effect, Schema, type Scope } from "effect"
import type { StageFailed } from "./errors.ts"
import { makeProcessPool, type UnitJob } from "./isolate.ts"
import type { OutputContent } from "./outputs.ts"
import { makeSlurmExecutor } from "./slurm.ts"
import type { StageContext } from "./stage.ts"
import type { Store } from "./store.ts"

/** A job of a cluster scheduler as the run record and progress lines show it. */
export interface JobState {
  readonly id: string
  /** The scheduler's word for it: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, ... */
  readonly state: string
  /** Folder of its job file, events and stdout/stderr. */
  readonly log?: string
}

/** Runs units' jobs somewhere. */
export interface Executor {
  readonly kind: "local" | "slurm"
  /** Whether every unit goes through `run` (a cluster), or only isolated stages' units. */
  readonly all: boolean
  /** Runs `job`, relaying its events to `ctx` and its scheduler state to `onJob`; gives the written output's content. Interrupting cancels it. */
  readonly run: (job: UnitJob, ctx: StageContext, onJob: (job: JobState) => void) => Effect.Effect<OutputContent, StageFailed>
}

const sentence = (message: string) => ({ message: () => message })

/** `"executor": { "kind": "local" }`: units run on this machine (the default). */
export const LocalExecutorConfig = Schema.Struct({ kind: Schema.Literal("local") })

/** `"executor": { "kind": "slurm", ... }`: every unit is a Slurm job; the store must be on a filesystem the nodes share. */
export const SlurmExecutorConfig = Schema.Struct({
  kind: Schema.Literal("slurm"),
  /** `--partition` of every job, and of `gpu` stages' jobs unless `gpuPartition` is set. */
  partition: Schema.optional(Schema.String.annotations(sentence("executor.partition must be a partition name"))),
  gpuPartition: Schema.optional(Schema.String.annotations(sentence("executor.gpuPartition must be a partition name"))),
  account: Schema.optional(Schema.String.annotations(sentence("executor.account must be an account name"))),
  /** `--mem` of each job, e.g. "16G"; default the partition's. */
  memory: Schema.optional(Schema.String.pipe(Schema.pattern(/^\d+[KMGT]?$/)).annotations(sentence("executor.memory must be a size such as 16G or 512M"))),
  /** GPUs a `gpu` stage's job asks for (`--gres=gpu:N`); default 1, 0 runs them on CPU nodes. */
  gpusPerStage: Schema.optional(Schema.Int.pipe(Schema.nonNegative()).annotations(sentence("executor.gpusPerStage must be a whole number ≥ 0"))),
  /** `--time` of each job, e.g. "2-00:00:00". */
  time: Schema.optional(Schema.String.pipe(Schema.pattern(/^(\d+-)?\d+(:\d+){0,2}$/)).annotations(sentence("executor.time must be a Slurm time such as 2-00:00:00 or 90"))),
  /** Seconds between looks at the queue; default 5. */
  poll: Schema.optional(Schema.Number.pipe(Schema.positive()).annotations(sentence("executor.poll must be a positive number of seconds"))),
  /** Most jobs in the queue at once; default 100. */
  maxJobs: Schema.optional(Schema.Int.pipe(Schema.positive()).annotations(sentence("executor.maxJobs must be a whole number ≥ 1"))),
  /** The `node` the jobs run (default: this runner's); the repository must be at the same path on the nodes. */
  node: Schema.optional(Schema.String.annotations(sentence("executor.node must be the path of a node executable"))),
  /** More `sbatch` options, e.g. ["--qos=long", "--constraint=a100"]. */
  sbatch: Schema.optional(Schema.Array(Schema.String).annotations(sentence("executor.sbatch must be a list of sbatch options"))),
})

/** The config's `executor`. */
export const ExecutorConfig = Schema.Union(LocalExecutorConfig, SlurmExecutorConfig).annotations(
  sentence(`executor.kind must be "local" or "slurm"`),
)
export type ExecutorConfig = typeof ExecutorConfig.Type
export type SlurmExecutorConfig = typeof SlurmExecutorConfig.Type

/** The executor a run uses, for the run's scope. */
export const makeExecutor = (config: ExecutorConfig, store: Store): Effect.Effect<Executor, never, Scope.Scope> =>
  config.kind === "slurm"
    ? makeSlurmExecutor(config, store)
    : Effect.map(makeProcessPool, (pool): Executor => ({ kind: "local", all: false, run: (job, ctx) => pool.run(job, ctx) }))
