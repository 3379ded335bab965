/**
 * The HTML page the `sample` stage writes per sample: one self-contained file (inline CSS and
 * script, nothing fetched) with the sample's facts, a player per level, the lyrics lit up as they
 * are sung, and the heat map of the encoder-decoder attention head they were aligned by (paper 5.3).
 *
 *   playing audio: currentTime → top-level token (× sampleRate ÷ hopLength) → its character
 *                  (the alignment's per-character token spans) → that character and its word lit
 *
 * Every string from the data (artist, genre, lyrics, file names) is escaped; the numbers the script
 * reads travel as one JSON block (`#sample-data`). Pure: the stage writes the string.
 */
import type { AttentionHeatMap } from "../models/alignment.ts"
import { escapeHtml, fileUrl, jsonForScript, round, ticks } from "./html.ts"

/** One level's audio. */
export interface SamplePageAudio {
  /** The level: 0 the bottom (the finest, best quality), up to the top. */
  readonly level: number
  /** Its name, e.g. "bottom". */
  readonly name: string
  /** The WAV's file name relative to the page, e.g. `sample-0-level-0.wav`; its path segments are URL-encoded, so it stays a relative URL. */
  readonly file: string
  /** The softmax temperature its codes were sampled at; absent where they were kept, not sampled (upsample-only, primer). */
  readonly temperature?: number
}

/** The lyrics as the top prior read them, and how they line up with the music. */
export interface SamplePageLyrics {
  /** The normalised lyrics (dataset/lyrics.ts `normaliseLyrics`), one character (code point) per lyric id: alignment character i is [...text][i]. */
  readonly text: string
  /** Per character, its top-level tokens [start[i], end[i]) (models/alignment.ts `alignSong`): empty for a character the alignment skipped. */
  readonly start: readonly number[]
  readonly end: readonly number[]
  /** The chosen head's attention over the song, at most about 400 × 200 cells (models/alignment.ts `attentionHeatMap`). */
  readonly heatMap: AttentionHeatMap
  /** Which attention: the top prior's layer and head (models/alignment.ts `bestHead`). */
  readonly layer: number
  readonly head: number
}

/** Everything one sample's page shows: plain data. */
export interface SamplePageInput {
  /** The sample's index in its batch. */
  readonly sample: number
  readonly artist: string
  readonly genre: string
  /** Length of the audio, seconds. */
  readonly seconds: number
  readonly seed: number
  /** A player per level, any order (the page puts the bottom, the best quality, first). */
  readonly audio: readonly SamplePageAudio[]
  /** The top level's clock: audio samples per top-level token, and samples per second. */
  readonly hopLength: number
  readonly sampleRate: number
  /** Absent (or empty text) for a sample without lyrics: an upsample-only sample, a top prior without lyrics. */
  readonly lyrics?: SamplePageLyrics
}

/** The sample's page, one HTML document. */
export const samplePage = (input: SamplePageInput): string => {
  const lyrics = input.lyrics && input.lyrics.text.length > 0 ? input.lyrics : undefined
  if (lyrics) checkLyrics(lyrics)
  const audio = [...input.audio].sort((a, b) => a.level - b.level)
  const title = `Sample ${input.sample}: ${input.artist}, ${input.genre}`
  const temperatures = [...audio].reverse().flatMap((a) => (a.temperature === undefined ? [] : [`${a.name} ${a.temperature}`]))
  const facts = [`${round(input.seconds, 2)} s`, `seed ${input.seed}`, ...(temperatures.length > 0 ? [`temperature ${temperatures.join(", ")}`] : [])]
  const secondsPerToken = input.hopLength / input.sampleRate
  const data = {
    secondsPerToken,
    alignment: lyrics ? { start: lyrics.start, end: lyrics.end } : null,
    heatMap: lyrics ? heatMapData(lyrics.heatMap) : null,
  }
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>Sample ${input.sample}: ${escapeHtml(input.artist)} <span class="genre">${escapeHtml(input.genre)}</span></h1>
<p class="facts">${facts.map(escapeHtml).join(" · ")}</p>
</header>
<section>
<h2>Audio</h2>
${audio.map((a, i) => player(a, i === 0)).join("\n")}
</section>
<section>
<h2>Lyrics</h2>
${lyrics ? `<p id="lyrics" title="click a character to play from there">${lyricsMarkup(lyrics.text)}</p>` : `<p class="none">This sample has no lyrics.</p>`}
</section>
${lyrics ? alignmentSection(lyrics, secondsPerToken) : ""}
<script type="application/json" id="sample-data">${jsonForScript(data)}</script>
<script>${SCRIPT}</script>
</body>
</html>
`
}

// ---------------------------------------------------------------------------------------------

/** One level's player. */
const player = (a: SamplePageAudio, best: boolean): string =>
  `<figure class="player"><figcaption>Level ${a.level} (${escapeHtml(a.name)}${best ? ", best quality" : ""})</figcaption>` +
  `<audio controls preload="metadata" src="${fileUrl(a.file)}"></audio></figure>`

/** Each character a <span> in order (the script finds character i as the i-th), words wrapped in <span class="w">. */
const lyricsMarkup = (text: string): string =>
  (text.match(/\s|\S+/g) ?? [])
    .map((part) => (/\s/.test(part) ? `<span>${escapeHtml(part)}</span>` : `<span class="w">${[...part].map((c) => `<span>${escapeHtml(c)}</span>`).join("")}</span>`))
    .join("")

/** The heat map: a canvas the script fills from the JSON, axes in seconds and lyric characters. */
const alignmentSection = (lyrics: SamplePageLyrics, secondsPerToken: number): string => {
  const { heatMap, text } = lyrics
  const seconds = heatMap.tokens * secondsPerToken
  const timeTicks = ticks(seconds, 10).map((s) => `<span style="left:${round((100 * s) / seconds, 3)}%">${s} s</span>`)
  const characterTicks = ticks(heatMap.characters, 8).map((c) =>
    `<span style="top:${round((100 * c) / heatMap.characters, 3)}%">${c} <q>${escapeHtml(excerpt(text, c))}</q></span>`)
  return `<section>
<h2>Alignment</h2>
<p>How the music (across) reads the lyrics (down): the top prior's encoder-decoder layer ${lyrics.layer}, head ${lyrics.head}. Darker is more attention; the red line is the playhead.</p>
<div class="heat">
<div class="y-title">lyric character</div>
<div class="y-axis">${characterTicks.join("")}</div>
<div class="plot"><canvas id="heat-map" width="${heatMap.columns}" height="${heatMap.rows}"></canvas><div id="playhead"></div></div>
<div></div>
<div></div>
<div class="x-axis">${timeTicks.join("")}</div>
<div></div>
<div></div>
<div class="x-title">time (seconds)</div>
</div>
</section>`
}

/** The heat map for the script: values divided by the largest, to 3 decimals. */
const heatMapData = (map: AttentionHeatMap) => {
  const largest = map.values.reduce((a, v) => Math.max(a, v), 1e-30)
  return { columns: map.columns, rows: map.rows, tokens: map.tokens, values: map.values.map((v) => Math.round((1000 * v) / largest) / 1000) }
}

/** A few characters of `text` from character `at`, line breaks as spaces. */
const excerpt = (text: string, at: number): string => {
  const characters = [...text]
  const piece = characters.slice(at, at + 14).join("").replace(/\s+/g, " ")
  return at + 14 < characters.length ? `${piece}…` : piece
}

/** Throws unless the alignment and heat map fit the text. */
const checkLyrics = (lyrics: SamplePageLyrics): void => {
  const characters = [...lyrics.text].length
  if (lyrics.start.length !== characters || lyrics.end.length !== characters) {
    throw new RangeError(`samplePage: the alignment spans ${lyrics.start.length} / ${lyrics.end.length} characters, the lyrics have ${characters}`)
  }
  const { columns, rows, values } = lyrics.heatMap
  if (values.length !== columns * rows) throw new RangeError(`samplePage: the heat map has ${values.length} values for ${rows} × ${columns} cells`)
}

const STYLE = `
body { font: 16px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; margin-bottom: 0; } .genre { color: #666; font-weight: normal; }
.facts { color: #555; margin-top: 0.25rem; }
.player { margin: 0.5rem 0; } .player figcaption { font-size: 0.9rem; color: #555; } audio { width: 100%; }
#lyrics { white-space: pre-wrap; font-family: ui-monospace, monospace; line-height: 1.8; cursor: pointer; }
#lyrics .word { background: #e8e0f7; } #lyrics .now { background: #6a3fb5; color: #fff; }
.none { color: #666; font-style: italic; }
.heat { display: grid; grid-template-columns: 1.5rem 11rem 1fr; grid-template-rows: 280px 1.5rem 1.5rem; font-size: 0.8rem; color: #444; }
.y-title { writing-mode: vertical-rl; transform: rotate(180deg); text-align: center; }
.y-axis, .x-axis { position: relative; } .y-axis span, .x-axis span { position: absolute; white-space: nowrap; }
.y-axis span { right: 0.4rem; transform: translateY(-0.1em); overflow: hidden; max-width: 10.5rem; text-overflow: ellipsis; }
.x-axis span { transform: translateX(-50%); } .x-title { text-align: center; }
.plot { position: relative; border: 1px solid #999; }
#heat-map { width: 100%; height: 100%; display: block; image-rendering: pixelated; }
#playhead { position: absolute; top: 0; bottom: 0; width: 2px; background: #d33; left: 0; display: none; }
`

const SCRIPT = `
(() => {
  const data = JSON.parse(document.getElementById("sample-data").textContent);
  const players = [...document.querySelectorAll("audio")];
  players.forEach((a) => a.addEventListener("play", () => players.forEach((b) => b !== a && b.pause())));
  if (!data.alignment) return;
  const { start, end } = data.alignment;
  const chars = [...document.querySelectorAll("#lyrics span:not(.w)")];
  const playhead = document.getElementById("playhead");
  const tokens = data.heatMap.tokens;
  // the character whose tokens hold this token: the first whose span ends after it
  const characterAt = (token) => {
    let lo = 0, hi = end.length - 1;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (end[mid] > token) hi = mid; else lo = mid + 1; }
    return lo;
  };
  let lit = -1;
  const show = (seconds) => {
    const token = Math.floor(seconds / data.secondsPerToken);
    playhead.style.display = "block";
    playhead.style.left = Math.min(100, (100 * token) / tokens) + "%";
    const c = characterAt(token);
    if (c === lit) return;
    if (lit >= 0) { chars[lit].classList.remove("now"); chars[lit].parentElement.classList.remove("word"); }
    lit = c;
    chars[c].classList.add("now");
    if (chars[c].parentElement.classList.contains("w")) chars[c].parentElement.classList.add("word");
  };
  let active = players[0];
  const follow = () => { show(active.currentTime); if (!active.paused) requestAnimationFrame(follow); };
  players.forEach((a) => {
    a.addEventListener("play", () => { active = a; follow(); });
    a.addEventListener("seeked", () => { if (a === active) show(a.currentTime); });
  });
  chars.forEach((span, c) => span.addEventListener("click", () => {
    if (!active) return;
    active.currentTime = start[c] * data.secondsPerToken;
    active.play();
  }));
  // the heat map: white (no weight) to dark violet (the most)
  const map = data.heatMap, canvas = document.getElementById("heat-map");
  const image = canvas.getContext("2d").createImageData(map.columns, map.rows);
  const stops = [[255, 255, 255], [188, 175, 220], [106, 63, 181], [30, 10, 70]];
  map.values.forEach((v, i) => {
    const x = Math.min(v, 1) * (stops.length - 1), k = Math.min(Math.floor(x), stops.length - 2), f = x - k;
    for (let ch = 0; ch < 3; ch++) image.data[4 * i + ch] = Math.round(stops[k][ch] + f * (stops[k + 1][ch] - stops[k][ch]));
    image.data[4 * i + 3] = 255;
  });
  canvas.getContext("2d").putImageData(image, 0, 0);
})();
`
