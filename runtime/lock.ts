/**
 * One lock per cache key, so two runners never compute the same result at once. The lock file
 * records who holds it (pid, host, command, start); a lock whose holder is dead on this host is
 * recovered. Waiting runners poll, and find the result cached when the holder commits it.
 */
import { Duration, Effect, Schedule, type Scope } from "effect"
import { promises as fs } from "node:fs"
import { hostname } from "node:os"
import { dirname } from "node:path"
import { StoreError } from "./errors.ts"

/** What a lock file holds. */
export interface LockInfo {
  readonly pid: number
  readonly host: string
  readonly command: string
  readonly started: string
}

/** True when a process with this pid exists on this host. */
export const processAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

const readLock = async (path: string): Promise<LockInfo | undefined> => {
  try {
    return JSON.parse(await fs.readFile(path, "utf8")) as LockInfo
  } catch {
    return undefined
  }
}

type Attempt = { readonly taken: true } | { readonly taken: false; readonly holder: LockInfo | undefined }

const tryTake = async (path: string, info: LockInfo): Promise<Attempt> => {
  await fs.mkdir(dirname(path), { recursive: true })
  try {
    await fs.writeFile(path, JSON.stringify(info), { flag: "wx" })
    return { taken: true }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
  }
  const holder = await readLock(path)
  if (holder && holder.host === info.host && !processAlive(holder.pid)) {
    // The holder died (killed runner): its lock is stale. Remove it and try once more.
    await fs.rm(path, { force: true })
    return tryTake(path, info)
  }
  return { taken: false, holder }
}

/**
 * Holds the lock at `path` for the scope. While another live process holds it, calls `onWait`
 * once and polls every 100 ms.
 */
export const withLock = (
  path: string,
  command: string,
  onWait: (holder: LockInfo | undefined) => Effect.Effect<void>,
): Effect.Effect<void, StoreError, Scope.Scope> => {
  const info: LockInfo = { pid: process.pid, host: hostname(), command, started: new Date().toISOString() }
  const attempt = Effect.tryPromise({
    try: () => tryTake(path, info),
    catch: (error) => new StoreError({ path, reason: `cannot take lock: ${String(error)}` }),
  })
  let told = false
  const acquire = attempt.pipe(
    Effect.flatMap((result) => {
      if (result.taken) return Effect.void
      const tell = told ? Effect.void : onWait(result.holder)
      told = true
      return Effect.zipRight(tell, Effect.fail("held" as const))
    }),
    Effect.retry({ while: (e) => e === "held", schedule: Schedule.spaced(Duration.millis(100)) }),
    Effect.catchIf((e): e is "held" => e === "held", () => Effect.die("unreachable")),
  )
  return Effect.acquireRelease(acquire, () =>
    Effect.promise(async () => {
      const holder = await readLock(path)
      if (holder?.pid === process.pid) await fs.rm(path, { force: true })
    }))
}
