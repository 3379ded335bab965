/**
 * The native kernels (native/) against naive loops that accumulate in float64: every conv shape the
 * models use (dilations 1–27, strides 1 and 2, odd lengths, Cin = 1, K = 1) and a few that take the
 * kernels' other paths, sgemm with every transpose and broadcast, views at an offset into a bigger
 * buffer (as on the wasm heap), and bad shapes. Skipped when the addon is not built, except on CI
 * (CI or JUKEFLOW_SLOW set), which must build it.
 */
import { availableParallelism } from "node:os"
import { describe, expect, it } from "vitest"
import { seededRandom } from "../../models/random.ts"
import { native, nativeUnavailable, type NativeKernels } from "../../native/index.ts"

const required = Boolean(process.env.CI || process.env.JUKEFLOW_SLOW)
if (native === undefined && !required) console.warn(`skipping the native kernel tests: ${nativeUnavailable}`)

/** Largest |got − want| relative to the largest |want|. */
const relativeError = (got: Float32Array, want: Float64Array): number => {
  let error = 0
  let scale = 0
  for (let i = 0; i < want.length; i++) {
    error = Math.max(error, Math.abs(got[i]! - want[i]!))
    scale = Math.max(scale, Math.abs(want[i]!))
  }
  return scale === 0 ? error : error / scale
}

const expectClose = (got: Float32Array, want: Float64Array): void => {
  expect(got.length).toBe(want.length)
  expect(relativeError(got, want)).toBeLessThanOrEqual(1e-5)
}

const randomArray = (length: number, seed: number): Float32Array => {
  const random = seededRandom(seed)
  return Float32Array.from({ length }, () => random.normal())
}

/** An output buffer full of NaN: the kernels must overwrite, never read, it. */
const garbage = (length: number): Float32Array => new Float32Array(length).fill(Number.NaN)

interface Conv {
  B: number
  T: number
  Cin: number
  K: number
  Cout: number
  stride: number
  dilation: number
}

const outLength = ({ T, K, stride, dilation }: Conv): number => Math.max(0, Math.floor((T - dilation * (K - 1) - 1) / stride) + 1)

const correlateReference = (x: Float32Array, w: Float32Array, c: Conv): Float64Array => {
  const { B, T, Cin, K, Cout, stride, dilation } = c
  const Tout = outLength(c)
  const y = new Float64Array(B * Tout * Cout)
  for (let b = 0; b < B; b++)
    for (let m = 0; m < Tout; m++)
      for (let k = 0; k < K; k++)
        for (let i = 0; i < Cin; i++) {
          const xv = x[(b * T + stride * m + dilation * k) * Cin + i]!
          for (let o = 0; o < Cout; o++) y[(b * Tout + m) * Cout + o]! += xv * w[(k * Cin + i) * Cout + o]!
        }
  return y
}

const transposedReference = (x: Float32Array, w: Float32Array, c: Conv, L: number, transposeW: boolean): Float64Array => {
  const { B, T, Cin, K, Cout, stride, dilation } = c
  const y = new Float64Array(B * L * Cout)
  for (let b = 0; b < B; b++)
    for (let m = 0; m < T; m++)
      for (let k = 0; k < K; k++) {
        const row = stride * m + dilation * k
        if (row >= L) continue
        for (let i = 0; i < Cin; i++)
          for (let o = 0; o < Cout; o++) {
            const weight = transposeW ? w[(k * Cout + o) * Cin + i]! : w[(k * Cin + i) * Cout + o]!
            y[(b * L + row) * Cout + o]! += x[(b * T + m) * Cin + i]! * weight
          }
      }
  return y
}

const filterGradientReference = (x: Float32Array, dy: Float32Array, c: Conv): Float64Array => {
  const { B, T, Cin, K, Cout, stride, dilation } = c
  const Tout = outLength(c)
  const dw = new Float64Array(K * Cin * Cout)
  for (let b = 0; b < B; b++)
    for (let m = 0; m < Tout; m++)
      for (let k = 0; k < K; k++)
        for (let i = 0; i < Cin; i++) {
          const xv = x[(b * T + stride * m + dilation * k) * Cin + i]!
          for (let o = 0; o < Cout; o++) dw[(k * Cin + i) * Cout + o]! += xv * dy[(b * Tout + m) * Cout + o]!
        }
  return dw
}

const CONVS: Conv[] = [
  { B: 2, T: 37, Cin: 5, K: 3, Cout: 7, stride: 1, dilation: 1 },
  { B: 3, T: 41, Cin: 6, K: 3, Cout: 4, stride: 1, dilation: 3 },
  { B: 2, T: 63, Cin: 4, K: 3, Cout: 5, stride: 1, dilation: 9 },
  { B: 2, T: 101, Cin: 3, K: 3, Cout: 6, stride: 1, dilation: 27 },
  { B: 1, T: 33, Cin: 8, K: 4, Cout: 8, stride: 2, dilation: 1 },
  { B: 2, T: 32, Cin: 8, K: 4, Cout: 8, stride: 2, dilation: 1 },
  { B: 3, T: 35, Cin: 1, K: 3, Cout: 9, stride: 1, dilation: 1 },
  { B: 2, T: 29, Cin: 1, K: 4, Cout: 5, stride: 2, dilation: 1 },
  { B: 3, T: 19, Cin: 7, K: 1, Cout: 5, stride: 1, dilation: 1 },
  { B: 2, T: 20, Cin: 7, K: 1, Cout: 5, stride: 2, dilation: 3 },
  { B: 2, T: 31, Cin: 9, K: 3, Cout: 1, stride: 1, dilation: 3 },
  { B: 2, T: 30, Cin: 1, K: 1, Cout: 1, stride: 1, dilation: 1 },
  { B: 3, T: 30, Cin: 4, K: 2, Cout: 3, stride: 2, dilation: 1 },
  { B: 3, T: 30, Cin: 4, K: 2, Cout: 3, stride: 3, dilation: 2 },
  { B: 2, T: 4, Cin: 3, K: 3, Cout: 2, stride: 1, dilation: 3 },
  { B: 0, T: 9, Cin: 3, K: 3, Cout: 2, stride: 1, dilation: 1 },
]

const label = (c: Conv): string =>
  `B ${c.B}, T ${c.T}, Cin ${c.Cin}, K ${c.K}, Cout ${c.Cout}, stride ${c.stride}, dilation ${c.dilation}`

describe("native kernels", () => {
  it.runIf(required)("are built and find a BLAS (CI or JUKEFLOW_SLOW is set)", () => {
    expect(nativeUnavailable).toBeUndefined()
    expect(native?.blas).toMatch(/\S/)
  })
})

describe.skipIf(native === undefined)("native kernels", () => {
  const kernels = native as NativeKernels

  it("name their BLAS and its threads", () => {
    kernels.setThreads(1)
    expect(kernels.blas).toMatch(/\S/)
    if (kernels.blas.startsWith("OpenBLAS")) expect(kernels.blas).toContain("1 thread")
    kernels.setThreads(availableParallelism())
  })

  it.each(CONVS)("correlate: $B × $T × $Cin, K $K → $Cout, stride $stride, dilation $dilation", (c) => {
    const x = randomArray(c.B * c.T * c.Cin, 1)
    const w = randomArray(c.K * c.Cin * c.Cout, 2)
    const y = garbage(c.B * outLength(c) * c.Cout)
    kernels.correlate(x, w, y, c.B, c.T, c.Cin, c.K, c.Cout, c.stride, c.dilation)
    expectClose(y, correlateReference(x, w, c))
  })

  it.each(CONVS)("filterGradient: $B × $T × $Cin, K $K → $Cout, stride $stride, dilation $dilation", (c) => {
    const x = randomArray(c.B * c.T * c.Cin, 3)
    const dy = randomArray(c.B * outLength(c) * c.Cout, 4)
    const dw = garbage(c.K * c.Cin * c.Cout)
    kernels.filterGradient(x, dy, dw, c.B, c.T, c.Cin, outLength(c), c.Cout, c.K, c.stride, c.dilation)
    expectClose(dw, filterGradientReference(x, dy, c))
  })

  it.each(CONVS)("transposedCorrelate: $B × $T × $Cin, K $K → $Cout, stride $stride, dilation $dilation", (c) => {
    const full = c.stride * (c.T - 1) + c.dilation * (c.K - 1) + 1
    for (const L of new Set([full, c.stride * c.T, Math.max(0, full - c.dilation - 1), full + 3])) {
      for (const transposeW of [false, true]) {
        const x = randomArray(c.B * c.T * c.Cin, 5)
        const w = randomArray(c.K * c.Cin * c.Cout, 6)
        const y = garbage(c.B * L * c.Cout)
        kernels.transposedCorrelate(x, w, y, c.B, c.T, c.Cin, c.K, c.Cout, c.stride, c.dilation, L, transposeW)
        expect(relativeError(y, transposedReference(x, w, c, L, transposeW)), `${label(c)}, L ${L}, transposeW ${transposeW}`).toBeLessThanOrEqual(1e-5)
      }
    }
  })

  it("transposedCorrelate is the adjoint of correlate: <correlate(x), y> = <x, transposedCorrelate(y)>", () => {
    const c: Conv = { B: 2, T: 50, Cin: 4, K: 3, Cout: 6, stride: 1, dilation: 9 }
    const Tout = outLength(c)
    const x = randomArray(c.B * c.T * c.Cin, 7)
    const w = randomArray(c.K * c.Cin * c.Cout, 8)
    const dy = randomArray(c.B * Tout * c.Cout, 9)
    const y = new Float32Array(c.B * Tout * c.Cout)
    kernels.correlate(x, w, y, c.B, c.T, c.Cin, c.K, c.Cout, c.stride, c.dilation)
    // the input gradient of a conv: its own weights, transposed per tap
    const dx = new Float32Array(c.B * c.T * c.Cin)
    kernels.transposedCorrelate(dy, w, dx, c.B, Tout, c.Cout, c.K, c.Cin, c.stride, c.dilation, c.T, true)
    const dot = (a: Float32Array, b: Float32Array): number => a.reduce((sum, v, i) => sum + v * b[i]!, 0)
    expect(dot(y, dy)).toBeCloseTo(dot(x, dx), 2)
  })

  const sgemmReference = (
    batch: number, transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
    a: Float32Array, strideA: number, b: Float32Array, strideB: number, beta: number, c: Float32Array, strideC: number,
  ): Float64Array => {
    const out = Float64Array.from(c)
    for (let t = 0; t < batch; t++)
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          let sum = 0
          for (let l = 0; l < k; l++) {
            const av = transA ? a[t * strideA + l * m + i]! : a[t * strideA + i * k + l]!
            const bv = transB ? b[t * strideB + j * k + l]! : b[t * strideB + l * n + j]!
            sum += av * bv
          }
          const at = t * strideC + i * n + j
          out[at] = alpha * sum + (beta === 0 ? 0 : beta * c[at]!)
        }
    return out
  }

  const SGEMMS = [
    { batch: 1, m: 17, n: 13, k: 11, strideA: 1, strideB: 1 },
    { batch: 3, m: 9, n: 8, k: 7, strideA: 1, strideB: 0 },
    { batch: 4, m: 5, n: 6, k: 3, strideA: 0, strideB: 1 },
    { batch: 2, m: 1, n: 12, k: 9, strideA: 1, strideB: 1 },
    { batch: 2, m: 12, n: 1, k: 9, strideA: 1, strideB: 1 },
    { batch: 2, m: 1, n: 1, k: 9, strideA: 1, strideB: 1 },
    { batch: 2, m: 4, n: 5, k: 0, strideA: 1, strideB: 1 },
  ]

  it.each(SGEMMS)("sgemmBatched: batch $batch, $m × $k · $k × $n, every transpose", ({ batch, m, n, k, strideA, strideB }) => {
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      for (const [alpha, beta] of [[1, 0], [0.5, -2]] as const) {
        const a = randomArray(Math.max(1, batch * m * k), 10)
        const b = randomArray(Math.max(1, batch * k * n), 11)
        const c = beta === 0 ? garbage(batch * m * n) : randomArray(batch * m * n, 12)
        const want = sgemmReference(batch, transA, transB, m, n, k, alpha, a, strideA * m * k, b, strideB * k * n, beta, c, m * n)
        kernels.sgemmBatched(batch, transA, transB, m, n, k, alpha, a, strideA * m * k, b, strideB * k * n, beta, c, m * n)
        expect(relativeError(c, want), `transA ${transA}, transB ${transB}, alpha ${alpha}, beta ${beta}`).toBeLessThanOrEqual(1e-5)
      }
    }
  })

  it("work in place on views at an offset into a bigger buffer, and write nothing outside them", () => {
    const c: Conv = { B: 2, T: 45, Cin: 3, K: 3, Cout: 4, stride: 1, dilation: 9 }
    const Tout = outLength(c)
    const heap = new ArrayBuffer(4 * 4096)
    const all = new Float32Array(heap).fill(7)
    const x = new Float32Array(heap, 4 * 13, c.B * c.T * c.Cin)
    const w = new Float32Array(heap, x.byteOffset + x.byteLength + 4 * 5, c.K * c.Cin * c.Cout)
    const y = new Float32Array(heap, w.byteOffset + w.byteLength + 4 * 3, c.B * Tout * c.Cout)
    const dw = new Float32Array(heap, y.byteOffset + y.byteLength + 4, w.length)
    x.set(randomArray(x.length, 13))
    w.set(randomArray(w.length, 14))
    kernels.correlate(x, w, y, c.B, c.T, c.Cin, c.K, c.Cout, c.stride, c.dilation)
    expectClose(y, correlateReference(x, w, c))
    kernels.filterGradient(x, y, dw, c.B, c.T, c.Cin, Tout, c.Cout, c.K, c.stride, c.dilation)
    expectClose(dw, filterGradientReference(x, y, c))
    const inside = (i: number): boolean =>
      [x, w, y, dw].some((v) => i >= v.byteOffset / 4 && i < v.byteOffset / 4 + v.length)
    const touched = all.findIndex((v, i) => !inside(i) && v !== 7)
    expect(touched).toBe(-1)
  })

  it("throw a RangeError or TypeError on bad shapes and arguments, before touching memory", () => {
    const x = new Float32Array(2 * 10 * 3)
    const w = new Float32Array(3 * 3 * 4)
    const y = new Float32Array(2 * 8 * 4)
    expect(() => kernels.correlate(x, w, y, 2, 10, 3, 3, 4, 1, 1)).not.toThrow()
    expect(() => kernels.correlate(x, w, y, 2, 11, 3, 3, 4, 1, 1)).toThrow(/correlate: x has 60 elements, but its shape \(B, T, Cin\) needs 66/)
    expect(() => kernels.correlate(x, w, y, 2, 10, 3, 3, 4, 1, 2)).toThrow(RangeError)
    expect(() => kernels.correlate(x, w.subarray(1), y, 2, 10, 3, 3, 4, 1, 1)).toThrow(/w has 35 elements/)
    expect(() => kernels.correlate(x, w, y, 2, 10, 3, 3, 4, 0, 1)).toThrow(/stride must be an integer/)
    expect(() => kernels.correlate(x, w, y, 2, 10, 3, 3, 4, 1.5, 1)).toThrow(RangeError)
    expect(() => kernels.correlate(x, w, new Float64Array(64) as unknown as Float32Array, 2, 10, 3, 3, 4, 1, 1)).toThrow(TypeError)
    const shared = new Float32Array(x.length + y.length)
    expect(() => kernels.correlate(shared.subarray(0, x.length), w, shared.subarray(x.length - 1, -1), 2, 10, 3, 3, 4, 1, 1)).toThrow(/y shares memory with x/)
    expect(() => kernels.transposedCorrelate(y, w, x, 2, 8, 4, 3, 3, 1, 1, 11, true)).toThrow(/y has 60 elements, but its shape \(B, L, Cout\) needs 66/)
    expect(() => kernels.transposedCorrelate(y, w, x, 2, 8, 4, 3, 3, 1, 1, 10, true)).not.toThrow()
    expect(() => kernels.filterGradient(x, y, w, 2, 10, 3, 7, 4, 3, 1, 1)).toThrow(/Tout is 7, but .* give 8/)
    expect(() => kernels.filterGradient(x, y, w, 2, 10, 3, 8, 4, 3, 1, 1)).not.toThrow()
    const a = new Float32Array(2 * 6)
    const c = new Float32Array(2 * 4)
    expect(() => kernels.sgemmBatched(2, false, false, 2, 2, 3, 1, a, 6, a, 6, 0, c, 4)).not.toThrow()
    expect(() => kernels.sgemmBatched(3, false, false, 2, 2, 3, 1, a, 6, a, 6, 0, c, 4)).toThrow(/a has 12 elements, but 3 matrices/)
    expect(() => kernels.sgemmBatched(2, false, false, 2, 2, 3, 1, a, 6, a, 6, 0, c, 0)).toThrow(/strideC 0 is less than m·n = 4/)
    expect(() => kernels.sgemmBatched(2, false, false, 2, 2, 3, 1, a, 6, a, 6, 0, a, 4)).toThrow(/c shares memory with a/)
    expect(() => (kernels.sgemmBatched as (...args: unknown[]) => void)(2, false, false, 2)).toThrow(/expected 14 arguments/)
  })
})
