import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // test files run side by side in several workers: one BLAS thread each, or they oversubscribe
    // the cores (OpenBLAS threads spin; measured 6× slower with two workers on two cores)
    env: { JUKEFLOW_CORES: "1" },
  },
})
