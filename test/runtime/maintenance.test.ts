import { Effect } from "effect"
import { existsSync, readdirSync } from "node:fs"
import { afterEach, describe, expect, it } from "vitest"
import { diamondFiles } from "./diamond.ts"
import { makeProject, type Project } from "./fixture.ts"
import { gcStore, objectHashes } from "../../runtime/maintenance.ts"

let project: Project | undefined
afterEach(() => project?.remove())

describe("gc", () => {
  it("keeps what the last N runs used and removes the rest", async () => {
    project = makeProject(diamondFiles())
    const first = await project.run("pipelines/diamond.ts")
    const second = await project.run("pipelines/diamond.ts", { overrides: { scale: { factor: "7" } } })
    const oldScale = first.stages.find((s) => s.name === "scale")!.artifact!
    const newScale = second.stages.find((s) => s.name === "scale")!.artifact!
    const before = (await objectHashes(project.store)).length

    const dry = await Effect.runPromise(gcStore(project.store, { keepRuns: 1, dryRun: true }))
    expect(dry.removedObjects).toBe(2) // the old scale and report
    expect((await objectHashes(project.store)).length).toBe(before)

    const kept2 = await Effect.runPromise(gcStore(project.store, { keepRuns: 2 }))
    expect(kept2.removedObjects).toBe(0)
    const kept1 = await Effect.runPromise(gcStore(project.store, { keepRuns: 1 }))
    expect(kept1.removedObjects).toBe(2)
    expect(kept1.removedKeys).toBe(2)
    expect(existsSync(project.store.objectDir(oldScale))).toBe(false)
    expect(existsSync(project.store.objectDir(newScale))).toBe(true)
    const again = await project.run("pipelines/diamond.ts", { overrides: { scale: { factor: "7" } } })
    expect(again.stages.every((s) => s.status === "cached")).toBe(true)
  })

  it("drops older runs until the store fits a size cap, never the newest", async () => {
    project = makeProject(diamondFiles())
    await project.run("pipelines/diamond.ts")
    await project.run("pipelines/diamond.ts", { overrides: { numbers: { n: "30" } } })
    const report = await Effect.runPromise(gcStore(project.store, { keepRuns: 5, maxBytes: 1 }))
    expect(report.removedObjects).toBeGreaterThan(0)
    expect(report.keptObjects).toBe(6)
    expect(readdirSync(project.store.path("keys")).length).toBeGreaterThan(0)
  })
})
