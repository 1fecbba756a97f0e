// The requester dashboard driven with real clicks: a real coordinator (in-process, SQLite, the
// built pages), the page built by the root vite.config.ts, system Chromium, and a volunteer that
// speaks the real worker protocol and computes built-in ops with @flock/shaders on the CPU.
// Screenshots of the dashboard mid-run go to e2e/artifacts/.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type RunningCoordinator, startCoordinator } from '@flock/coordinator';
import { type SimRunner, SimulatedVolunteer } from '@flock/coordinator/sim';
import type { Capability, DataRef } from '@flock/protocol';
import { type Browser, expect, type Page, test } from '@playwright/test';
import { launchChromium } from '../support/chromium.ts';
import { dashboardPages, signIn as signInAt } from '../support/dashboard-pages.ts';
import { flockShaders } from '../support/shaders.ts';

const { OPS } = await flockShaders();

const ROOT = resolve(import.meta.dirname, '../..');
const ARTIFACTS = join(ROOT, 'e2e/artifacts');
const KEY = 'dash-key';

let coordinator: RunningCoordinator;
let volunteer: SimulatedVolunteer;
/** A second volunteer, for a quorum of two (verified tasks run their copies on distinct workers). */
let second: SimulatedVolunteer | undefined;
let browser: Browser;
let workDir: string;
let pagesDir: string;
/** Jobs held before they finish until the test releases them (by task id). */
const gates = new Map<string, () => void>();
const held = new Set<string>();
const released = new Set<string>();
function release(taskId: string): void {
  released.add(taskId);
  gates.get(taskId)?.();
}
const running = new Set<string>();

// Generous limits: two cores are shared with every other build and test on this machine.
test.describe.configure({ mode: 'serial', timeout: 150_000 });
const SLOW = { timeout: 60_000 };

/** The mandelbrot reference, a few rows at a time so that progress flows and cancel is prompt. */
async function mandelbrotInBands(
  params: Record<string, number>,
  signal: AbortSignal,
  progress: (pct: number) => void,
): Promise<Uint8Array> {
  const width = params['width'] ?? 0;
  const height = params['height'] ?? 0;
  const yMin = params['y_min'] ?? -1.5;
  const yMax = params['y_max'] ?? 1.5;
  const out = new Uint8Array(width * height * 4);
  // At most ~2e7 iterations per band: the volunteer shares this process with the coordinator.
  const band = Math.max(1, Math.floor(2e7 / (width * (params['max_iter'] ?? 256))));
  for (let row = 0; row < height; row += band) {
    if (signal.aborted) throw new Error('cancelled');
    const rows = Math.min(band, height - row);
    const dy = (yMax - yMin) / height;
    const prepared = OPS.mandelbrot.prepare(
      {},
      { ...params, height: rows, y_min: yMin + row * dy, y_max: yMin + (row + rows) * dy },
    );
    const { iterations } = await prepared.reference();
    out.set(iterations!, row * width * 4);
    progress(Math.round(((row + rows) / height) * 100));
    await new Promise((r) => setImmediate(r));
  }
  return out;
}

/** Runs built-in ops with the CPU references of @flock/shaders; `hold: true` waits for release. */
const runBuiltinOps: SimRunner = async (job) => {
  const envelope = job.assignment.envelope ?? {};
  const taskId = job.assignment.task_id ?? '';
  const op = envelope.op ?? '';
  const params = (envelope.params ?? {}) as Record<string, number>;
  running.add(taskId);
  try {
    if (held.has(taskId) && !released.has(taskId)) {
      job.progress(5);
      await new Promise<void>((r) => gates.set(taskId, r));
    }
    if (op === 'describe') {
      // Reports on its stdin, as JSON and as text (for the JSON and text previews).
      const stdin = envelope.inputs?.[0]?.inline_bytes ?? new Uint8Array(0);
      const text = new TextDecoder().decode(stdin);
      const report = { bytes: stdin.length, words: text.split(/\s+/).filter(Boolean).length };
      return {
        outputs: [
          { name: 'report.json', content_type: 'application/json', inline_json: JSON.stringify(report) },
          {
            name: 'stdout',
            content_type: 'text/plain',
            inline_bytes: new TextEncoder().encode(text.toUpperCase()),
          },
        ],
        executor: 'js',
      };
    }
    const def = OPS[op as keyof typeof OPS];
    if (def === undefined)
      return { failure: { code: 'UNSUPPORTED', message: `no op ${op}`, retryable: false } };
    let outputs: Record<string, Uint8Array>;
    if (op === 'mandelbrot') {
      outputs = { iterations: await mandelbrotInBands(params, job.signal, (pct) => job.progress(pct)) };
    } else {
      const inputs = Object.fromEntries((envelope.inputs ?? []).map((i) => [i.name ?? '', i.inline_bytes!]));
      outputs = await def.prepare(inputs, params).reference();
    }
    const refs: DataRef[] = def.outputs.map((t) => {
      const bytes = outputs[t.name]!;
      let shape = t.shape.map((s) => Number(params[s] ?? s));
      if (shape.some(Number.isNaN))
        shape = [bytes.length / (t.dtype === 'u8' ? 1 : t.dtype === 'c64' ? 8 : 4)];
      return {
        name: t.name,
        content_type: 'application/octet-stream',
        inline_bytes: bytes,
        tensor: { dtype: t.dtype, shape },
      };
    });
    return { outputs: refs, executor: 'js' };
  } catch (error) {
    return { failure: { code: 'CANCELLED', message: String(error), retryable: false } };
  } finally {
    running.delete(taskId);
  }
};

/** The scripted volunteers' capability: a (fallback) WebGPU adapter with two GPU slots. */
const SIM_CAPABILITY: Capability = {
  webgpu: true,
  gpu: {
    backend: 'webgpu',
    vendor: 'flock-sim',
    architecture: 'cpu-reference',
    features: ['timestamp-query', 'float32-filterable', 'indirect-first-instance'],
    is_fallback_adapter: true,
  },
  cpu_slots: 2,
  gpu_slots: 2,
  labels: { browser: 'flock-sim (Node)' },
};

test.beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'flock-dash-e2e-'));
  pagesDir = await dashboardPages();
  coordinator = await startCoordinator({
    port: 0,
    dataDir: join(workDir, 'data'),
    pagesDir,
    apiKeys: new Map([[KEY, 'acme']]),
    logLevel: 'silent',
    // Verified tasks: only the probation check every new worker gets, no random ones (exact counts).
    spotCheckRate: 0,
  });
  volunteer = await SimulatedVolunteer.connect({
    url: coordinator.url,
    run: runBuiltinOps,
    capability: SIM_CAPABILITY,
  });
  browser = await launchChromium();
  await mkdir(ARTIFACTS, { recursive: true });
});

test.afterAll(async () => {
  for (const id of gates.keys()) release(id);
  await browser?.close();
  await second?.close();
  await volunteer?.close();
  await coordinator?.close();
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
});

const signIn = (page: Page, key = KEY, url = coordinator.url): Promise<void> => signInAt(page, key, url);

test('a bad API key gets a clear message and no dashboard', async () => {
  const page = await browser.newPage();
  await signIn(page, 'not-a-key');
  await expect(page.locator('#sign-in-error')).toHaveText(
    'The coordinator refused this API key (401 UNAUTHENTICATED). Check the key and sign in again.',
  );
  await expect(page.locator('#nav')).toBeHidden();
  await page.close();
});

test('submit a built-in op: queued → running → succeeded, then preview and download the result', async () => {
  const page = await browser.newPage();
  await signIn(page);
  await expect(page.locator('#connection')).toHaveText('live');
  volunteer.pause();
  await page.getByRole('link', { name: 'Submit' }).click();
  await page.locator('#op-select').selectOption('mandelbrot');
  await page.locator('input[name="param-width"]').fill('256');
  await page.locator('input[name="param-height"]').fill('192');
  await page.locator('input[name="task-id"]').fill('dash-mandel-1');
  held.add('dash-mandel-1');
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-submit.png'), fullPage: true });
  await page.locator('#submit-builtin').click();

  await expect(page).toHaveURL(/#\/task\/dash-mandel-1$/);
  const badge = page.locator('.section-head .badge');
  await expect(badge).toHaveText('queued');
  await expect(page.locator('[data-fact="Waiting because"]')).not.toBeEmpty();
  volunteer.resume();
  await expect(badge).toHaveText('running', SLOW);
  await expect(page.locator('[data-fact="Worker"]')).toHaveText(volunteer.workerId);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-task-running.png'), fullPage: true });
  release('dash-mandel-1');
  await expect(badge).toHaveText('succeeded', SLOW);

  const output = page.locator('[data-output="iterations"]');
  await expect(output).toContainText('u32[192×256]');
  await expect(output.locator('canvas.preview-image')).toHaveAttribute('width', '256');
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-task-result.png'), fullPage: true });
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    output.locator('[data-download]').click(),
  ]);
  expect(download.suggestedFilename()).toBe('dash-mandel-1-iterations');
  const bytes = new Uint8Array(await readFile((await download.path())!));
  const expected = (await OPS.mandelbrot.prepare({}, { width: 256, height: 192 }).reference())['iterations']!;
  expect(bytes.length).toBe(256 * 192 * 4);
  expect(Buffer.from(bytes).equals(Buffer.from(expected))).toBe(true);
  await page.close();
});

test('the task list updates live, and screenshots of the dashboard mid-run look right', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  await signIn(page);
  await expect(page.locator('#connection')).toHaveText('live');
  const ids = ['dash-list-1', 'dash-list-2', 'dash-list-3'];
  for (const id of ids) held.add(id);
  await page.getByRole('link', { name: 'Submit' }).click();
  for (const [i, id] of ids.entries()) {
    await page.locator('#op-select').selectOption(i === 2 ? 'saxpy' : 'mandelbrot');
    await page.locator('input[name="task-id"]').fill(id);
    await page.locator('#submit-builtin').click();
    await expect(page).toHaveURL(new RegExp(`#/task/${id}$`));
    await page.getByRole('link', { name: 'Submit' }).click();
  }
  await page.getByRole('link', { name: 'Tasks' }).click();
  const row = (id: string) => page.locator(`tr[data-task-id="${id}"] .badge`);
  // Built-in ops that need WebGPU take GPU slots; the volunteer has two: two run, one waits.
  await expect(row('dash-list-1')).toHaveText('running', SLOW);
  await expect(row('dash-list-2')).toHaveText('running', SLOW);
  await expect(row('dash-list-3')).toHaveText('queued');
  await expect(page.locator('[data-count="running"] b')).toHaveText('2');
  await expect(page.locator('[data-count="queued"] b')).toHaveText('1');
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-tasks-mid-run.png'), fullPage: true });

  await page.getByRole('link', { name: 'Workers' }).click();
  const worker = page.locator(`tr[data-worker-id="${volunteer.workerId}"]`);
  await expect(worker.locator('[data-gpu] b')).toHaveText('flock-sim / cpu-reference');
  await expect(worker).toContainText('timestamp-query');
  await expect(worker).toContainText('4 cores');
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-workers.png'), fullPage: true });

  await page.getByRole('link', { name: 'Charts' }).click();
  await expect(page.locator('[data-stat="running"] b')).toHaveText('2');
  await expect(page.locator('[data-stat="queue_depth"] b')).toHaveText('1');
  await expect(page.locator('.chart canvas')).toHaveCount(3);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-charts-mid-run.png'), fullPage: true });

  for (const id of ids) release(id);
  await expect.poll(() => [...running].filter((id) => ids.includes(id)).length).toBe(0);
  await expect(page.locator('[data-stat="running"] b')).toHaveText('0', SLOW);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-charts.png'), fullPage: true });
  await page.getByRole('link', { name: 'Tasks' }).click();
  for (const id of ids) await expect(row(id)).toHaveText('succeeded', SLOW);
  await page.close();
});

test('cancel a long task from its page', async () => {
  const page = await browser.newPage();
  await signIn(page);
  await page.getByRole('link', { name: 'Submit' }).click();
  await page.locator('#op-select').selectOption('mandelbrot');
  await page.locator('input[name="param-width"]').fill('4096');
  await page.locator('input[name="param-height"]').fill('4096');
  await page.locator('input[name="param-max_iter"]').fill('1000000');
  await page.locator('input[name="task-id"]').fill('dash-long-1');
  await page.locator('#submit-builtin').click();
  const badge = page.locator('.section-head .badge');
  await expect(badge).toHaveText('running', SLOW);
  await expect.poll(() => running.has('dash-long-1')).toBe(true);
  await page.locator('#cancel-task').click();
  await expect(badge).toHaveText('cancelled', SLOW);
  await expect(page.locator('#cancel-task')).toHaveCount(0);
  await expect.poll(() => running.has('dash-long-1')).toBe(false);
  const view = await (
    await fetch(`${coordinator.url}/v1/tasks/dash-long-1`, { headers: { authorization: `Bearer ${KEY}` } })
  ).json();
  expect(view.state).toBe('cancelled');
  await page.close();
});

test('a campaign maps a built-in op over many inputs, one task per line', async () => {
  const page = await browser.newPage();
  await signIn(page);
  await page.getByRole('link', { name: 'Submit' }).click();
  await page.getByRole('tab', { name: 'Campaign' }).click();
  await page.locator('#campaign-module').selectOption('builtin:mandelbrot');
  await page.locator('input[name="campaign-id"]').fill('dash-camp-1');
  await page.locator('#submit-campaign').click();
  await expect(page).toHaveURL(/#\/campaign\/dash-camp-1$/);
  await expect(page.locator('h1')).toHaveText('Campaign dash-camp-1');
  await expect(page.locator('[data-count="succeeded"] b')).toHaveText('3', SLOW);
  await expect(page.locator('#task-rows tr')).toHaveCount(3);
  for (const i of [0, 1, 2])
    await expect(page.locator(`tr[data-task-id="dash-camp-1-${i}"] .badge`)).toHaveText('succeeded', SLOW);
  await expect(page.locator('#campaign-info')).toHaveText('3 tasks in this campaign');
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-campaign.png'), fullPage: true });
  // A task of the campaign links back to it.
  await page.locator('tr[data-task-id="dash-camp-1-1"] a').click();
  await expect(page.locator('[data-fact="Campaign"]')).toHaveText('dash-camp-1');
  await page.locator('[data-fact="Campaign"] a').click();
  await expect(page).toHaveURL(/#\/campaign\/dash-camp-1$/);
  await page.close();
});

test('a campaign of an op with inputs takes them per line; a line missing one is refused', async () => {
  const page = await browser.newPage();
  await signIn(page);
  await page.getByRole('link', { name: 'Submit' }).click();
  await page.getByRole('tab', { name: 'Campaign' }).click();
  // A WASM module asks for WASM, not WebGPU (a WASM-only tab could not take it otherwise).
  const needsWebgpu = page.locator('input[name="require-webgpu"]');
  const needsWasm = page.locator('input[name="require-wasm"]');
  await expect(needsWebgpu).toBeChecked();
  await page.locator('#campaign-module').selectOption('wasm');
  await expect(needsWebgpu).not.toBeChecked();
  await expect(needsWasm).toBeChecked();
  await expect(page.locator('#campaign-lines')).toHaveValue('first stdin\nsecond stdin');
  // Choosing the op shows its example line, inputs included, so Submit works as it stands.
  await page.locator('#campaign-module').selectOption('builtin:saxpy');
  await expect(needsWebgpu).toBeChecked();
  await expect(needsWasm).not.toBeChecked();
  await expect(page.locator('#campaign-lines')).toHaveValue('{"a":2,"x":[1,2,3,4],"y":[10,20,30,40]}');
  await page.locator('input[name="campaign-id"]').fill('dash-camp-saxpy');
  await page.locator('#campaign-lines').fill('{"a": 2, "x": [1, 2], "y": [3, 4]}\n{"a": 3, "x": [1]}');
  await page.locator('#submit-campaign').click();
  await expect(page.locator('#submit-error')).toHaveText(
    'Line 2: input "y" (f32[n]) is missing: add "y": [10, 20, 30, 40]',
  );
  await expect(page).toHaveURL(/#\/submit$/);
  await page
    .locator('#campaign-lines')
    .fill('{"a": 2, "x": [1, 2], "y": [3, 4]}\n{"a": 3, "x": "1 1", "y": "0 1"}');
  await page.locator('#submit-campaign').click();
  await expect(page).toHaveURL(/#\/campaign\/dash-camp-saxpy$/);
  await expect(page.locator('[data-count="succeeded"] b')).toHaveText('2', SLOW);
  await expect(page.locator('[data-count="failed"] b')).toHaveText('0');
  await page.locator('tr[data-task-id="dash-camp-saxpy-0"] a').click();
  await expect(page.locator('[data-output="out"] .preview-values')).toHaveText('5  8', SLOW);
  await page.goBack();
  await page.locator('tr[data-task-id="dash-camp-saxpy-1"] a').click();
  await expect(page.locator('[data-output="out"] .preview-values')).toHaveText('3  4', SLOW);
  await page.close();
});

test('a module is uploaded content-addressed; failure codes, JSON and text results are shown', async () => {
  const page = await browser.newPage();
  await signIn(page);
  await page.getByRole('link', { name: 'Submit' }).click();
  await page.getByRole('tab', { name: 'WASM / WGSL module' }).click();
  // WGSL asks for WebGPU (else the coordinator refuses it: GPU_REQUIREMENT_MISSING); WASM for WASM.
  const needsWebgpu = page.locator('input[name="require-webgpu"]');
  await expect(needsWebgpu).not.toBeChecked();
  await page.locator('#module-kind').selectOption('wgsl');
  await expect(needsWebgpu).toBeChecked();
  await expect(page.locator('input[name="require-wasm"]')).not.toBeChecked();
  await page.locator('#module-kind').selectOption('wasm');
  await expect(needsWebgpu).not.toBeChecked();
  await expect(page.locator('input[name="require-wasm"]')).toBeChecked();
  // The smallest valid module: magic and version. This volunteer runs only built-in ops.
  const wasm = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  await page
    .locator('#module-file')
    .setInputFiles({ name: 'empty.wasm', mimeType: 'application/wasm', buffer: wasm });
  await page.locator('textarea[name="module-input"]').fill('hello');
  await page.locator('#submit-module').click();
  await expect(page).toHaveURL(/#\/task\/wasm-[0-9a-f]{8}$/);
  await expect(page.locator('.section-head .badge')).toHaveText('failed', SLOW);
  await expect(page.locator('#task-failure')).toHaveText('UNSUPPORTED no op run');
  await expect(page.locator('#attempt-rows')).toContainText('UNSUPPORTED');
  const hex = createHash('sha256').update(wasm).digest('hex');
  const stored = await fetch(`${coordinator.url}/v1/modules/sha256:${hex}`, {
    headers: { authorization: `Bearer ${KEY}` },
  });
  expect(stored.status).toBe(200);
  expect(Buffer.from(await stored.arrayBuffer()).equals(wasm)).toBe(true);

  // The same module under an op this volunteer knows: JSON and text outputs are previewed.
  await page.getByRole('link', { name: 'Submit' }).click();
  await page.getByRole('tab', { name: 'WASM / WGSL module' }).click();
  await page
    .locator('#module-file')
    .setInputFiles({ name: 'empty.wasm', mimeType: 'application/wasm', buffer: wasm });
  await page.locator('input[name="module-op"]').fill('describe');
  await page.locator('textarea[name="module-input"]').fill('hello volunteer world');
  await page.locator('#submit-module').click();
  await expect(page.locator('.section-head .badge')).toHaveText('succeeded', SLOW);
  await expect(page.locator('[data-output="report.json"] .preview-json')).toHaveText(
    JSON.stringify({ bytes: 21, words: 3 }, null, 2),
  );
  await expect(page.locator('[data-output="stdout"] .preview-text')).toHaveText('HELLO VOLUNTEER WORLD');
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-text-json-result.png'), fullPage: true });
  await page.close();
});

test('an invalid envelope names the field and why', async () => {
  const page = await browser.newPage();
  await signIn(page);
  await page.getByRole('link', { name: 'Submit' }).click();
  await page.getByRole('tab', { name: 'Envelope JSON' }).click();
  await page
    .locator('#envelope-json')
    .fill(JSON.stringify({ task_id: 'dash-bad-1', module: { kind: 'builtin' }, requirements: { min: {} } }));
  await page.locator('#submit-json').click();
  await expect(page.locator('#submit-error')).toHaveText(
    /^Invalid envelope: field "op": .+ \(MISSING_FIELD\)$/,
  );
  await page.locator('#envelope-json').fill('{"task_id": ');
  await page.locator('#submit-json').click();
  await expect(page.locator('#submit-error')).toHaveText(/^Not JSON: /);
  // The template as it stands is valid: reduce_sum of [1, 2, 3, 4], previewed as its value.
  await page.getByRole('tab', { name: 'Built-in op' }).click();
  await page.getByRole('tab', { name: 'Envelope JSON' }).click();
  await page.locator('#submit-json').click();
  await expect(page).toHaveURL(/#\/task\/json-[0-9a-f]{8}$/);
  await expect(page.locator('.section-head .badge')).toHaveText('succeeded', SLOW);
  await expect(page.locator('[data-output="sum"] .preview-values')).toHaveText('10');
  await page.close();
});

test('a verified task waits for a second volunteer, then its page says a quorum accepted it', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(page);
  await expect(page.locator('#connection')).toHaveText('live');
  await page.getByRole('link', { name: 'Submit' }).click();
  await page.locator('#op-select').selectOption('saxpy');
  await page.locator('input[name="task-id"]').fill('dash-verify-1');
  await page.getByLabel('Verify results').check();
  // A bad policy is refused (by the SDK's envelope check, before any request), naming the field.
  await page.locator('input[name="verify-quorum"]').fill('3');
  await page.locator('#submit-builtin').click();
  await expect(page.locator('#submit-error')).toHaveText(
    'Invalid envelope: field "verification.quorum": verification.quorum cannot exceed replicas (INVALID_FIELD)',
  );
  await page.locator('input[name="verify-quorum"]').fill('2');
  await page.locator('#submit-builtin').click();
  await expect(page).toHaveURL(/#\/task\/dash-verify-1$/);

  // The one volunteer is checked first (a known answer), then runs one copy; the second copy
  // must run on another worker, so the task is not done: half verified.
  const fact = page.locator('[data-fact="Verification"]');
  await expect(fact.locator('[data-verification-text]')).toHaveText(
    'pending (1 of 2 agree, 1 returned, 1 of at most 5 dispatched, mode fixed)',
    SLOW,
  );
  await expect(fact.locator('[data-verification]')).toHaveText('verifying');
  await expect(fact.locator('[data-verification-workers]')).toHaveText(`copies on ${volunteer.workerId}`);
  await expect(page.locator('.section-head .badge')).toHaveText(/^(queued|running)$/);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-task-verifying.png'), fullPage: true });

  second = await SimulatedVolunteer.connect({
    url: coordinator.url,
    run: runBuiltinOps,
    capability: SIM_CAPABILITY,
  });
  await expect(page.locator('.section-head .badge')).toHaveText('succeeded', SLOW);
  await expect(fact.locator('[data-verification-text]')).toHaveText(
    'accepted by quorum (2 of 2 agree, 2 returned, mode fixed)',
  );
  await expect(fact.locator('[data-verification]')).toHaveText('verified');
  await expect(fact.locator('[data-verification-workers]')).toHaveText(
    `copies on ${volunteer.workerId}, ${second.workerId}`,
  );
  // The canonical result: a * x + y for the form's example (a = 2, x = 1 2 3 4, y = 10 20 30 40).
  await expect(page.locator('[data-output="out"] .preview-values')).toHaveText(/^12\s+24\s+36\s+48$/);

  await page.getByRole('link', { name: 'Tasks' }).click();
  await expect(page.locator('tr[data-task-id="dash-verify-1"] [data-verification]')).toHaveText('verified');
  await expect(page.locator('tr[data-task-id="dash-mandel-1"] [data-verification]')).toHaveCount(0);

  // Both passed their check and agreed: two validated results each, credit confirmed (none pending).
  await page.getByRole('link', { name: 'Workers' }).click();
  for (const sim of [volunteer, second]) {
    const row = page.locator(`#worker-rows tr[data-worker-id="${sim.workerId}"]`);
    await expect(row.locator('[data-trust]')).toHaveText('verified');
    await expect(row.locator('[data-validated]')).toHaveText('2');
    await expect(row.locator('[data-rejected]')).toHaveText('0');
    await expect(row.locator('[data-pending-credit]')).toHaveCount(0);
  }
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-workers-verified.png'), fullPage: true });
  await second.close();
  second = undefined;
  await page.close();
});

test('a lost connection is said plainly, and the page recovers or signs out', async () => {
  const page = await browser.newPage();
  await signIn(page);
  await expect(page.locator('#connection')).toHaveText('live');
  // A task no volunteer can take: it waits in the queue, across the restart below.
  const submitted = await fetch(`${coordinator.url}/v1/tasks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      task_id: 'dash-persist-1',
      op: 'reduce_sum',
      module: { kind: 'builtin' },
      requirements: { min: { cpu_cores: 4096 } },
    }),
  });
  expect(submitted.status).toBe(201);
  await expect(page.locator('tr[data-task-id="dash-persist-1"] .badge')).toHaveText('queued');
  // Its row's tooltip says why it waits, and follows a volunteer leaving and another joining.
  const row = page.locator('tr[data-task-id="dash-persist-1"]');
  const unmet = 'no connected worker meets requirements.min.cpu_cores >= 4096 (1 connected)';
  await expect(row).toHaveAttribute('title', unmet);
  await volunteer.close();
  await expect(row).toHaveAttribute('title', 'no volunteers are connected');
  volunteer = await SimulatedVolunteer.connect({
    url: coordinator.url,
    run: runBuiltinOps,
    capability: SIM_CAPABILITY,
  });
  await expect(row).toHaveAttribute('title', unmet);
  // Its page says why it waits, and says it again when that changes with no change of state.
  await page.locator('tr[data-task-id="dash-persist-1"] a').click();
  const waiting = page.locator('[data-fact="Waiting because"]');
  await expect(waiting).toHaveText(
    'no connected worker meets requirements.min.cpu_cores >= 4096 (1 connected)',
  );
  await volunteer.close();
  await expect(waiting).toHaveText('no volunteers are connected');
  await coordinator.close();
  await expect(page.locator('#banner')).toHaveText(
    'Lost connection to the coordinator. Reconnecting… (live updates paused)',
  );
  await expect(page.locator('#connection')).toHaveText(/connection lost|connecting…/);
  // The task page opened while the coordinator is away says so, until it answers again.
  await page.evaluate(() => {
    location.hash = '#/tasks';
  });
  await page.evaluate(() => {
    location.hash = '#/task/dash-persist-1';
  });
  await expect(page.locator('#task-error')).toHaveText(
    'Lost connection to the coordinator: it did not answer. Is it running?',
  );
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-connection-lost.png') });

  // The coordinator comes back on the same port with the same data: the page reconnects by
  // itself and the tasks are still there.
  const port = coordinator.port;
  const restart = (keys: Map<string, string>) =>
    startCoordinator({ port, dataDir: join(workDir, 'data'), pagesDir, apiKeys: keys, logLevel: 'silent' });
  coordinator = await restart(new Map([[KEY, 'acme']]));
  await expect(page.locator('#connection')).toHaveText('live', { timeout: 30_000 });
  await expect(page.locator('#banner')).toBeHidden();
  await expect(page.locator('#task-error')).toBeHidden();
  await expect(page.locator('.section-head .badge')).toHaveText('queued');
  await page.getByRole('link', { name: 'Tasks' }).click();
  await expect(page.locator('tr[data-task-id="dash-persist-1"] .badge')).toHaveText('queued');

  // It comes back without this key: the page says so and asks for another.
  await coordinator.close();
  coordinator = await restart(new Map([['another-key', 'acme']]));
  await expect(page.locator('#sign-in-error')).toHaveText(
    'The coordinator refused this API key (401 UNAUTHENTICATED). Check the key and sign in again.',
    { timeout: 30_000 },
  );
  await expect(page.locator('#nav')).toBeHidden();
  await page.close();
});
