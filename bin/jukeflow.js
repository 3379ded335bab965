#!/usr/bin/env node
// The `jukeflow` command. A fully cached `run` is answered from the last run's snapshot without
// loading anything heavy; everything else loads Effect, registers tsx so that pipeline files (.ts)
// run directly, and runs the CLI.
const argv = process.argv.slice(2)
const { tryCachedRun } = await import("../runtime/cli/fastpath.js")
const cached = await tryCachedRun(argv)
if (cached !== undefined) {
  process.exitCode = cached
} else {
  // Effect loads twice as fast before tsx's loader hooks are in place.
  await import("effect")
  const { register } = await import("tsx/esm/api")
  register()
  const { main } = await import("../runtime/cli/main.ts")
  process.exitCode = await main(argv)
}
