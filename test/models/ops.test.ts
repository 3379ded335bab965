/**
 * conv1d, convTranspose1d and matMul carry gradients of our own: each is checked against finite
 * differences and against the autodiff gradient of a plain formulation (gather + matMul), on both
 * portable backends; relu's values and gradient equal tf.relu's bit for bit, and matMul's products
 * are right on either side of the row products sent to wasm's own kernel; linear with a LayerNorm,
 * activation and residual gives the same numbers as one kernel without a tape as op by op under one.
 * Also the two kernels registered for wasm.
 */
import * as tf from "@tensorflow/tfjs-core"
import { beforeAll, describe, expect, it } from "vitest"
import { registerMissingKernels } from "../../models/backend.ts"
import { hasNativeKernels, ROW_PRODUCT_LIMIT, sendsToBackend, setNativeThreads } from "../../models/native-kernels.ts"
import { conv1d, convTranspose1d, linear, matMul, relu } from "../../models/ops.ts"
import { native } from "../../native/index.ts"
import { analyticGradients, BACKENDS, expectClose, normal, numericGradient, onBackend, weighted } from "./helpers.ts"

/** Conv as im2col: gather the taps, one matMul. Stock ops only, so autodiff gives its gradient. */
const plainConv1d = (x: tf.Tensor3D, w: tf.Tensor3D, stride: number, dilation: number, [left, right]: [number, number]): tf.Tensor3D => {
  const [batch, length, inChannels] = x.shape
  const [kernel, , outChannels] = w.shape
  const outLength = Math.floor((length + left + right - dilation * (kernel - 1) - 1) / stride) + 1
  const taps: number[] = []
  for (let m = 0; m < outLength; m++) for (let k = 0; k < kernel; k++) taps.push(stride * m + dilation * k)
  const columns = tf.gather(tf.pad(x, [[0, 0], [left, right], [0, 0]]), tf.tensor2d(taps, [outLength, kernel], "int32"), 1)
  const y = tf.matMul(tf.reshape(columns, [batch * outLength, kernel * inChannels]), tf.reshape(w, [kernel * inChannels, outChannels]))
  return tf.reshape(y, [batch, outLength, outChannels])
}

/** a (batch, m, k) · b (batch, k, n), or bᵀ with b (batch, n, k), in float64; 2-D operands are a batch of one. */
const productReference = (a: tf.Tensor, b: tf.Tensor, transposeB: boolean): Float64Array => {
  const [m, k] = a.shape.slice(-2) as [number, number]
  const n = transposeB ? b.shape.at(-2)! : b.shape.at(-1)!
  const [av, bv] = [a.dataSync(), b.dataSync()]
  const c = new Float64Array((a.size / (m * k)) * m * n)
  for (let t = 0; t < a.size / (m * k); t++)
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++)
        for (let l = 0; l < k; l++) c[(t * m + i) * n + j]! += av[(t * m + i) * k + l]! * bv[transposeB ? (t * n + j) * k + l : (t * k + l) * n + j]!
  return c
}

/** Transposed conv as one matMul and an overlap-add by segment sums. */
const plainConvTranspose1d = (x: tf.Tensor3D, w: tf.Tensor3D, stride: number, padding: number): tf.Tensor3D => {
  const [batch, length, inChannels] = x.shape
  const [kernel, , outChannels] = w.shape
  const contributions = tf.matMul(tf.reshape(x, [batch * length, inChannels]), tf.reshape(tf.transpose(w, [1, 0, 2]), [inChannels, kernel * outChannels]))
  const positions: number[] = []
  for (let m = 0; m < length; m++) for (let k = 0; k < kernel; k++) positions.push(stride * m + k)
  const fullLength = (length - 1) * stride + kernel
  const full = tf.unsortedSegmentSum(tf.transpose(tf.reshape(contributions, [batch, length * kernel, outChannels]), [1, 0, 2]), tf.tensor1d(positions, "int32"), fullLength)
  return tf.slice(tf.transpose(full, [1, 0, 2]), [0, padding, 0], [batch, fullLength - 2 * padding, outChannels]) as tf.Tensor3D
}

interface ConvCase {
  name: string
  kernel: number
  stride: number
  dilation: number
  padding: [number, number]
}
const CONV_CASES: ConvCase[] = [
  { name: "k3 same", kernel: 3, stride: 1, dilation: 1, padding: [1, 1] },
  { name: "k3 dilation 3", kernel: 3, stride: 1, dilation: 3, padding: [3, 3] },
  { name: "k3 dilation 9, uneven padding", kernel: 3, stride: 1, dilation: 9, padding: [2, 7] },
  { name: "k4 stride 2 (downsampling)", kernel: 4, stride: 2, dilation: 1, padding: [1, 1] },
  { name: "k5 stride 3, uneven padding", kernel: 5, stride: 3, dilation: 1, padding: [1, 2] },
  { name: "k1", kernel: 1, stride: 1, dilation: 1, padding: [0, 0] },
]

const TRANSPOSE_CASES = [
  { name: "k4 stride 2 (upsampling)", kernel: 4, stride: 2, padding: 1 },
  { name: "k3 stride 1", kernel: 3, stride: 1, padding: 1 },
  { name: "k5 stride 3", kernel: 5, stride: 3, padding: 0 },
]

describe.each(BACKENDS)("ops on %s", (backend) => {
  beforeAll(() => onBackend(backend))

  it.each(CONV_CASES)("conv1d $name: values and gradients of the im2col formulation", ({ kernel, stride, dilation, padding }) => {
    const inputs = [normal([2, 37, 5], 1), normal([kernel, 5, 6], 2), normal([6], 3)]
    const ours = (t: tf.Tensor[]) => weighted(conv1d(t[0] as tf.Tensor3D, t[1] as tf.Tensor3D, t[2] as tf.Tensor1D, { stride, dilation, padding }), 4)
    const plain = (t: tf.Tensor[]) => weighted(tf.add(plainConv1d(t[0] as tf.Tensor3D, t[1] as tf.Tensor3D, stride, dilation, padding), t[2]!), 4)
    expectClose(ours(inputs).dataSync(), plain(inputs).dataSync(), 1e-5)
    const [dx, dw, db] = analyticGradients(ours, inputs)
    const [px, pw, pb] = analyticGradients(plain, inputs)
    expectClose(dx!, px!, 1e-5)
    expectClose(dw!, pw!, 1e-5)
    expectClose(db!, pb!, 1e-5)
  })

  it.each(CONV_CASES.filter((c) => c.dilation > 1 || c.stride > 1))("conv1d $name: gradients match finite differences", ({ kernel, stride, dilation, padding }) => {
    const inputs = [normal([2, 23, 3], 5), normal([kernel, 3, 2], 6)]
    const f = (t: tf.Tensor[]) => weighted(conv1d(t[0] as tf.Tensor3D, t[1] as tf.Tensor3D, undefined, { stride, dilation, padding }), 7)
    const analytic = analyticGradients(f, inputs)
    // the loss is linear in each input, so a large step has no truncation error, only rounding
    for (const which of [0, 1]) expectClose(analytic[which]!, numericGradient(f, inputs, which, 0.5), 1e-3)
  })

  it.each(TRANSPOSE_CASES)("convTranspose1d $name: values, gradients, finite differences", ({ kernel, stride, padding }) => {
    const inputs = [normal([2, 11, 4], 8), normal([kernel, 4, 3], 9), normal([3], 10)]
    const ours = (t: tf.Tensor[]) => weighted(convTranspose1d(t[0] as tf.Tensor3D, t[1] as tf.Tensor3D, t[2] as tf.Tensor1D, { stride, padding }), 11)
    const plain = (t: tf.Tensor[]) => weighted(tf.add(plainConvTranspose1d(t[0] as tf.Tensor3D, t[1] as tf.Tensor3D, stride, padding), t[2]!), 11)
    const y = convTranspose1d(inputs[0] as tf.Tensor3D, inputs[1] as tf.Tensor3D, undefined, { stride, padding })
    expect(y.shape).toEqual([2, 10 * stride + kernel - 2 * padding, 3])
    expectClose(ours(inputs).dataSync(), plain(inputs).dataSync(), 1e-5)
    const analytic = analyticGradients(ours, inputs)
    const reference = analyticGradients(plain, inputs)
    for (const which of [0, 1, 2]) expectClose(analytic[which]!, reference[which]!, 1e-5)
    for (const which of [0, 1]) expectClose(analytic[which]!, numericGradient(ours, inputs, which, 0.5), 1e-3)
  })

  it("matMul with either operand transposed: gradients match tf.matMul's and finite differences", () => {
    for (const [transposeA, transposeB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const a = normal(transposeA ? [4, 3] : [3, 4], 12)
      const b = normal(transposeB ? [5, 4] : [4, 5], 13)
      const ours = (t: tf.Tensor[]) => weighted(matMul(t[0] as tf.Tensor2D, t[1] as tf.Tensor2D, transposeA, transposeB), 14)
      const stock = (t: tf.Tensor[]) => weighted(tf.matMul(t[0]!, t[1]!, transposeA, transposeB), 14)
      const analytic = analyticGradients(ours, [a, b])
      const reference = analyticGradients(stock, [a, b])
      for (const which of [0, 1]) {
        expectClose(analytic[which]!, reference[which]!, 1e-5)
        expectClose(analytic[which]!, numericGradient(ours, [a, b], which, 0.5), 1e-3)
      }
    }
  })

  it("relu: values and gradient equal tf.relu's bit for bit, exact zeros included", () => {
    const values = normal([2, 37, 5], 30).dataSync().slice()
    for (let i = 0; i < values.length; i += 7) values[i] = i % 14 === 0 ? 0 : -0
    const x = tf.tensor3d(values, [2, 37, 5])
    expect(relu(x).dataSync(), `native kernels: ${hasNativeKernels()}`).toEqual(tf.relu(x).dataSync())
    // through a second use of x and of relu's output, as in a residual block
    const ours = (t: tf.Tensor[]) => weighted(tf.add(tf.mul(relu(t[0]!), relu(tf.mul(t[0]!, -2))), t[0]!), 31)
    const stock = (t: tf.Tensor[]) => weighted(tf.add(tf.mul(tf.relu(t[0]!), tf.relu(tf.mul(t[0]!, -2))), t[0]!), 31)
    expect(analyticGradients(ours, [x])[0]).toEqual(analyticGradients(stock, [x])[0])
    const [dx] = analyticGradients((t) => weighted(relu(t[0]!), 32), [x])
    const [stockDx] = analyticGradients((t) => weighted(tf.relu(t[0]!), 32), [x])
    expect(dx).toEqual(stockDx)
  })

  it("matMul: the same products on either side of the row products wasm's own kernel takes", () => {
    const cases: Array<[number[], number[], boolean]> = [
      [[1, 128], [128, 384], false], // a sampler's token through a linear layer
      [[1, 1024], [1024, ROW_PRODUCT_LIMIT / 1024 + 1], false], // past the limit: the BLAS
      [[2, 128], [128, 96], false],
      [[1, 128], [96, 128], true],
      [[3, 1, 16], [3, 16, 8], false],
    ]
    const threads = native?.threads ?? 1
    try {
      for (const blasThreads of [1, 2]) { // row products go to wasm's own kernel at 2
        setNativeThreads(blasThreads)
        for (const [aShape, bShape, transposeB] of cases) {
          const [a, b] = [normal(aShape, 33), normal(bShape, 34)]
          expectClose(tf.matMul(a, b, false, transposeB).dataSync(), productReference(a, b, transposeB), 1e-5)
        }
      }
    } finally {
      setNativeThreads(threads)
    }
    expect(sendsToBackend(2, 1, 1, 384, 128, false, false)).toBe(true)
    expect(sendsToBackend(1, 1, 1, 384, 128, false, false)).toBe(false) // one BLAS thread: the BLAS is faster
    expect(sendsToBackend(2, 4, 1, 16, 256, false, false)).toBe(false)
    expect(sendsToBackend(2, 1, 1, 384, 128, false, true)).toBe(false)
    expect(sendsToBackend(2, 1, 4, 384, 128, false, false)).toBe(false)
    expect(sendsToBackend(2, 1, 1, 4800, 4800, false, false)).toBe(false)
  })

  it("batched matMul and linear keep leading axes", () => {
    const a = normal([2, 3, 4, 5], 15)
    const b = normal([2, 3, 5, 6], 16)
    expectClose(matMul(a, b).dataSync(), tf.matMul(a, b).dataSync(), 1e-6)
    const [da] = analyticGradients((t) => weighted(matMul(t[0]!, t[1]!, false, true), 17), [a, normal([2, 3, 6, 5], 18)])
    expect(da!.length).toBe(2 * 3 * 4 * 5)
    expect(linear(normal([2, 7, 5], 19), normal([5, 3], 20) as tf.Tensor2D, tf.zeros([3])).shape).toEqual([2, 7, 3])
  })

  it("linear with a norm, an activation and a residual: without a tape (one native kernel) the numbers of the ops one by one under a tape", () => {
    const [x, w, b] = [normal([2, 3, 6], 21), normal([6, 4], 22) as tf.Tensor2D, normal([4], 23) as tf.Tensor1D]
    const norm = { gain: normal([6], 24) as tf.Tensor1D, bias: normal([6], 25) as tf.Tensor1D, epsilon: 1e-5 }
    const residual = normal([2, 3, 4], 26)
    for (const options of [{}, { residual }, { norm }, { norm, activation: "quick-gelu" as const }, { norm, activation: "quick-gelu" as const, residual }]) {
      let taped: Float32Array | undefined
      tf.grad((t: tf.Tensor) => {
        const y = linear(t, w, b, options)
        taped = y.dataSync() as Float32Array
        return tf.sum(y)
      })(x)
      const bare = linear(x, w, b, options).dataSync()
      // the same kernels but the activation (the native quick GELU's e^x is within 2 ulp of tfjs's)
      if (options.activation === undefined) expect(Array.from(bare)).toEqual(Array.from(taped!))
      else expectClose(bare, taped!, 1e-6)
    }
  })
})

describe("kernels registered for wasm", () => {
  /** Runs f on cpu and on wasm, returns both results. */
  const onBoth = async (f: () => tf.Tensor): Promise<[Float32Array, Float32Array]> => {
    await onBackend("cpu")
    const cpu = tf.tidy(f).dataSync() as Float32Array
    await onBackend("wasm")
    const wasm = tf.tidy(f).dataSync() as Float32Array
    return [wasm, cpu]
  }

  it("wasm lacks exactly Conv2DBackpropFilter and UnsortedSegmentSum, and gets ours", async () => {
    await onBackend("wasm")
    expect(registerMissingKernels("wasm")).toEqual(["Conv2DBackpropFilter", "UnsortedSegmentSum"])
    expect(registerMissingKernels("cpu")).toEqual([])
  })

  it.each([
    { name: "same, stride 1", strides: 1, pad: "same" as const },
    { name: "valid, stride 2", strides: 2, pad: "valid" as const },
    // a numeric pad crashes wasm's own forward Conv2D ("memory access out of bounds"); explicit pads work
    { name: "explicit pad, strides 2×1", strides: [2, 1] as [number, number], pad: [[0, 0], [1, 1], [1, 0], [0, 0]] as tf.backend_util.ExplicitPadding },
  ])("Conv2DBackpropFilter ($name) matches cpu's", async ({ strides, pad }) => {
    const [wasm, cpu] = await onBoth(() => {
      const x = normal([2, 9, 8, 3], 21) as tf.Tensor4D
      const filter = normal([3, 2, 3, 4], 22) as tf.Tensor4D
      return tf.grad((f: tf.Tensor) => weighted(tf.conv2d(x, f as tf.Tensor4D, strides, pad), 23))(filter)
    })
    expectClose(wasm, cpu, 1e-5)
  })

  it("Cast to a tensor's own dtype shares its data on wasm (freeing one leaves the other), other casts convert", async () => {
    await onBackend("wasm")
    const x = normal([3, 4], 27)
    const values = x.dataSync().slice()
    const same = tf.cast(x, "float32")
    expect(same.dataId).toBe(x.dataId)
    x.dispose()
    expect(same.dataSync()).toEqual(values)
    same.dispose()
    expect(tf.cast(tf.tensor1d([1.7, -2.2, 0]), "int32").arraySync()).toEqual([1, -2, 0])
    expect(tf.cast(tf.tensor1d([3, -1, 0], "int32"), "float32").arraySync()).toEqual([3, -1, 0])
  })

  it("UnsortedSegmentSum matches cpu's, drops out-of-range ids, and gives gather its gradient", async () => {
    const [wasm, cpu] = await onBoth(() =>
      tf.unsortedSegmentSum(normal([6, 2, 3], 24), tf.tensor1d([0, 3, 3, -1, 1, 7], "int32"), 4))
    expectClose(wasm, cpu, 1e-6)
    const [wasmGrad, cpuGrad] = await onBoth(() =>
      tf.grad((table: tf.Tensor) => weighted(tf.gather(table, tf.tensor2d([[1, 1], [0, 4]], [2, 2], "int32")), 25))(normal([5, 3], 26)))
    expectClose(wasmGrad, cpuGrad, 1e-6)
  })
})
