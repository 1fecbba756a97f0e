// The full flow on every browser/GPU configuration (one Playwright project per profile, see
// playwright.config.ts): a coordinator with a fresh data dir on a random port, volunteer tabs
// that open the page and press Start as a person would, tasks submitted through the REST API and
// through the dashboard, and every result checked against its CPU reference. What a profile
// cannot do (WGSL without WebGPU, shared memory without isolation) is never assigned and says why.
import type { Browser, Page } from '@playwright/test';
import { expect, PROFILES, type Profile, test } from '../../support/flock-test.ts';
import { describeAdapter, isHardwareAdapter, probeBrowserAdapter } from '../../support/gpu-adapter.ts';
import { type PageProxy, startPageProxy } from '../../support/page-proxy.ts';
import { builtinEnvelope, measureAgainstReference, referenceCalls } from '../../support/reference-ops.ts';
import { openVolunteerTab, type VolunteerTab } from '../../support/volunteer-tab.ts';
import { doubleShaderAnswer, doubleShaderTask, u32s } from '../../support/wgsl-tasks.ts';
import {
  Harness,
  KEY,
  outputBytes,
  type ResultView,
  taskId,
  wasmFixture,
  wasmTask,
} from '../volunteer-harness.ts';

test.describe.configure({ mode: 'serial' });

let profile: Profile;
let harness: Harness;
let proxy: PageProxy | undefined;
let tabs: VolunteerTab[] = [];

const b64 = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString('base64');

interface CampaignView {
  campaign_id: string;
  counts: { queued: number; running: number; succeeded: number; failed: number; cancelled: number };
  tasks: Array<{ task_id: string; state: string; executor?: string; attempts: Array<{ worker_id: string }> }>;
}

test.beforeAll(async ({ browser, profile: name }) => {
  profile = PROFILES[name];
  if (profile.hardware) {
    const adapter = await probeBrowserAdapter(browser);
    test.skip(
      !isHardwareAdapter(adapter),
      `gpu-hardware needs a hardware WebGPU adapter; this machine has ${describeAdapter(adapter)}`,
    );
  }
  harness = await Harness.start();
  if (!profile.isolated) proxy = await startPageProxy(harness.url, { stripIsolation: true });
  const pageUrl = `${proxy?.url ?? harness.url}/`;
  for (let i = 0; i < profile.tabs; i++) tabs.push(await openVolunteerTab(browser, pageUrl));
});

test.afterAll(async () => {
  for (const tab of tabs) await tab.context.close();
  tabs = [];
  await proxy?.close();
  await harness?.close();
});

test('the tabs say what they can do, and the coordinator sees exactly that', async () => {
  const { body } = await harness.api<{
    workers: Array<{ worker_id: string; connected: boolean; capability: Record<string, unknown> }>;
  }>('GET', '/v1/workers');
  const connected = body.workers.filter((w) => w.connected);
  expect(connected.map((w) => w.worker_id).sort()).toEqual(tabs.map((t) => t.workerId).sort());
  for (const worker of connected) {
    // The JSON view leaves false out.
    expect(worker.capability['webgpu'] ?? false).toBe(profile.webgpu);
    expect(worker.capability['cross_origin_isolated'] ?? false).toBe(profile.isolated);
    expect(worker.capability['shared_array_buffer'] ?? false).toBe(profile.isolated);
    const gpu = worker.capability['gpu'] as
      | { architecture?: string; is_fallback_adapter?: boolean }
      | undefined;
    if (!profile.webgpu) expect(gpu).toBeUndefined();
    else if (profile.hardware) {
      expect(gpu?.architecture).not.toBe('swiftshader');
      expect(gpu?.is_fallback_adapter ?? false).toBe(false);
    } else expect(gpu).toMatchObject({ architecture: 'swiftshader', is_fallback_adapter: true });
  }
  const page = tabs[0]!.page;
  if (profile.isolated) await expect(page.locator('#isolation')).toBeHidden();
  else await expect(page.locator('#isolation')).toContainText('not cross-origin isolated');
  if (profile.webgpu) await expect(page.locator('#gpu-notice')).toBeHidden();
  else
    await expect(page.locator('#gpu-notice')).toHaveText(
      'WebGPU is not available in this browser, so this tab runs WebAssembly (CPU) jobs only.',
    );
});

test('built-in ops submitted as a campaign run on the tabs and match the CPU reference', async () => {
  const rounds = profile.tabs;
  const calls = Array.from({ length: rounds }, (_, r) => referenceCalls(8 + r * 10)).flat();
  const campaignId = taskId('campaign');
  const ids = calls.map((call) => taskId(call.op));
  const { status } = await harness.api('POST', '/v1/campaigns', {
    campaign_id: campaignId,
    tasks: calls.map((call, i) => builtinEnvelope(ids[i]!, call, { webgpu: profile.webgpu })),
  });
  expect(status).toBe(201);
  let view: CampaignView | undefined;
  await expect
    .poll(
      async () => {
        view = (await harness.api<CampaignView>('GET', `/v1/campaigns/${campaignId}`)).body;
        return view.counts;
      },
      { timeout: 60_000 },
    )
    .toEqual({ queued: 0, running: 0, succeeded: calls.length, failed: 0, cancelled: 0 });
  const workersUsed = new Set<string>();
  for (const [i, call] of calls.entries()) {
    const task = view!.tasks.find((t) => t.task_id === ids[i]);
    expect(task?.attempts).toHaveLength(1);
    workersUsed.add(task!.attempts[0]!.worker_id);
    const result = await harness.result(ids[i]!);
    // On WebGPU tabs the GPU was required, so the op ran as WGSL; without it, on WASM (or JS).
    if (profile.webgpu) expect(result.executor).toBe('builtin:wgsl');
    else expect(result.executor).toMatch(/^builtin:(wasm-simd|wasm-scalar|js)$/);
    const error = await measureAgainstReference(call, result);
    expect(error.ok, `${call.op}: ${error.metric} ${error.value} > ${error.bound}`).toBe(true);
  }
  // Every task ran on one of this flow's tabs; with several tabs, the work was shared.
  for (const worker of workersUsed) expect(tabs.map((t) => t.workerId)).toContain(worker);
  if (profile.tabs > 1) expect(workersUsed.size).toBeGreaterThan(1);
});

test('a C program compiled to WASI returns its exact stdout and /out files', async () => {
  const id = taskId('wasi');
  await harness.submit(
    wasmTask(id, await wasmFixture('wasi-echo'), {
      inputs: [{ name: 'greeting.txt', content_type: 'text/plain', inline_bytes: b64('hello flock') }],
      params: { args: ['alpha', 'beta'], env: { GREETING: 'hi' } },
    }),
  );
  const view = await harness.waitFor(id, 'succeeded');
  expect(view.executor).toBe('wasm-wasi');
  const result = await harness.result(id);
  const sum = [...Buffer.from('hello flock')].reduce((a, b) => a + b, 0);
  expect(outputBytes(result, 'stdout').toString()).toBe(
    `argc=3 arg1=alpha arg2=beta\nGREETING=hi\nstdin=11 bytes\nin:greeting.txt sum=${sum}\nwrite-in=refused\n`,
  );
  expect(outputBytes(result, 'out/upper.txt').toString()).toBe('HELLO FLOCK');
});

/** The kernel-poly fixture's CPU reference: 16 fused steps of acc = acc * x + 0.5 in f32. */
function polyReference(xs: Float32Array): Float32Array {
  return xs.map((x) => {
    let acc = 1;
    for (let k = 0; k < 16; k++) acc = Math.fround(Math.fround(acc * x) + 0.5);
    return acc;
  });
}

test('work that needs SharedArrayBuffer goes only to cross-origin-isolated tabs', async () => {
  const xs = new Float32Array(1024).map((_, i) => (i % 64) / 64 - 0.5);
  const id = taskId('needs-sab');
  await harness.submit({
    ...wasmTask(id, await wasmFixture('kernel-poly-simd'), {
      abi: 'kernel',
      inputs: [{ name: 'x', inline_bytes: b64(new Uint8Array(xs.buffer)) }],
    }),
    requirements: { min: { wasm: true, cross_origin_isolated: true } },
  });
  if (profile.isolated) {
    const view = await harness.waitFor(id, 'succeeded');
    expect(view.executor).toBe('wasm-kernel-arena');
    const out = outputBytes(await harness.result(id), 'out');
    expect(out.equals(Buffer.from(polyReference(xs).buffer))).toBe(true);
    return;
  }
  // A task submitted after it runs at once: the scheduler has been round, and passed this one by.
  const after = taskId('after-sab');
  await harness.submit(wasmTask(after, await wasmFixture('empty')));
  await harness.waitFor(after, 'succeeded');
  const view = await harness.task(id);
  expect(view.state).toBe('queued');
  expect(view.attempts).toEqual([]);
  expect((view as { waiting_reason?: string }).waiting_reason).toBe(
    `no connected worker meets requirements.min.cross_origin_isolated (${profile.tabs} connected)`,
  );
  expect((await harness.api<{ state: string }>('DELETE', `/v1/tasks/${id}`)).status).toBe(200);
});

test('a WGSL shader runs where WebGPU is, and waits with its reason where it is not', async () => {
  const n = 1000;
  const id = taskId('wgsl');
  await harness.submit(doubleShaderTask(id, n));
  if (profile.webgpu) {
    const view = await harness.waitFor(id, 'succeeded');
    expect(view.executor).toBe('wgsl');
    const out = outputBytes(await harness.result(id), 'dst');
    expect(u32s(out)).toEqual(doubleShaderAnswer(n));
    return;
  }
  const after = taskId('after-wgsl');
  await harness.submit(wasmTask(after, await wasmFixture('empty')));
  await harness.waitFor(after, 'succeeded');
  const view = await harness.task(id);
  expect(view.state).toBe('queued');
  expect(view.attempts).toEqual([]);
  expect((view as { waiting_reason?: string }).waiting_reason).toBe(
    `no connected worker meets requirements.min.webgpu (${profile.tabs} connected)`,
  );
  expect((await harness.api<{ state: string }>('DELETE', `/v1/tasks/${id}`)).status).toBe(200);
});

/** Signs in to the dashboard in its own context and opens the Submit view. */
async function openDashboard(browser: Browser): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${harness.url}/dashboard/`);
  await page.getByLabel('API key').fill(KEY);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('#connection')).toHaveText('live');
  await page.getByRole('link', { name: 'Submit' }).click();
  return page;
}

test('a built-in op submitted from the dashboard succeeds and matches the CPU reference', async ({
  browser,
}) => {
  const dashboard = await openDashboard(browser);
  try {
    const id = taskId('dash-mandel');
    const params = { width: 64, height: 48, max_iter: 128 };
    await dashboard.locator('#op-select').selectOption('mandelbrot');
    for (const [name, value] of Object.entries(params))
      await dashboard.locator(`input[name="param-${name}"]`).fill(String(value));
    await dashboard.locator('input[name="task-id"]').fill(id);
    // The dashboard asks for WebGPU by default; a requester with WASM-only volunteers unticks it.
    if (!profile.webgpu) await dashboard.getByLabel('needs WebGPU').uncheck();
    await dashboard.locator('#submit-builtin').click();
    await expect(dashboard).toHaveURL(new RegExp(`#/task/${id}$`));
    await expect(dashboard.locator('.section-head .badge')).toHaveText('succeeded', { timeout: 60_000 });
    const result: ResultView = await harness.result(id);
    expect(result.executor).toMatch(
      profile.webgpu ? /^builtin:wgsl$/ : /^builtin:(wasm-simd|wasm-scalar|js)$/,
    );
    const error = await measureAgainstReference({ op: 'mandelbrot', inputs: {}, params }, result);
    expect(error.ok, `mandelbrot: ${error.metric} ${error.value} > ${error.bound}`).toBe(true);
  } finally {
    await dashboard.context().close();
  }
});
