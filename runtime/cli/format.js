// @ts-check
/**
 * Text tables, bar charts and sizes for the command line, and the summary table printed after a run.
 * Plain JavaScript (type-checked through JSDoc) so that the cached-run fast path can use it
 * without loading TypeScript.
 */
import { relative } from "node:path"

/**
 * `1.2 MB`-style size.
 * @param {number | undefined} bytes
 * @returns {string}
 */
export const formatBytes = (bytes) => {
  if (bytes === undefined) return "-"
  const units = ["B", "KB", "MB", "GB", "TB"]
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}

/**
 * `0.12s` / `3.4s` / `2m05s`.
 * @param {number} s
 * @returns {string}
 */
export const formatSeconds = (s) => {
  if (s < 10) return `${s.toFixed(2)}s`
  if (s < 120) return `${s.toFixed(1)}s`
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`
}

/**
 * A left-aligned text table with a header row and a rule under it.
 * @param {ReadonlyArray<string>} header
 * @param {ReadonlyArray<ReadonlyArray<string>>} rows
 * @param {number} [maxWidth] cells longer than this are cut with an ellipsis
 * @returns {string}
 */
export const table = (header, rows, maxWidth = 60) => {
  const cells = [header, ...rows].map((row) => row.map((c) => (c.length > maxWidth ? `${c.slice(0, maxWidth - 1)}…` : c)))
  const widths = header.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? "").length)))
  /** @param {ReadonlyArray<string>} row */
  const render = (row) => row.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd()
  return [render(cells[0] ?? []), widths.map((w) => "─".repeat(w)).join("  "), ...cells.slice(1).map(render)].join("\n")
}

const EIGHTHS = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"]

/**
 * A horizontal bar chart, one line per bar: label, value, and a bar of █ scaled to the largest
 * value (in eighths of a column), all within `width` columns.
 * @param {ReadonlyArray<{ label: string, value: number }>} bars
 * @param {number} [width]
 * @returns {string}
 */
export const barChart = (bars, width = 80) => {
  const labels = bars.map((b) => (b.label.length > 24 ? `${b.label.slice(0, 23)}…` : b.label))
  const values = bars.map((b) => (Number.isInteger(b.value) ? String(b.value) : b.value.toFixed(2)))
  const labelWidth = Math.max(0, ...labels.map((l) => l.length))
  const valueWidth = Math.max(0, ...values.map((v) => v.length))
  const barWidth = Math.max(10, width - labelWidth - valueWidth - 4)
  const max = Math.max(0, ...bars.map((b) => b.value))
  return bars.map((b, i) => {
    // a value above zero always shows at least an eighth, so a rare code is not drawn as unused
    const eighths = max > 0 && b.value > 0 ? Math.max(1, Math.round((b.value / max) * barWidth * 8)) : 0
    const bar = "█".repeat(Math.floor(eighths / 8)) + EIGHTHS[eighths % 8]
    return `${(labels[i] ?? "").padEnd(labelWidth)}  ${(values[i] ?? "").padStart(valueWidth)}  ${bar}`.trimEnd()
  }).join("\n")
}

/**
 * `5.57B` / `985M` / `2.31M` / `960K`-style count, three significant digits.
 * @param {number} n
 * @returns {string}
 */
export const formatCount = (n) => {
  /** @type {ReadonlyArray<[number, string]>} */
  const units = [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "K"], [1, ""]]
  const rounded = Number(n.toPrecision(3)) // 999.9M is 1B, not 1000M
  const [scale, unit] = units.find(([scale]) => rounded >= scale) ?? [1, ""]
  return `${Number((rounded / scale).toPrecision(3))}${unit}`
}

/**
 * @typedef {{ parameters: number, buffers?: number }} ModelSize a stage's `estimate` (runtime/stage.ts)
 * @typedef {{ stage: string, action: string, reason: string,
 *   size?: { parameters: number, buffers: number, weightBytes: number, adamBytes: number } }} PlanLine
 */

/**
 * A stage's line in `plan`: what happens to it and why, and, when it declares a model size, the
 * memory that model's weights (float32, buffers included) and Adam's two moments per parameter take.
 * @param {{ name: string, status: string, reason: string, error?: string }} s
 * @param {ModelSize | undefined} size
 * @returns {PlanLine}
 */
export const planLine = (s, size) => ({
  stage: s.name,
  action: s.status === "cached" ? "cached" : s.status === "will-run" ? "will run" : s.status,
  reason: s.status === "cached" ? "" : (s.error ?? s.reason),
  ...(size === undefined ? {} : {
    size: { parameters: size.parameters, buffers: size.buffers ?? 0, weightBytes: 4 * (size.parameters + (size.buffers ?? 0)), adamBytes: 8 * size.parameters },
  }),
})

/**
 * The `plan` table: stage, plan, reason — with a model's parameters and the memory of its weights
 * and Adam state, and a line saying how they are counted, when any stage declares a size.
 * @param {ReadonlyArray<PlanLine>} lines
 * @returns {string}
 */
export const planTable = (lines) => {
  if (!lines.some((l) => l.size)) return table(["stage", "plan", "reason"], lines.map((l) => [l.stage, l.action, l.reason]), 100)
  const rows = lines.map((l) => [
    l.stage, l.action, l.size ? formatCount(l.size.parameters) : "", l.size ? formatBytes(l.size.weightBytes + l.size.adamBytes) : "", l.reason,
  ])
  return `${table(["stage", "plan", "params", "weights + Adam", "reason"], rows, 100)}\n` +
    "weights + Adam: float32, 4 bytes per weight (and buffer) + 8 per parameter for Adam's two moments; gradients (4 per parameter) and activations not counted"
}

/**
 * @typedef {object} SummaryStage
 * @property {string} name
 * @property {string} status
 * @property {string} reason
 * @property {number} seconds
 * @property {number} [bytes]
 * @property {number} [rows]
 * @property {string} [error]
 * @property {{ ran: number, cached: number }} [partitions]
 * @property {ReadonlyArray<{ item: string, reason: string, skipped?: boolean }>} [rejected]
 */

/**
 * A stage's state, with partition counts.
 * @param {SummaryStage} s
 */
export const stateLabel = (s) => (s.partitions && s.status !== "skipped" ? `${s.status} (${s.partitions.ran} ran, ${s.partitions.cached} cached)` : s.status)

/**
 * The table printed after a run: stage, state, time, output size, rows, reason.
 * @param {{ stages: ReadonlyArray<SummaryStage> }} record
 * @returns {string}
 */
export const summaryTable = (record) =>
  table(
    ["stage", "state", "time", "output", "rows", "reason"],
    record.stages.map((s) => [
      s.name, stateLabel(s), s.status === "ran" ? formatSeconds(s.seconds) : "-", formatBytes(s.bytes),
      s.rows === undefined ? "-" : String(s.rows), s.status === "cached" ? "" : (s.error ?? s.reason),
    ]),
    80,
  )

/**
 * The input items stages set aside, one line each, or "" when there are none.
 * @param {{ stages: ReadonlyArray<SummaryStage> }} record
 * @returns {string}
 */
export const rejectedLines = (record) => {
  /** @param {boolean} skipped */
  const lines = (skipped) => record.stages.flatMap((s) => (s.rejected ?? []).filter((r) => !!r.skipped === skipped).map((r) => `  ${s.name}: ${r.item}: ${r.reason}`))
  const bad = lines(false)
  const left = lines(true)
  return (bad.length === 0 ? "" : `\nset aside (quarantined) — fix them, or run with --strict to fail on them:\n${bad.join("\n")}\n`) +
    (left.length === 0 ? "" : `\nleft out:\n${left.join("\n")}\n`)
}

/**
 * The line after the summary table.
 * @param {{ status: string, stages: ReadonlyArray<SummaryStage> }} record
 * @param {number} seconds wall time of the run
 * @param {string} store where the store is, for the user
 */
export const doneLine = (record, seconds, store) => {
  const count = (/** @type {string} */ status) => record.stages.filter((s) => s.status === status).length
  return `${record.status === "success" ? "done" : "FAILED"}: ${count("ran")} ran, ${count("cached")} cached, in ${formatSeconds(seconds)} — store ${store || "."}`
}

/**
 * The files stages point at (`shows` in Stage.define), as lines under a run's summary, each path
 * relative to `cwd`; empty when there are none.
 * @param {ReadonlyArray<{ stage: string, path: string }>} shown absolute paths
 * @param {string} cwd
 * @returns {string}
 */
export const shownLines = (shown, cwd) => {
  if (shown.length === 0) return ""
  const width = Math.max(...shown.map((s) => s.stage.length))
  return `to look at:\n${shown.map((s) => `  ${s.stage.padEnd(width)}  ${relative(cwd, s.path)}`).join("\n")}\n`
}
