/**
 * Headless Chromium for page tests, driven over the DevTools protocol on a pipe
 * (`--remote-debugging-pipe`: JSON messages ending in a NUL byte on file descriptors 3 and 4), so
 * no WebSocket client is needed. It records every console error, uncaught exception, browser log
 * error (a resource that failed, a Content-Security-Policy violation) and network request, and
 * can evaluate script in the page and take a full-page screenshot.
 */
import { spawn, spawnSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"

/** The Chromium binary on PATH (Debian's `chromium`), or undefined. */
export const findChromium = (): string | undefined =>
  ["chromium", "chromium-browser", "google-chrome"].map((name) => spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).stdout.trim()).find((path) => path !== "")

/** An open page. */
export interface BrowserPage {
  /** Evaluates an expression in the page, awaiting a promise it gives; its value as JSON. */
  readonly evaluate: <A>(expression: string) => Promise<A>
  /** The whole page (up to `maxHeight` CSS pixels tall) as PNG bytes. */
  readonly screenshot: (maxHeight?: number) => Promise<Buffer>
  /** Console errors, exceptions and browser log errors so far, one line each. */
  readonly errors: () => string[]
  /** URLs the page requested other than its own file and data: URIs. */
  readonly requests: () => string[]
  readonly close: () => Promise<void>
}

/** Opens the HTML file `file` in headless Chromium `binary`, `width` CSS pixels wide, once it has loaded. */
export const openPage = async (binary: string, file: string, width = 1280): Promise<BrowserPage> => {
  const profile = mkdtempSync(join(tmpdir(), "jukeflow-chromium-"))
  const child = spawn(binary, [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--mute-audio", "--no-first-run",
    "--remote-debugging-pipe", `--user-data-dir=${profile}`, "about:blank",
  ], { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] })
  let stderr = ""
  child.stderr!.on("data", (d) => (stderr += d))
  const exited = new Promise<void>((done) => child.on("exit", () => done()))
  const input = child.stdio[3] as NodeJS.WritableStream
  const output = child.stdio[4] as NodeJS.ReadableStream
  const waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>()
  const listeners: Array<(method: string, params: any) => void> = []
  let pending = ""
  output.on("data", (data: Buffer) => {
    pending += data.toString("utf8")
    for (let end = pending.indexOf("\0"); end >= 0; end = pending.indexOf("\0")) {
      const message = JSON.parse(pending.slice(0, end))
      pending = pending.slice(end + 1)
      if (message.id === undefined) for (const listen of listeners) listen(message.method, message.params)
      else {
        const call = waiting.get(message.id)!
        waiting.delete(message.id)
        if (message.error) call.reject(new Error(`${message.error.message} (${message.error.code})`))
        else call.resolve(message.result)
      }
    }
  })
  child.on("exit", () => { for (const call of waiting.values()) call.reject(new Error(`chromium exited: ${stderr.slice(-2000)}`)) })
  let nextId = 0
  const send = <A = any>(method: string, params: object = {}, sessionId?: string): Promise<A> =>
    new Promise((resolve, reject) => {
      const id = ++nextId
      waiting.set(id, { resolve, reject })
      input.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`)
    })

  const pageUrl = pathToFileURL(file).href
  const errors: string[] = []
  const requests: string[] = []
  let loaded: () => void
  const load = new Promise<void>((done) => (loaded = done))
  listeners.push((method, params) => {
    if (method === "Runtime.consoleAPICalled" && (params.type === "error" || params.type === "assert")) {
      errors.push(`console.${params.type}: ${params.args.map((a: any) => a.value ?? a.description ?? a.type).join(" ")}`)
    }
    if (method === "Runtime.exceptionThrown") errors.push(`exception: ${params.exceptionDetails.exception?.description ?? params.exceptionDetails.text}`)
    if (method === "Log.entryAdded" && params.entry.level === "error") errors.push(`${params.entry.source}: ${params.entry.text}`)
    if (method === "Network.requestWillBeSent" && !params.request.url.startsWith("data:") && params.request.url !== pageUrl) requests.push(params.request.url)
    if (method === "Page.loadEventFired") loaded()
  })
  const { targetId } = await send<{ targetId: string }>("Target.createTarget", { url: "about:blank" })
  const { sessionId } = await send<{ sessionId: string }>("Target.attachToTarget", { targetId, flatten: true })
  for (const domain of ["Runtime", "Log", "Network", "Page"]) await send(`${domain}.enable`, {}, sessionId)
  const viewport = (height: number) => send("Emulation.setDeviceMetricsOverride", { width, height, deviceScaleFactor: 1, mobile: false }, sessionId)
  await viewport(900)
  await send("Page.navigate", { url: pageUrl }, sessionId)
  await load

  return {
    evaluate: async <A>(expression: string) => {
      const result = await send("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true }, sessionId)
      if (result.exceptionDetails) throw new Error(`in the page: ${result.exceptionDetails.exception?.description ?? result.exceptionDetails.text}`)
      return result.result.value as A
    },
    screenshot: async (maxHeight = 20_000) => {
      const metrics = await send("Page.getLayoutMetrics", {}, sessionId)
      await viewport(Math.min(maxHeight, Math.ceil(metrics.cssContentSize.height)))
      const shot = await send<{ data: string }>("Page.captureScreenshot", { format: "png" }, sessionId)
      return Buffer.from(shot.data, "base64")
    },
    errors: () => [...errors],
    requests: () => [...requests],
    close: async () => {
      await send("Browser.close").catch(() => undefined)
      await Promise.race([exited, new Promise((done) => setTimeout(done, 5_000))])
      if (child.exitCode === null) child.kill("SIGKILL")
      rmSync(profile, { recursive: true, force: true })
    },
  }
}
