// Page side of the browser tests: runs the case matrix on WGSL (SwiftShader) and WASM against
// the in-page references, and small known-answer calls; exposed as globalThis.flockHarness.
import {
  BUILTIN_OPS,
  type BuiltinExecutor,
  getOp,
  measureError,
  runBuiltin,
  runWasm,
  runWgsl,
  ShaderError,
  type Tensors,
} from '../../src/index.ts';
import { allCases, hex, messages, sha256VectorInputs } from '../support/cases.ts';

/** Result of one case of the matrix. */
export interface CaseReport {
  readonly op: string;
  readonly label: string;
  readonly referenceSha256: string;
  readonly wgsl: { readonly value: number; readonly bound: number; readonly sha256: string };
  readonly wasm?: { readonly value: number; readonly bound: number; readonly sha256: string };
}

/** Numbers of a small tensor with its dtype. */
export interface SmallTensor {
  readonly dtype: 'f32' | 'u32' | 'u8';
  readonly values: readonly number[];
}

const LIMIT_NAMES = [
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
] as const;

/** A view of `gpu` whose `limits` report `overrides` (the real device does the work). */
function withLimits(
  gpu: GPUDevice,
  overrides: Partial<Record<(typeof LIMIT_NAMES)[number], number>>,
): GPUDevice {
  const limits: Record<string, number> = {};
  for (const name of LIMIT_NAMES) limits[name] = overrides[name] ?? gpu.limits[name];
  return new Proxy(gpu, {
    get(target, prop) {
      if (prop === 'limits') return limits;
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

let devicePromise: Promise<GPUDevice | null> | undefined;

async function device(): Promise<GPUDevice | null> {
  devicePromise ??= (async () => {
    const adapter = await navigator.gpu?.requestAdapter();
    return adapter ? adapter.requestDevice() : null;
  })();
  return devicePromise;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes.slice()));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

function encode(t: SmallTensor): Uint8Array {
  if (t.dtype === 'u8') return Uint8Array.from(t.values);
  const typed = t.dtype === 'f32' ? Float32Array.from(t.values) : Uint32Array.from(t.values);
  return new Uint8Array(typed.buffer);
}

function decode(op: string, outputs: Tensors): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const spec of getOp(op).outputs) {
    const bytes = outputs[spec.name]!.slice();
    if (spec.dtype === 'u8') out[spec.name] = Array.from(bytes);
    else if (spec.dtype === 'u32') out[spec.name] = Array.from(new Uint32Array(bytes.buffer));
    else out[spec.name] = Array.from(new Float32Array(bytes.buffer));
  }
  return out;
}

const harness = {
  /** Adapter facts and the page's isolation. */
  async info() {
    const adapter = await navigator.gpu?.requestAdapter();
    return {
      crossOriginIsolated,
      hasAdapter: adapter !== null && adapter !== undefined,
      architecture: adapter?.info.architecture ?? '',
      vendor: adapter?.info.vendor ?? '',
      isFallbackAdapter: adapter?.info.isFallbackAdapter ?? false,
      ops: BUILTIN_OPS,
    };
  },

  /** Runs cases [from, to) of the matrix on WGSL and (where the op has one) WASM SIMD. */
  async runCases(from: number, to: number): Promise<CaseReport[]> {
    const gpu = await device();
    if (gpu === null) throw new Error('no WebGPU device');
    const reports: CaseReport[] = [];
    for (const c of allCases().slice(from, to)) {
      const reference = await getOp(c.op).prepare(c.inputs, c.params).reference();
      const refBytes = Object.values(reference)[0]!;
      const gpuOut = await runWgsl(gpu, c.op, c.inputs, c.params);
      const gpuError = measureError(c.op, c.inputs, gpuOut, reference);
      const report: CaseReport = {
        op: c.op,
        label: c.label,
        referenceSha256: await sha256Hex(refBytes),
        wgsl: {
          value: gpuError.value,
          bound: gpuError.bound,
          sha256: await sha256Hex(Object.values(gpuOut)[0]!),
        },
      };
      if (getOp(c.op).hasWasm) {
        const wasmOut = runWasm(c.op, c.inputs, c.params);
        const wasmError = measureError(c.op, c.inputs, wasmOut, reference);
        reports.push({
          ...report,
          wasm: {
            value: wasmError.value,
            bound: wasmError.bound,
            sha256: await sha256Hex(Object.values(wasmOut)[0]!),
          },
        });
      } else {
        reports.push(report);
      }
    }
    return reports;
  },

  /** Number of cases in the matrix. */
  caseCount(): number {
    return allCases().length;
  },

  /** The FIPS 180-2 vectors (built here: one is a megabyte) through WGSL, as hex digests. */
  async sha256Vectors(): Promise<string[]> {
    const gpu = await device();
    if (gpu === null) throw new Error('no WebGPU device');
    const inputs = sha256VectorInputs();
    const digests = (await runWgsl(gpu, 'sha256_batch', inputs, {}))['digests']!;
    return Array.from({ length: digests.byteLength / 32 }, (_, i) =>
      hex(digests.subarray(i * 32, i * 32 + 32)),
    );
  },

  /** runWgsl on a device destroyed first: the error code it gets. */
  async onDestroyedDevice(): Promise<string> {
    const adapter = await navigator.gpu.requestAdapter();
    const lost = await adapter!.requestDevice();
    lost.destroy();
    try {
      await runWgsl(lost, 'saxpy', { x: new Uint8Array(16), y: new Uint8Array(16) }, {});
      return 'no error';
    } catch (error) {
      return error instanceof ShaderError ? error.code : String(error);
    }
  },

  /**
   * The grid-wrapping ops on a view of the device that reports maxComputeWorkgroupsPerDimension
   * = 32, so their grids wrap into rows as they do past 65535 workgroups on a real limit (which
   * SwiftShader runs too slowly to test). Returns each case's first grid and error.
   */
  async wrappedGrids(): Promise<{ label: string; grid: readonly number[]; value: number; bound: number }[]> {
    const gpu = await device();
    if (gpu === null) throw new Error('no WebGPU device');
    const narrow = withLimits(gpu, { maxComputeWorkgroupsPerDimension: 32 });
    const wanted = ['saxpy n=10000', 'reduce_sum n=262145', 'prefix_sum n=100000', 'fft n=65536 batch=1'];
    const cases = allCases().filter((c) => wanted.includes(`${c.op} ${c.label}`));
    cases.push({ op: 'sha256_batch', label: 'count=2100', inputs: messages(2100, 5, 40), params: {} });
    const out = [];
    for (const c of cases) {
      const prepared = getOp(c.op).prepare(c.inputs, c.params);
      const reference = await prepared.reference();
      const actual = await runWgsl(narrow, c.op, c.inputs, c.params);
      const error = measureError(c.op, c.inputs, actual, reference);
      out.push({
        label: `${c.op} ${c.label}`,
        grid: prepared.gpuPlan(32).passes[0]!.workgroups,
        value: error.value,
        bound: error.bound,
      });
    }
    return out;
  },

  /**
   * matmul and sha256_batch with inputs that are misaligned views of a SharedArrayBuffer (as the
   * executor hands over arena bytes), on WGSL and WASM: SHA-256 of each output, from the plain
   * inputs and from the shared views, and whether the shared-input output is within bound.
   */
  async sharedInputs(): Promise<Record<string, { plain: string; shared: string; ok: boolean }>> {
    const gpu = await device();
    if (gpu === null) throw new Error('no WebGPU device');
    const out: Record<string, { plain: string; shared: string; ok: boolean }> = {};
    for (const c of allCases().filter(
      (c) => c.label === '65x17 * 17x63' || c.label === 'count=65 len<=200',
    )) {
      const total = Object.values(c.inputs).reduce((sum, b) => sum + b.byteLength + 3, 0);
      const arena = new Uint8Array(new SharedArrayBuffer(total + 8));
      let at = 1;
      const shared: Tensors = {};
      for (const [name, bytes] of Object.entries(c.inputs)) {
        arena.set(bytes, at);
        shared[name] = arena.subarray(at, at + bytes.byteLength);
        at += bytes.byteLength + 3;
      }
      const reference = await getOp(c.op).prepare(c.inputs, c.params).reference();
      const runs = {
        wgsl: (t: Tensors) => runWgsl(gpu, c.op, t, c.params),
        wasm: async (t: Tensors) => runWasm(c.op, t, c.params),
      };
      for (const [executor, run] of Object.entries(runs)) {
        const fromShared = await run(shared);
        out[`${c.op} ${executor}`] = {
          plain: await sha256Hex(Object.values(await run(c.inputs))[0]!),
          shared: await sha256Hex(Object.values(fromShared)[0]!),
          ok: measureError(c.op, c.inputs, fromShared, reference).ok,
        };
      }
    }
    return out;
  },

  /**
   * Two overlapping calls on one device, both pipelines already built: a correct call, then one
   * that fails device validation (a view of the device claims 2^20 workgroups per dimension and
   * the call dispatches 65536). Returns the failing call's error code and whether the correct
   * call's output is within bound.
   */
  async overlappingWithError(): Promise<{ bad: string; goodOk: boolean }> {
    const gpu = await device();
    if (gpu === null) throw new Error('no WebGPU device');
    const lying = withLimits(gpu, { maxComputeWorkgroupsPerDimension: 1 << 20 });
    const count = 65_536 * 64;
    const bad: Tensors = { data: new Uint8Array(4), offsets: new Uint8Array((count + 1) * 4) };
    const good = allCases().find((c) => c.op === 'saxpy' && c.label === 'n=10000')!;
    const runGood = () => runWgsl(lying, good.op, good.inputs, good.params);
    const runBad = () => runWgsl(lying, 'sha256_batch', bad, {});
    await runGood();
    await runBad().catch(() => undefined);
    const [goodResult, badResult] = await Promise.allSettled([runGood(), runBad()]);
    const reference = await getOp(good.op).prepare(good.inputs, good.params).reference();
    return {
      bad:
        badResult.status === 'rejected' && badResult.reason instanceof ShaderError
          ? badResult.reason.code
          : 'no error',
      goodOk:
        goodResult.status === 'fulfilled' &&
        measureError(good.op, good.inputs, goodResult.value, reference).ok,
    };
  },

  /**
   * One closed-form known answer per op at a size that is not a multiple of its workgroup size,
   * on WGSL or on the WASM SIMD kernels (ops that have one): the number of output bytes that
   * differ from the formula (0 = exact).
   */
  async closedForm(executor: 'wgsl' | 'wasm'): Promise<Record<string, number>> {
    const gpu = await device();
    if (gpu === null) throw new Error('no WebGPU device');
    const f32s = (n: number, fn: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => fn(i));
    const u32s = (n: number, fn: (i: number) => number) => Uint32Array.from({ length: n }, (_, i) => fn(i));
    const b = (v: Float32Array | Uint32Array) => new Uint8Array(v.buffer);
    const abc = new TextEncoder().encode('abc'.repeat(1000));
    const abcDigest = [
      0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0,
      0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
    ];
    const matB = f32s(130 * 130, (i) => (i % 13) - 6);
    // Body i: position (i % 17) on each axis, mass 0, velocity (1, 2, 3).
    const bodies = f32s(300 * 8, (e) => {
      const field = e % 8;
      if (field < 3) return (e >> 3) % 17;
      return field >= 4 && field < 7 ? field - 3 : 0;
    });
    const cases: {
      op: string;
      inputs: Tensors;
      params: Record<string, unknown>;
      expected: Float32Array | Uint32Array | Uint8Array;
    }[] = [
      {
        op: 'saxpy',
        inputs: { x: b(f32s(1000, (i) => i % 97)), y: b(f32s(1000, () => 1)) },
        params: { a: 3 },
        expected: f32s(1000, (i) => 3 * (i % 97) + 1),
      },
      {
        op: 'reduce_sum',
        inputs: { x: b(f32s(70_001, () => 1)) },
        params: {},
        expected: Float32Array.of(70_001),
      },
      {
        op: 'prefix_sum',
        inputs: { values: b(u32s(100_003, () => 1)) },
        params: {},
        expected: u32s(100_003, (i) => i + 1),
      },
      {
        op: 'histogram',
        inputs: { values: b(u32s(100_003, (i) => i)) },
        params: { bins: 4096, shift: 5 },
        expected: u32s(4096, (k) => (k < 3125 ? 32 : k === 3125 ? 3 : 0)),
      },
      {
        op: 'matmul',
        inputs: { a: b(f32s(130 * 130, (i) => (i % 131 === 0 ? 1 : 0))), b: b(matB) },
        params: { m: 130, n: 130, k: 130 },
        expected: matB,
      },
      {
        op: 'fft',
        inputs: { signal: b(f32s(2 * 4096 * 3, (i) => (i % 8192 === 0 ? 1 : 0))) },
        params: { n: 4096 },
        expected: f32s(2 * 4096 * 3, (i) => (i % 2 === 0 ? 1 : 0)),
      },
      {
        op: 'conv2d',
        inputs: { image: b(f32s(100 * 37, (i) => i % 251)), kernel: b(f32s(25, (i) => (i === 12 ? 1 : 0))) },
        params: { width: 100, height: 37, kw: 5, kh: 5 },
        expected: f32s(100 * 37, (i) => i % 251),
      },
      {
        op: 'mandelbrot',
        inputs: {},
        params: { width: 37, height: 23, max_iter: 300, x_min: -0.1, x_max: 0.1, y_min: -0.1, y_max: 0.1 },
        expected: u32s(37 * 23, () => 300),
      },
      {
        op: 'nbody_step',
        inputs: { bodies: b(bodies) },
        params: { dt: 0.5 },
        // Massless bodies feel no force: v stays, p += v dt (exact: small integers and halves).
        expected: f32s(300 * 8, (i) => (i % 8 < 3 ? bodies[i]! + bodies[i + 4]! * 0.5 : bodies[i]!)),
      },
      {
        op: 'sha256_batch',
        inputs: { data: abc, offsets: b(u32s(1001, (i) => 3 * i)) },
        params: {},
        expected: Uint8Array.from({ length: 32_000 }, (_, i) => abcDigest[i % 32]!),
      },
    ];
    const out: Record<string, number> = {};
    for (const c of cases) {
      if (executor === 'wasm' && !getOp(c.op).hasWasm) continue;
      const outputs =
        executor === 'wgsl'
          ? await runWgsl(gpu, c.op, c.inputs, c.params)
          : runWasm(c.op, c.inputs, c.params);
      const bytes = Object.values(outputs)[0]!;
      const expected = new Uint8Array(c.expected.buffer, c.expected.byteOffset, c.expected.byteLength);
      let differ = bytes.byteLength === expected.byteLength ? 0 : 1;
      for (let i = 0; i < Math.min(bytes.byteLength, expected.byteLength); i++)
        if (bytes[i] !== expected[i]) differ++;
      out[c.op] = differ;
    }
    return out;
  },

  /** One small call on WGSL; outputs decoded by dtype. */
  async small(op: string, inputs: Record<string, SmallTensor>, params: Record<string, unknown>) {
    const gpu = await device();
    if (gpu === null) throw new Error('no WebGPU device');
    const bytes: Tensors = {};
    for (const [name, t] of Object.entries(inputs)) bytes[name] = encode(t);
    return decode(op, await runWgsl(gpu, op, bytes, params));
  },

  /** runBuiltin with the page's device (if any): executor and outputs, or the error code. */
  async builtin(
    op: string,
    inputs: Record<string, SmallTensor>,
    params: Record<string, unknown>,
    useDevice: boolean,
    cpuOnFallbackAdapter = false,
  ): Promise<
    { executor: BuiltinExecutor; outputs: Record<string, number[]>; gpuSkipped?: string } | { code: string }
  > {
    const bytes: Tensors = {};
    for (const [name, t] of Object.entries(inputs)) bytes[name] = encode(t);
    const gpu = useDevice ? await device() : null;
    try {
      const result = await runBuiltin(
        op,
        bytes,
        params,
        gpu === null ? {} : { device: gpu, cpuOnFallbackAdapter },
      );
      const skipped = result.gpuSkipped === undefined ? {} : { gpuSkipped: result.gpuSkipped };
      return { executor: result.executor, outputs: decode(op, result.outputs), ...skipped };
    } catch (error) {
      if (error instanceof ShaderError) return { code: error.code };
      throw error;
    }
  },
};

/** The harness API as the Node side sees it. */
export type Harness = typeof harness;

(globalThis as unknown as { flockHarness: Harness }).flockHarness = harness;
