// @ts-check
// Entry of a process that runs one unit of a stage (`isolated` stages): loads Effect the way the
// CLI does, registers tsx so that stage modules (.ts) load, and waits for its job on IPC.
import { useEffectBundle } from "./cli/effect-bundle.js"

await useEffectBundle()
const { register } = await import("tsx/esm/api")
register()
await import("./unit-child.ts")
