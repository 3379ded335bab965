/**
 * Picks the fastest TensorFlow.js backend that loads here, and fills the gaps of the one it takes.
 *
 * Order: `tfjs-node-gpu` (CUDA), `tfjs-node` (native CPU), `wasm` (SIMD, one thread in Node), `cpu`
 * (plain JS). The native packages are optional dependencies that cannot install on every machine,
 * so they are imported dynamically inside a try. The `wasm` backend lacks two kernels that training
 * needs (measured.md); `registerMissingKernels` builds them from kernels it has. And tfjs-core
 * registers no gradients at all (they ship in the `@tensorflow/tfjs` bundle): `registerGradients`.
 * On `wasm` and `cpu`, convolutions and matMuls go to a native BLAS when the addon in native/ is
 * built (native-kernels.ts).
 */
import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"
import "@tensorflow/tfjs-backend-wasm"
import { createRequire } from "node:module"
import { nativeStatus, registerNativeKernels } from "./native-kernels.ts"

/** The backend in use and the kernels of ours registered for it (the run record shows both). */
export interface BackendChoice {
  readonly name: string
  readonly kernels: string[]
}

/**
 * One line for the run record: the backend, the kernels of ours on it, and the BLAS behind the
 * native ones — "wasm + Conv2DBackpropFilter, UnsortedSegmentSum, Identity, Cast + native conv, matmul,
 * relu, adam, sums, layernorm, crossentropy on OpenBLAS 0.3.21 (1 thread)".
 */
export const describeBackend = (choice: BackendChoice): string => {
  const ours = choice.kernels.filter((k) => !k.startsWith("native-"))
  const native = choice.kernels.filter((k) => k.startsWith("native-")).map((k) => k.slice("native-".length))
  const status = nativeStatus()
  const blas = status.available ? shortBlas(status.blas) : ""
  const described = [choice.name, ours.length > 0 ? ours.join(", ") : "", native.length > 0 ? `native ${native.join(", ")} on ${blas}` : ""]
    .filter((p) => p !== "").join(" + ")
  // on wasm or cpu without the native kernels, say why in the same line
  const portable = choice.name === "wasm" || choice.name === "cpu"
  return portable && !status.available ? `${described} (plain ${choice.name}: ${status.reason.replace(/\.$/, "")})` : described
}

/** "OpenBLAS 0.3.21 NO_LAPACKE ... (pthreads, 2 threads; libopenblas.so.0)" → "OpenBLAS 0.3.21 (2 threads)". */
const shortBlas = (blas: string): string => {
  const name = blas.split(" (")[0]!.split(" ").slice(0, 2).join(" ")
  const threads = /(\d+) threads?/.exec(blas)
  return threads ? `${name} (${threads[1]} thread${threads[1] === "1" ? "" : "s"})` : name
}

/** Backends that `prefer` can ask for ahead of the native ones. */
export type PortableBackend = "wasm" | "cpu"

/**
 * Sets the best backend that loads and returns it. `prefer` tries that backend first (tests and
 * benchmarks pin one); the others remain fall-backs.
 */
export const useBestBackend = (options: { prefer?: PortableBackend } = {}): Promise<BackendChoice> => {
  // Stages running side by side in one process ask at once: the backend is set up once, and
  // later calls (with the same preference) share that set-up.
  const key = options.prefer ?? "best"
  let choice = choices.get(key)
  if (choice === undefined || (tf.getBackend() !== undefined && chosen.get(key) !== tf.getBackend())) {
    choice = chooseBackend(options).then((c) => (chosen.set(key, c.name), c))
    choices.set(key, choice)
    choice.catch(() => choices.delete(key))
  }
  return choice
}

const choices = new Map<string, Promise<BackendChoice>>()
const chosen = new Map<string, string>()

const chooseBackend = async (options: { prefer?: PortableBackend }): Promise<BackendChoice> => {
  await registerGradients()
  const order = options.prefer === undefined ? DEFAULT_ORDER : [options.prefer, ...DEFAULT_ORDER.filter((b) => b !== options.prefer)]
  for (const candidate of order) {
    if (await tryBackend(candidate)) {
      const name = tf.getBackend()
      return { name, kernels: [...registerMissingKernels(name), ...registerSharingIdentity(name), ...registerNativeKernels(name)] }
    }
  }
  throw new Error(`no TensorFlow.js backend loaded (tried ${order.join(", ")})`)
}

/**
 * Registers, for `backendName`, our implementations of the kernels it lacks; returns the names of
 * ours that are registered for it (also when an earlier call registered them).
 */
export const registerMissingKernels = (backendName: string): string[] => {
  const ours: string[] = []
  for (const kernel of MISSING_KERNELS) {
    const existing = tf.getKernel(kernel.kernelName, backendName)
    if (existing === undefined) tf.registerKernel({ ...kernel, backendName })
    if (existing === undefined || existing.kernelFunc === kernel.kernelFunc) ours.push(kernel.kernelName)
  }
  return ours
}

/**
 * Registers tfjs's gradient functions, once. tfjs-core's own bundles leave them out: they ship in the
 * `@tensorflow/tfjs` union bundle (installed with tfjs-node), used when present. Otherwise tfjs-core's
 * `register_all_gradients` module, which Node cannot load as shipped (extension-less ES imports), is
 * bundled in memory with esbuild and run (~0.3 s); its copy of tfjs-core's modules shares the one
 * engine and registry that live on `globalThis`.
 */
export const registerGradients = async (): Promise<void> => {
  if (gradientsRegistered()) return
  try {
    const union: string = "@tensorflow/tfjs"
    await import(union)
    if (gradientsRegistered()) return
  } catch {
    // not installed: build them below
  }
  const require = createRequire(import.meta.url)
  const esbuild = await import("esbuild")
  const built = await esbuild.build({
    entryPoints: [require.resolve("@tensorflow/tfjs-core/dist/register_all_gradients.js")],
    bundle: true, platform: "node", format: "cjs", write: false, logLevel: "silent",
  })
  const module = { exports: {} }
  new Function("module", "exports", "require", built.outputFiles[0]!.text)(module, module.exports, require)
  if (!gradientsRegistered()) throw new Error("could not register TensorFlow.js gradients")
}

/** Whether tfjs's gradient functions are registered (`registerGradients`). */
export const gradientsRegistered = (): boolean => tf.getGradient("Sum") !== undefined

const DEFAULT_ORDER = ["tfjs-node-gpu", "tfjs-node", "wasm", "cpu"] as const

const tryBackend = async (candidate: (typeof DEFAULT_ORDER)[number]): Promise<boolean> => {
  if (candidate === "wasm" || candidate === "cpu") return tf.setBackend(candidate).catch(() => false)
  try {
    const moduleName: string = `@tensorflow/${candidate}` // a variable, so that neither tsc nor bundlers resolve it
    await import(moduleName) // registers the "tensorflow" backend with our tfjs-core
    return await tf.setBackend("tensorflow")
  } catch {
    return false
  }
}

// ---------------------------------------------------------------------------------------------
// Kernels that `wasm` lacks, written with ops it has. They run inside the engine's kernel call,
// where ops are not recorded on the gradient tape.

/** Ops hand kernels their Tensors; a fresh wrapper would free the input's data when disposed. */
const asTensor = (info: tf.TensorInfo | undefined): tf.Tensor => {
  if (!(info instanceof tf.Tensor)) throw new TypeError("kernel input is not a Tensor")
  return info
}

/**
 * Gradient of conv2d with respect to its filter: im2col of the padded input, laid out
 * (fh·fw·Cin, B·outH·outW) so that one plain matMul with dy (B·outH·outW, Cout) gives the filter.
 */
const conv2dBackpropFilter: tf.KernelFunc = ({ inputs, attrs }) => {
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs
  if (dataFormat === "NCHW") throw new RangeError("Conv2DBackpropFilter: wasm convolutions are NHWC only")
  return tf.tidy(() => {
    const x = asTensor(inputs.x)
    const dy = asTensor(inputs.dy)
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false, "channelsLast",
    )
    const { padInfo, strideHeight, strideWidth, filterHeight, filterWidth, outHeight, outWidth, inChannels, batchSize } = info
    const padded = tf.pad(x, [[0, 0], [padInfo.top, padInfo.bottom], [padInfo.left, padInfo.right], [0, 0]])
    const channelsFirst = tf.transpose(padded, [3, 0, 1, 2]) // (Cin, B, Hp, Wp)
    const taps: tf.Tensor[] = []
    for (let i = 0; i < filterHeight; i++) {
      for (let j = 0; j < filterWidth; j++) {
        taps.push(tf.stridedSlice(channelsFirst, [0, 0, i, j],
          [inChannels, batchSize, i + (outHeight - 1) * strideHeight + 1, j + (outWidth - 1) * strideWidth + 1],
          [1, 1, strideHeight, strideWidth]))
      }
    }
    const columns = tf.reshape(tf.concat(taps, 0), [filterHeight * filterWidth * inChannels, -1])
    const gradient = tf.matMul(columns, tf.reshape(dy, [-1, dy.shape[3]!]))
    return tf.reshape(gradient, filterShape)
  })
}

/**
 * Sums rows of x into numSegments buckets. ScatterNd accumulates duplicate indices, so this is
 * O(rows) rather than the O(rows × segments) of a oneHot matMul; ids outside [0, numSegments) are
 * dropped (TensorFlow's semantics) by sending them to an extra bucket that is cut off.
 */
const unsortedSegmentSum: tf.KernelFunc = ({ inputs, attrs }) => {
  const { numSegments } = attrs as unknown as tf.UnsortedSegmentSumAttrs
  return tf.tidy(() => {
    const x = asTensor(inputs.x)
    const ids = tf.reshape(asTensor(inputs.segmentIds), [-1])
    const rows = tf.reshape(x, [ids.shape[0]!, ...x.shape.slice(inputs.segmentIds!.shape.length)])
    const valid = tf.logicalAnd(tf.greaterEqual(ids, 0), tf.less(ids, numSegments))
    const bucket = tf.where(valid, ids, tf.fill(ids.shape, numSegments, "int32"))
    const summed = tf.scatterND(tf.expandDims(bucket, 1), rows, [numSegments + 1, ...rows.shape.slice(1)])
    return tf.slice(summed, 0, numSegments)
  })
}

/**
 * wasm's Identity copies its input; tfjs calls it for every tensor an op saves for its gradient
 * (`clone`), which cost a training step ~850 copies (measured: 7% of its kernel time). Tensors are
 * immutable, so sharing the data and counting the reference — what the cpu backend does — is enough.
 * Likewise wasm's Cast copies a float32 tensor cast to float32, which tfjs's gradients of Multiply,
 * Square and others do to each saved operand (172 copies of (2, 2048, 256) in a width-256 prior's
 * training step, 4% of its kernel time): a Cast to the tensor's own dtype shares its data too; other
 * casts go to wasm's own kernel.
 */
export const registerSharingIdentity = (backendName: string): string[] => {
  if (backendName !== "wasm") return []
  const existing = tf.getKernel("Identity", backendName)
  if (existing?.kernelFunc !== sharingIdentity) {
    if (existing !== undefined) tf.unregisterKernel("Identity", backendName)
    tf.registerKernel({ kernelName: "Identity", backendName, kernelFunc: sharingIdentity })
  }
  const cast = tf.getKernel("Cast", backendName)
  if (cast !== undefined && !sharingCasts.has(cast.kernelFunc)) {
    const kernelFunc = sharingCast(cast.kernelFunc)
    sharingCasts.add(kernelFunc)
    tf.unregisterKernel("Cast", backendName)
    tf.registerKernel({ kernelName: "Cast", backendName, kernelFunc })
  }
  return ["Identity", "Cast"]
}

const sharingCasts = new WeakSet<tf.KernelFunc>()

/** A Cast that shares the data of a tensor cast to its own dtype, and runs `cast` for the others. */
const sharingCast = (cast: tf.KernelFunc): tf.KernelFunc => (args) => {
  const x = args.inputs.x!
  const { dtype } = args.attrs as unknown as tf.CastAttrs
  return dtype === x.dtype && dtype !== "string" ? sharingIdentity(args) : cast(args)
}

const sharingIdentity: tf.KernelFunc = ({ inputs, backend }) => {
  const x = inputs.x!
  if (x.dtype === "string") return tf.tensor((backend as tf.KernelBackend).readSync(x.dataId) as Uint8Array[], x.shape, x.dtype)
  ;(backend as unknown as { incRef(dataId: unknown): void }).incRef(x.dataId)
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype }
}

const MISSING_KERNELS: ReadonlyArray<Omit<tf.KernelConfig, "backendName">> = [
  { kernelName: "Conv2DBackpropFilter", kernelFunc: conv2dBackpropFilter },
  { kernelName: "UnsortedSegmentSum", kernelFunc: unsortedSegmentSum },
]
