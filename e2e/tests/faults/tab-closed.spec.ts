// A volunteer closes the tab in the middle of a task: the coordinator keeps the lease (the tab
// might come back) until it expires, then the task runs again on another tab and succeeds there.
// The first attempt ends LEASE_EXPIRED, no earlier than the lease allows.
import { expect, test } from '../../support/flock-test.ts';
import {
  openVolunteerPage,
  openVolunteerTab,
  runningInTab,
  startDonating,
  type VolunteerTab,
} from '../../support/volunteer-tab.ts';
import { Harness, outputBytes, taskId, wasmFixture, wasmTask } from '../volunteer-harness.ts';

const LEASE_MS = 3_000;
const HEARTBEAT_MS = 500;

let harness: Harness;
const tabs: VolunteerTab[] = [];

test.beforeAll(async () => {
  harness = await Harness.start({ leaseMs: LEASE_MS, heartbeatMs: HEARTBEAT_MS });
});

test.afterAll(async () => {
  for (const tab of tabs) await tab.context.close().catch(() => undefined);
  await harness?.close();
});

test('a tab closed mid-task: the task completes on another tab after its lease expires', async ({
  browser,
}) => {
  const first = await openVolunteerTab(browser, `${harness.url}/`);
  tabs.push(first);
  // Another volunteer has the page open, not started yet (so the task cannot go there first).
  const secondPage = await openVolunteerPage(browser, `${harness.url}/`);
  const id = taskId('closed');
  await harness.submit(wasmTask(id, await wasmFixture('spin'), { params: { args: ['5000'] } }));
  await expect(runningInTab(first, id)).toBeVisible();
  const running = await harness.task(id);
  expect(running.attempts.map((a) => a.worker_id)).toEqual([first.workerId]);

  // The other volunteer presses Start; then the first closes the tab (its job dies with it).
  const second = await startDonating(secondPage);
  tabs.push(second);
  await expect(runningInTab(first, id)).toBeVisible();
  const closedAt = Date.now();
  await first.context.close();

  const view = await harness.waitFor(id, 'succeeded', 30_000);
  expect(view.attempts.map((a) => [a.worker_id, a.outcome, a.code])).toEqual([
    [first.workerId, 'lease_expired', 'LEASE_EXPIRED'],
    [second.workerId, 'succeeded', undefined],
  ]);
  // Not requeued on disconnect (that would be within milliseconds) but once the lease, last
  // renewed before the close (heartbeat every 500 ms), ran out: ~2.5-3 s later; a third of the
  // lease as the bound leaves room for a loaded machine.
  const { body } = await harness.api<{ attempts: Array<{ started_at_ms: number }> }>(
    'GET',
    `/v1/tasks/${id}`,
  );
  const retriedAt = body.attempts[1]!.started_at_ms;
  expect(retriedAt - closedAt).toBeGreaterThanOrEqual(LEASE_MS / 3);
  expect(outputBytes(await harness.result(id), 'stdout').toString()).toBe('spun 5000 ms\n');
});
