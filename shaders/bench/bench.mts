// `npm run bench -w @flock/shaders`: one headless Chromium run (SwiftShader WebGPU) timing
// matmul at 256/512/1024, fft, sha256_batch, conv2d, nbody_step and mandelbrot on WGSL, WASM
// SIMD, WASM scalar and plain JS,
// then printing throughputs and ratios against the baseline measured in the same run (plain JS;
// hash-wasm for sha256, which is also the op's CPU reference).
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { ensureChromium } from '../../bench/prerequisites.ts';
import { launchChromium } from '../../e2e/support/chromium.ts';
import { servePage } from '../test/support/page-server.ts';
import type { Bench, BenchRow } from './browser/bench-page.ts';

ensureChromium();
const sizes = (process.env.FLOCK_BENCH_SIZES ?? '256,512,1024').split(',').map(Number);
const served = await servePage(fileURLToPath(new URL('./browser/bench-page.ts', import.meta.url)));
const browser = await launchChromium({ webgpu: true });
try {
  const page = await browser.newPage();
  await page.goto(served.url);
  await page.waitForFunction(() => 'flockBench' in globalThis);
  const adapter = await page.evaluate(() =>
    (globalThis as unknown as { flockBench: Bench }).flockBench.adapterInfo(),
  );
  const rows = (await page.evaluate(
    (s) => (globalThis as unknown as { flockBench: Bench }).flockBench.run(s),
    sizes,
  )) as BenchRow[];
  console.log(`adapter: ${JSON.stringify(adapter)}`);
  console.log(
    `chromium ${browser.version()}, ${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, node ${process.version}`,
  );
  console.log('| op | size | impl | best s | throughput | vs baseline | vs wasm-scalar |');
  console.log('|---|---|---|---|---|---|---|');
  for (const row of rows) {
    const rate = (s: number) => row.work / s / (row.unit === 'GFLOP/s' ? 1e9 : 1e6);
    const baseline = row.timings[row.timings.length - 1]!;
    const scalar = row.timings.find((t) => t.impl === 'wasm-scalar')!;
    for (const t of row.timings) {
      console.log(
        `| ${row.op} | ${row.size} | ${t.impl} | ${t.seconds.toFixed(4)} | ${rate(t.seconds).toFixed(2)} ${row.unit} | ` +
          `${(baseline.seconds / t.seconds).toFixed(2)}x | ${(scalar.seconds / t.seconds).toFixed(2)}x |`,
      );
    }
  }
} finally {
  await browser.close();
  await served.close();
}
