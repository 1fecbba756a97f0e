// Every op on WGSL (headless Chromium, SwiftShader) and the WASM kernels in the page, against the
// CPU references; the references themselves give the same bytes in Node and in the page.
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from '@playwright/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../../e2e/support/chromium.ts';
import { BUILTIN_OPS, getOp } from '../src/index.ts';
import type { CaseReport, Harness, SmallTensor } from './browser/harness.ts';
import { allCases, SHA256_VECTORS } from './support/cases.ts';
import { type ServedPage, servePage } from './support/page-server.ts';

const HARNESS = fileURLToPath(new URL('./browser/harness.ts', import.meta.url));

async function openHarness(browser: Browser, url: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(url);
  await page.waitForFunction(() => 'flockHarness' in globalThis);
  return page;
}

function call<R>(page: Page, fn: (h: Harness) => Promise<R> | R): Promise<R> {
  return page.evaluate(`(${fn.toString()})(globalThis.flockHarness)`) as Promise<R>;
}

const f32 = (...values: number[]): SmallTensor => ({ dtype: 'f32', values });
const u32 = (...values: number[]): SmallTensor => ({ dtype: 'u32', values });

let served: ServedPage;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  served = await servePage(HARNESS);
  browser = await launchChromium({ webgpu: true });
  page = await openHarness(browser, served.url);
});

afterAll(async () => {
  await browser?.close();
  await served?.close();
});

describe('WGSL on SwiftShader and WASM in Chromium', () => {
  it('runs in an isolated page with the SwiftShader adapter', async () => {
    const info = await call(page, (h) => h.info());
    expect(info).toMatchObject({ crossOriginIsolated: true, hasAdapter: true, architecture: 'swiftshader' });
    expect(info.isFallbackAdapter).toBe(true);
    expect(await call(page, (h) => h.caseCount())).toBe(allCases().length);
  });

  it.each(BUILTIN_OPS)('%s: every size within the error bound (integer ops bit-exact)', async (op) => {
    const cases = allCases();
    const from = cases.findIndex((c) => c.op === op);
    const to = from + cases.filter((c) => c.op === op).length;
    const reports = (await page.evaluate(`globalThis.flockHarness.runCases(${from}, ${to})`)) as CaseReport[];
    expect(reports.map((r) => r.label)).toEqual(cases.slice(from, to).map((c) => c.label));
    const exact = getOp(op).errorBound.metric === 'exact';
    for (const [i, report] of reports.entries()) {
      const c = cases[from + i]!;
      const reference = Object.values(await getOp(op).prepare(c.inputs, c.params).reference())[0]!;
      const nodeSha = createHash('sha256').update(reference).digest('hex');
      expect(report.referenceSha256, `${report.label}: reference in Node vs page`).toBe(nodeSha);
      expect(report.wgsl.value, `${report.label}: wgsl`).toBeLessThanOrEqual(report.wgsl.bound);
      if (exact) expect(report.wgsl.sha256, `${report.label}: wgsl bytes`).toBe(nodeSha);
      if (getOp(op).hasWasm) {
        expect(report.wasm!.value, `${report.label}: wasm`).toBeLessThanOrEqual(report.wasm!.bound);
        if (exact) expect(report.wasm!.sha256, `${report.label}: wasm bytes`).toBe(nodeSha);
      }
    }
  });
});

describe('WGSL grids that wrap into rows', () => {
  it('ops numbering workgroups across rows match the reference with 32 workgroups per row', async () => {
    const results = await call(page, (h) => h.wrappedGrids());
    expect(results.map((r) => [r.label, r.grid])).toEqual([
      ['saxpy n=10000', [32, 2, 1]],
      ['reduce_sum n=262145', [32, 17, 1]],
      ['prefix_sum n=100000', [32, 13, 1]],
      ['fft n=65536 batch=1', [32, 4, 1]],
      ['sha256_batch count=2100', [32, 2, 1]],
    ]);
    for (const r of results) expect(r.value, r.label).toBeLessThanOrEqual(r.bound);
  });
});

describe('inputs as misaligned SharedArrayBuffer views (the executor arena)', () => {
  it('give the same bytes as plain inputs on WGSL and WASM', async () => {
    const results = await call(page, (h) => h.sharedInputs());
    expect(Object.keys(results)).toEqual([
      'matmul wgsl',
      'matmul wasm',
      'sha256_batch wgsl',
      'sha256_batch wasm',
    ]);
    for (const [name, r] of Object.entries(results)) {
      expect(r.shared, name).toBe(r.plain);
      expect(r.ok, name).toBe(true);
    }
  });
});

describe('WGSL known answers', () => {
  it('every op: a closed-form answer at a size off the workgroup grid, byte for byte (WGSL and WASM)', async () => {
    const differing = await call(page, (h) => h.closedForm('wgsl'));
    expect(differing).toEqual(Object.fromEntries(BUILTIN_OPS.map((op) => [op, 0])));
    const wasmOps = BUILTIN_OPS.filter((op) => getOp(op).hasWasm);
    expect(await call(page, (h) => h.closedForm('wasm'))).toEqual(
      Object.fromEntries(wasmOps.map((op) => [op, 0])),
    );
  });

  const small = (op: string, inputs: Record<string, SmallTensor>, params: Record<string, unknown> = {}) =>
    page.evaluate(
      ([o, i, p]) =>
        (globalThis as unknown as { flockHarness: Harness }).flockHarness.small(
          o as string,
          i as Record<string, SmallTensor>,
          p as Record<string, unknown>,
        ),
      [op, inputs, params] as const,
    );

  it('sha256_batch: FIPS 180-2 vectors, one million "a" included', async () => {
    expect(await call(page, (h) => h.sha256Vectors())).toEqual(SHA256_VECTORS.map((v) => v.hex));
  });

  it('saxpy, reduce_sum, prefix_sum, histogram, matmul', async () => {
    expect(await small('saxpy', { x: f32(1, 2, -3), y: f32(10, 20, 30) }, { a: 2 })).toEqual({
      out: [12, 24, 24],
    });
    const ramp = Array.from({ length: 1000 }, (_, i) => i + 1);
    expect(await small('reduce_sum', { x: f32(...ramp) })).toEqual({ sum: [500500] });
    const ones = new Array(600).fill(1);
    expect((await small('prefix_sum', { values: u32(...ones) }))['scan']).toEqual(ones.map((_, i) => i + 1));
    expect(await small('prefix_sum', { values: u32(0xffff_ffff, 2, 3) })).toEqual({
      scan: [0xffff_ffff, 1, 4],
    });
    expect(await small('histogram', { values: u32(0, 1, 1, 3, 9, 2) }, { bins: 4 })).toEqual({
      counts: [1, 2, 1, 2],
    });
    expect(
      await small('matmul', { a: f32(1, 2, 3, 4, 5, 6), b: f32(7, 8, 9, 10, 11, 12) }, { m: 2, n: 2, k: 3 }),
    ).toEqual({ c: [58, 64, 139, 154] });
  });

  it('fft impulse, conv2d identity, mandelbrot points, nbody pair', async () => {
    expect(await small('fft', { signal: f32(1, 0, 0, 0, 0, 0, 0, 0) })).toEqual({
      spectrum: [1, 0, 1, 0, 1, 0, 1, 0],
    });
    const identity = await small(
      'conv2d',
      { image: f32(1, 2, 3, 4, 5, 6), kernel: f32(0, 0, 0, 0, 1, 0, 0, 0, 0) },
      { width: 3, height: 2, kw: 3, kh: 3 },
    );
    expect(identity).toEqual({ out: [1, 2, 3, 4, 5, 6] });
    const view = { width: 1, height: 1, max_iter: 50 };
    expect(
      await small('mandelbrot', {}, { ...view, x_min: -0.5, x_max: 0.5, y_min: -0.5, y_max: 0.5 }),
    ).toEqual({
      iterations: [50],
    });
    expect(
      await small('mandelbrot', {}, { ...view, x_min: 1.5, x_max: 2.5, y_min: 1.5, y_max: 2.5 }),
    ).toEqual({
      iterations: [1],
    });
    const pair = await small(
      'nbody_step',
      { bodies: f32(-1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0) },
      { dt: 0.5 },
    );
    const a = 2 / (4 + 1e-4) ** 1.5;
    expect(pair['next']![4]).toBeCloseTo(a * 0.5, 6);
    expect(pair['next']![12]).toBeCloseTo(-a * 0.5, 6);
  });
});

describe('runBuiltin picks the executor', () => {
  const builtin =
    (
      op: string,
      inputs: Record<string, SmallTensor>,
      params: Record<string, unknown>,
      useDevice: boolean,
      cpuOnFallbackAdapter = false,
    ) =>
    (target: Page) =>
      target.evaluate(
        ([o, i, p, d, f]) =>
          (globalThis as unknown as { flockHarness: Harness }).flockHarness.builtin(
            o as string,
            i as Record<string, SmallTensor>,
            p as Record<string, unknown>,
            d as boolean,
            f as boolean,
          ),
        [op, inputs, params, useDevice, cpuOnFallbackAdapter] as const,
      );
  const mm = builtin('matmul', { a: f32(1, 2, 3, 4), b: f32(5, 6, 7, 8) }, { m: 2, n: 2, k: 2 }, true);
  const ax = builtin('saxpy', { x: f32(1, 2), y: f32(3, 4) }, { a: 3 }, true);

  it('WGSL on a tab with WebGPU; bad input gets its code', async () => {
    expect(await mm(page)).toEqual({ executor: 'wgsl', outputs: { c: [19, 22, 43, 50] } });
    expect(
      await builtin('matmul', { a: f32(1, 2, 3), b: f32(5, 6, 7, 8) }, { m: 2, n: 2, k: 2 }, true)(page),
    ).toEqual({
      code: 'BAD_INPUT_SIZE',
    });
  });

  it('cpuOnFallbackAdapter skips the SwiftShader device (a fallback adapter) and says so', async () => {
    const onFallback = builtin(
      'matmul',
      { a: f32(1, 2, 3, 4), b: f32(5, 6, 7, 8) },
      { m: 2, n: 2, k: 2 },
      true,
      true,
    );
    expect(await onFallback(page)).toEqual({
      executor: 'wasm-simd',
      outputs: { c: [19, 22, 43, 50] },
      gpuSkipped: 'fallback_adapter',
    });
  });

  it("overlapping calls on one device: a failing call's GPU error stays with it", async () => {
    expect(await call(page, (h) => h.overlappingWithError())).toEqual({ bad: 'GPU_ERROR', goodOk: true });
  });

  it('a lost device gives GPU_ERROR', async () => {
    expect(await call(page, (h) => h.onDestroyedDevice())).toBe('GPU_ERROR');
  });

  it('WASM SIMD (or JS for ops without a kernel) on a tab without WebGPU', async () => {
    const cpuBrowser = await launchChromium({ webgpu: false });
    try {
      const cpuPage = await openHarness(cpuBrowser, served.url);
      expect(await call(cpuPage, (h) => h.info())).toMatchObject({
        crossOriginIsolated: true,
        hasAdapter: false,
      });
      expect(await mm(cpuPage)).toEqual({ executor: 'wasm-simd', outputs: { c: [19, 22, 43, 50] } });
      expect(await ax(cpuPage)).toEqual({ executor: 'js', outputs: { out: [6, 10] } });
    } finally {
      await cpuBrowser.close();
    }
  });
});
