/**
 * Lyrics of the demo corpus: lines written from a small vocabulary, in natural case with the
 * punctuation real lyrics have (commas, apostrophes, hyphenated words, a parenthesised echo, a
 * quotation) — exactly what NUS AutoLyricsAlign's normalisation drops or changes — and the
 * spelling-to-sound rules that turn each word into sung syllables.
 */
import type { Consonant, Vowel } from "./formant.ts"
import type { Random } from "./synth.ts"

/** A syllable as sung: its onset consonants, its vowel, its coda consonants. */
export interface Syllable {
  readonly onset: ReadonlyArray<Consonant>
  readonly vowel: Vowel
  readonly coda: ReadonlyArray<Consonant>
}

/** One sung word: its spelling, its syllables, and its word in the NUS alignment (undefined when NUS drops it). */
export interface LyricWord {
  readonly text: string
  readonly syllables: ReadonlyArray<Syllable>
  readonly aligned: string | undefined
}

/** A line of lyrics as written, and the words sung for it in order. */
export interface LyricLine {
  readonly text: string
  readonly words: ReadonlyArray<LyricWord>
}

/** Writes a line of lyrics with at most `maxSyllables` syllables (at least one word, whatever the budget). */
export const writeLine = (random: Random, maxSyllables: number): LyricLine => {
  for (let attempt = 0; attempt < 40; attempt++) {
    let text = pick(random, TEMPLATES)(random)
    const ending = random()
    if (ending < 0.35) text += ","
    else if (ending < 0.45) text += "."
    else if (ending < 0.52) text += "!"
    if (random() < 0.2) text += ` ${pick(random, ECHOES)}`
    const line = parseLine(text[0]!.toUpperCase() + text.slice(1))
    if (countSyllables(line) <= maxSyllables) return line
  }
  return parseLine(pick(random, ["Oh", "Home", "Night", "Stay", "Run"]))
}

/** Splits a written line into the words sung for it: hyphenated words are sung as two words. */
export const parseLine = (text: string): LyricLine => ({
  text,
  words: text.split(/\s+/).filter(Boolean).flatMap((token) => {
    const dropped = /[()]/.test(token)
    return token.replace(/[,.!?"()]/g, "").split("-").filter(Boolean).map((part) => ({
      text: part,
      syllables: syllabify(part),
      aligned: dropped ? undefined : part.toUpperCase(),
    }))
  }),
})

/** The number of sung syllables of a line. */
const countSyllables = (line: LyricLine): number => line.words.reduce((sum, word) => sum + word.syllables.length, 0)

// ---------------------------------------------------------------------------------------------
// Vocabulary and line templates.

const pick = <A>(random: Random, items: ReadonlyArray<A>): A => items[Math.floor(random() * items.length)]!

const SUBJECTS = ["I", "we", "you", "she"]
const VERBS = ["walk", "run", "ride", "dream", "hold", "shine", "fall", "wait", "sing", "dance", "fly", "stay", "burn", "glow", "drift", "follow"]
const NOUNS = ["river", "window", "morning", "highway", "city", "garden", "ocean", "thunder", "summer", "shadow", "moon", "rain", "road",
  "star", "sky", "fire", "home", "light", "night", "sea", "wind", "train", "town", "street", "dream", "song"]
const ADJECTIVES = ["golden", "silver", "wild", "empty", "broken", "yellow", "distant", "endless", "midnight", "blue", "cold", "long", "sweet"]
const HYPHENATED = ["moon-lit", "long-lost", "ice-cold", "far-off", "sun-lit", "star-lit"]
const PLACES = ["under", "over", "into", "across", "along", "through", "beneath", "behind", "in", "on"]
const OWNERS = ["the", "my", "your", "our"]
const CONTRACTIONS = ["don't let go", "I'm coming home", "we're alone", "it's a long road", "you're my light", "I can't stop now",
  "I'll be there", "we won't stay", "ain't no sunshine"]
const ECHOES = ["(oh)", "(yeah)", "(hey)", "(ooh)", "(hold on)", "(the river)"]

const TEMPLATES: ReadonlyArray<(random: Random) => string> = [
  (r) => `${pick(r, SUBJECTS)} ${pick(r, VERBS)} ${pick(r, PLACES)} ${pick(r, OWNERS)} ${adjective(r)} ${pick(r, NOUNS)}`,
  (r) => `${pick(r, CONTRACTIONS)}, ${pick(r, OWNERS)} ${pick(r, NOUNS)}`,
  (r) => `${adjective(r)} ${pick(r, NOUNS)}, ${adjective(r)} ${pick(r, NOUNS)}`,
  (r) => `oh, ${pick(r, SUBJECTS)} ${pick(r, VERBS)} ${pick(r, OWNERS)} ${pick(r, NOUNS)}`,
  (r) => `${pick(r, CONTRACTIONS)} ${pick(r, PLACES)} the ${pick(r, NOUNS)}`,
  (r) => `hold on to ${pick(r, OWNERS)} ${adjective(r)} ${pick(r, NOUNS)}`,
  (r) => `${pick(r, SUBJECTS)} said "${pick(r, VERBS)} ${pick(r, PLACES)} the ${pick(r, NOUNS)}"`,
]

/** An adjective; now and then a hyphenated one. */
const adjective = (random: Random) => (random() < 0.25 ? pick(random, HYPHENATED) : pick(random, ADJECTIVES))

// ---------------------------------------------------------------------------------------------
// Spelling to syllables: one syllable per vowel group, a final silent e, a consonant between two
// vowel groups opening the second syllable (ri-ver), two or more split after the first (win-dow).

/** A run of letters that sounds as one unit: a vowel group or one consonant (digraphs kept whole). */
interface Unit {
  readonly letters: string
  readonly vowel: boolean
}

const DIGRAPHS = new Set(["sh", "ch", "th", "ng", "ph", "ck", "gh", "wh", "qu"])
const isVowelLetter = (c: string | undefined) => c !== undefined && "aeiou".includes(c)

/** Splits a word's letters into vowel groups and consonant units. */
const units = (letters: string): Unit[] => {
  const result: Unit[] = []
  let i = 0
  while (i < letters.length) {
    const c = letters[i]!
    const vowel = isVowelLetter(c) || (c === "y" && i > 0 && !isVowelLetter(letters[i + 1]))
    if (vowel) {
      let j = i + 1
      while (j < letters.length && (isVowelLetter(letters[j]) || (letters[j] === "y" && !isVowelLetter(letters[j + 1])))) j++
      result.push({ letters: letters.slice(i, j), vowel: true })
      i = j
    } else {
      const pair = letters.slice(i, i + 2)
      const length = DIGRAPHS.has(pair) ? 2 : 1
      result.push({ letters: letters.slice(i, i + length), vowel: false })
      i += length
    }
  }
  return result
}

/** The syllables of a word. */
export const syllabify = (word: string): Syllable[] => {
  const letters = word.toLowerCase().replace(/[^a-z]/g, "")
  const all = units(letters)
  const last = all.at(-1)
  const vowelCount = all.filter((u) => u.vowel).length
  // A final lone "e" after a consonant is silent when another vowel group sounds ("home", "shine").
  const silentE = last !== undefined && last.letters === "e" && vowelCount >= 2 && all.at(-2)?.vowel === false
  const sounding = silentE ? all.slice(0, -1) : all
  const magicVowel = silentE && sounding.at(-2)?.vowel === true ? sounding.length - 2 : -1
  const vowels = sounding.flatMap((u, i) => (u.vowel ? [i] : []))
  if (vowels.length === 0) return [{ onset: consonants(sounding, letters), vowel: "ah", coda: [] }]
  return vowels.map((at, k) => {
    const previous = vowels[k - 1]
    const next = vowels[k + 1]
    const onsetFrom = previous === undefined ? 0 : at - previous - 1 <= 1 ? previous + 1 : previous + 2
    const codaTo = next === undefined ? sounding.length : next - at - 1 <= 1 ? at + 1 : at + 2
    const coda = sounding.slice(at + 1, codaTo)
    const vowel = EXCEPTIONS[letters]?.[k]
      ?? vowelOf(sounding[at]!.letters, coda.map((u) => u.letters).join(""), at === magicVowel, next === undefined, vowels.length)
    return { onset: consonants(sounding.slice(onsetFrom, at), letters), vowel, coda: consonants(coda, letters, true) }
  })
}

/** Vowels of words the rules get wrong, by syllable. */
const EXCEPTIONS: Readonly<Record<string, ReadonlyArray<Vowel>>> = {
  to: ["uw"], do: ["uw"], the: ["ax"], you: ["uw"], through: ["uw"], into: ["ih", "uw"], im: ["ay"], ill: ["ay"],
  were: ["iy"], youre: ["ao"], dont: ["ow"], wont: ["ow"], yeah: ["eh"], said: ["eh"], ocean: ["ow", "ax"], oh: ["ow"],
  shadow: ["ae", "ow"], follow: ["aa", "ow"], window: ["ih", "ow"], along: ["ax", "ao"], across: ["ax", "ao"],
  coming: ["ah", "ih"], there: ["eh"], wind: ["ih"], golden: ["ow", "ax"], lost: ["ao"], your: ["ao"], now: ["aa"],
}

/** The vowel a vowel group spells, from what follows it in its syllable and where it sits in the word. */
const vowelOf = (group: string, coda: string, magic: boolean, final: boolean, syllables: number): Vowel => {
  const open = coda === ""
  const r = coda.startsWith("r")
  switch (group) {
    case "a": return magic ? "ey" : r ? "aa" : coda.startsWith("l") ? "ao" : open ? "ax" : "ae"
    case "e": return magic || (open && final) ? "iy" : r ? "er" : "eh"
    case "i": return magic || coda.startsWith("gh") || coda === "nd" || coda === "ld" || (open && final) ? "ay" : r ? "er" : "ih"
    case "o": return magic || open || coda === "ld" || coda === "st" || coda === "w" ? "ow" : r || coda.startsWith("ng") ? "ao" : "aa"
    case "u": return magic || open ? "uw" : r ? "er" : "ah"
    case "y": return final && syllables === 1 ? "ay" : "iy"
    case "ee": case "ea": return "iy"
    case "ai": case "ay": case "ei": case "ey": return "ey"
    case "oa": return "ow"
    case "oo": return coda.startsWith("k") ? "uh" : "uw"
    case "ou": return coda.startsWith("ld") ? "uh" : "aw"
    case "oi": case "oy": return "oy"
    case "au": return "ao"
    case "ue": case "ui": return "uw"
    case "ie": case "ye": case "eye": return final ? "ay" : "iy"
    default: return vowelOf(group[0]!, coda, magic, final, syllables)
  }
}

const SOUNDS: Readonly<Record<string, ReadonlyArray<Consonant>>> = {
  sh: ["sh"], ch: ["ch"], th: ["th"], ng: ["ng"], ph: ["f"], ck: ["k"], gh: [], wh: ["w"], qu: ["k", "w"],
  b: ["b"], c: ["k"], d: ["d"], f: ["f"], g: ["g"], h: ["h"], j: ["jh"], k: ["k"], l: ["l"], m: ["m"], n: ["n"], p: ["p"],
  q: ["k"], r: ["r"], s: ["s"], t: ["t"], v: ["v"], w: ["w"], x: ["k", "s"], y: ["y"], z: ["z"],
}

/** The consonants a run of consonant units spells; a doubled letter sounds once, a coda "h" not at all. */
const consonants = (run: ReadonlyArray<Unit>, word: string, coda = false): Consonant[] =>
  run.flatMap((unit, i) => {
    if (unit.letters === run[i - 1]?.letters) return []
    if (coda && unit.letters === "h") return []
    if (unit.letters === "c" && /c[eiy]/.test(word)) return ["s"]
    return SOUNDS[unit.letters] ?? []
  })
