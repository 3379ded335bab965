/**
 * Dataset manifests: JSONL (one song per line) or CSV with the same columns. Each song is checked
 * — its id a safe file name and unique, its paths inside the dataset's folder and present, its
 * lyrics UTF-8, its stems a Spleeter 2stems folder — and a bad one is set aside with one sentence
 * naming the manifest and the line, so the rest can go on.
 */
import { Either, ParseResult, Schema } from "effect"
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { dirname, isAbsolute, join, relative, resolve } from "node:path"
import { ManifestEntry, type Song } from "../schemas/songs.ts"

/** A song that cannot be used, and why (one sentence naming the file and line). */
export interface Rejected {
  readonly item: string
  readonly reason: string
}

/** What reading a manifest gives: the good songs, the rejected ones, and every file it read. */
export interface ManifestContents {
  readonly songs: ReadonlyArray<Song>
  readonly rejected: ReadonlyArray<Rejected>
  /** Files whose content the songs depend on (the manifest and lyric files), relative to the root. */
  readonly files: ReadonlyArray<string>
}

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/
const STEM_EXTENSIONS = ["wav", "flac", "mp3", "ogg", "m4a", "wma"]

/** Splits CSV text into rows of fields (RFC 4180: quoted fields may hold commas, quotes and newlines). */
export const parseCsv = (text: string): string[][] => {
  const rows: string[][] = []
  let row: string[] = []
  let field = ""
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"', i++)
      else if (c === '"') quoted = false
      else field += c
    } else if (c === '"' && field === "") quoted = true
    else if (c === ",") (row.push(field), (field = ""))
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++
      row.push(field)
      rows.push(row)
      row = []
      field = ""
    } else field += c
  }
  if (field !== "" || row.length > 0) (row.push(field), rows.push(row))
  return rows
}

/** Manifest lines as raw values with their line numbers: JSON objects, or CSV rows keyed by the header. */
const rawEntries = (text: string, csv: boolean): Array<{ line: number; value: unknown; error?: string }> => {
  if (!csv) {
    return text.split(/\r?\n/).flatMap((source, i) => {
      if (source.trim() === "") return []
      try {
        return [{ line: i + 1, value: JSON.parse(source) as unknown }]
      } catch (error) {
        return [{ line: i + 1, value: undefined, error: `not valid JSON (${error instanceof Error ? error.message : String(error)})` }]
      }
    })
  }
  const [header, ...rows] = parseCsv(text)
  if (!header) return []
  return rows.flatMap((fields, i) => {
    if (fields.every((f) => f.trim() === "")) return []
    const value: Record<string, unknown> = {}
    header.forEach((name, k) => {
      const cell = (fields[k] ?? "").trim()
      if (cell === "") return
      const key = name.trim()
      if (key === "year") value.year = Number(cell)
      else if (key === "genre") value.genre = cell.split(/[;|]/).map((g) => g.trim()).filter((g) => g !== "")
      else value[key] = cell
    })
    return [{ line: i + 2, value }]
  })
}

const describeParseError = (error: ParseResult.ParseError): string => {
  const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
  const field = issue && issue.path.length > 0 ? `field "${issue.path.join(".")}"` : "the line"
  return `${field}: ${issue?.message.replace(/\s+/g, " ") ?? "invalid"}`
}

/**
 * Reads the manifest at `path` (relative to `root`, or absolute) into songs whose paths are
 * relative to `root`. Never throws for a bad song; throws only when the manifest itself is unreadable.
 */
export const readManifest = (path: string, root: string): ManifestContents => {
  const manifestFile = resolve(root, path)
  const datasetDir = dirname(manifestFile)
  const name = relative(root, manifestFile) || manifestFile
  const text = readFileSync(manifestFile, "utf8")
  const songs: Song[] = []
  const rejected: Rejected[] = []
  const files = new Set<string>([name])
  const seen = new Map<string, number>()
  for (const { line, value, error } of rawEntries(text, /\.csv$/i.test(manifestFile))) {
    const where = `${name}:${line}`
    const reject = (reason: string, id?: string) => rejected.push({ item: id ?? `line ${line}`, reason: `${where}: ${reason}` })
    if (error !== undefined) {
      reject(error)
      continue
    }
    const decoded = Schema.decodeUnknownEither(ManifestEntry)(value)
    if (Either.isLeft(decoded)) {
      reject(describeParseError(decoded.left), typeof (value as { id?: unknown })?.id === "string" ? (value as { id: string }).id : undefined)
      continue
    }
    const entry = decoded.right
    if (!SAFE_ID.test(entry.id)) {
      reject(`id ${JSON.stringify(entry.id)} is not a safe file name (letters, digits, ".", "_" and "-", starting with a letter or digit)`)
      continue
    }
    const first = seen.get(entry.id)
    if (first !== undefined) {
      reject(`id "${entry.id}" repeats line ${first}`, `${entry.id} (line ${line})`)
      continue
    }
    seen.set(entry.id, line)
    const problem = checkPaths(entry, datasetDir)
    if (problem) {
      reject(problem, entry.id)
      continue
    }
    const inDataset = (p: string) => relative(root, join(datasetDir, p))
    let lyrics = ""
    if (typeof entry.lyrics === "object") lyrics = entry.lyrics.text
    else if (typeof entry.lyrics === "string") {
      const file = join(datasetDir, entry.lyrics)
      try {
        lyrics = new TextDecoder("utf-8", { fatal: true }).decode(readFileSync(file))
      } catch {
        reject(`lyrics ${entry.lyrics} is not UTF-8 text`, entry.id)
        continue
      }
      files.add(relative(root, file))
    }
    const stems = entry.stems === undefined ? undefined : findStems(join(datasetDir, entry.stems))
    if (typeof stems === "string") {
      reject(`stems ${entry.stems}: ${stems}`, entry.id)
      continue
    }
    songs.push({
      id: entry.id,
      audio: inDataset(entry.audio),
      artist: entry.artist,
      genres: entry.genre === undefined ? [] : typeof entry.genre === "string" ? [entry.genre] : [...entry.genre],
      year: entry.year ?? null,
      lyrics,
      vocals: stems ? relative(root, stems.vocals) : null,
      accompaniment: stems ? relative(root, stems.accompaniment) : null,
      alignment: entry.alignment === undefined ? null : inDataset(entry.alignment),
      source: where,
    })
  }
  return { songs, rejected, files: [...files] }
}

/** The first problem with an entry's paths: leaving the dataset's folder, or naming a missing file. */
const checkPaths = (entry: ManifestEntry, datasetDir: string): string | undefined => {
  const paths: Array<[string, string | undefined, "file" | "folder"]> = [
    ["audio", entry.audio, "file"],
    ["lyrics", typeof entry.lyrics === "string" ? entry.lyrics : undefined, "file"],
    ["stems", entry.stems, "folder"],
    ["alignment", entry.alignment, "file"],
  ]
  for (const [field, path, kind] of paths) {
    if (path === undefined) continue
    const full = resolve(datasetDir, path)
    const inside = relative(datasetDir, full)
    if (isAbsolute(path) || inside.startsWith("..") || isAbsolute(inside)) return `${field} ${JSON.stringify(path)} leaves the dataset's folder`
    if (!existsSync(full)) return `${field} ${path}: no such ${kind}`
    if (kind === "folder" !== statSync(full).isDirectory()) return `${field} ${path}: not a ${kind}`
  }
  return undefined
}

/** The vocals and accompaniment files of a Spleeter 2stems folder, or why it is not one. */
const findStems = (dir: string): { vocals: string; accompaniment: string } | string => {
  const names = readdirSync(dir)
  const find = (stem: string) => STEM_EXTENSIONS.map((ext) => `${stem}.${ext}`).find((n) => names.includes(n))
  const vocals = find("vocals")
  const accompaniment = find("accompaniment")
  if (!vocals || !accompaniment) {
    return `not a Spleeter 2stems folder: no ${vocals ? "accompaniment" : "vocals"} file (expected ${vocals ? "accompaniment" : "vocals"}.wav or another Spleeter codec)`
  }
  return { vocals: join(dir, vocals), accompaniment: join(dir, accompaniment) }
}
