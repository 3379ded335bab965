/**
 * Writing what a stage's `run` returned into its output folder, ready to publish: Parquet shards
 * for tables, canonical JSON for values, `config.json` for checkpoints; files stay as written.
 */
import { Effect, Schema } from "effect"
import { match } from "ts-pattern"
import { promises as fs } from "node:fs"
import { join } from "node:path"
import type { ArtifactKind, RowSource } from "./artifact.ts"
import { formatArrowType } from "./columns.ts"
import { StageFailed } from "./errors.ts"
import { canonicalJson } from "./hash.ts"
import { tableColumns } from "./columns.ts"
import { writeTable } from "./tables.ts"
import type { ArtifactManifest } from "./store.ts"

/** The manifest fields that describe the content, before hashing. */
export type OutputContent = Omit<ArtifactManifest, "hash" | "files" | "bytes">

const encodeInto = (path: string, schema: Schema.Schema<any, any>, value: unknown, stage: string, what: string) =>
  Schema.encodeUnknown(schema)(value).pipe(
    Effect.mapError((e) => new StageFailed({ stage, reason: `its ${what} does not match the output schema: ${e.message.replace(/\s+/g, " ")}` })),
    Effect.flatMap((encoded) => Effect.promise(() => fs.writeFile(path, canonicalJson(encoded)))),
  )

/** Writes `value` for an output of `kind` into `dir`, returning the manifest content. */
export const writeOutput = (kind: ArtifactKind, value: unknown, dir: string, stage: string): Effect.Effect<OutputContent, StageFailed> =>
  match(kind as ArtifactKind)
    .with({ _tag: "Table" }, (table) =>
      writeTable(table, value as RowSource<unknown>, dir).pipe(
        Effect.mapError((e) => new StageFailed({ stage, reason: e.message })),
        Effect.map(({ shards, rows }): OutputContent => ({
          kind: "Table",
          table: {
            columns: tableColumns(table.row).map((c) => ({ name: c.name, type: formatArrowType(c.type) })),
            rows,
            shards,
          },
          ...(table.summaries.length > 0 ? { summaries: table.summaries } : {}),
        })),
      ))
    .with({ _tag: "Json" }, (json) =>
      encodeInto(join(dir, "value.json"), json.schema, value, stage, "value").pipe(Effect.as<OutputContent>({ kind: "Json" })))
    .with({ _tag: "Checkpoint" }, (checkpoint) =>
      encodeInto(join(dir, "config.json"), checkpoint.config, value, stage, "checkpoint config").pipe(Effect.as<OutputContent>({ kind: "Checkpoint" })))
    .with({ _tag: "Files" }, () => Effect.succeed<OutputContent>({ kind: "Files" }))
    .exhaustive()
