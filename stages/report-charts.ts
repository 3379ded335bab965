/**
 * The run report's drawings, as inline SVG strings: line charts of training curves and the
 * pipeline's graph coloured by what each stage did. Every label is escaped; the page embeds them.
 */
import type { PipelineStageState, PipelineState } from "../runtime/index.ts"
import { escapeHtml, round } from "./html.ts"

/** One line (or set of dots) of a chart: points (x, y); a point whose y is not finite breaks the line. */
export interface ChartSeries {
  readonly name: string
  readonly points: ReadonlyArray<readonly [number, number]>
  /** "line" (default), "dashed" (a yardstick), or "dots" (sparse points such as held-out evaluations). */
  readonly style?: "line" | "dashed" | "dots"
}

/** A chart: its series and axis titles; `logY` draws y on a log scale (values ≤ 0 are left out). */
export interface LineChart {
  readonly xLabel: string
  readonly yLabel: string
  readonly series: ReadonlyArray<ChartSeries>
  readonly logY?: boolean
}

/** Series colours, in order. */
export const SERIES_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"] as const

/** A line chart as an <svg> with its legend under it, in a <figure>. */
export const lineChart = (chart: LineChart): string => {
  const usable = (y: number) => Number.isFinite(y) && (!chart.logY || y > 0)
  const all = chart.series.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && usable(y)))
  if (all.length === 0) return `<p class="none">No ${escapeHtml(chart.yLabel)} to draw.</p>`
  const xs = all.map(([x]) => x)
  const ys = all.map(([, y]) => y)
  const [x0, x1] = spread(Math.min(...xs), Math.max(...xs))
  const ty = chart.logY ? Math.log10 : (y: number) => y
  const [y0, y1] = chart.logY ? spread(Math.log10(Math.min(...ys)), Math.log10(Math.max(...ys))) : spread(Math.min(0, ...ys), Math.max(...ys))
  const px = (x: number) => round(LEFT + ((x - x0) / (x1 - x0)) * (WIDTH - LEFT - RIGHT), 2)
  const py = (y: number) => round(TOP + (1 - (ty(y) - y0) / (y1 - y0)) * (HEIGHT - TOP - BOTTOM), 2)
  const xTicks = linearTicks(x0, x1, 6)
  const yTicks = chart.logY ? logTicks(10 ** y0, 10 ** y1) : linearTicks(y0, y1, 5)
  const grid = [
    ...yTicks.map((y) => `<line class="grid" x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${py(y)}" y2="${py(y)}"/><text class="tick" x="${LEFT - 6}" y="${py(y)}" text-anchor="end" dominant-baseline="middle">${escapeHtml(tickText(y))}</text>`),
    ...xTicks.map((x) => `<text class="tick" x="${px(x)}" y="${HEIGHT - BOTTOM + 14}" text-anchor="middle">${escapeHtml(tickText(x))}</text>`),
  ]
  const marks = chart.series.map((s, i) => {
    const colour = SERIES_COLOURS[i % SERIES_COLOURS.length]!
    const points = s.points.filter(([x]) => Number.isFinite(x))
    if (s.style === "dots") {
      return points.filter(([, y]) => usable(y)).map(([x, y]) => `<circle cx="${px(x)}" cy="${py(y)}" r="3" fill="${colour}"/>`).join("")
    }
    const runs: string[][] = [[]]
    for (const [x, y] of points) usable(y) ? runs.at(-1)!.push(`${px(x)},${py(y)}`) : runs.push([])
    return runs.filter((r) => r.length > 0).map((r) => r.length === 1
      ? `<circle cx="${r[0]!.split(",")[0]}" cy="${r[0]!.split(",")[1]}" r="3" fill="${colour}"/>`
      : `<polyline fill="none" stroke="${colour}" stroke-width="1.8"${s.style === "dashed" ? ` stroke-dasharray="6 4"` : ""} points="${r.join(" ")}"/>`).join("")
  })
  const legend = chart.series.map((s, i) =>
    `<li><i class="${s.style ?? "line"}" style="--c:${SERIES_COLOURS[i % SERIES_COLOURS.length]}"></i>${escapeHtml(s.name)}</li>`).join("")
  return `<figure class="chart"><svg viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${escapeHtml(`${chart.yLabel} by ${chart.xLabel}`)}">
<rect class="frame" x="${LEFT}" y="${TOP}" width="${WIDTH - LEFT - RIGHT}" height="${HEIGHT - TOP - BOTTOM}"/>
${grid.join("\n")}
${marks.join("\n")}
<text class="axis" x="${(LEFT + WIDTH - RIGHT) / 2}" y="${HEIGHT - 4}" text-anchor="middle">${escapeHtml(chart.xLabel)}</text>
<text class="axis" transform="translate(12 ${(TOP + HEIGHT - BOTTOM) / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(chart.yLabel)}${chart.logY ? " (log)" : ""}</text>
</svg><figcaption><ul class="legend">${legend}</ul></figcaption></figure>`
}

/** Fill colour per stage status. */
export const STATUS_COLOURS: Readonly<Record<PipelineStageState["status"], string>> = {
  ran: "#8fd19e", cached: "#b9d3f0", failed: "#f09a9a", skipped: "#e0e0e0", interrupted: "#f6c177", pending: "#ffffff",
}

/**
 * The pipeline as a graph, top to bottom: a row per depth (a stage sits one row below its deepest
 * input), a box per stage filled by its status, with its time and a bar as long as its share of
 * the slowest stage's; an arrow per input. `self` (the stage drawing it, still running) is outlined.
 */
export const pipelineGraph = (state: PipelineState, self: string): string => {
  const depth = new Map<string, number>()
  for (const s of state.stages) depth.set(s.name, Math.max(-1, ...Object.values(s.inputs).map((u) => depth.get(u) ?? -1)) + 1)
  const rows: PipelineStageState[][] = []
  for (const s of state.stages) (rows[depth.get(s.name)!] ??= []).push(s)
  const widest = Math.max(...rows.map((r) => r.length))
  const width = 2 * MARGIN + widest * NODE_W + (widest - 1) * GAP_X
  const height = 2 * MARGIN + rows.length * NODE_H + (rows.length - 1) * GAP_Y
  const at = new Map<string, { x: number; y: number }>()
  rows.forEach((row, r) => {
    const indent = ((widest - row.length) * (NODE_W + GAP_X)) / 2 // each row centred
    row.forEach((s, c) => at.set(s.name, { x: MARGIN + indent + c * (NODE_W + GAP_X), y: MARGIN + r * (NODE_H + GAP_Y) }))
  })
  const slowest = Math.max(1e-9, ...state.stages.map((s) => s.seconds))
  const edges = state.stages.flatMap((s) => [...new Set(Object.values(s.inputs))].map((from) => {
    const a = at.get(from)
    const b = at.get(s.name)!
    if (!a) return ""
    const [x0, y0, x1, y1] = [a.x + NODE_W / 2, a.y + NODE_H, b.x + NODE_W / 2, b.y - 3]
    const bend = Math.max(12, (y1 - y0) / 2)
    return `<path class="edge" d="M${x0},${y0} C${x0},${y0 + bend} ${x1},${y1 - bend} ${x1},${y1}" marker-end="url(#arrow)"/>`
  }))
  const nodes = state.stages.map((s) => {
    const { x, y } = at.get(s.name)!
    const isSelf = s.name === self
    const bar = s.seconds > 0 ? `<rect class="time" x="${x + 6}" y="${y + NODE_H - 8}" width="${round(Math.max(1, ((NODE_W - 12) * s.seconds) / slowest), 2)}" height="3"/>` : ""
    const title = `${s.name} (${s.stage}): ${isSelf ? "this report" : s.status}${s.reason && s.reason !== s.status ? ` — ${s.reason}` : ""}`
    return `<g class="node${isSelf ? " self" : ""}"><title>${escapeHtml(title)}</title>` +
      `<rect x="${x}" y="${y}" width="${NODE_W}" height="${NODE_H}" rx="6" fill="${STATUS_COLOURS[s.status]}"/>` +
      `<text class="name" x="${x + 8}" y="${y + 17}">${escapeHtml(clip(s.name, 20))}</text>` +
      `<text class="state" x="${x + 8}" y="${y + 32}">${escapeHtml(isSelf ? "this report" : stateText(s))}</text>${bar}</g>`
  })
  return `<svg class="dag" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="the pipeline's stages and their inputs">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#888"/></marker></defs>
${edges.join("\n")}
${nodes.join("\n")}
</svg>`
}

/** A stage's status and time in a few words: "ran 12.3 s", "cached", "ran 3/24 · 1.2 s". */
export const stateText = (s: PipelineStageState): string => {
  const parts = s.partitions && s.status === "ran" ? `${s.status} ${s.partitions.ran}/${s.partitions.total}` : s.status
  return s.seconds > 0 ? `${parts} · ${secondsText(s.seconds)}` : parts
}

/** Seconds as "0.42 s", "12.3 s", "4 min 05 s". */
export const secondsText = (seconds: number): string =>
  seconds < 1 ? `${seconds.toFixed(2)} s` : seconds < 60 ? `${seconds.toFixed(1)} s` : `${Math.floor(seconds / 60)} min ${String(Math.round(seconds % 60)).padStart(2, "0")} s`

// ---------------------------------------------------------------------------------------------

const [WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM] = [560, 250, 58, 14, 10, 38]
const [NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN] = [150, 44, 14, 26, 6]

/** [lo, hi] widened when empty, so a flat series still has a height. */
const spread = (lo: number, hi: number): [number, number] => (hi > lo ? [lo, hi] : [lo - 0.5 * (Math.abs(lo) || 1), hi + 0.5 * (Math.abs(hi) || 1)])

/** Round ticks in [lo, hi], about `most` of them: steps of 1, 2 or 5 times a power of ten. */
const linearTicks = (lo: number, hi: number, most: number): number[] => {
  const power = 10 ** Math.floor(Math.log10((hi - lo) / most))
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => (hi - lo) / s <= most)!
  const out: number[] = []
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(round(t, 10))
  return out
}

/** Powers of ten in [lo, hi], with 2× and 5× between when there are fewer than three. */
const logTicks = (lo: number, hi: number): number[] => {
  const decades = Array.from({ length: Math.floor(Math.log10(hi)) - Math.ceil(Math.log10(lo)) + 1 }, (_, i) => 10 ** (Math.ceil(Math.log10(lo)) + i))
  if (decades.length >= 3) return decades
  const out: number[] = []
  for (let p = Math.floor(Math.log10(lo)); p <= Math.ceil(Math.log10(hi)); p++) for (const m of [1, 2, 5]) out.push(m * 10 ** p)
  return out.filter((t) => t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)).map((t) => round(t, 12))
}

const tickText = (t: number): string => (Math.abs(t) >= 1e4 || (t !== 0 && Math.abs(t) < 1e-3) ? t.toExponential(0) : String(round(t, 6)))

const clip = (text: string, most: number): string => (text.length > most ? `${text.slice(0, most - 1)}…` : text)
