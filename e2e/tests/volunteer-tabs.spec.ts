// Two volunteer tabs in one browser profile share one identity (IndexedDB). Without coordination
// they resumed the same session in turn and knocked each other off the coordinator every second
// (found by the multi-tab matrix). One tab holds a Web Lock and donates; the other says so, stays
// off the coordinator, and can take over.
import { type Browser, type BrowserContext, expect, type Page, test } from '@playwright/test';
import { launchChromium } from '../support/chromium.ts';
import { Harness, taskId, wasmFixture, wasmTask } from './volunteer-harness.ts';

test.describe.configure({ mode: 'serial' });

interface WorkerView {
  worker_id: string;
  connected: boolean;
  connected_at_ms: number;
}

let harness: Harness;
let browser: Browser;
let context: BrowserContext;

async function connectedWorkers(): Promise<WorkerView[]> {
  const { body } = await harness.api<{ workers: WorkerView[] }>('GET', '/v1/workers');
  return body.workers.filter((w) => w.connected);
}

async function openTab(): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${harness.url}/`);
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true');
  return page;
}

test.beforeAll(async () => {
  harness = await Harness.start();
  browser = await launchChromium({ webgpu: true });
  context = await browser.newContext();
});

test.afterAll(async () => {
  await browser?.close();
  await harness?.close();
});

test('a second tab stands by, a task runs undisturbed, and the second tab can take over', async () => {
  const first = await openTab();
  await first.getByRole('button', { name: 'Start donating compute' }).click();
  await expect(first.locator('#connection')).toHaveText('open');
  await expect.poll(async () => (await connectedWorkers()).length).toBe(1);
  const [worker] = await connectedWorkers();

  const second = await openTab();
  await expect(second.locator('#other-tab')).toBeVisible();
  await expect(second.locator('#controls')).toHaveAttribute('inert', '');
  await expect(second.locator('#connection')).toHaveText('idle');
  await expect(first.locator('#other-tab')).toBeHidden();

  // While the second tab is open, a task runs on the first without its connection ever dropping.
  const empty = await wasmFixture('empty');
  const id = taskId('two-tabs');
  await harness.submit(wasmTask(id, empty));
  const done = await harness.waitFor(id, 'succeeded');
  expect(done.attempts).toHaveLength(1);
  expect(done.attempts[0]!.worker_id).toBe(worker!.worker_id);
  const after = await connectedWorkers();
  expect(after).toHaveLength(1);
  expect(after[0]!.connected_at_ms).toBe(worker!.connected_at_ms);

  // The person moves Flock to the second tab: the first stands down, the same identity reconnects.
  // From the keyboard: the button hides itself, and the focus goes on to Pause.
  await second.getByRole('button', { name: 'Donate from this tab instead' }).focus();
  await second.keyboard.press('Enter');
  await expect(second.locator('#other-tab')).toBeHidden();
  await expect(second.getByRole('button', { name: 'Pause' })).toBeFocused();
  await expect(first.locator('#other-tab')).toBeVisible();
  await expect(second.locator('#connection')).toHaveText('open');
  await expect(first.locator('#connection')).not.toHaveText('open');
  await expect
    .poll(async () => (await connectedWorkers()).map((w) => w.worker_id))
    .toEqual([worker!.worker_id]);

  const next = taskId('two-tabs-after');
  await harness.submit(wasmTask(next, empty));
  await harness.waitFor(next, 'succeeded');
  await expect(second.locator('#tasks-done')).toHaveText('1');
});
