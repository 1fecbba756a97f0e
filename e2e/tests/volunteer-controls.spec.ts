// The volunteer page's controls as a person uses them, in real headless Chromium on a real
// coordinator: Start, Pause and Stop from the keyboard (focus stays on the controls), Pause
// letting the running job finish and giving back the queued one, the CPU slots box showing what
// was applied, "Only while charging" with and without the Battery API, and the State row while
// the coordinator cannot be reached. (Found by walking apps/worker-web/README.md as a volunteer.)
import { type Browser, expect, type Page, test } from '@playwright/test';
import { launchChromium } from '../support/chromium.ts';
import { saxpyTask } from '../support/wgsl-tasks.ts';
import { Harness, outputBytes, taskId, wasmFixture, wasmTask } from './volunteer-harness.ts';

test.describe.configure({ mode: 'serial' });

let harness: Harness;
let browser: Browser;

/** The volunteer page in a fresh context (own IndexedDB), `init` run before the page's scripts. */
async function openPage(init?: () => void): Promise<Page> {
  const context = await browser.newContext();
  if (init) await context.addInitScript(init);
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') console.log(`[tab] ${message.text()}`);
  });
  await page.goto(`${harness.url}/`);
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true');
  return page;
}

/** The capability the coordinator holds for the page's worker (JSON view: false and 0 left out). */
async function capabilityOf(page: Page): Promise<Record<string, unknown>> {
  const workerId = await page.locator('#worker-id').textContent();
  const { body } = await harness.api<{
    workers: Array<{ worker_id: string; capability: Record<string, unknown> }>;
  }>('GET', '/v1/workers');
  return body.workers.find((w) => w.worker_id === workerId)?.capability ?? {};
}

test.beforeAll(async () => {
  harness = await Harness.start();
  browser = await launchChromium({ webgpu: true });
});

test.afterAll(async () => {
  await browser?.close();
  await harness?.close();
});

test('Start, Pause and Stop work from the keyboard; Pause lets the running job finish and gives back the queued one', async () => {
  const page = await openPage();
  await page.keyboard.press('Tab');
  await expect(page.locator('#start')).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.locator('#connection')).toHaveText('open');
  // Start is hidden once pressed: the keyboard lands on Pause, not on the page's body.
  await expect(page.locator('#pause')).toBeFocused();

  // GPU off: one CPU executor, prefetch 1, so the second job waits in its inbox behind the first.
  await page.getByLabel('Use the GPU (WebGPU)').uncheck();
  await expect.poll(async () => (await capabilityOf(page))['prefetch']).toBe(1);
  const spin = await wasmFixture('spin');
  const running = taskId('runs-on');
  const queued = taskId('given-back');
  await harness.submit(wasmTask(running, spin, { params: { args: ['3000'] } }));
  await harness.submit(wasmTask(queued, await wasmFixture('empty')));
  await expect(page.getByRole('progressbar', { name: `progress of ${running}` })).toBeVisible();
  // The second waits behind it, and says so: it takes no CPU slot yet.
  const queuedItem = page.locator(`#running li[data-task-id="${queued}"]`);
  await expect(queuedItem).toHaveText(`${queued} · wasm wasm-run queued`);
  await expect(queuedItem).toHaveAttribute('data-state', 'queued');

  await page.locator('#pause').focus();
  await page.keyboard.press('Enter');
  await expect(page.locator('#state')).toHaveText('paused by the volunteer');
  await expect(page.getByRole('button', { name: 'Resume' })).toBeFocused();
  // The job running when Pause was pressed finishes and is delivered; the queued one comes back.
  const ran = await harness.waitFor(running, 'succeeded');
  expect(ran.attempts.map((a) => a.outcome)).toEqual(['succeeded']);
  const back = await harness.task(queued);
  expect(back.state).toBe('queued');
  expect(back.attempts.map((a) => [a.outcome, a.code])).toEqual([['lease_expired', 'LEASE_RETURNED']]);
  await expect(page.locator('#running li.empty')).toHaveText('nothing');

  await page.keyboard.press('Enter');
  await expect(page.getByRole('button', { name: 'Pause' })).toBeFocused();
  await harness.waitFor(queued, 'succeeded');

  await page.locator('#stop').focus();
  await page.keyboard.press('Enter');
  await expect(page.locator('#connection')).toHaveText('closed (stopped)');
  await expect(page.locator('#state')).toHaveText('not started');
  await expect(page.locator('#start')).toBeFocused();
  await page.context().close();
});

test('the CPU slots box shows the slots applied: out of range is clamped, a fraction or nothing keeps them', async () => {
  // Four cores: 1 to 3 slots.
  const page = await openPage(() =>
    Object.defineProperty(Navigator.prototype, 'hardwareConcurrency', { get: () => 4 }),
  );
  await expect(page.locator('#cpu-max')).toHaveText('(1 to 3)');
  await page.getByRole('button', { name: 'Start donating compute' }).click();
  await expect(page.locator('#connection')).toHaveText('open');
  const slots = page.getByRole('spinbutton', { name: /^CPU slots/ });
  for (const [typed, applied] of [
    ['2', 2],
    ['0', 1],
    ['9', 3],
    ['2.5', 3],
    ['', 3],
    ['-1', 1],
  ] as const) {
    await slots.fill(typed);
    await slots.press('Enter');
    // Still focused: the box itself shows what the tab now uses, and the coordinator is told.
    await expect(slots, `typed ${JSON.stringify(typed)}`).toHaveValue(String(applied));
    await expect.poll(async () => (await capabilityOf(page))['cpu_slots']).toBe(applied);
  }
  await page.context().close();
});

test('fewer CPU slots while jobs run: those jobs finish, their executors retire, and then one job runs at a time', async () => {
  const page = await openPage(() =>
    Object.defineProperty(Navigator.prototype, 'hardwareConcurrency', { get: () => 4 }),
  );
  await page.getByLabel('Use the GPU (WebGPU)').uncheck();
  await page.getByRole('button', { name: 'Start donating compute' }).click();
  await expect(page.locator('#connection')).toHaveText('open');
  const slots = page.getByRole('spinbutton', { name: /^CPU slots/ });
  await slots.fill('3');
  await slots.press('Enter');
  await expect.poll(async () => (await capabilityOf(page))['cpu_slots']).toBe(3);
  const executors = () =>
    page.evaluate(async () => {
      const volunteer = (
        globalThis as unknown as { flockVolunteer: { ringStats(): Promise<{ workers: unknown[] }> } }
      ).flockVolunteer;
      return (await volunteer.ringStats()).workers.length;
    });
  expect(await executors()).toBe(3);
  // The most jobs running at once in the tab (started, not queued), sampled by the page itself.
  await page.evaluate(() => {
    type Running = { startedAtMs: number };
    const volunteer = (globalThis as unknown as { flockVolunteer: { view(): { running: Running[] } } })
      .flockVolunteer;
    const probe = { most: 0 };
    Object.assign(globalThis, { concurrency: probe });
    setInterval(() => {
      const now = volunteer.view().running.filter((r) => r.startedAtMs > 0).length;
      probe.most = Math.max(probe.most, now);
    }, 10);
  });
  const mostAtOnce = () =>
    page.evaluate(() => (globalThis as unknown as { concurrency: { most: number } }).concurrency.most);
  const resetMost = () =>
    page.evaluate(() => {
      (globalThis as unknown as { concurrency: { most: number } }).concurrency.most = 0;
    });

  const spin = await wasmFixture('spin');
  const first = [taskId('three'), taskId('three'), taskId('three')];
  for (const id of first) await harness.submit(wasmTask(id, spin, { params: { args: ['2500'] } }));
  await expect.poll(mostAtOnce).toBe(3);
  await slots.fill('1');
  await slots.press('Enter');
  await expect.poll(async () => (await capabilityOf(page))['cpu_slots']).toBe(1);
  // Running jobs are not cut short: each succeeds in its one attempt.
  for (const id of first) expect((await harness.waitFor(id, 'succeeded')).attempts).toHaveLength(1);
  await expect.poll(executors).toBe(1);

  await resetMost();
  const next = [taskId('one'), taskId('one')];
  for (const id of next) await harness.submit(wasmTask(id, spin, { params: { args: ['500'] } }));
  for (const id of next) await harness.waitFor(id, 'succeeded');
  expect(await mostAtOnce()).toBe(1);
  await page.context().close();
});

test('with the GPU switched off a built-in op runs on the CPU, and on the GPU once it is on again', async () => {
  const page = await openPage();
  await page.getByLabel('Use the GPU (WebGPU)').uncheck();
  await page.getByRole('button', { name: 'Start donating compute' }).click();
  await expect(page.locator('#connection')).toHaveText('open');
  const x = new Float32Array(300).map((_, i) => i);
  const y = new Float32Array(300).fill(0.5);
  const expected = [...x].map((v) => v * 2 + 0.5);
  // A built-in op that any tab may run (it asks for WASM, not WebGPU).
  const saxpy = (id: string) => ({ ...saxpyTask(id, x, y, 2), requirements: { min: { wasm: true } } });
  const off = taskId('saxpy-gpu-off');
  await harness.submit(saxpy(off));
  const ranOff = await harness.waitFor(off, 'succeeded');
  expect(ranOff.executor).toMatch(/^builtin:(wasm-simd|wasm-scalar|js)$/);
  const outOff = new Float32Array(new Uint8Array(outputBytes(await harness.result(off), 'out')).buffer);
  expect([...outOff]).toEqual(expected);

  await page.getByLabel('Use the GPU (WebGPU)').check();
  await expect.poll(async () => (await capabilityOf(page))['gpu_slots']).toBe(1);
  const on = taskId('saxpy-gpu-on');
  await harness.submit(saxpy(on));
  expect((await harness.waitFor(on, 'succeeded')).executor).toBe('builtin:wgsl');
  await page.context().close();
});

test('"Only while charging" waits for the charger, and is off (saying why) without the Battery API', async () => {
  const page = await openPage(() => {
    const battery = Object.assign(new EventTarget(), { charging: false, level: 0.5 });
    Object.assign(globalThis, { fakeBattery: battery });
    Object.defineProperty(Navigator.prototype, 'getBattery', { value: async () => battery });
  });
  await page.getByLabel('Only while charging').check();
  await page.getByRole('button', { name: 'Start donating compute' }).click();
  await expect(page.locator('#connection')).toHaveText('open');
  await expect(page.locator('#state')).toHaveText('waiting for the charger');
  await expect.poll(async () => (await capabilityOf(page))['paused']).toBe(true);
  await page.evaluate(() => {
    const battery = (globalThis as unknown as { fakeBattery: EventTarget & { charging: boolean } })
      .fakeBattery;
    battery.charging = true;
    battery.dispatchEvent(new Event('chargingchange'));
  });
  await expect(page.locator('#state')).toHaveText('waiting for work');
  await expect.poll(async () => (await capabilityOf(page))['paused'] ?? false).toBe(false);
  await page.context().close();

  // A browser without navigator.getBattery (Firefox, Safari) cannot tell: the box cannot be ticked.
  const noBattery = await openPage(() => {
    Reflect.deleteProperty(Navigator.prototype, 'getBattery');
  });
  await expect(noBattery.getByLabel('Only while charging')).toBeDisabled();
  await expect(noBattery.locator('#charging-note')).toHaveText(
    '(this browser does not tell whether it is charging)',
  );
  await noBattery.context().close();
});

test('while the coordinator cannot be reached the page says so, and goes back to waiting for work', async () => {
  const page = await openPage();
  await page.getByRole('button', { name: 'Start donating compute' }).click();
  await expect(page.locator('#state')).toHaveText('waiting for work');
  // Offline emulation blocks new connections; the drop ends the open one.
  await page.context().setOffline(true);
  await page.evaluate(() =>
    (globalThis as unknown as { flockVolunteer: { dropConnection(): void } }).flockVolunteer.dropConnection(),
  );
  await expect(page.locator('#connection')).toHaveText(/^reconnecting/);
  await expect(page.locator('#state')).toHaveText('waiting for the coordinator');
  await page.context().setOffline(false);
  await expect(page.locator('#connection')).toHaveText('open', { timeout: 40_000 });
  await expect(page.locator('#state')).toHaveText('waiting for work');
  await page.context().close();
});

test('a browser that refuses the page storage is told why, and Start is off instead of doing nothing', async () => {
  const context = await browser.newContext();
  // What Chromium does for a site that may not keep data ("block all cookies").
  await context.addInitScript(() => {
    IDBFactory.prototype.open = () => {
      throw new DOMException('The user denied permission to access the database.', 'SecurityError');
    };
  });
  const page = await context.newPage();
  await page.goto(`${harness.url}/`);
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'failed');
  await expect(page.getByRole('alert')).toHaveText(
    'Flock cannot start in this tab: the browser does not let this site store data (IndexedDB), which ' +
      'Flock needs to remember your choice and keep finished work safe across reloads. Allow this site ' +
      'to keep cookies and site data, then reload the page. (SecurityError: The user denied permission ' +
      'to access the database.)',
  );
  await expect(page.getByRole('button', { name: 'Start donating compute' })).toBeDisabled();
  await expect(page.locator('#connection')).toHaveText('idle');
  await context.close();
});
