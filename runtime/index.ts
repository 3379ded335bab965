/**
 * jukeflow's public API: define stages, wire them into pipelines, declare artifact contracts.
 *
 *   import { Stage, Pipeline, use, Table, Json, Files, Checkpoint, Col } from "../runtime/index.ts"
 */
export { Checkpoint, Files, Json, Table } from "./artifact.ts"
export type {
  ArtifactKind, CheckpointKind, CheckpointValue, FileSet, FilesKind, InputValue, JsonKind, OutputValue, RowSource, TableKind,
  TableReader, TableSummary,
} from "./artifact.ts"
export { ArtifactReadError } from "./artifact.ts"
export { Col } from "./columns.ts"
export { openTable, openTableFiles, writeTable } from "./tables.ts"
export { PipelineError, StageFailed, StoreError } from "./errors.ts"
export { Pipeline, use } from "./pipeline.ts"
export type { Use } from "./pipeline.ts"
export { Stage } from "./stage.ts"
export type { Device, ModelSize, PipelineStageState, PipelineState, StageContext } from "./stage.ts"
export type { ProjectCommand } from "./cli/project-commands.ts"
export { parseArgs, flag, listFlag } from "./cli/args.ts"
export type { Args } from "./cli/args.ts"
export { runPipeline } from "./cli/run-pipeline.ts"
export type { PipelineRun, PipelineRunOptions } from "./cli/run-pipeline.ts"
export { UsageError } from "./errors.ts"
