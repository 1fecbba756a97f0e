// The requester dashboard's submit forms driven with real clicks against a real coordinator and a
// volunteer computing built-in ops on the CPU (support/dashboard-flock.ts): campaigns one task per
// line (params, and inputs with a line missing one refused), a module uploaded content-addressed
// with its failure code and JSON and text results, and an invalid envelope naming its field.
// Screenshots go to e2e/artifacts/.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { dashboardFlock } from '../support/dashboard-flock.ts';
import { ARTIFACTS, DASHBOARD_KEY, SLOW } from '../support/dashboard-pages.ts';

const flock = dashboardFlock('dash-forms');

test('a campaign maps a built-in op over many inputs, one task per line', async () => {
  const page = await flock.browser.newPage();
  await flock.signIn(page);
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
  const page = await flock.browser.newPage();
  await flock.signIn(page);
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
  const page = await flock.browser.newPage();
  await flock.signIn(page);
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
  const stored = await fetch(`${flock.coordinator.url}/v1/modules/sha256:${hex}`, {
    headers: { authorization: `Bearer ${DASHBOARD_KEY}` },
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
  const page = await flock.browser.newPage();
  await flock.signIn(page);
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
