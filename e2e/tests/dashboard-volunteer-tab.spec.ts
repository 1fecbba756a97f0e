// The dashboard with a real volunteer tab: both pages built by the root vite.config.ts and
// served by a real coordinator, in system Chromium with WebGPU (SwiftShader). A requester submits
// a built-in op from the dashboard before any volunteer is there, watches it go queued → running →
// succeeded once a person presses Start on the volunteer page, checks the result against the CPU
// reference, and sees the tab's real GPU in the workers view. A task submitted with "Verify
// results" runs on the tab after its known-answer check, and the dashboard shows how it was
// accepted and what the tab earned. A library op is submitted from the form its schema builds.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { formatCredit } from '@flock/client';
import { type RunningCoordinator, startCoordinator } from '@flock/coordinator';
import { runReference } from '@flock/libraries/reference';
import { type Browser, expect, type Page, test } from '@playwright/test';
import sharp from 'sharp';
import { build } from 'vite';
import { launchChromium } from '../support/chromium.ts';
import { flockShaders } from '../support/shaders.ts';

const { OPS } = await flockShaders();

const ROOT = resolve(import.meta.dirname, '../..');
const ARTIFACTS = join(ROOT, 'e2e/artifacts');
const KEY = 'dash-tab-key';

let coordinator: RunningCoordinator;
let browser: Browser;
let workDir: string;
let volunteerPage: Page;

// Generous limits: two cores are shared with every other build and test on this machine.
test.describe.configure({ mode: 'serial', timeout: 150_000 });
const SLOW = { timeout: 60_000 };

test.beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'flock-dash-tab-e2e-'));
  const pagesDir = join(workDir, 'pages');
  await build({
    configFile: join(ROOT, 'vite.config.ts'),
    logLevel: 'warn',
    build: { outDir: pagesDir, emptyOutDir: true },
  });
  coordinator = await startCoordinator({
    port: 0,
    dataDir: join(workDir, 'data'),
    pagesDir,
    apiKeys: new Map([[KEY, 'acme']]),
    logLevel: 'silent',
    // Verified tasks: only the probation check every new worker gets, no random ones (exact counts).
    spotCheckRate: 0,
  });
  browser = await launchChromium({ webgpu: true });
  await mkdir(ARTIFACTS, { recursive: true });
});

test.afterAll(async () => {
  await browser?.close();
  await coordinator?.close();
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
});

test('a built-in op from the dashboard runs on a real volunteer tab', async () => {
  const dashboard = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await dashboard.goto(`${coordinator.url}/dashboard/`);
  await dashboard.getByLabel('API key').fill(KEY);
  await dashboard.getByRole('button', { name: 'Sign in' }).click();
  await expect(dashboard.locator('#connection')).toHaveText('live');

  await dashboard.getByRole('link', { name: 'Submit' }).click();
  await dashboard.locator('#op-select').selectOption('mandelbrot');
  await dashboard.locator('input[name="param-width"]').fill('320');
  await dashboard.locator('input[name="param-height"]').fill('240');
  await dashboard.locator('input[name="task-id"]').fill('tab-mandel-1');
  await dashboard.locator('#submit-builtin').click();
  await expect(dashboard).toHaveURL(/#\/task\/tab-mandel-1$/);

  // Every state the badge shows, in order, however briefly.
  await dashboard.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { seenStates: string[] }).seenStates = seen;
    const record = (): void => {
      const text = document.querySelector('.section-head .badge')?.textContent ?? '';
      if (text !== '' && seen.at(-1) !== text) seen.push(text);
    };
    record();
    new MutationObserver(record).observe(document.querySelector('#app')!, { childList: true, subtree: true });
  });
  await expect(dashboard.locator('.section-head .badge')).toHaveText('queued');
  await expect(dashboard.locator('[data-fact="Waiting because"]')).not.toBeEmpty();

  volunteerPage = await browser.newPage();
  await volunteerPage.goto(`${coordinator.url}/`);
  await expect(volunteerPage.locator('body')).toHaveAttribute('data-ready', 'true');
  await volunteerPage.getByRole('button', { name: 'Start donating compute' }).click();

  await expect(dashboard.locator('.section-head .badge')).toHaveText('succeeded', { timeout: 90_000 });
  expect(await dashboard.evaluate(() => (window as unknown as { seenStates: string[] }).seenStates)).toEqual([
    'queued',
    'running',
    'succeeded',
  ]);
  const output = dashboard.locator('[data-output="iterations"]');
  await expect(output.locator('canvas.preview-image')).toHaveAttribute('width', '320');
  await dashboard.screenshot({ path: join(ARTIFACTS, 'dashboard-real-tab-result.png'), fullPage: true });

  const [download] = await Promise.all([
    dashboard.waitForEvent('download'),
    output.locator('[data-download]').click(),
  ]);
  const got = new Uint32Array(new Uint8Array(await readFile((await download.path())!)).buffer);
  const reference = (await OPS.mandelbrot.prepare({}, { width: 320, height: 240 }).reference())[
    'iterations'
  ]!;
  const want = new Uint32Array(reference.buffer, reference.byteOffset, reference.byteLength / 4);
  expect(got.length).toBe(320 * 240);
  // The op's own bound: f32 chaos near the set's boundary may flip a few pixels (errorBound).
  let mismatches = 0;
  for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) mismatches++;
  expect(mismatches / want.length).toBeLessThanOrEqual(0.001);

  await dashboard.getByRole('link', { name: 'Workers' }).click();
  const row = dashboard.locator('#worker-rows tr').first();
  await expect(row.locator('[data-gpu] b')).toHaveText(/\/ swiftshader$/);
  await expect(row.locator('[data-gpu] .chip')).toHaveText('fallback');
  await expect(row).toContainText('1 ok');
  await dashboard.screenshot({ path: join(ARTIFACTS, 'dashboard-workers-real-tab.png'), fullPage: true });
  await dashboard.close();
});

test('a long WASM task uploaded from the dashboard is cancelled on the volunteer tab', async () => {
  const spin = join(ROOT, 'apps/worker-web/build/fixtures/spin.wasm');
  const dashboard = await browser.newPage();
  await dashboard.goto(`${coordinator.url}/dashboard/`);
  await dashboard.getByLabel('API key').fill(KEY);
  await dashboard.getByRole('button', { name: 'Sign in' }).click();
  await dashboard.getByRole('link', { name: 'Submit' }).click();
  await dashboard.getByRole('tab', { name: 'WASM / WGSL module' }).click();
  // spin.c busy-computes for argv[1] ms: 60 s, far longer than this test waits.
  await dashboard.locator('#module-file').setInputFiles(spin);
  await dashboard.locator('textarea[name="module-params"]').fill('{"args": ["60000"]}');
  await dashboard.locator('#submit-module').click();
  await expect(dashboard).toHaveURL(/#\/task\/wasm-[0-9a-f]{8}$/);
  const taskId = decodeURIComponent(dashboard.url().split('/').at(-1)!);
  await expect(dashboard.locator('.section-head .badge')).toHaveText('running', SLOW);
  await expect(volunteerPage.locator(`#running li[data-task-id="${taskId}"]`)).toBeVisible();

  await dashboard.locator('#cancel-task').click();
  await expect(dashboard.locator('.section-head .badge')).toHaveText('cancelled', SLOW);
  await expect(volunteerPage.locator(`#running li[data-task-id="${taskId}"]`)).toHaveCount(0);
  await expect(dashboard.locator('[data-fact="Worker"]')).toHaveText(/^w-/);
  await dashboard.close();
});

test('a WGSL shader typed into the dashboard runs on the tab’s GPU', async () => {
  const dashboard = await browser.newPage();
  await dashboard.goto(`${coordinator.url}/dashboard/`);
  await dashboard.getByLabel('API key').fill(KEY);
  await dashboard.getByRole('button', { name: 'Sign in' }).click();
  await dashboard.getByRole('link', { name: 'Submit' }).click();
  await dashboard.getByRole('tab', { name: 'WASM / WGSL module' }).click();
  await dashboard.locator('#module-kind').selectOption('wgsl');
  await dashboard
    .locator('textarea[name="module-source"]')
    .fill(
      [
        '@group(0) @binding(0) var<storage, read> src: array<u32>;',
        '@group(0) @binding(1) var<storage, read_write> dst: array<u32>;',
        '@compute @workgroup_size(64)',
        'fn main(@builtin(global_invocation_id) id: vec3<u32>) {',
        '  if (id.x < arrayLength(&src)) { dst[id.x] = src[id.x] * 2u + 1u; }',
        '}',
      ].join('\n'),
    );
  await dashboard.locator('input[name="entry"]').fill('main');
  await dashboard.locator('input[name="workgroups"]').fill('2');
  await dashboard.locator('input[name="module-op"]').fill('double');
  await dashboard.locator('textarea[name="buffers"]').fill(
    JSON.stringify([
      { name: 'src', group: 0, binding: 0, access: 'read' },
      { name: 'dst', group: 0, binding: 1, access: 'read_write', size: 128 * 4 },
    ]),
  );
  await dashboard.locator('input[name="module-input-name"]').fill('src');
  const src = Uint32Array.from({ length: 128 }, (_, i) => i);
  await dashboard.locator('input[name="module-input-file"]').setInputFiles({
    name: 'src.u32',
    mimeType: 'application/octet-stream',
    buffer: Buffer.from(src.buffer),
  });
  await dashboard.locator('input[name="require-webgpu"]').check();
  await dashboard.locator('input[name="require-wasm"]').uncheck();
  await dashboard.locator('#submit-module').click();
  await expect(dashboard).toHaveURL(/#\/task\/wgsl-[0-9a-f]{8}$/);
  await expect(dashboard.locator('.section-head .badge')).toHaveText('succeeded', SLOW);
  await expect(dashboard.locator('[data-fact="Executor"]')).toHaveText('wgsl');
  const [download] = await Promise.all([
    dashboard.waitForEvent('download'),
    dashboard.locator('[data-output="dst"] [data-download]').click(),
  ]);
  const dst = new Uint32Array(new Uint8Array(await readFile((await download.path())!)).buffer);
  expect([...dst]).toEqual([...src].map((v) => v * 2 + 1));
  await dashboard.close();
});

test('a verified task from the dashboard: the tab is checked, runs it, and the task page says how it was accepted', async () => {
  const dashboard = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await dashboard.goto(`${coordinator.url}/dashboard/`);
  await dashboard.getByLabel('API key').fill(KEY);
  await dashboard.getByRole('button', { name: 'Sign in' }).click();
  await dashboard.getByRole('link', { name: 'Submit' }).click();
  // A tile inside the main cardioid: every pixel runs to max_iter, so the task (and the check
  // shaped like it) takes a measurable share of a second on SwiftShader and earns credit.
  await dashboard.locator('#op-select').selectOption('mandelbrot');
  const params = { width: 256, height: 256, max_iter: 4000, x_min: -0.5, x_max: 0, y_min: -0.3, y_max: 0.2 };
  for (const [name, value] of Object.entries(params)) {
    await dashboard.locator(`input[name="param-${name}"]`).fill(String(value));
  }
  await dashboard.locator('input[name="task-id"]').fill('tab-verified-1');
  // The control is off by default, its numbers disabled until it is on.
  await expect(dashboard.locator('input[name="verify-replicas"]')).toBeDisabled();
  await dashboard.getByLabel('Verify results').check();
  await expect(dashboard.locator('select[name="verify-mode"]')).toHaveValue('fixed');
  // One copy, quorum 1: what the one tab can complete (a quorum of 2 needs two workers).
  await dashboard.locator('input[name="verify-replicas"]').fill('1');
  await dashboard.locator('input[name="verify-quorum"]').fill('1');
  await dashboard.screenshot({ path: join(ARTIFACTS, 'dashboard-submit-verified.png'), fullPage: true });
  await dashboard.locator('#submit-builtin').click();
  await expect(dashboard).toHaveURL(/#\/task\/tab-verified-1$/);

  // The tab has run only unverified tasks so far: its first verified dispatch is a known-answer
  // check built from this task, then the task itself; a single result is accepted as such.
  await expect(dashboard.locator('.section-head .badge')).toHaveText('succeeded', SLOW);
  const fact = dashboard.locator('[data-fact="Verification"]');
  await expect(fact.locator('[data-verification-text]')).toHaveText(
    'accepted by single result (1 of 1 agree, 1 returned, mode fixed)',
  );
  await expect(fact.locator('[data-verification]')).toHaveText('verified');
  await expect(fact.locator('[data-verification]')).toHaveAttribute('data-verification', 'accepted');
  // A check is no attempt of the task: one attempt, on the tab.
  await expect(dashboard.locator('[data-fact="Attempts"]')).toHaveText('1');
  const workerId = await volunteerPage.locator('#worker-id').textContent();
  await expect(dashboard.locator('[data-fact="Worker"]')).toHaveText(workerId ?? '?');
  await expect(fact.locator('[data-verification-workers]')).toHaveText(`copies on ${workerId}`);
  await dashboard.screenshot({ path: join(ARTIFACTS, 'dashboard-task-verified.png'), fullPage: true });

  // The list marks the verified task, and only it.
  await dashboard.getByRole('link', { name: 'Tasks' }).click();
  await expect(dashboard.locator('tr[data-task-id="tab-verified-1"] [data-verification]')).toHaveText(
    'verified',
  );
  await expect(dashboard.locator('tr[data-task-id="tab-mandel-1"] [data-verification]')).toHaveCount(0);

  // The workers view: the passed check validated the tab (credit); the lone result's credit is pending.
  await dashboard.getByRole('link', { name: 'Workers' }).click();
  // What verification says of a volunteer comes right after its connection status.
  await expect(dashboard.locator('table.workers th')).toHaveText([
    'Worker',
    'Status',
    'Trust',
    'Credit',
    'Results',
    'GPU',
    'Features',
    'CPU',
    'Memory',
    'Slots',
    'Running',
    'Done',
    'Last seen',
  ]);
  const row = dashboard.locator(`#worker-rows tr[data-worker-id="${workerId}"]`);
  await expect(row.locator('td').nth(2).locator('[data-trust]')).toHaveText('verified');
  await expect(row.locator('[data-validated]')).toHaveText('1');
  await expect(row.locator('[data-rejected]')).toHaveText('0');
  const credit = Number(await row.locator('[data-credit]').getAttribute('data-credit'));
  const pending = Number(await row.locator('[data-pending-credit]').getAttribute('data-pending-credit'));
  expect(credit).toBeGreaterThan(0);
  expect(pending).toBeGreaterThan(0);
  await expect(row.locator('[data-credit]')).toHaveText(
    `${formatCredit(credit)}+${formatCredit(pending)} pending`,
  );
  await dashboard.screenshot({ path: join(ARTIFACTS, 'dashboard-workers-credit.png'), fullPage: true });
  await dashboard.close();
});

test('a library op from its schema-built form: a bad call is named in the page, a good one runs on the tab', async () => {
  const dashboard = await browser.newPage();
  await dashboard.goto(`${coordinator.url}/dashboard/`);
  await dashboard.getByLabel('API key').fill(KEY);
  await dashboard.getByRole('button', { name: 'Sign in' }).click();
  await dashboard.getByRole('link', { name: 'Submit' }).click();
  await dashboard.getByRole('tab', { name: 'Library op' }).click();
  await dashboard.locator('#library-op').selectOption('crypto.hash');
  await expect(dashboard.locator('#library-summary')).toContainText('Digests of every input');
  const text = Buffer.from('hello from the dashboard\n');
  await dashboard
    .locator('#library-files')
    .setInputFiles({ name: 'note.txt', mimeType: 'text/plain', buffer: text });
  // No algorithm ticked: the page checks the call against the schema before sending anything.
  await dashboard.locator('#submit-library').click();
  await expect(dashboard.locator('#submit-error')).toHaveText(
    'params.algorithms is required (INVALID_PARAMS)',
  );
  await expect(dashboard).toHaveURL(/#\/submit/);

  await dashboard.locator('input[name="param-algorithms"][value="sha256"]').check();
  await dashboard.locator('input[name="param-algorithms"][value="blake3"]').check();
  await dashboard.locator('#submit-library').click();
  await expect(dashboard).toHaveURL(/#\/task\/crypto-hash-[0-9a-f]{8}$/);
  await expect(dashboard.locator('.section-head .badge')).toHaveText('succeeded', SLOW);
  const reference = await runReference('crypto.hash', { algorithms: ['sha256', 'blake3'] }, [
    { name: 'note.txt', contentType: 'text/plain', bytes: text },
  ]);
  const want = JSON.parse(new TextDecoder().decode(reference.outputs[0]!.bytes));
  expect(want['note.txt'].sha256).toBe(createHash('sha256').update(text).digest('hex'));
  const preview = dashboard.locator('[data-output="digests.json"] pre.preview-json');
  await expect(preview).toHaveText(JSON.stringify(want, null, 2));

  // An image op: the chosen photo is shown as a thumbnail, and the task page previews the output.
  await dashboard.getByRole('link', { name: 'Submit' }).click();
  await dashboard.getByRole('tab', { name: 'Library op' }).click();
  await dashboard.locator('#library-op').selectOption('image.thumbnail');
  await dashboard.locator('input[name="param-width"]').fill('48');
  await dashboard.locator('select[name="param-format"]').selectOption('png');
  const photo = await sharp({ create: { width: 96, height: 64, channels: 3, background: '#3a7bd5' } })
    .jpeg()
    .toBuffer();
  await dashboard
    .locator('#library-files')
    .setInputFiles({ name: 'sky.jpg', mimeType: 'image/jpeg', buffer: photo });
  await expect(dashboard.locator('#library-thumbs img')).toHaveAttribute('alt', 'sky.jpg');
  await dashboard.locator('#submit-library').click();
  await expect(dashboard).toHaveURL(/#\/task\/image-thumbnail-[0-9a-f]{8}$/);
  await expect(dashboard.locator('.section-head .badge')).toHaveText('succeeded', SLOW);
  const image = dashboard.locator('[data-output="sky.png"] img.preview-image');
  await expect(image).toBeVisible();
  await expect
    .poll(() => image.evaluate((img: HTMLImageElement) => [img.naturalWidth, img.naturalHeight]))
    .toEqual([48, 32]);
  await dashboard.close();
});
