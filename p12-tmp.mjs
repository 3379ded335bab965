import { Worker } from "node:worker_threads"
const src = `const { parentPort } = require("node:worker_threads"); parentPort.on("message", (n) => { let x = 0; for (let i = 0; i < n; i++) x = (x + Math.imul(i, 2654435761)) | 0; parentPort.postMessage(x) })`
const run = (k) => new Promise((res) => { const w = new Worker(src, { eval: true }); w.on("message", () => { w.terminate(); res() }); w.postMessage(k) })
await run(1e6)
for (const par of [1, 2, 3]) { const t = performance.now(); await Promise.all(Array.from({ length: par }, () => run(1e9))); console.log(par, "workers", (performance.now() - t).toFixed(0), "ms") }
