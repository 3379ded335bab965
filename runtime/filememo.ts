/**
 * Remembers the hash of each file by path, size, mtime and inode (as DVC's state does), so a file
 * is read and hashed once until it changes. Kept in the store as one JSON file.
 */
import { promises as fs } from "node:fs"
import { dirname } from "node:path"
import { sha256, sha256File } from "./hash.ts"

interface Entry {
  readonly size: number
  readonly mtimeMs: number
  readonly ino: number
  readonly hash: string
  /** For source files: the project-local modules it imports, resolved. */
  readonly imports?: ReadonlyArray<string>
}

/** The stat fields that say a file is unchanged. */
export interface FileStamp {
  readonly size: number
  readonly mtimeMs: number
  readonly ino: number
}

const sameStamp = (a: FileStamp, b: FileStamp) => a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino

/** Path → stamp → hash memo, loaded from and saved to one file. */
export class FileMemo {
  private dirty = false
  private constructor(private readonly path: string, private readonly entries: Map<string, Entry>) {}

  /** Loads the memo at `path` (an empty one if it is missing or unreadable). */
  static async load(path: string): Promise<FileMemo> {
    try {
      const parsed = JSON.parse(await fs.readFile(path, "utf8")) as Record<string, Entry>
      return new FileMemo(path, new Map(Object.entries(parsed)))
    } catch {
      return new FileMemo(path, new Map())
    }
  }

  /** The file's stamp; throws with the path when it is missing. */
  async stamp(file: string): Promise<FileStamp> {
    const st = await fs.stat(file)
    return { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino }
  }

  /** The remembered entry when the file is unchanged. */
  async fresh(file: string): Promise<(Entry & FileStamp) | undefined> {
    const stamp = await this.stamp(file)
    const entry = this.entries.get(file)
    return entry && sameStamp(entry, stamp) ? entry : undefined
  }

  /** SHA-256 of the file, read only when its stamp changed since it was last hashed. */
  async hash(file: string): Promise<string> {
    const stamp = await this.stamp(file)
    const entry = this.entries.get(file)
    if (entry && sameStamp(entry, stamp)) return entry.hash
    const hash = await sha256File(file)
    this.entries.set(file, { ...stamp, hash })
    this.dirty = true
    return hash
  }

  /** Hash and import list of a source file; `scan` runs only when the file changed. */
  async source(file: string, scan: (text: string) => ReadonlyArray<string>): Promise<{ hash: string; imports: ReadonlyArray<string> }> {
    const stamp = await this.stamp(file)
    const entry = this.entries.get(file)
    if (entry && sameStamp(entry, stamp) && entry.imports) return { hash: entry.hash, imports: entry.imports }
    const text = await fs.readFile(file)
    const hash = sha256(text)
    const imports = scan(text.toString("utf8"))
    this.entries.set(file, { ...stamp, hash, imports })
    this.dirty = true
    return { hash, imports }
  }

  /** Writes the memo back if anything changed (temp file + rename, so readers never see half of it). */
  async save(): Promise<void> {
    if (!this.dirty) return
    await fs.mkdir(dirname(this.path), { recursive: true })
    const tmp = `${this.path}.${process.pid}.tmp`
    await fs.writeFile(tmp, JSON.stringify(Object.fromEntries(this.entries)))
    await fs.rename(tmp, this.path)
    this.dirty = false
  }
}
