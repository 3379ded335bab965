/**
 * A sample's HTML page: every string from the data escaped, a player per level (bottom first),
 * nothing fetched from the network, the data block and the script well-formed, and a page for a
 * sample without lyrics.
 *
 *   npx vitest run test/stages/sample-page.test.ts
 */
import { describe, expect, it } from "vitest"
import { alignSong, attentionHeatMap, type AttentionWindow } from "../../models/alignment.ts"
import { samplePage, type SamplePageInput } from "../../stages/sample-page.ts"

const NASTY = `<script>alert(1)</script> "&'`
const TEXT = `Hello ${NASTY}\nsecond line`
const CHARACTERS = [...TEXT].length
const TOKENS = 2 * CHARACTERS

/** One window of a staircase attention over the whole song: character ⌊t/2⌋ at token t. */
const WINDOW: AttentionWindow = {
  tokenStart: 0,
  charStart: 0,
  attention: {
    heads: 1,
    tokens: TOKENS,
    characters: CHARACTERS,
    weights: Float32Array.from({ length: TOKENS * CHARACTERS }, (_, i) => (i % CHARACTERS === Math.floor(i / CHARACTERS / 2) ? 0.9 : 0.1 / (CHARACTERS - 1))),
  },
}
const SONG = { tokens: TOKENS, characters: CHARACTERS }
const ALIGNMENT = alignSong([WINDOW], 0, SONG)

const INPUT: SamplePageInput = {
  sample: 0,
  artist: NASTY,
  genre: "rock & roll",
  seconds: (TOKENS * 4) / 16,
  seed: 7,
  audio: [
    { level: 2, name: "top", file: "sample-0-level-2.wav", temperature: 0.98 },
    { level: 0, name: "bottom", file: "sample-0-level-0.wav", temperature: 0.99 },
    { level: 1, name: "middle", file: "sample-0-level-1.wav", temperature: 0.99 },
  ],
  hopLength: 4,
  sampleRate: 16,
  lyrics: { text: TEXT, start: ALIGNMENT.start, end: ALIGNMENT.end, heatMap: attentionHeatMap([WINDOW], 0, SONG, { columns: 40, rows: 20 }), layer: 71, head: 0 },
}

/** The page's JSON data block and its script, as the browser would read them. */
const parts = (page: string) => ({
  data: JSON.parse(/<script type="application\/json" id="sample-data">(.*?)<\/script>/s.exec(page)![1]!),
  script: /<script>(.*?)<\/script>/s.exec(page)![1]!,
})

describe("samplePage", () => {
  const page = samplePage(INPUT)

  it("escapes every string from the data", () => {
    expect(page).not.toContain("alert(1)</script>")
    expect(page).not.toContain(`"&'`)
    expect(page).toContain("Sample 0: &lt;script&gt;alert(1)&lt;/script&gt; &quot;&amp;&#39;") // the artist, in the title and heading
    expect(page).toContain("rock &amp; roll")
    // in the lyrics each character is its own span
    expect(page).toContain("<span>&lt;</span><span>s</span>")
    expect(page).toContain("<span>&quot;</span><span>&amp;</span><span>&#39;</span>")
    expect(page.match(/<script/g)).toHaveLength(2) // the data block and the page's own script
  })

  it("has a player per level, the bottom (best quality) first, its file a relative URL", () => {
    const sources = [...page.matchAll(/<audio controls preload="metadata" src="([^"]*)">/g)].map((m) => m[1])
    expect(sources).toEqual(["sample-0-level-0.wav", "sample-0-level-1.wav", "sample-0-level-2.wav"])
    expect(page).toContain("Level 0 (bottom, best quality)")
    expect(page).toContain("seed 7 · temperature top 0.98, middle 0.99, bottom 0.99")
    const odd = samplePage({ ...INPUT, audio: [{ level: 0, name: "bottom", file: `https://x.org/"a b".wav` }] })
    expect(odd).toContain(`src="https%3A/x.org/%22a%20b%22.wav"`)
    expect(samplePage({ ...INPUT, audio: [{ level: 0, name: "bottom", file: "//x.org/a.wav" }] })).toContain(`src="x.org/a.wav"`)
  })

  it("fetches nothing: no http:// or https:// anywhere, no external script or style", () => {
    expect(page).not.toMatch(/https?:\/\//)
    expect(page).not.toMatch(/<(script|link)[^>]*(src|href)=/)
  })

  it("carries the alignment and the heat map as JSON, one span per lyric character, a script that parses", () => {
    const { data, script } = parts(page)
    expect(data.secondsPerToken).toBe(0.25)
    expect(data.alignment).toEqual({ start: ALIGNMENT.start, end: ALIGNMENT.end })
    expect(data.heatMap.values).toHaveLength(data.heatMap.columns * data.heatMap.rows)
    expect([data.heatMap.columns, data.heatMap.rows, data.heatMap.tokens]).toEqual([40, 20, TOKENS])
    expect(Math.max(...data.heatMap.values)).toBe(1)
    expect(page.match(/<span>/g)).toHaveLength(CHARACTERS)
    expect(page).toContain(`<canvas id="heat-map" width="40" height="20">`)
    expect(page).toContain("encoder-decoder layer 71, head 0.")
    expect(page).toContain("time (seconds)")
    expect(page).toContain("lyric character")
    expect(() => new Function(script)).not.toThrow()
  })

  it("its script lights the character sung at the playhead, moves the playhead, seeks on a click and paints the heat map", () => {
    const { script } = parts(page)
    const dom = fakeDocument(page)
    new Function("document", "requestAnimationFrame", script)(dom.document, () => undefined)
    const [bottom, middle] = dom.players
    middle!.paused = false
    bottom!.currentTime = 10 * 0.25 + 0.1 // token 10: character 5
    bottom!.fire("play")
    expect(middle!.paused).toBe(true) // one player at a time
    expect(dom.lit()).toEqual([5])
    expect(dom.playhead.style.left).toBe(`${(100 * 10) / TOKENS}%`)
    bottom!.currentTime = 0.3 // token 1: character 0
    bottom!.fire("seeked")
    expect(dom.lit()).toEqual([0])
    dom.characters[3]!.fire("click")
    expect(bottom!.currentTime).toBe(ALIGNMENT.start[3]! * 0.25)
    expect(dom.painted()).toHaveLength(4 * 40 * 20)
  })

  it("renders a sample without lyrics, saying so", () => {
    const { lyrics: _, ...withoutLyrics } = INPUT
    for (const input of [withoutLyrics, { ...INPUT, lyrics: { ...INPUT.lyrics!, text: "" } }]) {
      const bare = samplePage(input)
      expect(bare).toContain("This sample has no lyrics.")
      expect(bare).not.toContain("<canvas")
      expect(parts(bare).data).toEqual({ secondsPerToken: 0.25, alignment: null, heatMap: null })
      expect(bare.match(/<audio /g)).toHaveLength(3)
    }
  })

  it("refuses an alignment that does not fit the lyrics", () => {
    expect(() => samplePage({ ...INPUT, lyrics: { ...INPUT.lyrics!, end: ALIGNMENT.end.slice(1) } })).toThrow(/alignment spans/)
  })
})

/** Just enough of a browser's document for the page's script: its data block, players, lyric spans, playhead and canvas. */
const fakeDocument = (page: string) => {
  const element = () => {
    const listeners: Array<[string, () => void]> = []
    const classes = new Set<string>()
    return {
      style: {} as Record<string, string>,
      classList: { add: (c: string) => classes.add(c), remove: (c: string) => classes.delete(c), contains: (c: string) => classes.has(c) },
      classes,
      addEventListener: (type: string, listener: () => void) => listeners.push([type, listener]),
      fire: (type: string) => listeners.forEach(([t, listener]) => t === type && listener()),
    }
  }
  const player = () => Object.assign(element(), { currentTime: 0, paused: true, pause() { this.paused = true }, play() { this.paused = false } })
  const players = [player(), player(), player()]
  const word = element()
  word.classList.add("w")
  const characters = Array.from({ length: CHARACTERS }, () => Object.assign(element(), { parentElement: word }))
  const playhead = element()
  let image: Uint8ClampedArray | undefined
  const context = {
    createImageData: (width: number, height: number) => ({ data: new Uint8ClampedArray(4 * width * height) }),
    putImageData: (data: { data: Uint8ClampedArray }) => (image = data.data),
  }
  const byId: Record<string, unknown> = {
    "sample-data": { textContent: /id="sample-data">(.*?)<\/script>/s.exec(page)![1] },
    playhead,
    "heat-map": { getContext: () => context },
  }
  const document = {
    getElementById: (id: string) => byId[id],
    querySelectorAll: (selector: string) => (selector === "audio" ? players : characters),
  }
  return {
    document,
    players,
    characters,
    playhead,
    lit: () => characters.flatMap((c, i) => (c.classes.has("now") ? [i] : [])),
    painted: () => image ?? new Uint8ClampedArray(),
  }
}
