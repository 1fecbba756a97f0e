// The audit log and a replay with a real volunteer tab (headless Chromium, WebGPU on SwiftShader):
// the worker's fingerprint as the tab and its WebSocket upgrade tell it (browser and OS, the
// adapter, the os and network labels), the output hash of a built-in GPU op computed here, and a
// replay of that task whose output hash equals the original's. Then the dashboard's Replay campaign
// (two GPU tasks equal, a program printing random bytes different, a read-only key refused; hidden
// while a task of the campaign waits) and Replay workflow (a two-step chain, both equal), run by the
// same tab.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { type Browser, expect, type Page, test } from '@playwright/test';
import { launchChromium } from '../support/chromium.ts';
import { signIn } from '../support/dashboard-pages.ts';
import { saxpyTask } from '../support/wgsl-tasks.ts';
import {
  ARTIFACTS,
  Harness,
  KEY,
  outputBytes,
  READ_ONLY_KEY,
  taskId,
  wasmFixture,
  wasmTask,
} from './volunteer-harness.ts';

test.describe.configure({ mode: 'serial' });

let harness: Harness;
let browser: Browser;
let page: Page;
const hex = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');

test.beforeAll(async () => {
  harness = await Harness.start();
  browser = await launchChromium({ webgpu: true });
  page = await browser.newPage();
  await page.goto(`${harness.url}/`);
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true');
  await page.getByRole('button', { name: 'Start donating compute' }).click();
  await expect(page.locator('#connection')).toHaveText('open');
});

test.afterAll(async () => {
  await browser?.close();
  await harness?.close();
});

test("a tab's audit rows carry its fingerprint and output hash; its replay's output equals the original", async () => {
  const id = taskId('audit');
  const x = new Float32Array(256).map((_, i) => i);
  const y = new Float32Array(256).fill(0.25);
  await harness.submit(saxpyTask(id, x, y, 3));
  await harness.waitFor(id, 'succeeded');
  const out = outputBytes(await harness.result(id), 'out');
  const outputHash = `sha256:${hex(`3:out=sha256:${hex(out)}\n`)}`;

  type Row = { to: string; output_hash: string | null; worker: Record<string, unknown> | null };
  const { status, body } = await harness.api<{ entries: Row[] }>('GET', `/v1/audit?task_id=${id}`);
  expect(status).toBe(200);
  expect(body.entries.map((r) => r.to)).toEqual(['queued', 'running', 'succeeded']);
  expect(body.entries[2]!.output_hash).toBe(outputHash);
  const tab = await page.evaluate(() => {
    const nav = navigator as Navigator & {
      userAgentData?: { platform?: string };
      connection?: { effectiveType?: string };
    };
    return {
      ua: navigator.userAgent,
      platform: nav.userAgentData?.platform ?? null,
      network: nav.connection?.effectiveType ?? null,
    };
  });
  const version = /HeadlessChrome\/([\d.]+)/.exec(tab.ua)?.[1];
  expect(version).toMatch(/^\d+\./);
  expect(tab.platform).toBe('Linux');
  expect(body.entries[2]!.worker).toMatchObject({
    user_agent: tab.ua,
    browser: `HeadlessChrome ${version}`,
    os: 'Linux',
    adapter: { architecture: 'swiftshader' },
    network: tab.network,
    labels: { os: 'Linux', gpu_architecture: 'swiftshader' },
  });

  const made = await harness.api<{ replay_id: string }>('POST', '/v1/replay', { task_id: id });
  expect(made.status).toBe(201);
  expect(made.body.replay_id).toBe(`${id}@replay-1`);
  type Status = { done: boolean; equal: boolean; pairs: Array<{ replay: { output_hash: string | null } }> };
  let replay: Status | undefined;
  await expect
    .poll(
      async () => {
        replay = (await harness.api<Status>('GET', `/v1/replay/${encodeURIComponent(made.body.replay_id)}`))
          .body;
        return replay.done;
      },
      { timeout: 30_000 },
    )
    .toBe(true);
  expect(replay!.equal).toBe(true);
  expect(replay!.pairs[0]!.replay.output_hash).toBe(outputHash);
});

type ReplayStatus = {
  done: boolean;
  equal: boolean;
  pairs: Array<{
    original: { task_id: string };
    replay: { task_id: string; state: string };
    equal: boolean | null;
  }>;
};

/** A dashboard page of the harness's coordinator, signed in with `key`, at `hash`. */
async function dashboard(key: string, hash: string): Promise<Page> {
  const dash = await browser.newPage();
  await signIn(dash, key, harness.url);
  await expect(dash.locator('#nav')).toBeVisible();
  await dash.goto(`${harness.url}/dashboard/${hash}`);
  return dash;
}

/** The replay as the API answers it, by original task id: whether each pair's outputs are equal. */
async function replayByOriginal(
  replayId: string,
): Promise<{ body: ReplayStatus; equal: Record<string, boolean | null> }> {
  const { status, body } = await harness.api<ReplayStatus>(
    'GET',
    `/v1/replay/${encodeURIComponent(replayId)}`,
  );
  expect(status).toBe(200);
  return { body, equal: Object.fromEntries(body.pairs.map((p) => [p.original.task_id, p.equal])) };
}

test("the dashboard replays a campaign: the GPU tasks' outputs equal, the random one's different, a read-only key refused", async () => {
  const campaign = taskId('camp');
  const [a, b, random] = [`${campaign}-a`, `${campaign}-b`, `${campaign}-random`];
  const x = new Float32Array(64).map((_, i) => i);
  const tasks = [
    saxpyTask(a, x, new Float32Array(64).fill(1), 2),
    saxpyTask(b, x, new Float32Array(64).fill(-1), 0.5),
    wasmTask(random, await wasmFixture('random-bytes')),
  ];
  const made = await harness.api('POST', '/v1/campaigns', { campaign_id: campaign, tasks });
  expect(made.status, JSON.stringify(made.body)).toBe(201);
  for (const id of [a, b, random]) await harness.waitFor(id, 'succeeded');

  // A key without the submit scope sees the campaign, and its replay is refused with the API's 403.
  const reader = await dashboard(READ_ONLY_KEY, `#/campaign/${campaign}`);
  await expect(reader.locator('[data-count="succeeded"] b')).toHaveText('3');
  await reader.getByRole('button', { name: 'Replay campaign' }).click();
  await expect(reader.locator('#replay-campaign-error')).toHaveText(
    'Replay campaign: this key lacks the scope submit (FORBIDDEN)',
  );
  await reader.close();
  expect((await harness.api('GET', `/v1/tasks/${a}@replay-1`)).status).toBe(404);

  const dash = await dashboard(KEY, `#/campaign/${campaign}`);
  await expect(dash.locator('[data-count="succeeded"] b')).toHaveText('3');
  await dash.getByRole('button', { name: 'Replay campaign' }).click();
  const status = dash.locator('#replay-campaign-status');
  await expect(status.locator('[data-replay="verdict"]')).toHaveText('different', { timeout: 30_000 });
  await expect(status.locator('[data-replay="id"]')).toHaveText(`${campaign}@replay-1`);
  const counts = ['replayed', 'equal', 'different', 'not-compared'].map((n) =>
    status.locator(`[data-replay-count="${n}"]`),
  );
  for (const [i, n] of ['3', '2', '1', '0'].entries()) await expect(counts[i]!).toHaveText(n);
  await expect(status.locator('[data-replay="differing"] a')).toHaveText([`${random}@replay-1`]);
  for (const id of [a, b]) {
    await expect(status.locator(`[data-replay-pair="${id}@replay-1"] [data-replay="equal"]`)).toHaveText(
      'equal',
    );
  }
  await expect(status.locator(`[data-replay-pair="${random}@replay-1"] [data-replay="equal"]`)).toHaveText(
    'different',
  );
  // The API agrees pair by pair.
  const api = await replayByOriginal(`${campaign}@replay-1`);
  expect(api.body).toMatchObject({ done: true, equal: false });
  expect(api.equal).toEqual({ [a]: true, [b]: true, [random]: false });
  await dash.screenshot({ path: join(ARTIFACTS, 'dashboard-campaign-replay.png'), fullPage: true });

  // The differing task links to the replayed task; the replay id opens the replay's campaign.
  await expect(status.locator('[data-replay="differing"] a')).toHaveAttribute(
    'href',
    `#/task/${encodeURIComponent(`${random}@replay-1`)}`,
  );
  await status.getByRole('link', { name: `${campaign}@replay-1` }).click();
  await expect(dash.locator('h1')).toHaveText(`Campaign ${campaign}@replay-1`);
  await expect(dash.locator('[data-count="succeeded"] b')).toHaveText('3');
  await dash.getByRole('link', { name: `${random}@replay-1` }).click();
  await expect(dash.locator('#task-facts [data-fact="State"]')).toContainText('succeeded');
  await dash.close();
});

test('Replay campaign shows only once every task of the campaign has ended', async () => {
  const campaign = taskId('held');
  const held = `${campaign}-f16`;
  const x = new Float32Array(16);
  // SwiftShader has no shader_f16: the task waits until it is cancelled.
  const task = {
    ...saxpyTask(held, x, x, 1),
    requirements: { min: { webgpu: true, gpu: { features: ['shader_f16'] } } },
  };
  const made = await harness.api('POST', '/v1/campaigns', { campaign_id: campaign, tasks: [task] });
  expect(made.status, JSON.stringify(made.body)).toBe(201);
  const dash = await dashboard(KEY, `#/campaign/${campaign}`);
  await expect(dash.locator('[data-count="queued"] b')).toHaveText('1');
  await expect(dash.locator('#replay-campaign')).toBeHidden();
  expect((await harness.api('DELETE', `/v1/tasks/${held}`)).status).toBe(200);
  await expect(dash.locator('[data-count="cancelled"] b')).toHaveText('1');
  await expect(dash.locator('#replay-campaign')).toBeVisible();
  await dash.close();
});

test('the dashboard replays a workflow: both step tasks replayed, outputs equal', async () => {
  const workflow = taskId('wf');
  const sumStep = (id: string, input: Record<string, unknown>) => ({
    id,
    op: 'reduce_sum',
    module: { kind: 'builtin' },
    requirements: { min: { wasm: true } },
    inputs: [{ name: 'x', ...input }],
  });
  const definition = {
    workflow_id: workflow,
    steps: [
      sumStep('first', { inline_bytes: Buffer.from(new Float32Array([1, 2, 3]).buffer).toString('base64') }),
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a workflow reference is `${…}` in a plain string
      { ...sumStep('second', { uri: '${steps.first.outputs.sum}' }), depends_on: ['first'] },
    ],
  };
  const made = await harness.api('POST', '/v1/workflows', definition);
  expect(made.status, JSON.stringify(made.body)).toBe(201);
  const dash = await dashboard(KEY, `#/workflow/${workflow}`);
  await expect(dash.locator('#workflow-state [data-state]')).toHaveText('succeeded', { timeout: 30_000 });
  await dash.getByRole('button', { name: 'Replay workflow' }).click();
  const status = dash.locator('#replay-workflow-status');
  await expect(status.locator('[data-replay="verdict"]')).toHaveText('equal', { timeout: 30_000 });
  await expect(status.locator('[data-replay="id"]')).toHaveText(`${workflow}@replay-1`);
  for (const [n, text] of [
    ['replayed', '2'],
    ['equal', '2'],
    ['different', '0'],
    ['not-compared', '0'],
  ] as const) {
    await expect(status.locator(`[data-replay-count="${n}"]`)).toHaveText(text);
  }
  await expect(status.locator('[data-replay="differing"]')).toHaveCount(0);
  for (const step of ['first', 'second']) {
    const pair = status.locator(`[data-replay-pair="${workflow}.${step}@replay-1"]`);
    await expect(pair.locator('[data-replay="state"]')).toHaveText('succeeded');
    await expect(pair.locator('[data-replay="equal"]')).toHaveText('equal');
  }
  const api = await replayByOriginal(`${workflow}@replay-1`);
  expect(api.body).toMatchObject({ done: true, equal: true });
  expect(api.equal).toEqual({ [`${workflow}.first`]: true, [`${workflow}.second`]: true });
  await dash.screenshot({ path: join(ARTIFACTS, 'dashboard-workflow-replay.png'), fullPage: true });
  await dash.close();
});
