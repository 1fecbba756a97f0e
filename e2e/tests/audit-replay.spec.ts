// The audit log and a replay with a real volunteer tab (headless Chromium, WebGPU on SwiftShader):
// the worker's fingerprint as the tab and its WebSocket upgrade tell it (browser and OS, the
// adapter, the os and network labels), the output hash of a built-in GPU op computed here, and a
// replay of that task whose output hash equals the original's.
import { createHash } from 'node:crypto';
import { type Browser, expect, type Page, test } from '@playwright/test';
import { launchChromium } from '../support/chromium.ts';
import { saxpyTask } from '../support/wgsl-tasks.ts';
import { Harness, outputBytes, taskId } from './volunteer-harness.ts';

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
