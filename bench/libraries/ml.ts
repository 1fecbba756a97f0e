// ml.infer's CNN (the repo's, packages/libraries/src/models/zoo.ts: 2 conv + 1 dense layers,
// 28×28 input) at batch sizes 1 and 32: inferences per second in one Chromium tab on WebGPU
// (SwiftShader here: a CPU implementation of Vulkan) and on WASM (SIMD, one thread, and two
// threads in a cross-origin-isolated page), against onnxruntime-node (native, the reference) on
// the same machine in the same run; also the tab's build run in Node, and the largest difference of
// each provider's logits from onnxruntime-node's (the tolerance ml's comparator allows).
//
//   npx tsx bench/libraries/ml.ts [--seconds S (3)]
import { fileURLToPath } from 'node:url';
import { chromium } from '@playwright/test';
import * as ortNode from 'onnxruntime-node';
import { createServer } from 'vite';
import { chromiumLaunchOptions } from '../../e2e/support/chromium.ts';
import { cnnModel, exampleValues, writeOnnx } from '../../packages/libraries/src/models/index.ts';
import type { PageResult, PageRun } from './ml-page/bench-page.ts';
import { intOption } from './options.ts';

const SECONDS = intOption('--seconds', 3);
const BATCHES = [1, 32];
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WASM = `${ROOT}node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.wasm`;

interface Session {
  run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown }>>;
}
type OrtLike = {
  InferenceSession: { create(bytes: Uint8Array, options?: object): Promise<Session> };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
};

/** Inferences/s of `ort` in this process, and its logits of the probe input. */
async function inNode(
  ort: OrtLike,
  options: object,
  batch: number,
): Promise<{ rate: number; probe: Float32Array }> {
  const session = await ort.InferenceSession.create(writeOnnx(cnnModel()), options);
  const feed = (n: number, seed: number) => ({
    image: new ort.Tensor('float32', exampleValues(n * 784, seed), [n, 1, 28, 28]),
  });
  const probe = (await session.run(feed(4, 42)))['logits']!.data as Float32Array;
  const input = feed(batch, 7);
  await session.run(input);
  let runs = 0;
  const start = performance.now();
  while (performance.now() - start < SECONDS * 1000) {
    await session.run(input);
    runs += 1;
  }
  return { rate: (runs * batch) / ((performance.now() - start) / 1000), probe };
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
};

async function inChromium(runs: PageRun[]): Promise<PageResult[]> {
  const server = await createServer({
    configFile: false,
    root: fileURLToPath(new URL('./ml-page', import.meta.url)),
    logLevel: 'error',
    server: {
      port: 0,
      fs: { allow: [ROOT] },
      headers: {
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Embedder-Policy': 'require-corp',
      },
    },
    optimizeDeps: { exclude: ['onnxruntime-web'] },
  });
  await server.listen();
  const url = server.resolvedUrls!.local[0]!;
  const results: PageResult[] = [];
  try {
    for (const run of runs) {
      // A fresh browser per run: ONNX Runtime fixes its WASM threads at its first session.
      const browser = await chromium.launch(chromiumLaunchOptions({ webgpu: run.provider === 'webgpu' }));
      const page = await browser.newPage();
      page.on('pageerror', (e) => console.error('page error:', e.message));
      await page.goto(url);
      await page.waitForFunction(() => 'runBench' in globalThis, undefined, { timeout: 60_000 });
      const result = await page.evaluate(
        ([r, wasm]) =>
          (globalThis as unknown as { runBench: (r: PageRun, w: string) => Promise<PageResult> }).runBench(
            r,
            wasm,
          ),
        [run, `/@fs${WASM}`] as const,
      );
      results.push(result);
      await browser.close();
    }
  } finally {
    await server.close();
  }
  return results;
}

async function main(): Promise<void> {
  const ortWeb = (await import('onnxruntime-web/webgpu')) as unknown as OrtLike & {
    env: { wasm: { numThreads: number } };
  };
  ortWeb.env.wasm.numThreads = 1;
  const rows: Array<{ what: string; batch: number; rate: number; diff: number; extra?: string }> = [];
  const native: Record<number, number> = {};
  let reference: Float32Array | undefined;
  for (const batch of BATCHES) {
    const node1 = await inNode(ortNode as unknown as OrtLike, { intraOpNumThreads: 1 }, batch);
    const node2 = await inNode(ortNode as unknown as OrtLike, { intraOpNumThreads: 2 }, batch);
    const web = await inNode(ortWeb, { executionProviders: ['wasm'] }, batch);
    reference ??= node1.probe;
    native[batch] = node1.rate;
    rows.push({ what: 'onnxruntime-node, 1 thread (baseline)', batch, rate: node1.rate, diff: 0 });
    rows.push({
      what: 'onnxruntime-node, 2 threads',
      batch,
      rate: node2.rate,
      diff: maxDiff(node2.probe, reference),
    });
    rows.push({
      what: "the tab's onnxruntime-web in Node, WASM, 1 thread",
      batch,
      rate: web.rate,
      diff: maxDiff(web.probe, reference),
    });
  }
  const runs: PageRun[] = BATCHES.flatMap((batch) => [
    { provider: 'webgpu' as const, threads: 1, batch, seconds: SECONDS },
    { provider: 'wasm' as const, threads: 1, batch, seconds: SECONDS },
    { provider: 'wasm' as const, threads: 2, batch, seconds: SECONDS },
  ]);
  const page = await inChromium(runs);
  for (const [i, run] of runs.entries()) {
    const r = page[i]!;
    const what =
      run.provider === 'webgpu'
        ? 'Chromium tab, WebGPU (SwiftShader)'
        : `Chromium tab, WASM SIMD, ${run.threads} thread${run.threads > 1 ? 's' : ''}`;
    rows.push({
      what,
      batch: run.batch,
      rate: r.inferencesPerSecond,
      diff: maxDiff(r.probe, reference!),
      extra: `first run ${r.firstRunMs.toFixed(1)} ms, isolated ${r.isolated}`,
    });
  }
  console.log(
    `ml.infer CNN [N,1,28,28] → [N,10], ${SECONDS} s per row; max |Δ logits| vs onnxruntime-node on a fixed batch of 4`,
  );
  console.log('| runtime | batch | inferences/s | vs onnxruntime-node (1 thread) | max abs diff |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(
      `| ${r.what} | ${r.batch} | ${r.rate.toFixed(0)} | ${(r.rate / native[r.batch]!).toFixed(2)}× | ${r.diff.toExponential(1)} |${r.extra ? ` ${r.extra}` : ''}`,
    );
  }
}

await main();
