// Page side of `npm run bench -w @flock/shaders`: times matmul, fft and sha256_batch on WGSL
// (this tab's adapter), WASM SIMD, WASM scalar and plain JavaScript, all in one tab.
import { fftReference, getOp, matmulJs, runWasm, runWgsl, type Tensors } from '../../src/index.ts';
import { rng } from '../../test/support/cases.ts';

/** One timed implementation: best wall time of the repetitions, and the work it did. */
export interface Timing {
  readonly impl: 'wgsl' | 'wasm-simd' | 'wasm-scalar' | 'js' | 'hash-wasm';
  readonly seconds: number;
  readonly reps: number;
}

/** One benchmark row: an op at a size, its work per call (flop or bytes); the last timing is the baseline. */
export interface BenchRow {
  readonly op: 'matmul' | 'fft' | 'sha256_batch' | 'conv2d' | 'nbody_step' | 'mandelbrot';
  readonly size: string;
  readonly work: number;
  readonly unit: 'GFLOP/s' | 'MB/s' | 'Mpixel/s';
  readonly timings: Timing[];
}

function floats(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r() * 2 - 1;
  return new Uint8Array(out.buffer);
}

// Best of up to `maxReps` runs after one warm-up, stopping once `budget` seconds are spent.
async function time(impl: Timing['impl'], fn: () => unknown, budget = 1.5, maxReps = 10): Promise<Timing> {
  await fn();
  let best = Number.POSITIVE_INFINITY;
  let reps = 0;
  const start = performance.now();
  while (reps < maxReps && (reps === 0 || (performance.now() - start) / 1000 < budget)) {
    const t0 = performance.now();
    await fn();
    best = Math.min(best, (performance.now() - t0) / 1000);
    reps++;
  }
  return { impl, seconds: best, reps };
}

async function adapterInfo(): Promise<Record<string, string | boolean>> {
  const adapter = await navigator.gpu?.requestAdapter();
  if (!adapter) return { adapter: 'none' };
  const i = adapter.info;
  return {
    vendor: i.vendor,
    architecture: i.architecture,
    device: i.device,
    description: i.description,
    isFallbackAdapter: i.isFallbackAdapter,
  };
}

const bench = {
  adapterInfo,

  /** Runs the whole benchmark; `sizes` are the matmul sizes. */
  async run(sizes: number[]): Promise<BenchRow[]> {
    const adapter = await navigator.gpu.requestAdapter();
    const device = await adapter!.requestDevice({
      requiredLimits: {
        maxStorageBufferBindingSize: adapter!.limits.maxStorageBufferBindingSize,
        maxBufferSize: adapter!.limits.maxBufferSize,
      },
    });
    const rows: BenchRow[] = [];
    for (const n of sizes) {
      const inputs: Tensors = { a: floats(n * n, n), b: floats(n * n, n + 1) };
      const params = { m: n, n, k: n };
      const a = new Float32Array(inputs['a']!.buffer);
      const b = new Float32Array(inputs['b']!.buffer);
      rows.push({
        op: 'matmul',
        size: `${n}x${n}`,
        work: 2 * n * n * n,
        unit: 'GFLOP/s',
        timings: [
          await time('wgsl', () => runWgsl(device, 'matmul', inputs, params)),
          await time('wasm-simd', () => runWasm('matmul', inputs, params, 'simd')),
          await time('wasm-scalar', () => runWasm('matmul', inputs, params, 'scalar')),
          await time('js', () => matmulJs(a, b, n, n, n), 1.5, n >= 1024 ? 1 : 3),
        ],
      });
    }
    {
      const n = 65_536;
      const batch = 16;
      const inputs: Tensors = { signal: floats(2 * n * batch, 7) };
      const params = { n };
      const signal = new Float32Array(inputs['signal']!.buffer);
      rows.push({
        op: 'fft',
        size: `${batch} x 2^16 complex`,
        work: 5 * n * Math.log2(n) * batch,
        unit: 'GFLOP/s',
        timings: [
          await time('wgsl', () => runWgsl(device, 'fft', inputs, params)),
          await time('wasm-simd', () => runWasm('fft', inputs, params, 'simd')),
          await time('wasm-scalar', () => runWasm('fft', inputs, params, 'scalar')),
          await time('js', () => fftReference(signal, n, false)),
        ],
      });
    }
    {
      const count = 4096;
      const len = 1024;
      const data = floats((count * len) / 4, 12);
      const offsets = Uint32Array.from({ length: count + 1 }, (_, i) => i * len);
      const inputs: Tensors = { data, offsets: new Uint8Array(offsets.buffer) };
      const reference = getOp('sha256_batch').prepare(inputs, {});
      rows.push({
        op: 'sha256_batch',
        size: `${count} x ${len} B`,
        work: count * len,
        unit: 'MB/s',
        timings: [
          await time('wgsl', () => runWgsl(device, 'sha256_batch', inputs, {})),
          await time('wasm-simd', () => runWasm('sha256_batch', inputs, {}, 'simd')),
          await time('wasm-scalar', () => runWasm('sha256_batch', inputs, {}, 'scalar')),
          await time('hash-wasm', () => reference.reference()),
        ],
      });
    }
    // The other ops with WASM kernels; the baseline is each op's JS reference.
    const others: {
      op: BenchRow['op'];
      size: string;
      work: number;
      unit: BenchRow['unit'];
      inputs: Tensors;
      params: Record<string, number>;
    }[] = [
      {
        op: 'conv2d',
        size: '1024x1024, 5x5',
        work: 2 * 25 * 1024 * 1024,
        unit: 'GFLOP/s',
        inputs: { image: floats(1024 * 1024, 21), kernel: floats(25, 22) },
        params: { width: 1024, height: 1024, kw: 5, kh: 5 },
      },
      {
        op: 'nbody_step',
        size: '4096 bodies',
        work: 20 * 4096 * 4096,
        unit: 'GFLOP/s',
        inputs: { bodies: floats(4096 * 8, 23) },
        params: {},
      },
      {
        op: 'mandelbrot',
        size: '1024x768, 256 iter',
        work: 1024 * 768,
        unit: 'Mpixel/s',
        inputs: {},
        params: { width: 1024, height: 768, max_iter: 256 },
      },
    ];
    for (const o of others) {
      const prepared = getOp(o.op).prepare(o.inputs, o.params);
      rows.push({
        op: o.op,
        size: o.size,
        work: o.work,
        unit: o.unit,
        timings: [
          await time('wgsl', () => runWgsl(device, o.op, o.inputs, o.params)),
          await time('wasm-simd', () => runWasm(o.op, o.inputs, o.params, 'simd')),
          await time('wasm-scalar', () => runWasm(o.op, o.inputs, o.params, 'scalar')),
          await time('js', () => prepared.reference(), 1.5, 3),
        ],
      });
    }
    device.destroy();
    return rows;
  },
};

/** The bench API as the Node driver sees it. */
export type Bench = typeof bench;

(globalThis as unknown as { flockBench: Bench }).flockBench = bench;
