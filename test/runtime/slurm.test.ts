/**
 * The Slurm executor against a real one-node Slurm (test/slurm/start-slurm.sh, which .ci/run
 * starts): `JUKEFLOW_SLURM=1 npx vitest run test/runtime/slurm.test.ts`. Skipped without
 * JUKEFLOW_SLURM=1; with it, a Slurm that is not up fails the tests.
 */
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { loadGraph } from "../../runtime/cli/load.ts"
import { chooseExecutor, loadProject } from "../../runtime/config.ts"
import type { ExecutorConfig } from "../../runtime/executor.ts"
import { sbatchArgs } from "../../runtime/slurm-cli.ts"
import type { RunRecord } from "../../runtime/record.ts"
import { silentReporter } from "../../runtime/reporter.ts"
import { runGraph } from "../../runtime/runner.ts"
import { Store } from "../../runtime/store.ts"
import { diamondFiles } from "./diamond.ts"
import { makeProject, type Project, REPO, RUNTIME, statuses } from "./fixture.ts"

const SLURM: ExecutorConfig = { kind: "slurm", poll: 0.3 }
const enabled = process.env.JUKEFLOW_SLURM === "1"

let project: Project | undefined
afterEach(() => project?.remove())

/** Our jobs still in the queue: id, state and command (the job script, under the store). */
const queued = (under: string) =>
  execFileSync("squeue", ["-h", "-o", "%i|%T|%o"], { encoding: "utf8" }).split("\n").filter((l) => l.includes(under)).map((l) => l.split("|"))

const until = async (what: () => boolean, seconds: number, label: string) => {
  const end = Date.now() + seconds * 1000
  while (!what()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${label}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

const artifacts = (record: RunRecord) => Object.fromEntries(record.stages.filter((s) => s.artifact).map((s) => [s.name, s.artifact]))

/** Stages for the executor's edges: one that reports its GPU, one that waits while `hold` exists, one that fails. */
const edgeFiles = {
  "stages/edges.ts": `import { Effect, Schema } from "effect"
import { existsSync } from "node:fs"
import { Json, Stage } from "${RUNTIME}"
const Seen = Schema.Struct({ device: Schema.String, visible: Schema.String })
export const gpuProbe = Stage.define({
  name: "gpu-probe", version: 1, device: "gpu", output: Json(Seen),
  run: (_i, _p, ctx) => Effect.succeed({ device: ctx.device.kind === "gpu" ? ctx.device.id : "cpu", visible: process.env.CUDA_VISIBLE_DEVICES ?? "" }),
})
export const held = Stage.define({
  name: "held", version: 1, output: Json(Schema.Struct({ ok: Schema.Boolean })),
  run: (_i, _p, ctx) => Effect.gen(function* () {
    yield* ctx.log("holding")
    while (existsSync(ctx.resolve("hold"))) yield* Effect.sleep(100)
    return { ok: true }
  }),
})
export const broken = Stage.define({
  name: "broken", version: 1, output: Json(Schema.Struct({ ok: Schema.Boolean })),
  run: () => Effect.sync(() => {
    process.stderr.write("loading the weights from /nowhere/weights.bin\\n")
    throw new Error("the weights file is truncated")
  }),
})
`,
  "pipelines/gpu.ts": `import { Pipeline, use } from "${RUNTIME}"\nimport { gpuProbe } from "../stages/edges.ts"\nexport default Pipeline.define("gpu", { probe: use(gpuProbe, {}) })\n`,
  "pipelines/held.ts": `import { Pipeline, use } from "${RUNTIME}"\nimport { held } from "../stages/edges.ts"\nexport default Pipeline.define("held", { held: use(held, {}) })\n`,
  "pipelines/broken.ts": `import { Pipeline, use } from "${RUNTIME}"\nimport { broken } from "../stages/edges.ts"\nexport default Pipeline.define("broken", { broken: use(broken, {}) })\n`,
}

describe.skipIf(!enabled)("the Slurm executor", () => {
  beforeAll(() => {
    const state = execFileSync("sinfo", ["-h", "-o", "%T"], { encoding: "utf8" }).trim()
    if (!/idle|mixed|allocated/.test(state)) throw new Error(`Slurm's node is not up (sinfo: ${state}); run test/slurm/start-slurm.sh as root`)
  })

  it("runs the diamond as Slurm jobs with the local run's artifacts; a second run submits nothing", async () => {
    const local = makeProject(diamondFiles())
    const expected = artifacts(await local.run("pipelines/diamond.ts"))
    local.remove()
    project = makeProject(diamondFiles())
    const first = await project.run("pipelines/diamond.ts", { executor: SLURM })
    expect(first.status).toBe("success")
    expect(first.executor).toBe("slurm")
    expect(artifacts(first)).toEqual(expected)
    for (const stage of first.stages) expect(stage.job).toMatchObject({ id: expect.stringMatching(/^\d+$/), state: "COMPLETED" })
    const jobs = readdirSync(project.path(".jukeflow/jobs")).length
    expect(jobs).toBe(6)
    const second = await project.run("pipelines/diamond.ts", { executor: SLURM })
    expect(Object.values(statuses(second))).toEqual(Array(6).fill("cached"))
    expect(second.stages.every((s) => s.job === undefined)).toBe(true)
    expect(readdirSync(project.path(".jukeflow/jobs")).length).toBe(jobs)
  }, 120_000)

  it("gives a gpu stage's job a GPU of its own: CUDA_VISIBLE_DEVICES is set and is the stage's device", async () => {
    project = makeProject(edgeFiles)
    const record = await project.run("pipelines/gpu.ts", { executor: SLURM })
    expect(record.status).toBe("success")
    const seen = JSON.parse(readFileSync(join(project.store.objectDir(record.stages[0]!.artifact!), "value.json"), "utf8")) as { device: string; visible: string }
    expect(seen.visible).toMatch(/^[01]$/)
    expect(seen.device).toBe(seen.visible)
  })

  it("a job cancelled with scancel mid-stage publishes nothing, and the next run completes", async () => {
    project = makeProject({ ...edgeFiles, hold: "" })
    const running = project.run("pipelines/held.ts", { executor: SLURM })
    await until(() => queued(project!.dir).some(([, state]) => state === "RUNNING"), 60, "the job to run")
    await until(() => existsSync(project!.path(".jukeflow/jobs")) && readdirSync(project!.path(".jukeflow/jobs")).some((d) =>
      readFileSync(project!.path(".jukeflow/jobs", d, "events.jsonl"), { flag: "a+", encoding: "utf8" }).includes("holding")), 60, "the stage to start")
    const [[id]] = queued(project.dir) as [[string]]
    execFileSync("scancel", [id])
    const record = await running
    expect(record.status).toBe("failed")
    expect(record.stages[0]!.error).toMatch(new RegExp(`Slurm job ${id} CANCELLED`))
    expect(record.stages[0]!.job).toMatchObject({ id, state: "CANCELLED" })
    for (const dir of ["keys", "objects", "locks", "tmp"]) {
      expect(existsSync(project.path(".jukeflow", dir)) ? readdirSync(project.path(".jukeflow", dir)) : []).toEqual([])
    }
    rmSync(project.path("hold"))
    const next = await project.run("pipelines/held.ts", { executor: SLURM })
    expect(statuses(next)).toEqual({ held: "ran" })
  })

  it("a failing stage's job says, in one message, the job id, the unit's error and its stderr's last lines", async () => {
    project = makeProject(edgeFiles)
    const { code, stderr } = await project.cli(["run", "pipelines/broken.ts", "--executor", "slurm"])
    expect(code).toBe(1)
    const stage = (JSON.parse((await project.cli(["status", "--json"])).stdout) as RunRecord).stages[0]!
    const id = stage.job!.id
    expect(stage.job!.state).toBe("FAILED")
    expect(stage.error).toMatch(new RegExp(`^stage "broken" failed: Slurm job ${id} FAILED \\(exit code 1:0\\): the weights file is truncated; last lines of its stderr \\(.*stderr\\):\\n`))
    expect(stage.error).toMatch(/\| loading the weights from \/nowhere\/weights.bin/)
    // what the user sees: the job's states as it goes, then the one message
    expect(stderr).toMatch(new RegExp(`broken: job ${id} PENDING|broken: job ${id} RUNNING`))
    expect(stderr).toContain(`✗ ${stage.error}`)
  })

  it("SIGINT on `jukeflow run --executor slurm` cancels its jobs", async () => {
    project = makeProject({ ...edgeFiles, hold: "" })
    const child = project.spawnCli(["run", "pipelines/held.ts", "--executor", "slurm"])
    let stderr = ""
    child.stderr!.on("data", (d) => (stderr += d))
    await until(() => /held: job \d+ RUNNING/.test(stderr), 60, "the job to run")
    expect(queued(project.dir)).toHaveLength(1)
    child.kill("SIGINT")
    const code = await new Promise((resolve) => child.on("close", resolve))
    expect(code).toBe(130)
    await until(() => queued(project!.dir).every(([, state]) => state !== "RUNNING" && state !== "PENDING"), 30, "the job to leave the queue")
    expect(listOrEmpty(project.path(".jukeflow/keys"))).toEqual([])
  })

  describe("the demo's first stages", () => {
    const stores: string[] = []
    afterAll(() => stores.forEach((s) => rmSync(s, { recursive: true, force: true })))
    // `songs` records paths relative to the project, so both runs use one store folder, one after the other.
    const runDemo = (dir: string, executor: ExecutorConfig | undefined) =>
      Effect.runPromise(Effect.gen(function* () {
        const { graph } = yield* loadGraph(join(REPO, "pipelines/demo.ts"), { corpus: { songs: "3", seconds: "7" } })
        return yield* runGraph(graph, new Store(dir), { command: "test", cores: 2, devices: [], reporter: silentReporter, until: ["chunk"], executor })
      }))

    it("corpus → chunk through Slurm give the local run's artifacts", async () => {
      const dir = mkdtempSync(join(tmpdir(), "jukeflow-demo-"))
      stores.push(dir, `${dir}.local`)
      const local = await runDemo(dir, undefined)
      renameSync(dir, `${dir}.local`)
      const slurm = await runDemo(dir, SLURM)
      expect(slurm.status).toBe("success")
      const ran = artifacts(slurm)
      expect(Object.keys(ran).sort()).toEqual(["align", "chunk", "corpus", "ingest", "songs", "vocab"])
      expect(ran).toEqual(artifacts(local))
      expect(slurm.stages.find((s) => s.name === "chunk")!.rows).toBeGreaterThan(0)
    }, 180_000)
  })
})

const listOrEmpty = (dir: string) => (existsSync(dir) ? readdirSync(dir) : [])

describe("the executor's config", () => {
  const load = (config: unknown) => {
    project?.remove()
    project = makeProject({ "jukeflow.config.json": JSON.stringify(config) })
    return Effect.runPromise(Effect.either(loadProject(project.dir)))
  }

  it("reads a complete Slurm config, and --executor overrides its kind", async () => {
    const executor = { kind: "slurm", partition: "gpu", account: "lab", memory: "16G", gpusPerStage: 1, time: "2-00:00:00", poll: 2, sbatch: ["--qos=long"] }
    const loaded = await load({ store: "/shared/store", executor })
    if (loaded._tag === "Left") throw loaded.left
    expect(loaded.right.executor).toEqual(executor)
    expect(await Effect.runPromise(chooseExecutor(loaded.right, undefined))).toEqual(executor)
    expect(await Effect.runPromise(chooseExecutor(loaded.right, "slurm"))).toEqual(executor)
    expect(await Effect.runPromise(chooseExecutor(loaded.right, "local"))).toEqual({ kind: "local" })
    expect((await Effect.runPromise(Effect.either(chooseExecutor(loaded.right, "pbs")))).pipe((e) => e._tag === "Left" && e.left.message)).toMatch(/--executor pbs: expected local or slurm/)
  })

  it("says what is wrong with a bad one in one sentence", async () => {
    const problem = async (executor: unknown) => {
      const loaded = await load({ executor })
      return loaded._tag === "Left" ? loaded.left.message.split(": ").slice(1).join(": ") : "decoded"
    }
    expect(await problem({ kind: "slurm", memory: "lots" })).toBe("executor.memory must be a size such as 16G or 512M")
    expect(await problem({ kind: "slurm", poll: 0 })).toBe("executor.poll must be a positive number of seconds")
    expect(await problem({ kind: "slurm", gpus: 2 })).toMatch(/^executor\.gpus: unknown field; known fields: "kind" \| "partition"/)
    expect(await problem({ kind: "pbs" })).toMatch(/^executor\.kind: Expected "local" \| "slurm", actual "pbs"$/)
  })

  it("gives sbatch the stage's cores, its GPUs, memory, partition, account and time", () => {
    expect(sbatchArgs({
      name: "jukeflow:encode[s001]", script: "/s/jobs/x/job.sh", chdir: "/p", stdout: "/s/jobs/x/stdout", stderr: "/s/jobs/x/stderr",
      cores: 4, gpus: 1, memory: "16G", partition: "gpu", account: "lab", time: "2-00:00:00", extra: ["--qos=long"],
    })).toEqual([
      "--parsable", "--job-name=jukeflow:encode[s001]", "--chdir=/p", "--output=/s/jobs/x/stdout", "--error=/s/jobs/x/stderr", "--ntasks=1",
      "--cpus-per-task=4", "--gres=gpu:1", "--mem=16G", "--partition=gpu", "--account=lab", "--time=2-00:00:00", "--qos=long", "/s/jobs/x/job.sh",
    ])
  })
})
