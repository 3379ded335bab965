#!/usr/bin/env node
// The `jukeflow` command. A fully cached `run` or `plan` is answered from the last run's snapshot
// without loading anything heavy; everything else loads Effect (as one code-cached bundle, before
// any loader hook slows imports down), registers tsx so that pipeline files (.ts) run directly,
// and runs the CLI.
const argv = process.argv.slice(2)
// `jukeflow inspect x | head` closes stdout early: that is not an error.
process.stdout.on("error", (error) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0)
  throw error
})
const { tryCachedRun } = await import("../runtime/cli/fastpath.js")
const cached = await tryCachedRun(argv)
if (cached !== undefined) {
  process.exitCode = cached
} else {
  const { useEffectBundle } = await import("../runtime/cli/effect-bundle.js")
  await useEffectBundle()
  const { register } = await import("tsx/esm/api")
  register()
  const { main } = await import("../runtime/cli/main.ts")
  process.exitCode = await main(argv)
}
