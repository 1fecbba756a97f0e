// The volunteer page's GPU slot in real headless Chromium (WebGPU on SwiftShader) against a real
// coordinator: WGSL shaders, dispatches split into chunks, built-in ops, a lost device, timeouts
// that keep or end a device, buffers past the adapter's limits and shader compile errors, each
// with its exact outcome while the tab goes on working. (The page, WASI, modules and delivery are
// in volunteer.spec.ts.)
import { type Browser, expect, type Page, test } from '@playwright/test';
import { launchChromium } from '../support/chromium.ts';
import { openVolunteerTab } from '../support/volunteer-tab.ts';
import { saxpyTask } from '../support/wgsl-tasks.ts';
import { Harness, outputBytes, taskId } from './volunteer-harness.ts';

test.describe.configure({ mode: 'serial' });

let harness: Harness;
let browser: Browser;
let page: Page;

const b64 = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64');

test.beforeAll(async () => {
  harness = await Harness.start();
  browser = await launchChromium({ webgpu: true });
  page = (await openVolunteerTab(browser, `${harness.url}/`)).page;
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') console.log(`[tab] ${message.text()}`);
  });
});

test.afterAll(async () => {
  await browser?.close();
  await harness?.close();
});

const DOUBLE_SHADER = `@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x < arrayLength(&src)) { dst[id.x] = src[id.x] * 2u + 1u; }
}
`;

function wgslTask(id: string, source: string, n: number, extra: Record<string, unknown> = {}) {
  const src = new Uint32Array(n).map((_, i) => i);
  return {
    task_id: id,
    op: 'double',
    module: { kind: 'wgsl', inline: b64(source), entry: 'main', workgroups: [Math.ceil(n / 64)] },
    requirements: { min: { webgpu: true } },
    inputs: [{ name: 'src', inline_bytes: b64(new Uint8Array(src.buffer)) }],
    buffers: [
      { name: 'src', group: 0, binding: 0, access: 'read' },
      { name: 'dst', group: 0, binding: 1, access: 'read_write', size: n * 4 },
    ],
    ...extra,
  };
}

test('a WGSL shader runs on SwiftShader', async () => {
  const id = taskId('wgsl');
  await harness.submit(wgslTask(id, DOUBLE_SHADER, 1000));
  const view = await harness.waitFor(id, 'succeeded');
  expect(view.executor).toBe('wgsl');
  const out = new Uint32Array(new Uint8Array(outputBytes(await harness.result(id), 'dst')).buffer);
  expect(out.length).toBe(1000);
  expect([...out]).toEqual([...Array(1000).keys()].map((i) => i * 2 + 1));
});

const CHUNKED_SHADER = `struct Base { first: vec4<u32> }
@group(0) @binding(0) var<uniform> base: Base;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (base.first.x + wg.x) * 64u + li;
  var acc = i;
  for (var k = 0u; k < ITERATIONS; k++) { acc = acc * 1664525u + 1013904223u; }
  if (i < arrayLength(&dst)) { dst[i] = select(acc, i * 3u, ITERATIONS == 0u); }
}
`;

function chunkedTask(
  id: string,
  workgroups: number,
  iterations: number,
  extra: Record<string, unknown> = {},
) {
  return {
    task_id: id,
    op: 'chunked',
    module: {
      kind: 'wgsl',
      inline: b64(CHUNKED_SHADER.replaceAll('ITERATIONS', `${iterations}u`)),
      entry: 'main',
      workgroups: [workgroups],
    },
    requirements: { min: { webgpu: true } },
    buffers: [
      { name: 'flock_dispatch_base', group: 0, binding: 0, access: 'uniform', size: 16 },
      { name: 'dst', group: 0, binding: 1, access: 'read_write', size: workgroups * 64 * 4 },
    ],
    params: { chunk_workgroups: 1 },
    ...extra,
  };
}

test('a long dispatch is split into chunks, each told its first workgroup', async () => {
  const id = taskId('chunks');
  await harness.submit(chunkedTask(id, 10, 0));
  await harness.waitFor(id, 'succeeded');
  const result = await harness.result(id);
  expect(result.summary).toMatchObject({ chunks: '10' });
  const out = new Uint32Array(new Uint8Array(outputBytes(result, 'dst')).buffer);
  expect([...out]).toEqual([...Array(640).keys()].map((i) => i * 3));
});

test('a built-in op runs through @flock/shaders on the GPU slot', async () => {
  const id = taskId('saxpy');
  const x = new Float32Array(300).map((_, i) => i);
  const y = new Float32Array(300).fill(0.5);
  await harness.submit(saxpyTask(id, x, y, 2));
  const view = await harness.waitFor(id, 'succeeded');
  expect(view.executor).toBe('builtin:wgsl');
  const out = new Float32Array(new Uint8Array(outputBytes(await harness.result(id), 'out')).buffer);
  expect([...out]).toEqual([...x].map((v) => v * 2 + 0.5));
});

test('a lost GPU device fails the job DEVICE_LOST, the task is requeued and runs on a new device', async () => {
  const id = taskId('lost');
  await harness.submit(
    chunkedTask(id, 400, 20_000, { requirements: { min: { webgpu: true }, qos: { retries: 2 } } }),
  );
  await expect.poll(async () => (await harness.task(id)).progress?.pct ?? 0).toBeGreaterThan(0);
  await page.evaluate(() =>
    (
      globalThis as unknown as { flockVolunteer: { loseDevice(): Promise<void> } }
    ).flockVolunteer.loseDevice(),
  );
  const view = await harness.waitFor(id, 'succeeded', 60_000);
  expect(view.attempts.map((a) => a.code ?? a.outcome)).toEqual(['DEVICE_LOST', 'succeeded']);
});

test('a WGSL job past its timeout stops between chunks and keeps its device', async () => {
  const id = taskId('gpu-timeout');
  const task = chunkedTask(id, 400, 20_000);
  await harness.submit({ ...task, module: { ...task.module, permissions: { timeout_ms: 300 } } });
  const view = await harness.waitFor(id, 'failed');
  expect(view.failure).toEqual({
    code: 'TIMEOUT',
    message: 'WGSL job ran past 300 ms; stopped between chunks',
  });
  const next = taskId('gpu-after-timeout');
  await harness.submit(chunkedTask(next, 4, 0));
  await harness.waitFor(next, 'succeeded');
});

test('a WGSL dispatch that runs on past its timeout and grace ends with its executor; the next GPU job gets a new one', async () => {
  const id = taskId('gpu-stuck');
  // One dispatch of every workgroup, seconds long on SwiftShader: no chunk boundary to stop at, and
  // destroying the device does not interrupt it.
  const task = chunkedTask(id, 400, 100_000, { params: { chunk_workgroups: 400 } });
  await harness.submit({ ...task, module: { ...task.module, permissions: { timeout_ms: 300 } } });
  const view = await harness.waitFor(id, 'failed');
  expect(view.failure).toEqual({
    code: 'TIMEOUT',
    message:
      'job ran past its 300 ms timeout; it did not stop at a safe point, so its executor was terminated',
  });
  const next = taskId('gpu-after-stuck');
  await harness.submit(chunkedTask(next, 4, 0));
  await harness.waitFor(next, 'succeeded');
});

test('a buffer larger than the adapter allows fails BUFFER_TOO_LARGE before anything is allocated', async () => {
  const id = taskId('gpu-huge');
  const task = wgslTask(id, DOUBLE_SHADER, 64);
  task.buffers[1]!.size = 2 ** 34;
  await harness.submit({ ...task, module: { ...task.module, permissions: { max_output_bytes: 2 ** 35 } } });
  const view = await harness.waitFor(id, 'failed');
  // Retryable (a larger adapter may take it); with qos.retries 0 the coordinator stops there.
  expect(view.attempts.map((a) => a.code)).toEqual(['BUFFER_TOO_LARGE']);
  expect(view.failure?.code).toBe('RETRIES_EXHAUSTED');
  expect(view.failure?.message).toMatch(
    /^BUFFER_TOO_LARGE: buffer "dst" is 17179869184 bytes; this adapter allows \d+$/,
  );
});

test('a shader compile error reports its line', async () => {
  const id = taskId('wgsl-bad');
  const broken = DOUBLE_SHADER.replace(
    'dst[id.x] = src[id.x] * 2u + 1u;',
    'dst[id.x] = src[id.x] * undefined_thing;',
  );
  await harness.submit(wgslTask(id, broken, 64));
  const view = await harness.waitFor(id, 'failed');
  expect(view.failure?.code).toBe('SHADER_COMPILE');
  expect(view.failure?.message).toMatch(/^line 5:\d+: .*undefined_thing/);
});
