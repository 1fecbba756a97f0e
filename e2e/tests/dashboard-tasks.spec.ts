// The requester dashboard driven with real clicks, its task pages: a real coordinator (in-process,
// SQLite, the built pages), the page built by the root vite.config.ts, system Chromium, and a
// volunteer that speaks the real worker protocol and computes built-in ops with @flock/shaders on
// the CPU (support/dashboard-flock.ts): sign-in, a task from submit to download, the live list,
// cancel, a verified task's quorum, and a lost connection. The submit forms: dashboard-forms.spec.ts.
// Screenshots of the dashboard mid-run go to e2e/artifacts/.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startCoordinator } from '@flock/coordinator';
import { expect, test } from '@playwright/test';
import { OPS } from '../support/builtin-ops-volunteer.ts';
import { dashboardFlock } from '../support/dashboard-flock.ts';
import { ARTIFACTS, DASHBOARD_KEY, SLOW } from '../support/dashboard-pages.ts';

const flock = dashboardFlock('dash-tasks');

test('a bad API key gets a clear message and no dashboard', async () => {
  const page = await flock.browser.newPage();
  await flock.signIn(page, 'not-a-key');
  await expect(page.locator('#sign-in-error')).toHaveText(
    'The coordinator refused this API key (401 UNAUTHENTICATED). Check the key and sign in again.',
  );
  await expect(page.locator('#nav')).toBeHidden();
  await page.close();
});

test('submit a built-in op: queued → running → succeeded, then preview and download the result', async () => {
  const page = await flock.browser.newPage();
  await flock.signIn(page);
  await expect(page.locator('#connection')).toHaveText('live');
  flock.volunteer.pause();
  await page.getByRole('link', { name: 'Submit' }).click();
  await page.locator('#op-select').selectOption('mandelbrot');
  await page.locator('input[name="param-width"]').fill('256');
  await page.locator('input[name="param-height"]').fill('192');
  await page.locator('input[name="task-id"]').fill('dash-mandel-1');
  flock.ops.held.add('dash-mandel-1');
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-submit.png'), fullPage: true });
  await page.locator('#submit-builtin').click();

  await expect(page).toHaveURL(/#\/task\/dash-mandel-1$/);
  const badge = page.locator('.section-head .badge');
  await expect(badge).toHaveText('queued');
  await expect(page.locator('[data-fact="Waiting because"]')).not.toBeEmpty();
  flock.volunteer.resume();
  await expect(badge).toHaveText('running', SLOW);
  await expect(page.locator('[data-fact="Worker"]')).toHaveText(flock.volunteer.workerId);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-task-running.png'), fullPage: true });
  flock.ops.release('dash-mandel-1');
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
  const page = await flock.browser.newPage({ viewport: { width: 1280, height: 860 } });
  await flock.signIn(page);
  await expect(page.locator('#connection')).toHaveText('live');
  const ids = ['dash-list-1', 'dash-list-2', 'dash-list-3'];
  for (const id of ids) flock.ops.held.add(id);
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
  const worker = page.locator(`tr[data-worker-id="${flock.volunteer.workerId}"]`);
  await expect(worker.locator('[data-gpu] b')).toHaveText('flock-sim / cpu-reference');
  await expect(worker).toContainText('timestamp-query');
  await expect(worker).toContainText('4 cores');
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-workers.png'), fullPage: true });

  await page.getByRole('link', { name: 'Charts' }).click();
  await expect(page.locator('[data-stat="running"] b')).toHaveText('2');
  await expect(page.locator('[data-stat="queue_depth"] b')).toHaveText('1');
  await expect(page.locator('.chart canvas')).toHaveCount(3);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-charts-mid-run.png'), fullPage: true });

  for (const id of ids) flock.ops.release(id);
  await expect.poll(() => [...flock.ops.running].filter((id) => ids.includes(id)).length).toBe(0);
  await expect(page.locator('[data-stat="running"] b')).toHaveText('0', SLOW);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-charts.png'), fullPage: true });
  await page.getByRole('link', { name: 'Tasks' }).click();
  for (const id of ids) await expect(row(id)).toHaveText('succeeded', SLOW);
  await page.close();
});

test('cancel a long task from its page', async () => {
  const page = await flock.browser.newPage();
  await flock.signIn(page);
  await page.getByRole('link', { name: 'Submit' }).click();
  await page.locator('#op-select').selectOption('mandelbrot');
  await page.locator('input[name="param-width"]').fill('4096');
  await page.locator('input[name="param-height"]').fill('4096');
  await page.locator('input[name="param-max_iter"]').fill('1000000');
  await page.locator('input[name="task-id"]').fill('dash-long-1');
  await page.locator('#submit-builtin').click();
  const badge = page.locator('.section-head .badge');
  await expect(badge).toHaveText('running', SLOW);
  await expect.poll(() => flock.ops.running.has('dash-long-1')).toBe(true);
  await page.locator('#cancel-task').click();
  await expect(badge).toHaveText('cancelled', SLOW);
  await expect(page.locator('#cancel-task')).toHaveCount(0);
  await expect.poll(() => flock.ops.running.has('dash-long-1')).toBe(false);
  const view = await (
    await fetch(`${flock.coordinator.url}/v1/tasks/dash-long-1`, {
      headers: { authorization: `Bearer ${DASHBOARD_KEY}` },
    })
  ).json();
  expect(view.state).toBe('cancelled');
  await page.close();
});

test('a verified task waits for a second volunteer, then its page says a quorum accepted it', async () => {
  const page = await flock.browser.newPage({ viewport: { width: 1280, height: 900 } });
  await flock.signIn(page);
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
  await expect(fact.locator('[data-verification-workers]')).toHaveText(
    `copies on ${flock.volunteer.workerId}`,
  );
  await expect(page.locator('.section-head .badge')).toHaveText(/^(queued|running)$/);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-task-verifying.png'), fullPage: true });

  const second = await flock.connectVolunteer();
  flock.second = second;
  await expect(page.locator('.section-head .badge')).toHaveText('succeeded', SLOW);
  await expect(fact.locator('[data-verification-text]')).toHaveText(
    'accepted by quorum (2 of 2 agree, 2 returned, mode fixed)',
  );
  await expect(fact.locator('[data-verification]')).toHaveText('verified');
  await expect(fact.locator('[data-verification-workers]')).toHaveText(
    `copies on ${flock.volunteer.workerId}, ${second.workerId}`,
  );
  // The canonical result: a * x + y for the form's example (a = 2, x = 1 2 3 4, y = 10 20 30 40).
  await expect(page.locator('[data-output="out"] .preview-values')).toHaveText(/^12\s+24\s+36\s+48$/);

  await page.getByRole('link', { name: 'Tasks' }).click();
  await expect(page.locator('tr[data-task-id="dash-verify-1"] [data-verification]')).toHaveText('verified');
  await expect(page.locator('tr[data-task-id="dash-mandel-1"] [data-verification]')).toHaveCount(0);

  // Both passed their check and agreed: two validated results each, credit confirmed (none pending).
  await page.getByRole('link', { name: 'Workers' }).click();
  for (const sim of [flock.volunteer, second]) {
    const row = page.locator(`#worker-rows tr[data-worker-id="${sim.workerId}"]`);
    await expect(row.locator('[data-trust]')).toHaveText('verified');
    await expect(row.locator('[data-validated]')).toHaveText('2');
    await expect(row.locator('[data-rejected]')).toHaveText('0');
    await expect(row.locator('[data-pending-credit]')).toHaveCount(0);
  }
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-workers-verified.png'), fullPage: true });
  await second.close();
  flock.second = undefined;
  await page.close();
});

test('a lost connection is said plainly, and the page recovers or signs out', async () => {
  const page = await flock.browser.newPage();
  await flock.signIn(page);
  await expect(page.locator('#connection')).toHaveText('live');
  // A task no volunteer can take: it waits in the queue, across the restart below.
  const submitted = await fetch(`${flock.coordinator.url}/v1/tasks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${DASHBOARD_KEY}`, 'content-type': 'application/json' },
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
  await flock.volunteer.close();
  await expect(row).toHaveAttribute('title', 'no volunteers are connected');
  flock.volunteer = await flock.connectVolunteer();
  await expect(row).toHaveAttribute('title', unmet);
  // Its page says why it waits, and says it again when that changes with no change of state.
  await page.locator('tr[data-task-id="dash-persist-1"] a').click();
  const waiting = page.locator('[data-fact="Waiting because"]');
  await expect(waiting).toHaveText(
    'no connected worker meets requirements.min.cpu_cores >= 4096 (1 connected)',
  );
  await flock.volunteer.close();
  await expect(waiting).toHaveText('no volunteers are connected');
  await flock.coordinator.close();
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
  const port = flock.coordinator.port;
  const restart = (keys: Map<string, string>) =>
    startCoordinator({
      port,
      dataDir: join(flock.workDir, 'data'),
      pagesDir: flock.pagesDir,
      apiKeys: keys,
      logLevel: 'silent',
    });
  flock.coordinator = await restart(new Map([[DASHBOARD_KEY, 'acme']]));
  await expect(page.locator('#connection')).toHaveText('live', { timeout: 30_000 });
  await expect(page.locator('#banner')).toBeHidden();
  await expect(page.locator('#task-error')).toBeHidden();
  await expect(page.locator('.section-head .badge')).toHaveText('queued');
  await page.getByRole('link', { name: 'Tasks' }).click();
  await expect(page.locator('tr[data-task-id="dash-persist-1"] .badge')).toHaveText('queued');

  // It comes back without this key: the page says so and asks for another.
  await flock.coordinator.close();
  flock.coordinator = await restart(new Map([['another-key', 'acme']]));
  await expect(page.locator('#sign-in-error')).toHaveText(
    'The coordinator refused this API key (401 UNAUTHENTICATED). Check the key and sign in again.',
    { timeout: 30_000 },
  );
  await expect(page.locator('#nav')).toBeHidden();
  await page.close();
});
