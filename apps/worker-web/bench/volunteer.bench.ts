// Volunteer-tab benchmark, all in one run on this machine (real coordinator, real Chromium):
//  1. per-job overhead of an empty WASI job, assignment frame to result frame, measured in the
//     tab, against a baseline of instantiating and running the same module in the page directly;
//  2. jobs/s for one tab over a campaign of empty jobs, against the protocol-only floor of the
//     coordinator's simulated volunteer (Node, no executor) on the same campaign size;
//  3. a SIMD kernel against the same kernel built without SIMD (kernel time inside the executor).
// Run: npm run bench -w @flock/worker-web   (needs `npm run build -w @flock/worker-web` first)
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startCoordinator } from '@flock/coordinator';
import { SimulatedVolunteer } from '@flock/coordinator/sim';
import { build } from 'vite';
import { launchChromium } from '../../../e2e/support/chromium.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const KEY = 'bench-key';
const JOBS = Number(process.env['FLOCK_BENCH_JOBS'] ?? 200);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)] ?? Number.NaN;

async function fixture(name: string) {
  const bytes = await readFile(join(ROOT, 'apps/worker-web/build/fixtures', `${name}.wasm`));
  return {
    bytes,
    base64: bytes.toString('base64'),
    hash: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
  };
}

const workDir = await mkdtemp(join(tmpdir(), 'flock-volunteer-bench-'));
await build({
  configFile: join(ROOT, 'vite.config.ts'),
  logLevel: 'warn',
  build: { outDir: join(workDir, 'pages') },
});
const coordinator = await startCoordinator({
  port: 0,
  dataDir: join(workDir, 'data'),
  pagesDir: join(workDir, 'pages'),
  apiKeys: new Map([[KEY, 'bench']]),
  logLevel: 'silent',
});

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${coordinator.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

function wasmTask(id: string, module: { base64: string; hash: string }, extra: Record<string, unknown> = {}) {
  return {
    task_id: id,
    op: 'bench',
    module: { kind: 'wasm', inline: module.base64, hash: module.hash, ...extra },
    requirements: { min: { wasm: true } },
  };
}

/** Submits `n` tasks as one campaign and returns the seconds until all succeeded. */
async function campaign(
  prefix: string,
  n: number,
  make: (id: string) => Record<string, unknown>,
): Promise<number> {
  const started = performance.now();
  const { campaign_id } = await api<{ campaign_id: string }>('POST', '/v1/campaigns', {
    tasks: Array.from({ length: n }, (_, i) => make(`${prefix}-${i}`)),
  });
  for (;;) {
    const { counts } = await api<{ counts: Record<string, number> }>('GET', `/v1/campaigns/${campaign_id}`);
    if ((counts['succeeded'] ?? 0) + (counts['failed'] ?? 0) >= n) {
      if (counts['failed']) throw new Error(`${counts['failed']} tasks of ${prefix} failed`);
      return (performance.now() - started) / 1000;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Waits for success; returns the result's metrics plus its duration_ms (job build + executor, in the tab). */
async function waitSucceeded(id: string): Promise<Record<string, string>> {
  for (;;) {
    const view = await api<{ state: string; failure?: unknown }>('GET', `/v1/tasks/${id}`);
    if (view.state === 'succeeded') {
      const result = await api<{ metrics?: Record<string, string>; duration_ms?: number }>(
        'GET',
        `/v1/tasks/${id}/result`,
      );
      return { ...result.metrics, duration_ms: String(result.duration_ms ?? 0) };
    }
    if (view.state === 'failed') throw new Error(`${id} failed: ${JSON.stringify(view.failure)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const browser = await launchChromium({ webgpu: false });
try {
  const page = await browser.newPage();
  await page.goto(`${coordinator.url}/`);
  await page.waitForSelector('body[data-ready="true"]');
  await page.click('#start');
  await page.waitForFunction("document.querySelector('#connection')?.textContent === 'open'");
  const empty = await fixture('empty');

  // 1. Per-job overhead, one job at a time (a warm-up job first: compile caches, IndexedDB).
  await waitSucceeded((await api<{ task_id: string }>('POST', '/v1/tasks', wasmTask('warm', empty))).task_id);
  const executorMs: number[] = [];
  for (let i = 0; i < 50; i++) {
    await api('POST', '/v1/tasks', wasmTask(`seq-${i}`, empty));
    executorMs.push(Number((await waitSucceeded(`seq-${i}`))['duration_ms']));
  }
  const overhead = ((await page.evaluate('flockVolunteer.timings()')) as number[]).slice(-50);
  // A string, not a function: tsx's transform would add helpers the page does not have.
  const baseline = (await page.evaluate(`(async () => {
    const bytes = Uint8Array.from(atob(${JSON.stringify(empty.base64)}), (c) => c.charCodeAt(0));
    const module = await WebAssembly.compile(bytes);
    const stub = new Proxy({}, { get: () => () => 0 });
    const times = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      const instance = await WebAssembly.instantiate(module, { wasi_snapshot_preview1: stub });
      instance.exports._start();
      times.push(performance.now() - t);
    }
    return times;
  })()`)) as number[];

  // 2. Throughput of one tab (cpu slots = cores − 1 of the browser) on a campaign of empty jobs.
  const slots = (await page.evaluate('navigator.hardwareConcurrency - 1 || 1')) as number;
  const tabSeconds = await campaign('tab', JOBS, (id) => wasmTask(id, empty));

  // 3. SIMD vs scalar: the same C kernel, 1 Mi f32 elements, kernel time inside the executor.
  const simd = await fixture('kernel-poly-simd');
  const scalar = await fixture('kernel-poly-scalar');
  const xs = new Float32Array(1 << 19).map((_, i) => ((i % 1000) - 500) / 1000);
  const input = Buffer.from(xs.buffer).toString('base64');
  const kernelMs: Record<string, number[]> = { simd: [], scalar: [] };
  for (let round = 0; round < 13; round++) {
    for (const [name, module] of [
      ['simd', simd],
      ['scalar', scalar],
    ] as const) {
      const id = `k-${name}-${round}`;
      await api('POST', '/v1/tasks', {
        ...wasmTask(id, module, { abi: 'kernel' }),
        inputs: [{ name: 'x', inline_bytes: input }],
      });
      const metrics = await waitSucceeded(id);
      if (round > 0) kernelMs[name]!.push(Number(metrics['kernel_ms']));
    }
  }
  await page.close();

  // Baseline for 2: the simulated volunteer (protocol only, no executor) on the same campaign.
  const sim = await SimulatedVolunteer.connect({ url: coordinator.url, capability: { cpu_slots: slots } });
  const simSeconds = await campaign('sim', JOBS, (id) => wasmTask(id, empty));
  await sim.close();

  const overheadMedian = median(overhead);
  const baselineMedian = median(baseline);
  const simdMedian = median(kernelMs['simd']!);
  const scalarMedian = median(kernelMs['scalar']!);
  console.log(
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}, headless Chromium`,
  );
  console.log('1. empty WASI job, assignment frame -> result frame (in the tab, n=50):');
  console.log(`   median ${overheadMedian.toFixed(2)} ms, p95 ${p95(overhead).toFixed(2)} ms`);
  console.log(
    `   of which job build + executor Worker round trip (duration_ms): median ${median(executorMs)} ms`,
  );
  console.log(`   baseline instantiate+_start in the page: median ${baselineMedian.toFixed(3)} ms`);
  console.log(`   ratio overhead/baseline: ${(overheadMedian / baselineMedian).toFixed(1)}x`);
  console.log(
    `2. one tab, ${slots} CPU slot(s), campaign of ${JOBS} empty jobs: ${(JOBS / tabSeconds).toFixed(1)} jobs/s`,
  );
  console.log(
    `   simulated volunteer (protocol floor), same campaign: ${(JOBS / simSeconds).toFixed(1)} jobs/s`,
  );
  console.log(`   ratio tab/sim: ${(simSeconds / tabSeconds).toFixed(2)}`);
  console.log(
    `3. kernel-poly over ${xs.length} f32 (12 runs each): simd ${simdMedian.toFixed(2)} ms, scalar ${scalarMedian.toFixed(2)} ms`,
  );
  console.log(`   runs (ms): simd ${kernelMs['simd']!.join(' ')} | scalar ${kernelMs['scalar']!.join(' ')}`);
  console.log(
    `   speed-up simd vs scalar: ${(scalarMedian / simdMedian).toFixed(2)}x by medians, ${(
      Math.min(...kernelMs['scalar']!) / Math.min(...kernelMs['simd']!)
    ).toFixed(2)}x by best runs`,
  );
} finally {
  await browser.close();
  await coordinator.close();
  await rm(workDir, { recursive: true, force: true });
}
