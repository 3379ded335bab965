#!/usr/bin/env node
// The `jukeflow` command: registers tsx so pipeline files (.ts) run directly, then runs the CLI.
import { register } from "tsx/esm/api"

register()
const { main } = await import("../runtime/cli/main.ts")
process.exitCode = await main(process.argv.slice(2))
