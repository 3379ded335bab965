/**
 * The run report's HTML: one self-contained file (inline CSS, SVG and script; images and audio as
 * data URIs; a Content-Security-Policy that lets nothing be fetched) with the pipeline's graph
 * coloured by what each stage did and how long it took, the VQ-VAE's training curves and codebook
 * use, a held-out song against each level's reconstruction (spectrograms and players), spectral
 * convergence beside Opus, the priors' curves, and each sample with a player, its spectrogram and
 * its lyrics.
 *
 * Every string from the data (song ids, labels and artists, lyrics, stage names) is escaped.
 * Pure: the stage gathers the data and writes the string.
 */
import type { PipelineState } from "../runtime/index.ts"
import type { PriorMetric } from "../schemas/prior.ts"
import type { Evaluation, TrainMetric } from "../schemas/vqvae.ts"
import { escapeHtml, round, ticks } from "./html.ts"
import { lineChart, pipelineGraph, secondsText, STATUS_COLOURS, stateText } from "./report-charts.ts"
import { frequencyPosition, type SpectrogramImage } from "./report-spectrogram.ts"

/** A piece of audio the page plays and draws. */
export interface ReportClip {
  /** What it is, e.g. "original" or "level 0 (hop 8)". */
  readonly label: string
  /** A `data:audio/wav;base64,…` URI. */
  readonly audio: string
  readonly spectrogram: SpectrogramImage
}

/** A VQ-VAE level: its stage, its codebook, and its training curve. */
export interface ReportVqvae {
  readonly name: string
  readonly level: number
  readonly hop: number
  readonly codebookSize: number
  readonly metrics: ReadonlyArray<Pick<TrainMetric, "step" | "loss" | "l2" | "spectral" | "commit" | "usage" | "entropy">>
}

/** A prior: its stage, its yardsticks, and its training curve. */
export interface ReportPrior {
  readonly name: string
  readonly level: number
  readonly unigramBits: number
  readonly heldOutBits: number | null
  readonly heldOutLyricsBits: number | null
  readonly metrics: ReadonlyArray<Pick<PriorMetric, "step" | "priorBits" | "lyricsBits" | "heldOutBits">>
}

/** One sample of a sample stage. */
export interface ReportSample {
  /** The sample stage's name, and the sample's id in it. */
  readonly source: string
  readonly id: string
  /** The labels in words (artists and genres, with their changes). */
  readonly labels: string
  readonly lyrics: string
  /** The sample's length, and how much of it the page carries. */
  readonly seconds: number
  readonly seed: number
  /** What it continues, e.g. "3 s of s003"; absent when sampled from nothing. */
  readonly primer?: string
  readonly clip: ReportClip
}

/** Everything the report shows: plain data. */
export interface ReportPageInput {
  /** The run as it stood when the report ran, and the report's own stage name. */
  readonly pipeline: PipelineState
  readonly self: string
  readonly vqvae: ReadonlyArray<ReportVqvae>
  readonly evaluation: Evaluation
  /** A held-out song's clip: the original first, then each level's reconstruction, bottom first. */
  readonly heldOut?: { readonly song: string; readonly clips: ReadonlyArray<ReportClip> }
  readonly priors: ReadonlyArray<ReportPrior>
  readonly samples: ReadonlyArray<ReportSample>
}

/** The report, one HTML document. */
export const reportPage = (input: ReportPageInput): string => {
  const title = `Run report: ${input.pipeline.name}`
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; media-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>${escapeHtml(title)}</h1>
<p class="facts">${escapeHtml(runFacts(input.pipeline, input.self))}</p>
</header>
${pipelineSection(input.pipeline, input.self)}
${vqvaeSection(input.vqvae, input.evaluation)}
${reconstructionSection(input.heldOut, input.evaluation)}
${priorSection(input.priors)}
${samplesSection(input.samples)}
<script>${SCRIPT}</script>
</body>
</html>
`
}

// ---------------------------------------------------------------------------------------------

const LEVEL_NAMES = ["bottom", "middle", "top"]
const levelName = (level: number) => LEVEL_NAMES[level] ?? `level ${level}`

/** "18 stages: 3 ran, 14 cached; 4 min 05 s", counting every stage but the report. */
const runFacts = (state: PipelineState, self: string): string => {
  const others = state.stages.filter((s) => s.name !== self)
  const counts = (["ran", "cached", "failed", "skipped", "interrupted", "pending"] as const)
    .map((status) => [status, others.filter((s) => s.status === status).length] as const).filter(([, n]) => n > 0)
  const seconds = others.reduce((sum, s) => sum + s.seconds, 0)
  return `${state.stages.length} stages: ${counts.map(([status, n]) => `${n} ${status}`).join(", ")}; ${secondsText(seconds)} of stage time in the run that made this report`
}

const pipelineSection = (state: PipelineState, self: string): string => {
  const legend = Object.entries(STATUS_COLOURS).map(([status, colour]) => `<li><i style="--c:${colour}"></i>${status}</li>`).join("")
  const slowest = Math.max(1e-9, ...state.stages.map((s) => s.seconds))
  const rows = state.stages.map((s) => `<tr><td>${escapeHtml(s.name)}</td><td>${escapeHtml(s.stage)}</td>` +
    `<td><i class="swatch" style="--c:${STATUS_COLOURS[s.status]}"></i>${escapeHtml(s.name === self ? "this report" : stateText(s))}</td>` +
    `<td class="num">${s.seconds > 0 ? escapeHtml(secondsText(s.seconds)) : ""}</td>` +
    `<td><span class="bar" style="width:${round((100 * s.seconds) / slowest, 2)}%"></span></td><td class="reason">${escapeHtml(s.reason === s.status ? "" : s.reason)}</td></tr>`)
  return `<section id="pipeline">
<h2>Pipeline</h2>
<p>Each stage as it stood when this report ran: its colour says what it did in that run, the bar under its name how long it took next to the slowest. A cached report shows the run that made it.</p>
<div class="scroll">${pipelineGraph(state, self)}</div>
<ul class="legend">${legend}</ul>
<table class="stages"><thead><tr><th>stage</th><th>uses</th><th>state</th><th>time</th><th></th><th>why</th></tr></thead><tbody>
${rows.join("\n")}
</tbody></table>
</section>`
}

const vqvaeSection = (levels: ReadonlyArray<ReportVqvae>, evaluation: Evaluation): string => {
  const series = (pick: (m: ReportVqvae["metrics"][number]) => number) =>
    levels.map((l) => ({ name: `${l.name} (level ${l.level}, hop ${l.hop})`, points: l.metrics.map((m) => [m.step, pick(m)] as const) }))
  const usage = levels.map((l) => {
    const evaluated = evaluation.levels.find((e) => e.level === l.level)
    const last = l.metrics.at(-1)
    return `<tr><td>${escapeHtml(l.name)}</td><td class="num">${l.level}</td><td class="num">${l.codebookSize}</td>` +
      `<td class="num">${last ? last.usage : ""}</td>` +
      `<td class="num">${evaluated ? evaluated.codesUsed : ""}</td>` +
      `<td class="num">${evaluated ? `${evaluated.entropyBits.toFixed(2)} of ${Math.log2(l.codebookSize).toFixed(1)}` : ""}</td></tr>`
  })
  return `<section id="vqvae">
<h2>VQ-VAE</h2>
<div class="charts">
<div><h3>Training loss</h3>${lineChart({ xLabel: "step", yLabel: "loss", series: series((m) => m.loss), logY: true })}</div>
<div><h3>Codes in use per batch</h3>${lineChart({ xLabel: "step", yLabel: "codes used", series: series((m) => m.usage) })}</div>
</div>
<h3>Codebook usage</h3>
<table><thead><tr><th>stage</th><th>level</th><th>codebook</th><th>codes used, last batch</th><th>codes used, all songs</th><th>entropy, bits</th></tr></thead><tbody>
${usage.join("\n")}
</tbody></table>
</section>`
}

const reconstructionSection = (heldOut: ReportPageInput["heldOut"], evaluation: Evaluation): string => {
  const db = (x: number | null) => (x === null ? "n/a" : `${x.toFixed(1)} dB`)
  const rows = evaluation.levels.map((l) => `<tr><td class="num">${l.level} (${escapeHtml(levelName(l.level))})</td><td class="num">${l.hop}</td>` +
    `<td class="num">${l.bitrateKbps.toFixed(1)}</td><td class="num">${db(l.spectralConvergenceDb)}</td>` +
    `<td class="num">${l.opusKbps === null ? "n/a" : l.opusKbps.toFixed(1)}</td><td class="num">${db(l.opusSpectralConvergenceDb)}</td></tr>`)
  const songs = evaluation.heldOutSongs.length > 0 ? evaluation.heldOutSongs.map(escapeHtml).join(", ") : "none"
  const clips = heldOut
    ? `<p>The first ${round(heldOut.clips[0]?.spectrogram.seconds ?? 0, 2)} s of held-out song <q>${escapeHtml(heldOut.song)}</q>, and what each level's codes give back. All on the original's scale: 0 dB at its loudest, 80 dB of range.</p>
<div class="clips">${heldOut.clips.map(clipFigure).join("\n")}</div>`
    : `<p class="none">No held-out song to listen to.</p>`
  return `<section id="reconstructions">
<h2>Reconstructions</h2>
${clips}
<h3>Spectral convergence beside Opus</h3>
<p>On the held-out songs (${songs}); lower is better. Opus runs at the same bitrate as the level's codes (raised to its floor)${evaluation.opus === "not installed" ? "; opus-tools were not installed, so there is no Opus column" : ""}.</p>
<table><thead><tr><th>level</th><th>hop</th><th>codes, kb/s</th><th>VQ-VAE</th><th>Opus, kb/s</th><th>Opus</th></tr></thead><tbody>
${rows.join("\n")}
</tbody></table>
</section>`
}

const priorSection = (priors: ReadonlyArray<ReportPrior>): string => {
  const charts = priors.map((p) => {
    const steps = p.metrics.map((m) => m.step)
    const span = steps.length > 0 ? [Math.min(...steps), Math.max(...steps)] : [0, 1]
    const series = [
      { name: "training, bits per code", points: p.metrics.map((m) => [m.step, m.priorBits] as const) },
      { name: "held out, bits per code", points: p.metrics.map((m) => [m.step, m.heldOutBits] as const), style: "dots" as const },
      { name: `unigram entropy of the codes (${p.unigramBits.toFixed(2)})`, points: span.map((s) => [s, p.unigramBits] as const), style: "dashed" as const },
      ...(p.metrics.some((m) => Number.isFinite(m.lyricsBits) && m.lyricsBits > 0)
        ? [{ name: "lyrics, bits per character", points: p.metrics.map((m) => [m.step, m.lyricsBits] as const) }]
        : []),
    ]
    const facts = [`level ${p.level} (${levelName(p.level)})`, p.heldOutBits === null ? "no held-out windows" : `held out at the end: ${p.heldOutBits.toFixed(2)} bits per code`,
      ...(p.heldOutLyricsBits === null ? [] : [`lyrics ${p.heldOutLyricsBits.toFixed(2)} bits per character`])]
    return `<div><h3>${escapeHtml(p.name)}</h3><p class="facts">${escapeHtml(facts.join(" · "))}</p>${lineChart({ xLabel: "step", yLabel: "bits", series })}</div>`
  })
  return `<section id="priors">
<h2>Priors</h2>
<p>Cross-entropy in bits per code; a prior that learned something from context ends below the dashed line, the codes' unigram entropy.</p>
<div class="charts">${charts.join("\n")}</div>
</section>`
}

const samplesSection = (samples: ReadonlyArray<ReportSample>): string => {
  const figures = samples.map((s) => {
    const facts = [s.labels, `${round(s.seconds, 2)} s`, `seed ${s.seed}`, ...(s.primer ? [`continues ${s.primer}`] : [])]
    const shown = s.clip.spectrogram.seconds < s.seconds - 1e-6 ? `<p class="facts">The page carries its first ${round(s.clip.spectrogram.seconds, 2)} s.</p>` : ""
    return `<article class="sample">
<h3>${escapeHtml(s.source)} · ${escapeHtml(s.id)}</h3>
<p class="facts">${escapeHtml(facts.join(" · "))}</p>${shown}
${clipFigure(s.clip)}
${s.lyrics.length > 0 ? `<pre class="lyrics">${escapeHtml(s.lyrics)}</pre>` : `<p class="none">No lyrics.</p>`}
</article>`
  })
  return `<section id="samples">
<h2>Samples</h2>
${figures.length > 0 ? figures.join("\n") : `<p class="none">No samples.</p>`}
</section>`
}

/** A clip's spectrogram (seconds across, kHz up on a mel axis) and its player. */
const clipFigure = (clip: ReportClip): string => {
  const { spectrogram: s } = clip
  const [w, h, left, bottom] = [560, 180, 44, 30]
  const x = (seconds: number) => round(left + (seconds / s.seconds) * (w - left - 4), 2)
  const y = (hz: number) => round(4 + (1 - frequencyPosition(hz, s.topHz)) * (h - bottom - 4), 2)
  const hz = [0, 500, 1000, 2000, 4000, 8000, 16000].filter((f) => f < s.topHz)
  const axes = [
    ...ticks(s.seconds, 8).map((t) => `<text class="tick" x="${x(t)}" y="${h - bottom + 14}" text-anchor="middle">${t}</text>`),
    ...hz.map((f) => `<text class="tick" x="${left - 5}" y="${y(f)}" text-anchor="end" dominant-baseline="middle">${f / 1000}</text>`),
  ]
  return `<figure class="clip"><figcaption>${escapeHtml(clip.label)}</figcaption>
<svg viewBox="0 0 ${w} ${h}" role="img" aria-label="${escapeHtml(`spectrogram of ${clip.label}`)}">
<image href="${escapeHtml(s.uri)}" x="${left}" y="4" width="${w - left - 4}" height="${h - bottom - 4}" preserveAspectRatio="none"/>
${axes.join("\n")}
<text class="axis" x="${(left + w) / 2}" y="${h - 3}" text-anchor="middle">seconds</text>
<text class="axis" transform="translate(11 ${(h - bottom) / 2}) rotate(-90)" text-anchor="middle">kHz</text>
</svg>
<audio controls preload="metadata" src="${escapeHtml(clip.audio)}"></audio></figure>`
}

const STYLE = `
body { font: 15px/1.5 system-ui, sans-serif; max-width: 76rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; margin-bottom: 0; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ddd; } h3 { font-size: 1.05rem; margin-bottom: 0.25rem; }
.facts { color: #555; margin-top: 0.25rem; } .none { color: #666; font-style: italic; }
.scroll { overflow-x: auto; } .dag { max-width: none; font-size: 12px; }
.dag .edge { fill: none; stroke: #999; stroke-width: 1.2; }
.dag .node rect:first-of-type { stroke: #666; } .dag .self rect:first-of-type { stroke-dasharray: 4 3; stroke: #333; stroke-width: 2; }
.dag .name { font-weight: 600; } .dag .state { fill: #333; } .dag .time { fill: #333; }
.legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 0.4rem 1.2rem; font-size: 0.85rem; color: #444; margin: 0.3rem 0; }
.legend i, .swatch { display: inline-block; width: 1.4em; height: 0.8em; margin-right: 0.4em; vertical-align: middle; background: var(--c); border: 1px solid #777; }
.legend i.line, .legend i.dashed, .legend i.dots { border: 0; height: 0; border-top: 2px solid var(--c); background: none; }
.legend i.dashed { border-top-style: dashed; } .legend i.dots { border-top-style: dotted; border-top-width: 4px; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.9rem; } th, td { padding: 0.2rem 0.6rem; text-align: left; border-bottom: 1px solid #eee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } td.reason { color: #555; }
.stages td:nth-child(5) { width: 8rem; } .bar { display: block; height: 0.6em; background: #555; min-width: 1px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(24rem, 1fr)); gap: 1rem 2rem; }
.chart { margin: 0; } .chart svg, .clip svg { width: 100%; height: auto; display: block; }
svg .frame { fill: none; stroke: #bbb; } svg .grid { stroke: #eee; } svg .tick { font-size: 11px; fill: #555; } svg .axis { font-size: 12px; fill: #333; }
.clips { display: grid; grid-template-columns: repeat(auto-fit, minmax(24rem, 1fr)); gap: 1rem 2rem; }
.clip { margin: 0.5rem 0; } .clip figcaption { font-weight: 600; } .clip audio { width: 100%; }
.sample { margin-bottom: 1.5rem; } .sample .clip { max-width: 40rem; }
.lyrics { white-space: pre-wrap; font-family: ui-monospace, monospace; background: #f7f5fb; padding: 0.5rem 0.75rem; max-width: 40rem; }
`

const SCRIPT = `
(() => {
  const players = [...document.querySelectorAll("audio")];
  players.forEach((a) => a.addEventListener("play", () => players.forEach((b) => b !== a && b.pause())));
})();
`
