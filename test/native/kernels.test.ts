/**
 * The native kernels (native/) against naive loops that accumulate in float64: every conv shape the
 * models use (dilations 1–27, strides 1 and 2, odd lengths, Cin = 1, K = 1) and a few that take the
 * kernels' other paths; implicit padding (symmetric, asymmetric, longer than x), output offsets that
 * drop rows at both ends, bias and its gradient, on fixed and seeded random shapes; sgemm with every
 * transpose and broadcast, views at an offset into a bigger buffer (as on the wasm heap), and bad
 * shapes; ReLU, its gradient and Adam's update against tfjs's formulas in float32, bit for bit; one
 * query's attention and the quick GELU of sampling against float64, in place too.
 * Skipped when the addon is not built, except on CI (CI or JUKEFLOW_SLOW set), which must build it.
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
  /** Implicit zero padding of x (0). */
  padLeft?: number
  padRight?: number
}

const outLength = ({ T, K, stride, dilation, padLeft = 0, padRight = 0 }: Conv): number =>
  Math.max(0, Math.floor((T + padLeft + padRight - dilation * (K - 1) - 1) / stride) + 1)

/** y[b, m] = bias + Σ_k x[b, stride·m + dilation·k − padLeft] · w[k], rows of x outside [0, T) zero. */
const correlateReference = (x: Float32Array, w: Float32Array, c: Conv, bias: Float32Array | null = null): Float64Array => {
  const { B, T, Cin, K, Cout, stride, dilation, padLeft = 0 } = c
  const Tout = outLength(c)
  const y = new Float64Array(B * Tout * Cout)
  for (let b = 0; b < B; b++)
    for (let m = 0; m < Tout; m++) {
      if (bias) for (let o = 0; o < Cout; o++) y[(b * Tout + m) * Cout + o] = bias[o]!
      for (let k = 0; k < K; k++) {
        const row = stride * m + dilation * k - padLeft
        if (row < 0 || row >= T) continue
        for (let i = 0; i < Cin; i++) {
          const xv = x[(b * T + row) * Cin + i]!
          for (let o = 0; o < Cout; o++) y[(b * Tout + m) * Cout + o]! += xv * w[(k * Cin + i) * Cout + o]!
        }
      }
    }
  return y
}

/** y = bias, then y[b, stride·m + dilation·k − offset] += x[b, m] · W[k], rows outside [0, L) dropped. */
const transposedReference = (
  x: Float32Array, w: Float32Array, c: Conv, L: number, transposeW: boolean, offset = 0, bias: Float32Array | null = null,
): Float64Array => {
  const { B, T, Cin, K, Cout, stride, dilation } = c
  const y = new Float64Array(B * L * Cout)
  if (bias) for (let r = 0; r < B * L; r++) for (let o = 0; o < Cout; o++) y[r * Cout + o] = bias[o]!
  for (let b = 0; b < B; b++)
    for (let m = 0; m < T; m++)
      for (let k = 0; k < K; k++) {
        const row = stride * m + dilation * k - offset
        if (row < 0 || row >= L) continue
        for (let i = 0; i < Cin; i++)
          for (let o = 0; o < Cout; o++) {
            const weight = transposeW ? w[(k * Cout + o) * Cin + i]! : w[(k * Cin + i) * Cout + o]!
            y[(b * L + row) * Cout + o]! += x[(b * T + m) * Cin + i]! * weight
          }
      }
  return y
}

/** dw[k] = Σ_b Σ_m x[b, stride·m + dilation·k − padLeft]ᵀ · dy[b, m], rows of x outside [0, T) zero. */
const filterGradientReference = (x: Float32Array, dy: Float32Array, c: Conv): Float64Array => {
  const { B, T, Cin, K, Cout, stride, dilation, padLeft = 0 } = c
  const Tout = outLength(c)
  const dw = new Float64Array(K * Cin * Cout)
  for (let b = 0; b < B; b++)
    for (let m = 0; m < Tout; m++)
      for (let k = 0; k < K; k++) {
        const row = stride * m + dilation * k - padLeft
        if (row < 0 || row >= T) continue
        for (let i = 0; i < Cin; i++) {
          const xv = x[(b * T + row) * Cin + i]!
          for (let o = 0; o < Cout; o++) dw[(k * Cin + i) * Cout + o]! += xv * dy[(b * Tout + m) * Cout + o]!
        }
      }
  return dw
}

/** The column sums of dy (rows × Cout). */
const columnSums = (dy: Float32Array, Cout: number): Float64Array => {
  const sums = new Float64Array(Cout)
  for (let i = 0; i < dy.length; i++) sums[i % Cout]! += dy[i]!
  return sums
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

/** Implicitly padded convs: the models' own ("same" dilated, downsampling k4 s2 p1), padding around contiguous taps, asymmetric and oversized padding. */
const PADDED: Conv[] = [
  { B: 2, T: 37, Cin: 5, K: 3, Cout: 7, stride: 1, dilation: 1, padLeft: 1, padRight: 1 },
  { B: 3, T: 41, Cin: 6, K: 3, Cout: 4, stride: 1, dilation: 3, padLeft: 3, padRight: 3 },
  { B: 2, T: 63, Cin: 4, K: 3, Cout: 5, stride: 1, dilation: 9, padLeft: 9, padRight: 9 },
  { B: 1, T: 101, Cin: 3, K: 3, Cout: 6, stride: 1, dilation: 27, padLeft: 27, padRight: 27 },
  { B: 2, T: 64, Cin: 8, K: 4, Cout: 8, stride: 2, dilation: 1, padLeft: 1, padRight: 1 },
  { B: 2, T: 33, Cin: 8, K: 4, Cout: 8, stride: 2, dilation: 1, padLeft: 1, padRight: 1 },
  { B: 2, T: 63, Cin: 4, K: 3, Cout: 5, stride: 1, dilation: 9, padLeft: 2, padRight: 7 },
  { B: 2, T: 25, Cin: 3, K: 3, Cout: 4, stride: 1, dilation: 1, padLeft: 0, padRight: 2 },
  { B: 2, T: 26, Cin: 4, K: 5, Cout: 3, stride: 3, dilation: 1, padLeft: 1, padRight: 2 },
  { B: 3, T: 19, Cin: 7, K: 1, Cout: 5, stride: 1, dilation: 1, padLeft: 2, padRight: 1 },
  { B: 3, T: 30, Cin: 4, K: 2, Cout: 3, stride: 2, dilation: 1, padLeft: 1, padRight: 0 },
  { B: 2, T: 31, Cin: 4, K: 3, Cout: 3, stride: 3, dilation: 1, padLeft: 2, padRight: 2 },
  { B: 2, T: 4, Cin: 3, K: 3, Cout: 2, stride: 1, dilation: 3, padLeft: 6, padRight: 6 },
  { B: 2, T: 3, Cin: 2, K: 3, Cout: 2, stride: 1, dilation: 5, padLeft: 7, padRight: 9 },
  { B: 1, T: 21, Cin: 1, K: 3, Cout: 1, stride: 2, dilation: 1, padLeft: 1, padRight: 1 },
  { B: 0, T: 9, Cin: 3, K: 3, Cout: 2, stride: 1, dilation: 1, padLeft: 1, padRight: 1 },
]

/** Random shapes: dilations 1–27, strides 1–2, odd lengths, batch 1–3, paddings 0 … dilation·(K − 1) on each side. */
const RANDOM: Conv[] = (() => {
  const random = seededRandom(2024)
  return Array.from({ length: 40 }, () => {
    const K = 1 + random.int(5)
    const stride = 1 + random.int(2)
    const dilation = random.uniform() < 0.3 ? 1 : 1 + random.int(27)
    const reach = dilation * (K - 1)
    const padLeft = random.int(reach + 1)
    const padRight = random.uniform() < 0.3 ? padLeft : random.int(reach + 1)
    const T = 2 * random.int(Math.max(2, reach + 12)) + 1
    return { B: 1 + random.int(3), T, Cin: 1 + random.int(8), K, Cout: 1 + random.int(8), stride, dilation, padLeft, padRight }
  })
})()

const label = (c: Conv): string =>
  `B ${c.B}, T ${c.T}, Cin ${c.Cin}, K ${c.K}, Cout ${c.Cout}, stride ${c.stride}, dilation ${c.dilation}, padding ${c.padLeft ?? 0}/${c.padRight ?? 0}`

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
    kernels.correlate(x, w, y, c.B, c.T, c.Cin, c.K, c.Cout, c.stride, c.dilation, 0, 0, null)
    expectClose(y, correlateReference(x, w, c))
  })

  it.each(CONVS)("filterGradient: $B × $T × $Cin, K $K → $Cout, stride $stride, dilation $dilation", (c) => {
    const x = randomArray(c.B * c.T * c.Cin, 3)
    const dy = randomArray(c.B * outLength(c) * c.Cout, 4)
    const dw = garbage(c.K * c.Cin * c.Cout)
    kernels.filterGradient(x, dy, dw, c.B, c.T, c.Cin, outLength(c), c.Cout, c.K, c.stride, c.dilation, 0, null)
    expectClose(dw, filterGradientReference(x, dy, c))
  })

  it.each(CONVS)("transposedCorrelate: $B × $T × $Cin, K $K → $Cout, stride $stride, dilation $dilation", (c) => {
    const full = c.stride * (c.T - 1) + c.dilation * (c.K - 1) + 1
    for (const L of new Set([full, c.stride * c.T, Math.max(0, full - c.dilation - 1), full + 3])) {
      for (const transposeW of [false, true]) {
        const x = randomArray(c.B * c.T * c.Cin, 5)
        const w = randomArray(c.K * c.Cin * c.Cout, 6)
        const y = garbage(c.B * L * c.Cout)
        kernels.transposedCorrelate(x, w, y, c.B, c.T, c.Cin, c.K, c.Cout, c.stride, c.dilation, L, transposeW, 0, null)
        expect(relativeError(y, transposedReference(x, w, c, L, transposeW)), `${label(c)}, L ${L}, transposeW ${transposeW}`).toBeLessThanOrEqual(1e-5)
      }
    }
  })

  describe.each([
    ["padded", PADDED],
    ["random", RANDOM],
  ] as const)("%s convs", (_, convs) => {
    it.each(convs)("correlate with implicit padding and bias: $B × $T × $Cin, K $K → $Cout, stride $stride, dilation $dilation, padding $padLeft/$padRight", (c) => {
      const x = randomArray(c.B * c.T * c.Cin, 31)
      const w = randomArray(c.K * c.Cin * c.Cout, 32)
      for (const bias of [null, randomArray(c.Cout, 33)]) {
        const y = garbage(c.B * outLength(c) * c.Cout)
        kernels.correlate(x, w, y, c.B, c.T, c.Cin, c.K, c.Cout, c.stride, c.dilation, c.padLeft!, c.padRight!, bias)
        expect(relativeError(y, correlateReference(x, w, c, bias)), `${label(c)}, bias ${bias !== null}`).toBeLessThanOrEqual(1e-5)
      }
    })

    it.each(convs)("filterGradient with implicit padding, and the bias gradient: $B × $T × $Cin, K $K → $Cout, stride $stride, dilation $dilation, padding $padLeft/$padRight", (c) => {
      const x = randomArray(c.B * c.T * c.Cin, 34)
      const dy = randomArray(c.B * outLength(c) * c.Cout, 35)
      const dw = garbage(c.K * c.Cin * c.Cout)
      const dbias = garbage(c.Cout)
      kernels.filterGradient(x, dy, dw, c.B, c.T, c.Cin, outLength(c), c.Cout, c.K, c.stride, c.dilation, c.padLeft!, dbias)
      expect(relativeError(dw, filterGradientReference(x, dy, c)), label(c)).toBeLessThanOrEqual(1e-5)
      expect(relativeError(dbias, columnSums(dy, c.Cout)), label(c)).toBeLessThanOrEqual(1e-5)
      const alone = garbage(dw.length)
      kernels.filterGradient(x, dy, alone, c.B, c.T, c.Cin, outLength(c), c.Cout, c.K, c.stride, c.dilation, c.padLeft!, null)
      expect(alone).toEqual(dw)
    })

    it.each(convs)("transposedCorrelate with offsets that drop rows at either end, and bias: $B × $T × $Cin, K $K → $Cout, stride $stride, dilation $dilation, padding $padLeft/$padRight", (c) => {
      const reach = c.dilation * (c.K - 1)
      const full = c.stride * (c.T - 1) + reach + 1
      const x = randomArray(c.B * c.T * c.Cin, 36)
      const w = randomArray(c.K * c.Cin * c.Cout, 37)
      const bias = randomArray(c.Cout, 38)
      for (const offset of new Set([0, 1, c.padLeft!, reach, reach + 2])) {
        for (const L of new Set([Math.max(0, full - offset), Math.max(0, full - 2 * offset - 1), c.stride * c.T, full + 2])) {
          for (const transposeW of [false, true]) {
            const y = garbage(c.B * L * c.Cout)
            const b = transposeW ? null : bias
            kernels.transposedCorrelate(x, w, y, c.B, c.T, c.Cin, c.K, c.Cout, c.stride, c.dilation, L, transposeW, offset, b)
            expect(relativeError(y, transposedReference(x, w, c, L, transposeW, offset, b)), `${label(c)}, L ${L}, offset ${offset}, transposeW ${transposeW}`)
              .toBeLessThanOrEqual(1e-5)
          }
        }
      }
    })
  })

  it.each([...PADDED.slice(0, 6), ...RANDOM.slice(0, 6)])("are each other's adjoints with padding: $B × $T × $Cin, K $K → $Cout, stride $stride, dilation $dilation, padding $padLeft/$padRight", (c) => {
    const Tout = outLength(c)
    const x = randomArray(c.B * c.T * c.Cin, 7)
    const w = randomArray(c.K * c.Cin * c.Cout, 8)
    const dy = randomArray(c.B * Tout * c.Cout, 9)
    const y = new Float32Array(c.B * Tout * c.Cout)
    kernels.correlate(x, w, y, c.B, c.T, c.Cin, c.K, c.Cout, c.stride, c.dilation, c.padLeft!, c.padRight!, null)
    // the input gradient of a padded conv: its own weights, transposed per tap, rows shifted by padLeft
    const dx = new Float32Array(c.B * c.T * c.Cin)
    kernels.transposedCorrelate(dy, w, dx, c.B, Tout, c.Cout, c.K, c.Cin, c.stride, c.dilation, c.T, true, c.padLeft!, null)
    const dw = new Float32Array(w.length)
    kernels.filterGradient(x, dy, dw, c.B, c.T, c.Cin, Tout, c.Cout, c.K, c.stride, c.dilation, c.padLeft!, null)
    const dot = (a: Float32Array, b: Float32Array): number => a.reduce((sum, v, i) => sum + v * b[i]!, 0)
    const scale = Math.sqrt(dot(y, y) * dot(dy, dy)) + 1
    expect(Math.abs(dot(y, dy) - dot(x, dx)) / scale, `<correlate(x), dy> = <x, transposedCorrelate(dy)>, ${label(c)}`).toBeLessThan(1e-5)
    expect(Math.abs(dot(y, dy) - dot(w, dw)) / scale, `<correlate(w), dy> = <w, filterGradient(dy)>, ${label(c)}`).toBeLessThan(1e-5)
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
    const c: Conv = { B: 2, T: 45, Cin: 3, K: 3, Cout: 4, stride: 1, dilation: 9, padLeft: 9, padRight: 4 }
    const Tout = outLength(c)
    const heap = new ArrayBuffer(4 * 4096)
    const all = new Float32Array(heap).fill(7)
    const x = new Float32Array(heap, 4 * 13, c.B * c.T * c.Cin)
    const w = new Float32Array(heap, x.byteOffset + x.byteLength + 4 * 5, c.K * c.Cin * c.Cout)
    const y = new Float32Array(heap, w.byteOffset + w.byteLength + 4 * 3, c.B * Tout * c.Cout)
    const dw = new Float32Array(heap, y.byteOffset + y.byteLength + 4, w.length)
    const bias = new Float32Array(heap, dw.byteOffset + dw.byteLength + 4 * 2, c.Cout)
    const dbias = new Float32Array(heap, bias.byteOffset + bias.byteLength + 4, c.Cout)
    bias.set(randomArray(c.Cout, 15))
    x.set(randomArray(x.length, 13))
    w.set(randomArray(w.length, 14))
    kernels.correlate(x, w, y, c.B, c.T, c.Cin, c.K, c.Cout, c.stride, c.dilation, c.padLeft!, c.padRight!, bias)
    expectClose(y, correlateReference(x, w, c, bias))
    kernels.filterGradient(x, y, dw, c.B, c.T, c.Cin, Tout, c.Cout, c.K, c.stride, c.dilation, c.padLeft!, dbias)
    expectClose(dw, filterGradientReference(x, y, c))
    expectClose(dbias, columnSums(y, c.Cout))
    const inside = (i: number): boolean =>
      [x, w, y, dw, bias, dbias].some((v) => i >= v.byteOffset / 4 && i < v.byteOffset / 4 + v.length)
    const touched = all.findIndex((v, i) => !inside(i) && v !== 7)
    expect(touched).toBe(-1)
  })

  it("throw a RangeError or TypeError on bad shapes and arguments, before touching memory", () => {
    const x = new Float32Array(2 * 10 * 3)
    const w = new Float32Array(3 * 3 * 4)
    const y = new Float32Array(2 * 8 * 4)
    const bias = new Float32Array(4)
    expect(() => kernels.correlate(x, w, y, 2, 10, 3, 3, 4, 1, 1, 0, 0, null)).not.toThrow()
    expect(() => kernels.correlate(x, w, y, 2, 11, 3, 3, 4, 1, 1, 0, 0, null)).toThrow(/correlate: x has 60 elements, but its shape \(B, T, Cin\) needs 66/)
    expect(() => kernels.correlate(x, w, y, 2, 10, 3, 3, 4, 1, 2, 0, 0, null)).toThrow(RangeError)
    expect(() => kernels.correlate(x, w.subarray(1), y, 2, 10, 3, 3, 4, 1, 1, 0, 0, null)).toThrow(/w has 35 elements/)
    expect(() => kernels.correlate(x, w, y, 2, 10, 3, 3, 4, 0, 1, 0, 0, null)).toThrow(/stride must be an integer/)
    expect(() => kernels.correlate(x, w, y, 2, 10, 3, 3, 4, 1.5, 1, 0, 0, null)).toThrow(RangeError)
    expect(() => kernels.correlate(x, w, new Float64Array(64) as unknown as Float32Array, 2, 10, 3, 3, 4, 1, 1, 0, 0, null)).toThrow(TypeError)
    // padding: y's length counts it; a negative one is refused
    expect(() => kernels.correlate(x, w, y, 2, 10, 3, 3, 4, 1, 1, 1, 1, bias)).toThrow(/y has 64 elements, but its shape \(B, T', Cout\) .* needs 80/)
    expect(() => kernels.correlate(x, w, new Float32Array(2 * 10 * 4), 2, 10, 3, 3, 4, 1, 1, 1, 1, bias)).not.toThrow()
    expect(() => kernels.correlate(x, w, y, 2, 10, 3, 3, 4, 1, 1, -1, 1, null)).toThrow(/padLeft must be an integer from 0/)
    expect(() => kernels.correlate(x, w, y, 2, 10, 3, 3, 4, 1, 1, 0, 0, bias.subarray(1))).toThrow(/bias has 3 elements, but its shape \(Cout\) needs 4/)
    expect(() => kernels.correlate(x, w, y, 2, 10, 3, 3, 4, 1, 1, 0, 0, [1, 2, 3, 4] as unknown as Float32Array)).toThrow(/bias must be a Float32Array or null/)
    expect(() => kernels.correlate(x, w, y, 2, 10, 3, 3, 4, 1, 1, 0, 0, y.subarray(0, 4))).toThrow(/y shares memory with bias/)
    expect(() => (kernels.correlate as (...args: unknown[]) => void)(x, w, y, 2, 10, 3, 3, 4, 1, 1)).toThrow(/expected 13 arguments, got 10/)
    const shared = new Float32Array(x.length + y.length)
    expect(() => kernels.correlate(shared.subarray(0, x.length), w, shared.subarray(x.length - 1, -1), 2, 10, 3, 3, 4, 1, 1, 0, 0, null)).toThrow(/y shares memory with x/)
    expect(() => kernels.transposedCorrelate(y, w, x, 2, 8, 4, 3, 3, 1, 1, 11, true, 0, null)).toThrow(/y has 60 elements, but its shape \(B, L, Cout\) needs 66/)
    expect(() => kernels.transposedCorrelate(y, w, x, 2, 8, 4, 3, 3, 1, 1, 10, true, 0, null)).not.toThrow()
    expect(() => kernels.transposedCorrelate(y, w, x, 2, 8, 4, 3, 3, 1, 1, 10, true, 1, new Float32Array(3))).not.toThrow()
    expect(() => kernels.transposedCorrelate(y, w, x, 2, 8, 4, 3, 3, 1, 1, 10, true, -2, null)).toThrow(/offset must be an integer from 0/)
    expect(() => kernels.transposedCorrelate(y, w, x, 2, 8, 4, 3, 3, 1, 1, 10, true, 0, bias)).toThrow(/bias has 4 elements, but its shape \(Cout\) needs 3/)
    expect(() => kernels.filterGradient(x, y, w, 2, 10, 3, 7, 4, 3, 1, 1, 0, null)).toThrow(/Tout is 7, but .* give at least 8/)
    expect(() => kernels.filterGradient(x, y, w, 2, 10, 3, 8, 4, 3, 1, 1, 0, null)).not.toThrow()
    expect(() => kernels.filterGradient(x, y, w, 2, 10, 3, 8, 4, 3, 1, 1, 0, bias)).not.toThrow()
    // right padding is free: any longer dy is a conv padded on the right
    expect(() => kernels.filterGradient(x, new Float32Array(2 * 10 * 4), w, 2, 10, 3, 10, 4, 3, 1, 1, 1, null)).not.toThrow()
    expect(() => kernels.filterGradient(x, y, w, 2, 10, 3, 8, 4, 3, 1, 1, 0, y.subarray(4, 8))).toThrow(/dbias shares memory with dy/)
    expect(() => kernels.filterGradient(x, y, w, 2, 10, 3, 8, 4, 3, 1, 1, 0, w.subarray(0, 4))).toThrow(/dbias shares memory with dw/)
    const a = new Float32Array(2 * 6)
    const c = new Float32Array(2 * 4)
    expect(() => kernels.sgemmBatched(2, false, false, 2, 2, 3, 1, a, 6, a, 6, 0, c, 4)).not.toThrow()
    expect(() => kernels.sgemmBatched(3, false, false, 2, 2, 3, 1, a, 6, a, 6, 0, c, 4)).toThrow(/a has 12 elements, but 3 matrices/)
    expect(() => kernels.sgemmBatched(2, false, false, 2, 2, 3, 1, a, 6, a, 6, 0, c, 0)).toThrow(/strideC 0 is less than m·n = 4/)
    expect(() => kernels.sgemmBatched(2, false, false, 2, 2, 3, 1, a, 6, a, 6, 0, a, 4)).toThrow(/c shares memory with a/)
    expect(() => (kernels.sgemmBatched as (...args: unknown[]) => void)(2, false, false, 2)).toThrow(/expected 14 arguments/)
  })
})

describe.skipIf(native === undefined)("native elementwise kernels", () => {
  const kernels = native as NativeKernels
  /** Odd lengths: the vector loops' tails, one element, none. */
  const LENGTHS = [0, 1, 3, 17, 1000, 4099]
  const f = Math.fround

  /** Random normals with zeros, negative zeros and NaNs among them. */
  const withSpecials = (length: number, seed: number): Float32Array => {
    const x = randomArray(length, seed)
    for (let i = 0; i < length; i += 5) x[i] = [0, -0, Number.NaN][(i / 5) % 3]!
    return x
  }
  /** tfjs's ReLU (the cpu backend's Math.max(0, x)) and the Step its gradient multiplies by. */
  const reluReference = (x: Float32Array): Float32Array => x.map((v) => Math.max(0, v))
  const stepReference = (v: number): number => (Number.isNaN(v) ? Number.NaN : v > 0 ? 1 : 0)

  it.each(LENGTHS)("relu and reluGradient of %i elements equal tfjs's, bit for bit (max(0, x), dy·step(y))", (length) => {
    const x = withSpecials(length, 40)
    const y = garbage(length)
    kernels.relu(x, y)
    expect(y).toEqual(reluReference(x))
    const dy = randomArray(length, 41)
    if (length > 3) dy.set([Number.POSITIVE_INFINITY, Number.NaN, 1e-40], 1) // through and dropped, a denormal
    const dx = garbage(length)
    kernels.reluGradient(dy, y, dx)
    expect(dx).toEqual(dy.map((d, i) => d * stepReference(y[i]!)))
  })

  interface AdamScalars {
    learningRate: number
    beta1: number
    beta2: number
    epsilon: number
    correction1: number
    correction2: number
  }

  /** Adam in float32 op by op, as models/adam.ts runs it in tfjs (each op rounded to float32, scalars too). */
  const adamReference = (w: Float32Array, m: Float32Array, v: Float32Array, g: Float32Array, s: AdamScalars): [Float32Array, Float32Array, Float32Array] => {
    const [beta1, rest1, beta2, rest2] = [f(s.beta1), f(1 - s.beta1), f(s.beta2), f(1 - s.beta2)]
    const [c1, c2, epsilon, rate] = [f(s.correction1), f(s.correction2), f(s.epsilon), f(s.learningRate)]
    const m2 = m.map((mi, i) => f(f(mi * beta1) + f(g[i]! * rest1)))
    const v2 = v.map((vi, i) => f(f(vi * beta2) + f(f(g[i]! * g[i]!) * rest2)))
    const w2 = w.map((wi, i) => f(wi - f(f(f(m2[i]! / c1) / f(f(Math.sqrt(f(v2[i]! / c2))) + epsilon)) * rate)))
    return [w2, m2, v2]
  }
  const scalarsAt = (step: number, learningRate: number): AdamScalars =>
    ({ learningRate, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, correction1: 1 - 0.9 ** step, correction2: 1 - 0.999 ** step })

  it.each(LENGTHS)("adam of %i weights equals float32 op by op over five steps, from zero and random moments", (length) => {
    for (const start of ["zero", "random"] as const) {
      let w: Float32Array = randomArray(length, 42)
      let m: Float32Array = start === "zero" ? new Float32Array(length) : randomArray(length, 43).map((x) => x * 1e-3)
      let v: Float32Array = start === "zero" ? new Float32Array(length) : randomArray(length, 44).map((x) => x * x * 1e-6)
      for (let step = 1; step <= 5; step++) {
        const g = randomArray(length, 45 + step).map((x) => x * 10 ** (step - 4)) // 1e-3 … 10
        const s = scalarsAt(step, 3e-4 * step)
        const [wOut, mOut, vOut] = [garbage(length), garbage(length), garbage(length)]
        kernels.adam(w, m, v, g, wOut, mOut, vOut, s.learningRate, s.beta1, s.beta2, s.epsilon, s.correction1, s.correction2)
        const [w2, m2, v2] = adamReference(w, m, v, g, s)
        expect(mOut, `${start} moments, step ${step}`).toEqual(m2)
        expect(vOut, `${start} moments, step ${step}`).toEqual(v2)
        expect(wOut, `${start} moments, step ${step}`).toEqual(w2)
        ;[w, m, v] = [wOut, mOut, vOut]
      }
    }
  })

  it("work on views at an offset into a bigger buffer, and write nothing outside them", () => {
    const length = 37
    const heap = new ArrayBuffer(4 * 1024)
    const all = new Float32Array(heap).fill(7)
    const at = (offset: number): Float32Array => new Float32Array(heap, 4 * offset, length)
    const [x, y, dx, w, m, v, wOut, mOut, vOut] = [3, 41, 83, 127, 171, 211, 251, 293, 331].map(at) as [Float32Array, ...Float32Array[]]
    x.set(withSpecials(length, 50))
    kernels.relu(x, y!)
    expect(y).toEqual(reluReference(x))
    kernels.reluGradient(x, y!, dx!)
    expect(dx).toEqual(x.map((d, i) => d * stepReference(y![i]!)))
    w!.set(randomArray(length, 51))
    m!.set(randomArray(length, 52).map((value) => value * 1e-3))
    v!.fill(1e-6)
    const s = scalarsAt(3, 1e-3)
    kernels.adam(w!, m!, v!, x, wOut!, mOut!, vOut!, s.learningRate, s.beta1, s.beta2, s.epsilon, s.correction1, s.correction2)
    const [w2, m2, v2] = adamReference(w!, m!, v!, x, s)
    expect([wOut, mOut, vOut]).toEqual([w2, m2, v2])
    const views = [x, y, dx, w, m, v, wOut, mOut, vOut] as Float32Array[]
    const inside = (i: number): boolean => views.some((view) => i >= view.byteOffset / 4 && i < view.byteOffset / 4 + view.length)
    expect(all.findIndex((value, i) => !inside(i) && value !== 7)).toBe(-1)
  })

  it("throw a RangeError or TypeError on mismatched lengths, overlaps and bad arguments, before touching memory", () => {
    const a = new Float32Array(8)
    const b = new Float32Array(8)
    const c = new Float32Array(8)
    expect(() => kernels.relu(a, b.subarray(1))).toThrow(/relu: y has 7 elements, but x has 8/)
    expect(() => kernels.relu(a, a)).toThrow(/y shares memory with x/)
    expect(() => kernels.relu(a, new Float64Array(8) as unknown as Float32Array)).toThrow(TypeError)
    expect(() => kernels.reluGradient(a, b.subarray(2), c)).toThrow(/reluGradient: y has 6 elements, but dy has 8/)
    expect(() => kernels.reluGradient(a, b, b)).toThrow(/dx shares memory with y/)
    expect(() => (kernels.reluGradient as (...args: unknown[]) => void)(a, b)).toThrow(/expected 3 arguments, got 2/)
    const buffer = new Float32Array(7 * 8)
    const [w, m, v, g, wOut, mOut, vOut] = Array.from({ length: 7 }, (_, i) => buffer.subarray(8 * i, 8 * i + 8)) as [Float32Array, ...Float32Array[]]
    const adam = (...arrays: Float32Array[]) => (kernels.adam as (...args: unknown[]) => void)(...arrays, 1e-3, 0.9, 0.999, 1e-8, 0.1, 0.001)
    expect(() => adam(w, m!, v!, g!, wOut!, mOut!, vOut!)).not.toThrow()
    expect(() => adam(w, m!, v!, g!.subarray(1), wOut!, mOut!, vOut!)).toThrow(/adam: g has 7 elements, but w has 8/)
    expect(() => adam(w, m!, v!, g!, w, mOut!, vOut!)).toThrow(/wOut shares memory with w/)
    expect(() => adam(w, m!, v!, g!, wOut!, mOut!, g!)).toThrow(/vOut shares memory with g/)
    expect(() => adam(w, m!, v!, g!, wOut!, buffer.subarray(4 * 8 + 3, 5 * 8 + 3), vOut!)).toThrow(/wOut shares memory with mOut/)
    expect(() => adam(w, m!, v!, g!, wOut!, mOut!, mOut!)).toThrow(/mOut shares memory with vOut/)
    expect(() => (kernels.adam as (...args: unknown[]) => void)(w, m, v, g, wOut, mOut, vOut, 1e-3, 0.9, 0.999, 1e-8, 0.1, "0.001")).toThrow(/correction2 must be a number/)
  })
})

describe.skipIf(native === undefined)("native row kernels", () => {
  const kernels = native as NativeKernels
  /** Rows across the column sums' blocks of 256, widths across their vector lanes (16) and blocks of 64 columns. */
  const SHAPES = [
    { rows: 0, width: 5 },
    { rows: 1, width: 1 },
    { rows: 3, width: 3 },
    { rows: 7, width: 16 },
    { rows: 5, width: 17 },
    { rows: 2, width: 63 },
    { rows: 255, width: 64 },
    { rows: 257, width: 65 },
    { rows: 300, width: 33 },
    { rows: 513, width: 256 },
    { rows: 3, width: 257 },
  ]

  /**
   * Every row of x (rows × width) shifted and scaled its own way, so that the mean and variance matter: scales
   * from ~0.02 to ~50, means up to a few of the row's standard deviations (the mean is rounded to float, which
   * costs x̂ about 2^-24·|mean|/std).
   */
  const rowsOf = (rows: number, width: number, seed: number): Float32Array => {
    const x = randomArray(rows * width, seed)
    const random = seededRandom(seed + 1000)
    for (let r = 0; r < rows; r++) {
      const scale = Math.exp(2 * random.normal())
      const shift = 3 * scale * random.normal()
      for (let j = 0; j < width; j++) x[r * width + j] = shift + scale * x[r * width + j]!
    }
    return x
  }

  const layerNormReference = (x: Float32Array, gain: Float32Array, bias: Float32Array, rows: number, width: number, epsilon: number) => {
    const y = new Float64Array(rows * width)
    const mean = new Float64Array(rows)
    const rstd = new Float64Array(rows)
    for (let r = 0; r < rows; r++) {
      let sum = 0
      for (let j = 0; j < width; j++) sum += x[r * width + j]!
      const m = sum / width
      let squares = 0
      for (let j = 0; j < width; j++) squares += (x[r * width + j]! - m) ** 2
      const s = 1 / Math.sqrt(squares / width + epsilon)
      mean[r] = m
      rstd[r] = s
      for (let j = 0; j < width; j++) y[r * width + j] = (x[r * width + j]! - m) * s * gain[j]! + bias[j]!
    }
    return { y, mean, rstd }
  }

  /** dx, dgain, dbias of Σ dy·layerNorm(x), in float64 from the definition. */
  const layerNormGradientReference = (dy: Float32Array, x: Float32Array, gain: Float32Array, rows: number, width: number, epsilon: number) => {
    const { mean, rstd } = layerNormReference(x, gain, new Float32Array(width), rows, width, epsilon)
    const dx = new Float64Array(rows * width)
    const dgain = new Float64Array(width)
    const dbias = new Float64Array(width)
    for (let r = 0; r < rows; r++) {
      const xhat = (j: number) => (x[r * width + j]! - mean[r]!) * rstd[r]!
      let sumG = 0
      let sumGx = 0
      for (let j = 0; j < width; j++) {
        const d = dy[r * width + j]!
        sumG += d * gain[j]!
        sumGx += d * gain[j]! * xhat(j)
        dgain[j]! += d * xhat(j)
        dbias[j]! += d
      }
      for (let j = 0; j < width; j++) dx[r * width + j] = rstd[r]! * (dy[r * width + j]! * gain[j]! - sumG / width - (xhat(j) * sumGx) / width)
    }
    return { dx, dgain, dbias }
  }

  it.each(SHAPES)("columnSums of $rows × $width", ({ rows, width }) => {
    const a = randomArray(rows * width, 60)
    const sums = garbage(width)
    kernels.columnSums(a, sums, rows, width)
    expect(relativeError(sums, columnSums(a, width))).toBeLessThanOrEqual(1e-5)
  })

  it.each(SHAPES)("layerNorm of $rows × $width: y, mean and rstd", ({ rows, width }) => {
    const x = rowsOf(rows, width, 61)
    const [gain, bias] = [randomArray(width, 62), randomArray(width, 63)]
    const [y, mean, rstd] = [garbage(rows * width), garbage(rows), garbage(rows)]
    kernels.layerNorm(x, gain, bias, y, mean, rstd, rows, width, 1e-5)
    const want = layerNormReference(x, gain, bias, rows, width, 1e-5)
    expect(relativeError(y, want.y)).toBeLessThanOrEqual(1e-5)
    expect(relativeError(mean, want.mean)).toBeLessThanOrEqual(1e-6)
    expect(relativeError(rstd, want.rstd)).toBeLessThanOrEqual(1e-5)
  })

  it.each(SHAPES)("layerNormGradient of $rows × $width: dx, dgain, dbias", ({ rows, width }) => {
    const x = rowsOf(rows, width, 64)
    const [gain, bias, dy] = [randomArray(width, 65), randomArray(width, 66), randomArray(rows * width, 67)]
    const [y, mean, rstd] = [new Float32Array(rows * width), new Float32Array(rows), new Float32Array(rows)]
    kernels.layerNorm(x, gain, bias, y, mean, rstd, rows, width, 1e-5)
    const [dx, dgain, dbias] = [garbage(rows * width), garbage(width), garbage(width)]
    kernels.layerNormGradient(dy, x, gain, mean, rstd, dx, dgain, dbias, rows, width)
    const want = layerNormGradientReference(dy, x, gain, rows, width, 1e-5)
    // dx of a row is a small difference of terms of size rstd·|dy·gain|: measured against that size
    for (let r = 0; r < rows; r++) {
      const row = (a: ArrayLike<number>) => Array.prototype.slice.call(a, r * width, (r + 1) * width) as number[]
      const size = rstd[r]! * Math.max(...row(dy).map((d, j) => Math.abs(d * gain[j]!)))
      const error = Math.max(...row(dx).map((v, j) => Math.abs(v - want.dx[r * width + j]!)))
      expect(error / size, `row ${r}`).toBeLessThanOrEqual(1e-5)
    }
    expect(relativeError(dgain, want.dgain)).toBeLessThanOrEqual(1e-5)
    expect(relativeError(dbias, want.dbias)).toBeLessThanOrEqual(1e-5)
  })

  /** Targets (rows) from [0, vocab), with −1 and vocab (outside: no loss, no gradient) among them. */
  const targetsOf = (rows: number, vocab: number, seed: number): Int32Array => {
    const random = seededRandom(seed)
    return Int32Array.from({ length: rows }, (_, r) => (r % 7 === 3 ? -1 : r % 7 === 5 ? vocab : random.int(vocab)))
  }

  /** loss and lse in float64; softmax from the kernel's own lse (see below). */
  const crossEntropyReference = (logits: Float32Array, targets: Int32Array, rows: number, vocab: number) => {
    const loss = new Float64Array(rows)
    const lse = new Float64Array(rows)
    for (let r = 0; r < rows; r++) {
      const row = logits.subarray(r * vocab, (r + 1) * vocab)
      const most = Math.max(...row)
      const sum = row.reduce((s, l) => s + Math.exp(l - most), 0)
      lse[r] = most + Math.log(sum)
      const t = targets[r]!
      loss[r] = t >= 0 && t < vocab ? lse[r]! - row[t]! : 0
    }
    return { loss, lse }
  }

  const VOCABS = [
    { rows: 0, vocab: 4 },
    { rows: 9, vocab: 1 },
    { rows: 8, vocab: 3 },
    { rows: 14, vocab: 16 },
    { rows: 7, vocab: 17 },
    { rows: 21, vocab: 257 },
    { rows: 6, vocab: 2048 },
  ]

  /*
   * The gradient is d·(e^(l − lse) − onehot) with l − lse taken in float, as tfjs's log-softmax does: its
   * rounding (2^-24·|lse|) moves e^(l − lse) by as much relatively, so it is checked against e^ of that same
   * float difference (from the kernel's lse, itself checked against float64): what is left is the exponential's
   * error, which the next test measures on its own.
   */
  it.each(VOCABS)("softmaxCrossEntropy and its gradient over $rows rows of $vocab logits", ({ rows, vocab }) => {
    // logits from ±0.01 to ±100: e^(l − max) from 1 down past float's range
    const logits = randomArray(rows * vocab, 70).map((l, i) => l * 10 ** ((i % 5) - 2))
    const targets = targetsOf(rows, vocab, 71)
    const [loss, lse] = [garbage(rows), garbage(rows)]
    kernels.softmaxCrossEntropy(logits, targets, loss, lse, rows, vocab)
    const want = crossEntropyReference(logits, targets, rows, vocab)
    for (let r = 0; r < rows; r++) {
      const size = Math.max(1, Math.abs(want.lse[r]!))
      expect(Math.abs(lse[r]! - want.lse[r]!) / size, `lse, row ${r}`).toBeLessThanOrEqual(1e-6)
      expect(Math.abs(loss[r]! - want.loss[r]!) / size, `loss, row ${r}`).toBeLessThanOrEqual(1e-6)
    }
    const dloss = randomArray(rows, 72)
    const dlogits = garbage(rows * vocab)
    kernels.softmaxCrossEntropyGradient(dloss, logits, targets, lse, dlogits, rows, vocab)
    for (let r = 0; r < rows; r++) {
      const t = targets[r]!
      const inside = t >= 0 && t < vocab
      for (let i = 0; i < vocab; i++) {
        const p = Math.exp(Math.fround(logits[r * vocab + i]! - lse[r]!))
        const expected = inside ? dloss[r]! * (p - (i === t ? 1 : 0)) : 0
        expect(Math.abs(dlogits[r * vocab + i]! - expected), `row ${r}, logit ${i}`).toBeLessThanOrEqual(3e-7 * Math.abs(dloss[r]!))
      }
    }
  })

  it("softmaxCrossEntropy's exponential: e^x within 2e-7 relative from 0 down to ln FLT_MIN (−87.34), 0 below, NaN kept", () => {
    // a row (0, x) with target 0: the gradient's second entry is e^(x − lse) with x − lse in float
    const xs = Array.from({ length: 2008 }, (_, i) => Math.fround(-i * 0.0435 - (i % 7) * 1e-3)).concat([-87.3, -87.4, -100, -1e30, -Infinity])
    const rows = xs.length
    const logits = new Float32Array(rows * 2)
    xs.forEach((x, r) => logits.set([0, x], 2 * r))
    const targets = new Int32Array(rows)
    const [loss, lse] = [new Float32Array(rows), new Float32Array(rows)]
    kernels.softmaxCrossEntropy(logits, targets, loss, lse, rows, 2)
    const dlogits = new Float32Array(rows * 2)
    kernels.softmaxCrossEntropyGradient(new Float32Array(rows).fill(1), logits, targets, lse, dlogits, rows, 2)
    xs.forEach((x, r) => {
      const at = Math.fround(x - lse[r]!)
      const want = Math.exp(at)
      if (at >= Math.fround(-87.33654475)) expect(Math.abs(dlogits[2 * r + 1]! - want) / want, `x = ${x}`).toBeLessThanOrEqual(2e-7) // ln FLT_MIN
      else expect(dlogits[2 * r + 1], `x = ${x}`).toBe(0)
    })
    const nan = new Float32Array([0, Number.NaN])
    kernels.softmaxCrossEntropy(nan, new Int32Array([0]), loss.subarray(0, 1), lse.subarray(0, 1), 1, 2)
    expect(lse[0]).toBeNaN()
    expect(loss[0]).toBeNaN()
  })

  it("work on views at an offset into a bigger buffer, and write nothing outside them", () => {
    const [rows, width, vocab] = [19, 21, 13]
    const heap = new ArrayBuffer(4 * 8192)
    const all = new Float32Array(heap).fill(7)
    let next = 3
    const view = (length: number): Float32Array => {
      const v = new Float32Array(heap, 4 * next, length)
      next += length + 3
      return v
    }
    const [x, gain, bias, y, mean, rstd, dx, dgain, dbias, sums] = [rows * width, width, width, rows * width, rows, rows, rows * width, width, width, width].map(view) as Float32Array[]
    x!.set(rowsOf(rows, width, 80))
    gain!.set(randomArray(width, 81))
    bias!.set(randomArray(width, 82))
    kernels.layerNorm(x!, gain!, bias!, y!, mean!, rstd!, rows, width, 1e-5)
    expect(relativeError(y!, layerNormReference(x!, gain!, bias!, rows, width, 1e-5).y)).toBeLessThanOrEqual(1e-5)
    kernels.layerNormGradient(y!, x!, gain!, mean!, rstd!, dx!, dgain!, dbias!, rows, width)
    const want = layerNormGradientReference(y!, x!, gain!, rows, width, 1e-5)
    expect(relativeError(dgain!, want.dgain)).toBeLessThanOrEqual(1e-5)
    kernels.columnSums(x!, sums!, rows, width)
    expect(relativeError(sums!, columnSums(x!, width))).toBeLessThanOrEqual(1e-5)
    const [logits, loss, lse, dloss, dlogits] = [rows * vocab, rows, rows, rows, rows * vocab].map(view) as Float32Array[]
    const targets = new Int32Array(heap, 4 * next, rows)
    next += rows
    logits!.set(randomArray(rows * vocab, 83))
    targets.set(targetsOf(rows, vocab, 84))
    dloss!.set(randomArray(rows, 85))
    kernels.softmaxCrossEntropy(logits!, targets, loss!, lse!, rows, vocab)
    expect(relativeError(loss!, crossEntropyReference(logits!, targets, rows, vocab).loss)).toBeLessThanOrEqual(1e-6)
    kernels.softmaxCrossEntropyGradient(dloss!, logits!, targets, lse!, dlogits!, rows, vocab)
    expect(dlogits!.every(Number.isFinite)).toBe(true)
    const views = [x, gain, bias, y, mean, rstd, dx, dgain, dbias, sums, logits, loss, lse, dloss, dlogits] as Float32Array[]
    const inside = (i: number): boolean =>
      views.some((v) => i >= v.byteOffset / 4 && i < v.byteOffset / 4 + v.length) || (i >= targets.byteOffset / 4 && i < targets.byteOffset / 4 + rows)
    expect(all.findIndex((value, i) => !inside(i) && value !== 7)).toBe(-1)
  })

  it("throw a RangeError or TypeError on mismatched shapes, overlaps and bad arguments, before touching memory", () => {
    const [rows, width] = [4, 6]
    const m = () => new Float32Array(rows * width)
    const v = () => new Float32Array(width)
    const r = () => new Float32Array(rows)
    expect(() => kernels.columnSums(m(), v(), rows, width)).not.toThrow()
    expect(() => kernels.columnSums(m(), v(), rows + 1, width)).toThrow(/columnSums: a has 24 elements, but its shape \(rows, cols\) needs 30/)
    expect(() => kernels.columnSums(m(), r(), rows, width)).toThrow(/sums has 4 elements/)
    const shared = m()
    expect(() => kernels.columnSums(shared, shared.subarray(0, width), rows, width)).toThrow(/sums shares memory with a/)
    expect(() => kernels.layerNorm(m(), v(), v(), m(), r(), r(), rows, width, 1e-5)).not.toThrow()
    expect(() => kernels.layerNorm(m(), v(), v(), m(), r(), r(), rows, width + 1, 1e-5)).toThrow(/layerNorm: x has 24 elements/)
    expect(() => kernels.layerNorm(m(), v(), v(), m(), v(), r(), rows, width, 1e-5)).toThrow(/mean has 6 elements, but its shape \(rows\) needs 4/)
    expect(() => kernels.layerNorm(shared, v(), v(), shared, r(), r(), rows, width, 1e-5)).toThrow(/y shares memory with x/)
    expect(() => kernels.layerNorm(m(), v(), v(), m(), r(), r(), rows, 0, 1e-5)).toThrow(/width must be an integer from 1/)
    expect(() => (kernels.layerNorm as (...args: unknown[]) => void)(m(), v(), v(), m(), r(), r(), rows, width)).toThrow(/expected 9 arguments, got 8/)
    expect(() => kernels.layerNormGradient(m(), m(), v(), r(), r(), m(), v(), v(), rows, width)).not.toThrow()
    expect(() => kernels.layerNormGradient(m(), m(), v(), r(), r(), m(), v(), r(), rows, width)).toThrow(/layerNormGradient: dbias has 4 elements/)
    const both = v()
    expect(() => kernels.layerNormGradient(m(), m(), v(), r(), r(), m(), both, both, rows, width)).toThrow(/dgain shares memory with dbias/)
    const [vocab, targets] = [5, new Int32Array(rows)]
    const l = () => new Float32Array(rows * vocab)
    expect(() => kernels.softmaxCrossEntropy(l(), targets, r(), r(), rows, vocab)).not.toThrow()
    expect(() => kernels.softmaxCrossEntropy(l(), new Int32Array(rows + 1), r(), r(), rows, vocab)).toThrow(/targets has 5 elements, but its shape \(rows\) needs 4/)
    expect(() => kernels.softmaxCrossEntropy(l(), new Float32Array(rows) as unknown as Int32Array, r(), r(), rows, vocab)).toThrow(/targets must be an Int32Array/)
    const heap = new ArrayBuffer(4 * 2 * rows)
    expect(() => kernels.softmaxCrossEntropy(l(), new Int32Array(heap, 0, rows), new Float32Array(heap, 4 * 2, rows), r(), rows, vocab)).toThrow(/loss shares memory with targets/)
    expect(() => kernels.softmaxCrossEntropy(l(), targets, r(), r(), rows, 0)).toThrow(/vocab must be an integer from 1/)
    expect(() => kernels.softmaxCrossEntropyGradient(r(), l(), targets, r(), l(), rows, vocab)).not.toThrow()
    const logits = l()
    expect(() => kernels.softmaxCrossEntropyGradient(r(), logits, targets, r(), logits, rows, vocab)).toThrow(/dlogits shares memory with logits/)
    expect(() => kernels.softmaxCrossEntropyGradient(r(), l(), targets, r(), m(), rows, vocab)).toThrow(/dlogits has 24 elements, but its shape \(rows, vocab\) needs 20/)
  })
})

describe.skipIf(native === undefined)("native sampling kernels", () => {
  const kernels = native as NativeKernels

  /** softmax((q·scale)·kᵀ) v per row in float64. */
  const attendOne = (q: Float32Array, keys: Float32Array, values: Float32Array, rows: number, length: number, width: number, scale: number): Float64Array => {
    const out = new Float64Array(rows * width)
    for (let r = 0; r < rows; r++) {
      const scores = Array.from({ length }, (_, t) => {
        let dot = 0
        for (let d = 0; d < width; d++) dot += q[r * width + d]! * scale * keys[(r * length + t) * width + d]!
        return dot
      })
      const most = Math.max(...scores)
      const weights = scores.map((s) => Math.exp(s - most))
      const sum = weights.reduce((a, w) => a + w, 0)
      for (let t = 0; t < length; t++) for (let d = 0; d < width; d++) out[r * width + d]! += (weights[t]! / sum) * values[(r * length + t) * width + d]!
    }
    return out
  }

  it.each([
    { rows: 1, length: 1, width: 1 },
    { rows: 4, length: 32, width: 16 },
    { rows: 3, length: 17, width: 33 },
    { rows: 2, length: 128, width: 8 },
  ])("attendOne of $rows rows, $length keys of width $width: softmax(q kᵀ / √dh) v, within 1e-5, also in place on q", ({ rows, length, width }) => {
    const q = randomArray(rows * width, 1)
    const [keys, values] = [randomArray(rows * length * width, 2), randomArray(rows * length * width, 3)]
    const scale = 1 / Math.sqrt(width)
    const out = garbage(rows * width)
    kernels.attendOne(q, keys, values, out, rows, length, width, scale)
    expectClose(out, attendOne(q, keys, values, rows, length, width, scale))
    const inPlace = q.slice()
    kernels.attendOne(inPlace, keys, values, inPlace, rows, length, width, scale)
    expect(inPlace).toEqual(out)
  })

  it("attendOne gives 0 for no keys, and throws on bad shapes and overlaps", () => {
    const out = garbage(4)
    kernels.attendOne(new Float32Array(4), new Float32Array(0), new Float32Array(0), out, 2, 0, 2, 1)
    expect(Array.from(out)).toEqual([0, 0, 0, 0])
    const [q, k] = [new Float32Array(4), new Float32Array(12)]
    expect(() => kernels.attendOne(q, k, k.slice(), new Float32Array(4), 2, 3, 2, 1)).not.toThrow()
    expect(() => kernels.attendOne(q, k, k.slice(), new Float32Array(4), 2, 4, 2, 1)).toThrow(/attendOne: keys has 12 elements, but its shape \(rows, length, width\) needs 16/)
    expect(() => kernels.attendOne(q, k, k, k.subarray(0, 4), 2, 3, 2, 1)).toThrow(/out shares memory with keys/)
  })

  it("quickGelu: x·σ(1.702x) within 1e-6 relative, in place too", () => {
    const x = Float32Array.from({ length: 1000 }, (_, i) => (i - 500) / 25)
    const want = Float64Array.from(x, (v) => v / (1 + Math.exp(-1.702 * v)))
    const y = garbage(x.length)
    kernels.quickGelu(x, y)
    for (let i = 0; i < x.length; i++) expect(Math.abs(y[i]! - want[i]!)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(want[i]!)))
    const inPlace = x.slice()
    kernels.quickGelu(inPlace, inPlace)
    expect(inPlace).toEqual(y)
    expect(() => kernels.quickGelu(x, x.subarray(1))).toThrow(/y has 999 elements/)
  })
})
