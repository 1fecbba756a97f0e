// The network drops under a working tab and comes back: the tab goes offline (Chromium's offline
// emulation, which blocks new connections) and its live connections are cut (a proxy between tab
// and coordinator severs them, as a dropped network does; offline emulation leaves an open socket
// to 127.0.0.1 working). The job in flight finishes offline, and once the network is back the tab
// reconnects as the same worker, delivers it, and takes the work queued meanwhile: each task
// succeeds once, on its first attempt.
import { expect, test } from '../../support/flock-test.ts';
import { type PageProxy, startPageProxy } from '../../support/page-proxy.ts';
import { openVolunteerTab, runningInTab, type VolunteerTab } from '../../support/volunteer-tab.ts';
import { Harness, outputBytes, taskId, wasmFixture, wasmTask } from '../volunteer-harness.ts';

let harness: Harness;
let proxy: PageProxy;
let tab: VolunteerTab | undefined;

test.beforeAll(async () => {
  harness = await Harness.start({ leaseMs: 15_000, heartbeatMs: 1_000 });
  proxy = await startPageProxy(harness.url, { stripIsolation: false });
});

test.afterAll(async () => {
  await tab?.context.close();
  await proxy?.close();
  await harness?.close();
});

async function connected(): Promise<boolean[]> {
  const { body } = await harness.api<{ workers: Array<{ connected: boolean }> }>('GET', '/v1/workers');
  return body.workers.map((w) => w.connected);
}

test('the network dropped and restored: the tab reconnects and the work resumes, each task once', async ({
  browser,
}) => {
  tab = await openVolunteerTab(browser, `${proxy.url}/`);
  const spin = await wasmFixture('spin');
  const inFlight = taskId('offline-inflight');
  await harness.submit(wasmTask(inFlight, spin, { params: { args: ['1500'] } }));
  await expect(runningInTab(tab, inFlight)).toBeVisible();

  await tab.context.setOffline(true);
  proxy.sever();
  // 1006: the socket ended without a close frame, as on a dropped network.
  await expect(tab.page.locator('#connection')).toHaveText('reconnecting (closed 1006)');
  await expect.poll(connected).toEqual([false]);
  // Submitted while the only volunteer is away: it waits and says why.
  const queued = [taskId('offline-queued'), taskId('offline-queued')];
  for (const id of queued) await harness.submit(wasmTask(id, spin, { params: { args: ['300'] } }));
  expect((await harness.task(queued[0]!)).state).toBe('queued');
  // The job in flight finishes with nobody to tell; the outcome waits in the tab.
  await expect(tab.page.locator('#last-task')).toHaveText(`${inFlight}: ok (wasm-wasi)`);
  expect((await harness.task(inFlight)).state).toBe('running');
  // Offline emulation keeps the reconnect attempts out.
  await expect(tab.page.locator('#connection')).toHaveText(/^reconnecting/);
  expect(await connected()).toEqual([false]);

  await tab.context.setOffline(false);
  await expect(tab.page.locator('#connection')).toHaveText('open', { timeout: 40_000 });
  await expect(tab.page.locator('#worker-id')).toHaveText(tab.workerId);
  for (const [id, ms] of [
    [inFlight, 1500],
    [queued[0]!, 300],
    [queued[1]!, 300],
  ] as const) {
    const view = await harness.waitFor(id, 'succeeded');
    expect(view.attempts.map((a) => [a.worker_id, a.outcome])).toEqual([[tab.workerId, 'succeeded']]);
    expect(outputBytes(await harness.result(id), 'stdout').toString()).toBe(`spun ${ms} ms\n`);
  }
  expect(await connected()).toEqual([true]);
});
