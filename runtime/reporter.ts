/**
 * What a run shows while it goes: on a terminal, a live line per running stage with a progress
 * bar; otherwise plain lines (start, every tenth of progress, finish). Everything goes to stderr so
 * that stdout holds only results (`--json`, the summary table).
 */

/** Something worth telling the user during a run. */
export type RunEvent =
  | { readonly _tag: "Start"; readonly stage: string; readonly reason: string; readonly device: string }
  | { readonly _tag: "Progress"; readonly stage: string; readonly done: number; readonly total: number; readonly unit: string }
  | { readonly _tag: "Log"; readonly stage: string; readonly message: string }
  | { readonly _tag: "Finish"; readonly stage: string; readonly status: string; readonly seconds: number }
  /** A cluster job of the stage changed state (submitted, running, ended). */
  | { readonly _tag: "Job"; readonly stage: string; readonly id: string; readonly state: string }
  | { readonly _tag: "Note"; readonly message: string }

/** Receives run events. */
export interface Reporter {
  readonly event: (event: RunEvent) => void
  /** Clears any live lines before the final summary is printed. */
  readonly close: () => void
}

/** A reporter that drops everything (tests, `--json`). */
export const silentReporter: Reporter = { event: () => {}, close: () => {} }

const seconds = (s: number) => (s < 10 ? `${s.toFixed(2)}s` : `${s.toFixed(1)}s`)

const bar = (done: number, total: number, width = 20) => {
  const filled = total > 0 ? Math.round((Math.min(done, total) / total) * width) : 0
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}]`
}

/** Plain lines, one per event, for logs and CI. */
export const plainReporter = (out: NodeJS.WritableStream = process.stderr): Reporter => {
  const lastTenth = new Map<string, number>()
  return {
    event: (e) => {
      switch (e._tag) {
        case "Start":
          out.write(`▶ ${e.stage}: ${e.reason}${e.device === "cpu" ? "" : ` [${e.device}]`}\n`)
          break
        case "Progress": {
          const tenth = e.total > 0 ? Math.floor((10 * e.done) / e.total) : 0
          if (tenth === lastTenth.get(e.stage)) return
          lastTenth.set(e.stage, tenth)
          out.write(`  ${e.stage}: ${e.done}/${e.total} ${e.unit}\n`)
          break
        }
        case "Log":
          out.write(`  ${e.stage}: ${e.message}\n`)
          break
        case "Job":
          out.write(`  ${e.stage}: job ${e.id} ${e.state}\n`)
          break
        case "Finish":
          out.write(`${e.status === "ran" ? "✓" : e.status === "cached" ? "·" : "✗"} ${e.stage}: ${e.status} in ${seconds(e.seconds)}\n`)
          break
        case "Note":
          out.write(`${e.message}\n`)
          break
      }
    },
    close: () => {},
  }
}

/** Live progress lines on a terminal, redrawn at most ten times a second. */
export const ttyReporter = (out: NodeJS.WriteStream = process.stderr): Reporter => {
  const active = new Map<string, { started: number; job?: string; progress?: { done: number; total: number; unit: string } }>()
  let drawn = 0
  let lastDraw = 0
  const clear = () => {
    if (drawn > 0) out.write(`\x1b[${drawn}A\x1b[J`)
    drawn = 0
  }
  const draw = () => {
    const width = out.columns ?? 100
    const lines = [...active].map(([stage, a]) => {
      const elapsed = seconds((Date.now() - a.started) / 1000)
      const p = a.progress
      const detail = p ? `${bar(p.done, p.total)} ${p.done}/${p.total} ${p.unit}` : "running"
      return `  ${stage}${a.job ? ` [${a.job}]` : ""} ${detail} ${elapsed}`.slice(0, width - 1)
    })
    for (const line of lines) out.write(`${line}\n`)
    drawn = lines.length
    lastDraw = Date.now()
  }
  const above = (text: string) => {
    clear()
    out.write(`${text}\n`)
    draw()
  }
  // Keeps elapsed times ticking while stages run without reporting progress.
  const ticker = setInterval(() => {
    if (active.size > 0) (clear(), draw())
  }, 500)
  ticker.unref()
  return {
    event: (e) => {
      switch (e._tag) {
        case "Start":
          active.set(e.stage, { started: Date.now() })
          above(`▶ ${e.stage}: ${e.reason}${e.device === "cpu" ? "" : ` [${e.device}]`}`)
          break
        case "Progress": {
          const a = active.get(e.stage)
          if (a) a.progress = { done: e.done, total: e.total, unit: e.unit }
          if (Date.now() - lastDraw > 100) (clear(), draw())
          break
        }
        case "Log":
          above(`  ${e.stage}: ${e.message}`)
          break
        case "Job": {
          const a = active.get(e.stage)
          if (a) a.job = `job ${e.id} ${e.state}`
          above(`  ${e.stage}: job ${e.id} ${e.state}`)
          break
        }
        case "Finish":
          active.delete(e.stage)
          above(`${e.status === "ran" ? "✓" : e.status === "cached" ? "·" : "✗"} ${e.stage}: ${e.status} in ${seconds(e.seconds)}`)
          break
        case "Note":
          above(e.message)
          break
      }
    },
    close: () => {
      clearInterval(ticker)
      clear()
    },
  }
}

/** The reporter for this process: live lines on a terminal, plain lines otherwise. */
export const defaultReporter = (): Reporter => (process.stderr.isTTY ? ttyReporter() : plainReporter())
