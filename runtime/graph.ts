/**
 * Turns a pipeline into a validated graph before anything runs: every param decoded by its schema
 * (with `--set` overrides), every input wired to an existing stage of the right kind, no cycles.
 * Each problem is one `PipelineError` naming the file, line, stage and field.
 */
import { Effect, Either, ParseResult, Schema } from "effect"
import { relative } from "node:path"
import type { ArtifactKind } from "./artifact.ts"
import { tableColumns } from "./columns.ts"
import { formatArrowType } from "./columns.ts"
import { describe, PipelineError } from "./errors.ts"
import type { CallSite } from "./internal/callsite.ts"
import type { Pipeline, Use } from "./pipeline.ts"
import type { AnyStage, ModelSize } from "./stage.ts"

/** One stage instance, validated. */
export interface GraphNode {
  readonly name: string
  readonly stage: AnyStage
  /** Params after decoding (defaults applied): what `run` receives. */
  readonly params: unknown
  /** Params encoded back: canonical, part of the cache key. */
  readonly paramsEncoded: Readonly<Record<string, unknown>>
  /** Input name → name of the upstream node. */
  readonly inputs: Readonly<Record<string, string>>
  readonly site: CallSite
}

/** A validated pipeline: nodes in a topological order. */
export interface Graph {
  readonly name: string
  /** The pipeline file, absolute. */
  readonly file: string
  /** The project root: relative paths resolve against it. */
  readonly root: string
  readonly nodes: ReadonlyMap<string, GraphNode>
  readonly order: ReadonlyArray<string>
}

/** `--set stage.param=value` overrides, by stage then param; values are JSON or plain strings. */
export type Overrides = Readonly<Record<string, Readonly<Record<string, string>>>>

/** Parses one `--set` value: JSON when it parses, else the string itself. */
export const parseOverrideValue = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

const at = (root: string, site: CallSite) => `${relative(root, site.file) || site.file}:${site.line}`

const kindLabel = (kind: ArtifactKind): string => {
  if (kind._tag !== "Table") return kind._tag
  return `Table(${tableColumns(kind.row).map((c) => `${c.name}: ${formatArrowType(c.type)}`).join(", ")})`
}

const sameKind = (a: ArtifactKind, b: ArtifactKind): boolean => kindLabel(a) === kindLabel(b) &&
  (a._tag !== "Files" || b._tag !== "Files" || a.label === b.label)

const decodeParams = (node: { name: string; use: Use; site: string }, overrides: Readonly<Record<string, string>> | undefined) => {
  const schema = node.use.stage.params
  const given: Record<string, unknown> = { ...(node.use.params as Record<string, unknown>) }
  for (const [field, text] of Object.entries(overrides ?? {})) given[field] = parseOverrideValue(text)
  const decoded = Schema.decodeUnknownEither(schema, { onExcessProperty: "error", errors: "all" })(given)
  if (Either.isLeft(decoded)) {
    const issue = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)[0]
    const field = issue && issue.path.length > 0 ? `param "${issue.path.join(".")}"` : "params"
    const message = issue?.message.replace(/\s+/g, " ") ?? "invalid"
    const source = issue && overrides && String(issue.path[0]) in overrides ? " (from --set)" : ""
    return Either.left(new PipelineError({ where: node.site, reason: `stage "${node.name}", ${field}${source}: ${message}` }))
  }
  const encoded = Schema.encodeSync(schema)(decoded.right) as Record<string, unknown>
  return Either.right({ params: decoded.right as unknown, encoded })
}

const findCycle = (nodes: ReadonlyMap<string, { inputs: Readonly<Record<string, string>> }>): string[] | undefined => {
  const state = new Map<string, "open" | "done">()
  const path: string[] = []
  const visit = (name: string): string[] | undefined => {
    if (state.get(name) === "done") return undefined
    if (state.get(name) === "open") return [...path.slice(path.indexOf(name)), name]
    state.set(name, "open")
    path.push(name)
    for (const upstream of Object.values(nodes.get(name)?.inputs ?? {})) {
      const cycle = visit(upstream)
      if (cycle) return cycle
    }
    path.pop()
    state.set(name, "done")
    return undefined
  }
  for (const name of [...nodes.keys()].sort()) {
    const cycle = visit(name)
    if (cycle) return cycle
  }
  return undefined
}

/** Validates a pipeline defined in `file` (absolute) under project `root`, applying `overrides`. */
export const buildGraph = (pipeline: Pipeline, file: string, root: string, overrides: Overrides = {}): Effect.Effect<Graph, PipelineError> =>
  Effect.gen(function* () {
    const pipelineSite = at(root, { file, line: pipeline.site.file === file ? pipeline.site.line : 1 })
    for (const dup of pipeline.duplicates ?? []) {
      return yield* new PipelineError({ where: at(root, dup.site), reason: `stage name "${dup.name}" is used twice in pipeline "${pipeline.name}" (first at ${at(root, dup.first)})` })
    }
    const uses = Object.entries(pipeline.uses as Record<string, Use>)
    const nodes = new Map<string, GraphNode>()
    for (const [name, use] of uses) {
      const site = at(root, use.site.file === "<unknown>" ? { file, line: 1 } : use.site)
      if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(name)) {
        return yield* new PipelineError({ where: site, reason: `stage name "${name}" must start with a letter and hold only letters, digits, "-" and "_"` })
      }
      if (use?._tag !== "Use") {
        return yield* new PipelineError({ where: pipelineSite, reason: `stage "${name}" is not a stage use: wrap it as use(stage, { ... })` })
      }
      const stage = use.stage
      for (const inputName of Object.keys(stage.inputs)) {
        if (!(inputName in use.inputs)) {
          return yield* new PipelineError({ where: site, reason: `stage "${name}", input "${inputName}": not wired; name the stage that produces it` })
        }
      }
      const wiring = use.inputs as Record<string, string>
      for (const [inputName, upstream] of Object.entries(wiring)) {
        const kind = stage.inputs[inputName] as ArtifactKind | undefined
        if (!kind) {
          return yield* new PipelineError({ where: site, reason: `stage "${name}" has no input "${inputName}" (inputs: ${Object.keys(stage.inputs).join(", ") || "none"})` })
        }
        const source = (pipeline.uses as Record<string, Use>)[upstream]
        if (!source) {
          return yield* new PipelineError({ where: site, reason: `stage "${name}", input "${inputName}": no stage named "${upstream}" in pipeline "${pipeline.name}"` })
        }
        if (!sameKind(source.stage.output, kind)) {
          return yield* new PipelineError({ where: site, reason: `stage "${name}", input "${inputName}": expects ${kindLabel(kind)} but "${upstream}" outputs ${kindLabel(source.stage.output)}` })
        }
      }
      if (stage.partitionBy && stage.incremental) {
        return yield* new PipelineError({ where: site, reason: `stage "${name}": a stage cannot be both partitioned and incremental` })
      }
      if (stage.partitionBy) {
        const input = stage.inputs[stage.partitionBy.input] as ArtifactKind | undefined
        if (input?._tag !== "Table" || !tableColumns(input.row).some((c) => c.name === stage.partitionBy!.column)) {
          return yield* new PipelineError({ where: site, reason: `stage "${name}": partitionBy names table input "${stage.partitionBy.input}" column "${stage.partitionBy.column}", which does not exist` })
        }
        for (const [joinInput, column] of Object.entries(stage.partitionBy.join ?? {}) as Array<[string, string]>) {
          const joined = stage.inputs[joinInput] as ArtifactKind | undefined
          if (joined?._tag !== "Table" || !tableColumns(joined.row).some((c) => c.name === column)) {
            return yield* new PipelineError({ where: site, reason: `stage "${name}": partitionBy.join names table input "${joinInput}" column "${column}", which does not exist` })
          }
        }
      }
      const decoded = decodeParams({ name, use, site }, overrides[name])
      if (Either.isLeft(decoded)) return yield* decoded.left
      nodes.set(name, { name, stage, params: decoded.right.params, paramsEncoded: decoded.right.encoded, inputs: wiring, site: use.site })
    }
    for (const target of Object.keys(overrides)) {
      if (!nodes.has(target)) {
        return yield* new PipelineError({ where: "--set", reason: `no stage named "${target}" in pipeline "${pipeline.name}" (stages: ${[...nodes.keys()].join(", ")})` })
      }
    }
    const cycle = findCycle(nodes)
    if (cycle) {
      return yield* new PipelineError({ where: pipelineSite, reason: `pipeline "${pipeline.name}" has a cycle: ${cycle.join(" → ")}` })
    }
    return { name: pipeline.name, file, root, nodes, order: topologicalOrder(nodes) }
  })

/**
 * The model size of each node whose stage declares an `estimate`, from its params alone (nothing
 * runs, no input is read). An estimate that throws is reported like a bad param.
 */
export const modelSizes = (graph: Graph): Effect.Effect<Record<string, ModelSize>, PipelineError> =>
  Effect.gen(function* () {
    const sizes: Record<string, ModelSize> = {}
    for (const name of graph.order) {
      const node = graph.nodes.get(name)!
      if (node.stage.estimate === undefined) continue
      const size = Either.try(() => node.stage.estimate!(node.params))
      if (Either.isLeft(size)) {
        return yield* new PipelineError({ where: at(graph.root, node.site), reason: `stage "${name}", its model size: ${describe(size.left)}` })
      }
      sizes[name] = size.right
    }
    return sizes
  })

/** Nodes ordered so that every node comes after its inputs; ties keep the pipeline's order. */
const topologicalOrder = (nodes: ReadonlyMap<string, GraphNode>): string[] => {
  const order: string[] = []
  const placed = new Set<string>()
  const place = (name: string) => {
    if (placed.has(name)) return
    placed.add(name)
    for (const upstream of Object.values(nodes.get(name)!.inputs)) place(upstream)
    order.push(name)
  }
  for (const name of nodes.keys()) place(name)
  return order
}

/** Names of the nodes downstream of `name` (not including it). */
export const downstreamOf = (graph: Graph, name: string): Set<string> => {
  const out = new Set<string>()
  let grew = true
  while (grew) {
    grew = false
    for (const node of graph.nodes.values()) {
      if (out.has(node.name)) continue
      if (Object.values(node.inputs).some((u) => u === name || out.has(u))) {
        out.add(node.name)
        grew = true
      }
    }
  }
  return out
}

/** Names of the nodes upstream of `name` (not including it). */
export const upstreamOf = (graph: Graph, name: string): Set<string> => {
  const out = new Set<string>()
  const visit = (n: string) => {
    for (const u of Object.values(graph.nodes.get(n)?.inputs ?? {})) if (!out.has(u)) (out.add(u), visit(u))
  }
  visit(name)
  return out
}
