/**
 * The demo corpus: synthetic songs in jukeflow's dataset format, generated lazily song by song as
 * files (paths relative to the corpus folder, and their bytes):
 *
 *   manifest.jsonl               one JSON line per song (id, audio, artist, genre, year, lyrics, stems, alignment)
 *   audio/<id>.wav               the stereo mix, 16-bit PCM
 *   lyrics/<id>.txt              the lyrics in natural case with punctuation
 *   separated/<id>/vocals.wav    Spleeter 2stems layout: the sung line ...
 *   separated/<id>/accompaniment.wav                     ... and the band; mix = vocals + accompaniment
 *   align/<id>.txt               NUS AutoLyricsAlign format: `START END WORD`, the exact times each word is sung
 *
 * Songs are planned first (labels, lyrics, notes: cheap) and rendered one at a time.
 */
import { composeSong, type SongScore, type SungWord } from "./demo-score.ts"
import { ARTISTS, GENRES } from "./demo-styles.ts"
import { renderVoice, type Voice } from "./formant.ts"
import { renderAccompaniment, seededRandom } from "./synth.ts"
import { encodeWav } from "./wav.ts"

/** What to generate. */
export interface DemoCorpusParams {
  readonly songs: number
  /** Length of every song, in seconds. */
  readonly seconds: number
  /** Sample rate of the mixes. */
  readonly sampleRate: number
  readonly seed: number
  /** Sample rate of the stems; the mixes' rate when undefined. */
  readonly stemSampleRate?: number | undefined
}

/** One generated file: its path relative to the corpus folder, and its bytes. */
export interface DemoFile {
  readonly path: string
  readonly bytes: Uint8Array
}

/** A planned song: its labels and its score, before any audio is rendered. */
export interface DemoSong {
  readonly id: string
  readonly artist: string
  readonly genre: ReadonlyArray<string>
  readonly year: number
  readonly voice: Voice
  readonly seed: number
  readonly score: SongScore
}

/** One line of the manifest: jukeflow's dataset format, paths relative to the manifest's folder. */
export interface ManifestEntry {
  readonly id: string
  readonly audio: string
  readonly artist: string
  readonly genre: ReadonlyArray<string>
  readonly year: number
  readonly lyrics: string
  readonly stems: string
  readonly alignment: string
}

/** Plans every song of the corpus: artists in turn, each song's genre, year, lyrics and notes from the seed. */
export const planDemoCorpus = (params: DemoCorpusParams): DemoSong[] =>
  Array.from({ length: params.songs }, (_, i) => {
    const artist = ARTISTS[i % ARTISTS.length]!
    const seed = songSeed(params.seed, i)
    const random = seededRandom(seed)
    return {
      id: `s${String(i + 1).padStart(3, "0")}`,
      artist: artist.name,
      genre: artist.genres,
      year: artist.years[0] + Math.floor(random() * (artist.years[1] - artist.years[0] + 1)),
      voice: artist.voice,
      seed,
      score: composeSong(artist, GENRES[artist.genres[0]!]!, params.seconds, seed),
    }
  })

/** The corpus's files, song by song, the manifest last (so a folder with a manifest is complete). */
export function* generateDemoCorpus(params: DemoCorpusParams): Generator<DemoFile> {
  const songs = planDemoCorpus(params)
  for (const song of songs) yield* renderDemoSong(song, params)
  yield demoManifest(songs)
}

/** The manifest of planned songs. */
export const demoManifest = (songs: ReadonlyArray<DemoSong>): DemoFile =>
  textFile("manifest.jsonl", songs.map((song) => `${JSON.stringify(manifestEntry(song))}\n`).join(""))

/** The manifest line of a song. */
export const manifestEntry = (song: DemoSong): ManifestEntry => ({
  id: song.id,
  audio: `audio/${song.id}.wav`,
  artist: song.artist,
  genre: song.genre,
  year: song.year,
  lyrics: `lyrics/${song.id}.txt`,
  stems: `separated/${song.id}`,
  alignment: `align/${song.id}.txt`,
})

/** Renders one song's files: mix, stems, lyrics and alignment. */
export const renderDemoSong = (song: DemoSong, params: DemoCorpusParams): DemoFile[] => {
  const { score } = song
  const audio = renderSong(song, params.sampleRate)
  const stemRate = params.stemSampleRate ?? params.sampleRate
  const stems = stemRate === params.sampleRate ? audio : renderSong(song, stemRate, audio.gains)
  const entry = manifestEntry(song)
  return [
    { path: entry.audio, bytes: encodeWav(audio.mix, params.sampleRate) },
    { path: `${entry.stems}/vocals.wav`, bytes: encodeWav(stems.vocals, stemRate) },
    { path: `${entry.stems}/accompaniment.wav`, bytes: encodeWav(stems.accompaniment, stemRate) },
    textFile(entry.lyrics, score.lyrics),
    textFile(entry.alignment, nusAlignment(score.words)),
  ]
}

/** A NUS AutoLyricsAlign output file of the aligned words: one `START END WORD` line each, times to 2 decimals. */
export const nusAlignment = (words: ReadonlyArray<SungWord>): string =>
  words.flatMap((word) => (word.aligned === undefined ? [] : [`${word.start.toFixed(2)} ${word.end.toFixed(2)} ${word.aligned}\n`])).join("")

// ---------------------------------------------------------------------------------------------

/** A song's own seed, from the corpus seed and its position. */
const songSeed = (seed: number, index: number) => (Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) + Math.imul(index + 1, 0x85ebca6b)) >>> 0

const textFile = (path: string, text: string): DemoFile => ({ path, bytes: new TextEncoder().encode(text) })

/** Levels of the parts: RMS of the band, RMS of the voice while it sings, and the ceiling of the mix. */
const BAND_RMS = 0.12
const VOICE_RMS = 0.14
const CEILING = 0.89

/** The gains that set a song's levels; kept so stems at another rate match the mix. */
interface Gains {
  readonly voice: number
  readonly band: number
}

/** A song's stereo mix and stems at `sampleRate`; `mix` is exactly `vocals + accompaniment` before quantisation. */
const renderSong = (song: DemoSong, sampleRate: number, fixed?: Gains) => {
  const { score } = song
  const [bandLeft, bandRight] = renderAccompaniment(score.arrangement, sampleRate, score.seconds, song.seed ^ 0x3c6ef372)
  const voice = renderVoice(score.syllables, song.voice, sampleRate, score.seconds, song.seed ^ 0x1b873593)
  const gains = fixed ?? levels(voice, bandLeft, bandRight, score, sampleRate)
  const frames = voice.length
  const vocals = new Float32Array(frames)
  const mixLeft = new Float32Array(frames)
  const mixRight = new Float32Array(frames)
  for (let i = 0; i < frames; i++) {
    const v = gains.voice * voice[i]!
    vocals[i] = v
    bandLeft[i]! *= gains.band
    bandRight[i]! *= gains.band
    mixLeft[i] = v + bandLeft[i]!
    mixRight[i] = v + bandRight[i]!
  }
  return { mix: [mixLeft, mixRight], vocals: [vocals, vocals], accompaniment: [bandLeft, bandRight], gains }
}

/** Gains that bring the band and the sung voice to their levels, then the mix under the ceiling. */
const levels = (voice: Float32Array, left: Float32Array, right: Float32Array, score: SongScore, sampleRate: number): Gains => {
  let band = 0, sung = 0, peak = 0
  for (let i = 0; i < voice.length; i++) band += left[i]! * left[i]! + right[i]! * right[i]!
  for (let i = 0; i < voice.length; i++) sung += voice[i]! * voice[i]!
  const sungFrames = score.words.reduce((sum, word) => sum + (word.end - word.start) * sampleRate, 0)
  const bandGain = band > 0 ? BAND_RMS / Math.sqrt(band / (2 * voice.length)) : 0
  const voiceGain = sung > 0 ? VOICE_RMS / Math.sqrt(sung / sungFrames) : 0
  for (let i = 0; i < voice.length; i++) {
    const v = voiceGain * voice[i]!
    peak = Math.max(peak, Math.abs(v + bandGain * left[i]!), Math.abs(v + bandGain * right[i]!))
  }
  const fit = peak > CEILING ? CEILING / peak : 1
  return { voice: voiceGain * fit, band: bandGain * fit }
}
