// Capability routing across real tabs on one coordinator: a task that needs `shader_f16` is
// never given to the SwiftShader tabs (SwiftShader has no shader-f16) and shows why it waits, in
// the API and on the dashboard; in a mixed set of four tabs (two with WebGPU, two launched with
// WebGPU disabled) WGSL tasks go only to the WebGPU tabs, and WASM tasks run on all of them.
import type { Browser } from '@playwright/test';
import { launchChromium } from '../../support/chromium.ts';
import { expect, test } from '../../support/flock-test.ts';
import { openVolunteerTab, type VolunteerTab } from '../../support/volunteer-tab.ts';
import { doubleShaderAnswer, doubleShaderTask, u32s } from '../../support/wgsl-tasks.ts';
import { Harness, KEY, outputBytes, taskId, wasmFixture, wasmTask } from '../volunteer-harness.ts';

test.describe.configure({ mode: 'serial' });

let harness: Harness;
let wasmOnlyBrowser: Browser | undefined;
const gpuTabs: VolunteerTab[] = [];
const wasmTabs: VolunteerTab[] = [];
const f16Task = taskId('needs-f16');

test.beforeAll(async ({ browser }) => {
  harness = await Harness.start();
  for (let i = 0; i < 2; i++) gpuTabs.push(await openVolunteerTab(browser, `${harness.url}/`));
});

test.afterAll(async () => {
  for (const tab of [...gpuTabs, ...wasmTabs]) await tab.context.close();
  await wasmOnlyBrowser?.close();
  await harness?.close();
});

test('a task needing shader_f16 is never given to a SwiftShader tab and says why it waits', async ({
  browser,
}) => {
  await harness.submit(
    doubleShaderTask(f16Task, 64, { min: { webgpu: true, gpu: { features: ['shader_f16'] } } }),
  );
  // A plain WGSL task submitted after it runs at once: the scheduler went round and passed it by.
  const plain = taskId('no-f16');
  await harness.submit(doubleShaderTask(plain, 64, { min: { webgpu: true } }));
  await harness.waitFor(plain, 'succeeded');
  const reason = 'no connected worker meets requirements.min.gpu.features shader_f16 (2 connected)';
  const view = await harness.task(f16Task);
  expect(view.state).toBe('queued');
  expect(view.attempts).toEqual([]);
  expect((view as { waiting_reason?: string }).waiting_reason).toBe(reason);

  const context = await browser.newContext();
  try {
    const dashboard = await context.newPage();
    await dashboard.goto(`${harness.url}/dashboard/`);
    await dashboard.getByLabel('API key').fill(KEY);
    await dashboard.getByRole('button', { name: 'Sign in' }).click();
    await dashboard.goto(`${harness.url}/dashboard/#/task/${encodeURIComponent(f16Task)}`);
    await expect(dashboard.locator('.section-head .badge')).toHaveText('queued');
    await expect(dashboard.locator('[data-fact="Waiting because"]')).toHaveText(reason);
  } finally {
    await context.close();
  }
});

test('in a mixed set of four tabs, WGSL goes only to the WebGPU tabs', async () => {
  wasmOnlyBrowser = await launchChromium({ webgpu: false });
  for (let i = 0; i < 2; i++) wasmTabs.push(await openVolunteerTab(wasmOnlyBrowser, `${harness.url}/`));
  const { body } = await harness.api<{
    workers: Array<{ worker_id: string; connected: boolean; capability: { webgpu?: boolean } }>;
  }>('GET', '/v1/workers');
  const webgpuOf = new Map(
    body.workers.filter((w) => w.connected).map((w) => [w.worker_id, w.capability.webgpu ?? false]),
  );
  expect(webgpuOf).toEqual(
    new Map([
      ...gpuTabs.map((t) => [t.workerId, true] as const),
      ...wasmTabs.map((t) => [t.workerId, false] as const),
    ]),
  );

  const echo = await wasmFixture('wasi-echo');
  const wgslIds = Array.from({ length: 6 }, () => taskId('mixed-wgsl'));
  const wasmIds = Array.from({ length: 6 }, () => taskId('mixed-wasm'));
  // Interleaved, all at once: every tab is free, so only routing keeps WGSL off the WASM-only tabs.
  const tasks = wgslIds.flatMap((id, i) => [
    doubleShaderTask(id, 640, { min: { webgpu: true } }),
    wasmTask(wasmIds[i]!, echo, { params: { args: [String(i)] } }),
  ]);
  expect((await harness.api('POST', '/v1/campaigns', { tasks })).status).toBe(201);

  const ranOn = async (id: string): Promise<string> => {
    const view = await harness.waitFor(id, 'succeeded');
    expect(view.attempts).toHaveLength(1);
    return view.attempts[0]!.worker_id;
  };
  for (const id of wgslIds) {
    expect(webgpuOf.get(await ranOn(id))).toBe(true);
    const out = outputBytes(await harness.result(id), 'dst');
    expect(u32s(out)).toEqual(doubleShaderAnswer(640));
  }
  const wasmWorkers = new Set<string>();
  for (const [i, id] of wasmIds.entries()) {
    wasmWorkers.add(await ranOn(id));
    expect(outputBytes(await harness.result(id), 'stdout').toString()).toMatch(
      new RegExp(`^argc=2 arg1=${i}\\n`),
    );
  }
  // The WASM-only tabs were not idle: WASM work went to them.
  expect([...wasmWorkers].some((w) => webgpuOf.get(w) === false)).toBe(true);
  // And the shader_f16 task is still waiting: no tab in the set has the feature.
  const f16 = await harness.task(f16Task);
  expect(f16.state).toBe('queued');
  expect(f16.attempts).toEqual([]);
});
