/**
 * Talking to Slurm through its commands: `sbatch` to submit, `squeue` (then `sacct`, then
 * `scontrol`) for job states, `scancel` to cancel. Nothing here knows about stages.
 */
import { Effect } from "effect"
import { execFile, execFileSync } from "node:child_process"

/** What `sbatch` is asked for one job. */
export interface Submission {
  readonly name: string
  readonly script: string
  readonly chdir: string
  readonly stdout: string
  readonly stderr: string
  readonly cores: number
  readonly gpus: number
  readonly memory: string | undefined
  readonly partition: string | undefined
  readonly account: string | undefined
  readonly time: string | undefined
  readonly extra: ReadonlyArray<string>
}

/** States after which a job runs no more. */
const FINAL = new Set([
  "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT",
])

/** Whether a job in `state` has ended. */
export const isFinal = (state: string): boolean => FINAL.has(state)

const command = (file: string, args: ReadonlyArray<string>): Effect.Effect<{ code: number; stdout: string; stderr: string }> =>
  Effect.async((resume) => {
    const child = execFile(file, args, { encoding: "utf8", timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 127) : 0
      resume(Effect.succeed({ code, stdout, stderr: stderr || (error && code === 127 ? error.message : "") }))
    })
    return Effect.sync(() => void child.kill())
  })

/** The `sbatch` options of a submission. */
export const sbatchArgs = (s: Submission): string[] => [
  "--parsable",
  `--job-name=${s.name}`,
  `--chdir=${s.chdir}`,
  `--output=${s.stdout}`,
  `--error=${s.stderr}`,
  "--ntasks=1",
  `--cpus-per-task=${s.cores}`,
  ...(s.gpus > 0 ? [`--gres=gpu:${s.gpus}`] : []),
  ...(s.memory ? [`--mem=${s.memory}`] : []),
  ...(s.partition ? [`--partition=${s.partition}`] : []),
  ...(s.account ? [`--account=${s.account}`] : []),
  ...(s.time ? [`--time=${s.time}`] : []),
  ...s.extra,
  s.script,
]

/** Submits a job; gives its id, or why `sbatch` refused it. */
export const submit = (s: Submission): Effect.Effect<string, string> =>
  Effect.flatMap(command("sbatch", sbatchArgs(s)), ({ code, stdout, stderr }) => {
    const id = /^(\d+)/.exec(stdout.trim())?.[1]
    if (code === 0 && id) return Effect.succeed(id)
    if (code === 127) return Effect.fail("sbatch was not found: run jukeflow on a Slurm login node, or use --executor local")
    return Effect.fail(`sbatch refused it: ${(stderr || stdout).trim().split("\n").at(-1) ?? `exit code ${code}`}`)
  })

/** States of `ids` from `squeue` (a job it no longer lists is missing from the map). */
export const queueStates = (ids: ReadonlyArray<string>): Effect.Effect<Map<string, string>> =>
  ids.length === 0
    ? Effect.succeed(new Map())
    : Effect.map(command("squeue", ["-h", "--states=all", "-o", "%i|%T", "-j", ids.join(",")]), ({ stdout }) =>
      new Map(stdout.split("\n").map((l) => l.trim().split("|")).filter((p) => p.length === 2 && ids.includes(p[0]!)).map((p) => [p[0]!, p[1]!])))

/** A job's state and exit code once `squeue` has forgotten it: from `sacct`, else `scontrol`; undefined when neither knows. */
export const finalState = (id: string): Effect.Effect<{ state: string; exitCode: string | undefined } | undefined> =>
  Effect.gen(function* () {
    const acct = yield* command("sacct", ["-n", "-X", "-P", "-j", id, "-o", "State,ExitCode"])
    const line = acct.code === 0 ? acct.stdout.trim().split("\n")[0] : undefined
    if (line) {
      const [state, exitCode] = line.split("|")
      return { state: state!.split(" ")[0]!, exitCode }
    }
    const show = yield* command("scontrol", ["show", "job", "-o", id])
    const state = /JobState=(\S+)/.exec(show.stdout)?.[1]
    return state ? { state, exitCode: /ExitCode=(\S+)/.exec(show.stdout)?.[1] } : undefined
  })

/** Cancels jobs, waiting for `scancel` (it must finish even while the runner is exiting). */
export const cancelNow = (ids: ReadonlyArray<string>): void => {
  if (ids.length === 0) return
  try {
    execFileSync("scancel", [...ids], { stdio: "ignore", timeout: 30_000 })
  } catch {
    // a job that already ended cannot be cancelled: nothing to do
  }
}
