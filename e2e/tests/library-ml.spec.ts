// ml.* (#16) in real Chromium against a real coordinator: ONNX models built from source
// (@flock/libraries/models) and uploaded as modules (application/onnx); each tab fetches a model by
// hash, checks it and keeps it in IndexedDB, and runs it on onnxruntime-web: with the WebGPU
// provider (SwiftShader) where the task asks for WebGPU, with the WASM provider where it does not
// (SwiftShader is a fallback adapter, so `auto` keeps to WASM) or the tab has no WebGPU. Both
// agree with onnxruntime-node (the reference) within ml.infer's tolerance, over a 1,000-inference
// campaign on three tabs too; a device lost mid-run is retried on WASM; unfit models and tensors
// fail with typed codes; a tab that corrupts its outputs never gets a verified result accepted.
// The `[ml]` lines print the measured differences and timings (docs/ml.md records them).
import { getMethod } from '@flock/libraries';
import { exampleValues, writeNpy, zooFiles } from '@flock/libraries/models';
import { runReference } from '@flock/libraries/reference';
import { type Browser, expect, test } from '@playwright/test';
import { launchChromium } from '../support/chromium.ts';
import { openVolunteerTab, type VolunteerTab } from '../support/volunteer-tab.ts';
import { Harness, type ResultView, type TaskView, taskId } from './volunteer-harness.ts';

test.describe.configure({ mode: 'serial' });

const ZOO = zooFiles();
/** ml.infer's comparison bounds (ML_TOLERANCE). */
const TOLERANCE = getMethod('ml.infer').compare as { kind: 'tensors'; atol: number; rtol: number };
const IMAGE = [1, 28, 28];
let harness: Harness;
let gpuBrowser: Browser;
let wasmBrowser: Browser;
let gpuTab: VolunteerTab;
let wasmTab: VolunteerTab;
/** `flock:sha256:<hex>` of each uploaded model, by zoo file name. */
const models: Record<string, string> = {};

test.beforeAll(async () => {
  harness = await Harness.start();
  [gpuBrowser, wasmBrowser] = await Promise.all([
    launchChromium({ webgpu: true }),
    launchChromium({ webgpu: false }),
  ]);
  for (const name of ['cnn.onnx', 'mlp.onnx', 'pair.onnx', 'unsupported-op.onnx']) {
    models[name] = await harness.uploadModule(ZOO[name]!, 'application/onnx');
  }
});

test.afterAll(async () => {
  await gpuBrowser?.close();
  await wasmBrowser?.close();
  await harness?.close();
});

/** Polls until the task is final (succeeded, failed or cancelled) and returns its view. */
async function settled(id: string, timeout = 60_000): Promise<TaskView> {
  let view: TaskView | undefined;
  await expect
    .poll(
      async () => {
        view = await harness.task(id);
        return ['succeeded', 'failed', 'cancelled'].includes(view.state);
      },
      { timeout, message: `task ${id} to end` },
    )
    .toBe(true);
  return view!;
}

/** Waits for the task to succeed; a failure shows its code and message. */
async function succeeded(id: string, timeout = 60_000): Promise<TaskView> {
  const view = await settled(id, timeout);
  expect(view.state, JSON.stringify(view.failure ?? view.attempts)).toBe('succeeded');
  return view;
}

/** `n` images of the CNN (float32 [n,1,28,28]) from `seed`. */
function images(n: number, seed: number): Uint8Array {
  return new Uint8Array(exampleValues(n * 784, seed).buffer);
}

/** One tensor input of a task: float32 of `shape`, inline `bytes` or an uploaded blob's `uri`. */
type TensorInput = { name: string; shape: number[] } & ({ bytes: Uint8Array } | { uri: string });

/** An ml.infer task envelope of `model` over float32 `inputs`. */
function mlTask(id: string, model: string, inputs: TensorInput[], extra: Record<string, unknown> = {}) {
  return {
    task_id: id,
    op: 'ml.infer',
    module: { kind: 'library' },
    params: { model: models[model], execution: 'auto' },
    requirements: { min: { wasm: true } },
    inputs: inputs.map((i) => ({
      name: i.name,
      content_type: 'application/octet-stream',
      ...('uri' in i ? { uri: i.uri } : { inline_bytes: Buffer.from(i.bytes).toString('base64') }),
      tensor: { dtype: 'float32', shape: i.shape },
    })),
    ...extra,
  };
}

/** An ml.infer task of the CNN over `n` images from `seed`. */
function inferTask(id: string, n: number, seed: number, extra: Record<string, unknown> = {}) {
  return mlTask(id, 'cnn.onnx', [{ name: 'image', bytes: images(n, seed), shape: [n, ...IMAGE] }], extra);
}

/** The reference's logits of `n` images from `seed`. */
async function referenceLogits(n: number, seed: number): Promise<Float32Array> {
  const result = await runReference(
    'ml.infer',
    { model: models['cnn.onnx'] },
    [
      {
        name: 'image',
        contentType: 'application/octet-stream',
        bytes: images(n, seed),
        tensor: { dtype: 'float32', shape: [n, ...IMAGE] },
      },
    ],
    { models: (hash) => (`flock:${hash}` === models['cnn.onnx'] ? ZOO['cnn.onnx'] : undefined) },
  );
  return floats(result.outputs[0]!.bytes);
}

function floats(bytes: Uint8Array): Float32Array {
  return new Float32Array(bytes.slice().buffer);
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  return a.reduce((max, v, i) => Math.max(max, Math.abs(v - b[i]!)), 0);
}

/** Every element within ml.infer's tolerance (|a-b| <= atol + rtol*|b|). */
function expectClose(got: Float32Array, want: Float32Array): void {
  expect(got.length).toBe(want.length);
  const off = [...got].findIndex(
    (v, i) => !(Math.abs(v - want[i]!) <= TOLERANCE.atol + TOLERANCE.rtol * Math.abs(want[i]!)),
  );
  expect(off, `element ${off}: ${got[off]} vs ${want[off]}`).toBe(-1);
}

/** The logits of an ml.infer result of `n` images: a raw float32 [n,10] tensor output. */
async function logitsOf(result: ResultView, n: number): Promise<Float32Array> {
  expect(result.outputs?.find((o) => o.name === 'logits')).toMatchObject({
    content_type: 'application/octet-stream',
    tensor: { dtype: 'float32', shape: [n, 10] },
  });
  return floats(await harness.output(result, 'logits'));
}

/** Median of `values`. */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

test('the CNN on a WASM-only tab, a WebGPU (SwiftShader) tab and onnxruntime-node agree within ML_TOLERANCE', async () => {
  const n = 4;
  const seed = 7;
  const want = await referenceLogits(n, seed);

  wasmTab = await openVolunteerTab(wasmBrowser, `${harness.url}/`);
  const onWasm = taskId('ml-wasm');
  let from = Date.now();
  await harness.submit(inferTask(onWasm, n, seed));
  await succeeded(onWasm);
  const wasmResult = await harness.result(onWasm);
  console.log(
    `[ml] wasm tab, first job: ${Date.now() - from} ms, library_ms ${wasmResult.metrics?.['library_ms']}`,
  );
  expect(wasmResult.summary?.['execution_provider']).toBe('wasm');
  // The tab keeps the model in IndexedDB and says so (the scheduler prefers tabs holding it).
  await expect
    .poll(async () => {
      const { body } = await harness.api<{
        workers: Array<{ worker_id: string; capability: { cached_modules?: string[] } }>;
      }>('GET', '/v1/workers');
      return body.workers.find((w) => w.worker_id === wasmTab.workerId)?.capability.cached_modules;
    })
    .toEqual([models['cnn.onnx']!.slice('flock:'.length)]);

  gpuTab = await openVolunteerTab(gpuBrowser, `${harness.url}/`);
  const onGpu = taskId('ml-gpu');
  from = Date.now();
  await harness.submit(inferTask(onGpu, n, seed, { requirements: { min: { webgpu: true } } }));
  await succeeded(onGpu);
  const gpuResult = await harness.result(onGpu);
  console.log(
    `[ml] webgpu tab, first job: ${Date.now() - from} ms, library_ms ${gpuResult.metrics?.['library_ms']}`,
  );
  expect(gpuResult.summary?.['execution_provider']).toBe('webgpu');

  const wasm = await logitsOf(wasmResult, n);
  const gpu = await logitsOf(gpuResult, n);
  expectClose(wasm, want);
  expectClose(gpu, want);
  console.log(
    `[ml] max |diff| cnn [${n},1,28,28]: wasm-reference ${maxDiff(wasm, want).toExponential(2)}, ` +
      `webgpu-reference ${maxDiff(gpu, want).toExponential(2)}, webgpu-wasm ${maxDiff(gpu, wasm).toExponential(2)}`,
  );
});

test('.npy inputs without a TensorSpec are read from their header in the tab (a view of shared memory) and agree with the reference', async () => {
  const n = 3;
  const seed = 11;
  const want = await referenceLogits(n, seed);
  const npy = writeNpy({ dtype: 'float32', shape: [n, ...IMAGE] }, images(n, seed));
  const id = taskId('ml-npy');
  await harness.submit({
    task_id: id,
    op: 'ml.infer',
    module: { kind: 'library' },
    params: { model: models['cnn.onnx'] },
    requirements: { min: { wasm: true } },
    inputs: [{ name: 'digits.npy', inline_bytes: Buffer.from(npy).toString('base64') }],
  });
  await succeeded(id);
  const result = await harness.result(id);
  expect(result.summary?.['batch']).toBe(String(n));
  expectClose(await logitsOf(result, n), want);
  // A cut one is refused for what it is, and the tab serves the next job.
  const cut = taskId('ml-npy-cut');
  await harness.submit({
    task_id: cut,
    op: 'ml.infer',
    module: { kind: 'library' },
    params: { model: models['cnn.onnx'] },
    requirements: { min: { wasm: true } },
    inputs: [{ name: 'digits.npy', inline_bytes: Buffer.from(npy.subarray(0, 1000)).toString('base64') }],
  });
  const view = await settled(cut);
  expect([view.failure?.code, view.attempts.length]).toEqual(['INVALID_INPUT', 1]);
  expect(view.failure?.message).toMatch(/^inputs\[0\]: /);
});

/** Presses Pause (`paused: true`) or Resume on a tab and waits until its capability says so. */
async function setPaused(tab: VolunteerTab, paused: boolean): Promise<void> {
  await tab.page.getByRole('button', { name: paused ? 'Pause' : 'Resume' }).click();
  await expect
    .poll(async () => {
      const { body } = await harness.api<{
        workers: Array<{ worker_id: string; capability: { paused?: boolean } }>;
      }>('GET', '/v1/workers');
      return body.workers.find((w) => w.worker_id === tab.workerId)?.capability.paused ?? false;
    })
    .toBe(paused);
}

test('on the SwiftShader tab (a fallback adapter) auto runs on WASM unless the task asks for WebGPU; execution "webgpu" runs on WebGPU', async () => {
  // The WASM tab is paused, so every task goes to the SwiftShader tab.
  await setPaused(wasmTab, true);
  const n = 10;
  const cnn = models['cnn.onnx'];
  const variants = [
    { name: 'auto', extra: {}, provider: 'wasm' },
    { name: 'auto, min.webgpu', extra: { requirements: { min: { webgpu: true } } }, provider: 'webgpu' },
    { name: 'webgpu', extra: { params: { model: cnn, execution: 'webgpu' } }, provider: 'webgpu' },
  ];
  const warmMs = new Map<string, number[]>();
  for (let round = 0; round < 5; round++) {
    for (const [v, variant] of variants.entries()) {
      const id = taskId(`ml-fallback-${v}`);
      const seed = 3000 + round;
      await harness.submit(inferTask(id, n, seed, variant.extra));
      const view = await succeeded(id);
      const result = await harness.result(id);
      expect([view.attempts.at(-1)?.worker_id, result.summary?.['execution_provider']]).toEqual([
        gpuTab.workerId,
        variant.provider,
      ]);
      expectClose(await logitsOf(result, n), await referenceLogits(n, seed));
      if (result.metrics?.['library_warm'] === '1')
        warmMs.set(variant.name, [...(warmMs.get(variant.name) ?? []), Number(result.metrics['library_ms'])]);
    }
  }
  await setPaused(wasmTab, false);
  const warm = (name: string) => median(warmMs.get(name) ?? []).toFixed(1);
  console.log(
    `[ml] SwiftShader tab, warm job of ${n} images, median library_ms: auto (wasm) ${warm('auto')}, ` +
      `auto with min.webgpu ${warm('auto, min.webgpu')}, execution webgpu ${warm('webgpu')}`,
  );
});

test('an output too large for one frame is streamed and keeps its TensorSpec', async () => {
  // 5,000 rows of the MLP: 1.28 MB of features in (uploaded), 640 KB of embeddings out, over half
  // a frame, so the tab streams it and the coordinator stores it as a blob.
  const n = 5000;
  const features = new Uint8Array(exampleValues(n * 64, 21).buffer);
  const uri = await harness.uploadBlob(features);
  const id = taskId('ml-streamed');
  await harness.submit(
    mlTask(id, 'mlp.onnx', [{ name: 'features', uri, shape: [n, 64] }], {
      requirements: { min: { webgpu: true } },
    }),
  );
  await succeeded(id);
  const result = await harness.result(id);
  const out = result.outputs?.find((o) => o.name === 'embedding');
  expect(out).toMatchObject({ tensor: { dtype: 'float32', shape: [n, 32] }, size: n * 32 * 4 });
  expect(out?.uri).toMatch(/^\/v1\/blobs\/sha256:[0-9a-f]{64}$/);
  const reference = await runReference(
    'ml.infer',
    { model: models['mlp.onnx'] },
    [{ name: 'features', contentType: '', bytes: features, tensor: { dtype: 'float32', shape: [n, 64] } }],
    { models: () => ZOO['mlp.onnx'] },
  );
  expectClose(floats(await harness.output(result, 'embedding')), floats(reference.outputs[0]!.bytes));
});

/** The worker ids that ran the tasks' succeeded attempts, with how many each ran. */
function ranBy(views: TaskView[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const view of views) {
    const attempt = view.attempts.find((a) => a.outcome === 'succeeded');
    if (attempt) counts.set(attempt.worker_id, (counts.get(attempt.worker_id) ?? 0) + 1);
  }
  return counts;
}

async function campaign(tasks: unknown[], extra: Record<string, unknown> = {}): Promise<TaskView[]> {
  const created = await harness.api<{ campaign_id: string }>('POST', '/v1/campaigns', { tasks, ...extra });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const path = `/v1/campaigns/${created.body.campaign_id}`;
  await expect
    .poll(
      async () => {
        const { counts } = (await harness.api<{ counts: Record<string, number> }>('GET', path)).body;
        return (counts['succeeded'] ?? 0) + (counts['failed'] ?? 0) + (counts['cancelled'] ?? 0);
      },
      { timeout: 60_000, intervals: [250], message: 'campaign to end' },
    )
    .toBe(tasks.length);
  const { body } = await harness.api<{ counts: Record<string, number>; tasks: TaskView[] }>('GET', path);
  expect(body.counts).toMatchObject({ succeeded: tasks.length, failed: 0 });
  return body.tasks;
}

test('a campaign of 1,000 inferences (100 tasks of 10 images) over three tabs: all succeed and agree with the reference', async () => {
  const third = await openVolunteerTab(wasmBrowser, `${harness.url}/`);
  const batch = 10;
  const ids = Array.from({ length: 100 }, (_, i) => `ml-campaign-${i}`);
  const from = Date.now();
  const views = await campaign(ids.map((id, i) => inferTask(id, batch, 1000 + i)));
  console.log(`[ml] 1,000 inferences on three tabs: ${Date.now() - from} ms`);
  const counts = ranBy(views);
  console.log(
    `[ml] tasks per tab: SwiftShader ${counts.get(gpuTab.workerId)}, wasm ${counts.get(wasmTab.workerId)}, ` +
      `wasm (cold) ${counts.get(third.workerId)}`,
  );
  for (const tab of [gpuTab, wasmTab, third]) expect(counts.get(tab.workerId) ?? 0).toBeGreaterThan(0);
  expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(ids.length);
  const warmMs = new Map<string, number[]>();
  for (const [i, id] of ids.entries()) {
    const result = await harness.result(id);
    // `auto` on a task that does not ask for WebGPU: WASM on the SwiftShader tab too.
    expect(result.summary?.['execution_provider']).toBe('wasm');
    expectClose(await logitsOf(result, batch), await referenceLogits(batch, 1000 + i));
    const worker = views.find((v) => v.task_id === id)!.attempts.at(-1)!.worker_id;
    if (result.metrics?.['library_warm'] === '1')
      warmMs.set(worker, [...(warmMs.get(worker) ?? []), Number(result.metrics['library_ms'])]);
  }
  const warm = (tab: VolunteerTab) => median(warmMs.get(tab.workerId) ?? []).toFixed(1);
  console.log(
    `[ml] warm job of 10 images, median library_ms: SwiftShader tab (auto: wasm) ${warm(gpuTab)}, wasm ${warm(wasmTab)}, ` +
      `wasm (cold at start) ${warm(third)}`,
  );
  await third.context.close();
});

test('a GPU device lost while a WebGPU ml job runs fails it DEVICE_LOST; the retry runs on WASM and agrees', async () => {
  // The GPU tab's WebGPU ml session is warm (it ran the first test's job and the fallback test's).
  const n = 4096;
  const id = taskId('ml-lost');
  // 12.8 MB of images (a GPU run long enough to lose the device in): uploaded, and named by uri with their TensorSpec.
  const uri = await harness.uploadBlob(images(n, 11));
  await harness.submit(
    mlTask(id, 'cnn.onnx', [{ name: 'image', uri, shape: [n, ...IMAGE] }], {
      requirements: { min: { webgpu: true }, qos: { retries: 2 } },
    }),
  );
  // 10%: the session is ready and the batch runs on the GPU.
  await expect.poll(async () => (await harness.task(id)).progress?.pct ?? 0, { intervals: [25] }).toBe(10);
  await gpuTab.page.evaluate(() =>
    (
      globalThis as unknown as { flockVolunteer: { loseDevice(): Promise<void> } }
    ).flockVolunteer.loseDevice(),
  );
  const view = await succeeded(id);
  const result = await harness.result(id);
  // The only WebGPU tab ran both attempts; ORT's device is gone, so `auto` ran the retry on WASM.
  expect(view.attempts.map((a) => [a.worker_id, a.code ?? a.outcome])).toEqual([
    [gpuTab.workerId, 'DEVICE_LOST'],
    [gpuTab.workerId, 'succeeded'],
  ]);
  expect(result.summary?.['execution_provider']).toBe('wasm');
  expectClose(await logitsOf(result, n), await referenceLogits(n, 11));
});

test('an unsupported operator, a wrong input name and a wrong shape fail with typed codes; the tab serves the next job', async () => {
  const x = new Uint8Array(exampleValues(8, 3).buffer);
  const cases = [
    {
      task: mlTask(taskId('ml-bad-op'), 'unsupported-op.onnx', [{ name: 'x', bytes: x, shape: [2, 4] }]),
      code: 'UNSUPPORTED_OP',
      message: /^params\.model: the model uses operator FlockNoSuchOp, which this runtime does not have$/,
    },
    {
      task: mlTask(taskId('ml-bad-name'), 'pair.onnx', [
        { name: 'a', bytes: x, shape: [2, 4] },
        { name: 'c', bytes: x, shape: [2, 4] },
      ]),
      code: 'TENSOR_MISMATCH',
      message: /^inputs\[1\]: the model has no input "c" \(its inputs: a, b\)$/,
    },
    {
      task: mlTask(taskId('ml-bad-shape'), 'cnn.onnx', [
        { name: 'image', bytes: images(1, 5), shape: [1, 28, 28] },
      ]),
      code: 'TENSOR_MISMATCH',
      message: /^inputs\[0\]: input image has shape \[1,28,28\]; the model takes \["?N"?,1,28,28\]$/,
    },
  ];
  for (const c of cases) {
    await harness.submit({ ...c.task, requirements: { min: { webgpu: true }, qos: { retries: 2 } } });
    const view = await settled(c.task.task_id);
    expect(view.state).toBe('failed');
    expect(view.failure?.code).toBe(c.code);
    // The field at fault leads the message (the coordinator's task view).
    expect(view.failure?.message).toMatch(c.message);
    // Not retryable: one attempt, on the GPU tab.
    expect(view.attempts.map((a) => [a.worker_id, a.code])).toEqual([[gpuTab.workerId, c.code]]);
  }
  const next = taskId('ml-after-bad');
  await harness.submit(
    mlTask(
      next,
      'pair.onnx',
      [
        { name: 'b', bytes: x, shape: [2, 4] },
        { name: 'a', bytes: x, shape: [2, 4] },
      ],
      { requirements: { min: { webgpu: true } } },
    ),
  );
  await succeeded(next);
  const result = await harness.result(next);
  const sum = floats(await harness.output(result, 'sum'));
  expect([...sum]).toEqual([...exampleValues(8, 3)].map((v) => v + v));
});

test('a verified campaign where one tab corrupts its outputs never accepts a corrupted value', async () => {
  const liar = await openVolunteerTab(wasmBrowser, `${harness.url}/?flock_test=corrupt-outputs`);
  const honest = [gpuTab.workerId, wasmTab.workerId].sort();
  const ids = Array.from({ length: 6 }, (_, i) => `ml-verified-${i}`);
  const views = await campaign(
    ids.map((id, i) => inferTask(id, 1, 2000 + i)),
    {
      verification: {
        replicas: 2,
        quorum: 2,
        comparator: 'tolerance',
        abs_tolerance: TOLERANCE.atol,
        rel_tolerance: TOLERANCE.rtol,
        max_replicas: 3,
      },
    },
  );
  for (const [i, id] of ids.entries()) {
    const view = views.find((v) => v.task_id === id) as TaskView & {
      verification?: { state: string; agreeing: number; workers: string[] };
    };
    expect(view.verification).toMatchObject({ state: 'accepted', agreeing: 2 });
    expect([...view.verification!.workers].sort()).toEqual(honest);
    expectClose(await logitsOf(await harness.result(id), 1), await referenceLogits(1, 2000 + i));
  }
  // The liar's first assignment was a known-answer check of the model: its corrupted logits failed it.
  await expect
    .poll(async () => {
      const { body } = await harness.api<{ workers: Array<Record<string, unknown>> }>('GET', '/v1/workers');
      const w = body.workers.find((x) => x['worker_id'] === liar.workerId) ?? {};
      return {
        quarantined: w['quarantined'],
        checks_failed: w['checks_failed'],
        valid_results: w['valid_results'],
      };
    })
    .toEqual({ quarantined: true, checks_failed: 1, valid_results: 0 });
  await liar.context.close();
});
