// A running task is cancelled: DELETE /v1/tasks/:id pushes a cancel to the tab, the tab sets the
// job's stop entry on its executor's bridge, and the executor sees it at the program's next WASI
// call (spin.c reads the clock as it spins) and unwinds it: the Worker is not terminated, it acks,
// and the one CPU slot takes the next task at once; the requester's event stream (/v1/events
// through the SDK) shows the task going running → cancelled.
import { FlockClient, type TaskEvent } from '@flock/client';
import type { Worker } from '@playwright/test';
import { WebSocket } from 'ws';
import { expect, test } from '../../support/flock-test.ts';
import { openVolunteerTab, runningInTab, type VolunteerTab } from '../../support/volunteer-tab.ts';
import { Harness, KEY, outputBytes, taskId, wasmFixture, wasmTask } from '../volunteer-harness.ts';

let harness: Harness;
let tab: VolunteerTab | undefined;

test.beforeAll(async () => {
  harness = await Harness.start();
});

test.afterAll(async () => {
  await tab?.context.close();
  await harness?.close();
});

test('a running task cancelled: the executor stops and the event stream shows cancelled', async ({
  browser,
}) => {
  tab = await openVolunteerTab(browser, `${harness.url}/`);
  const client = new FlockClient({ url: harness.url, apiKey: KEY, WebSocket });
  const id = taskId('cancel');
  const events = await client.events({ task_id: id });
  const seen: TaskEvent[] = [];
  try {
    // Workers the page starts from now on (the executor of this job among them), and which end.
    const ended = new Set<Worker>();
    const started: Worker[] = [...tab.page.workers()];
    for (const w of started) w.once('close', () => ended.add(w));
    tab.page.on('worker', (w) => {
      started.push(w);
      w.once('close', () => ended.add(w));
    });

    // spin.c busy-computes for argv[1] ms, reporting progress every 10%: 20 s, progress at 2 s.
    await harness.submit(wasmTask(id, await wasmFixture('spin'), { params: { args: ['20000'] } }));
    await expect(runningInTab(tab, id)).toBeVisible();
    await expect.poll(async () => (await harness.task(id)).progress?.pct ?? 0).toBeGreaterThan(0);
    const endedBefore = ended.size;

    const cancelledAt = Date.now();
    const { status, body } = await harness.api<{ state: string }>('DELETE', `/v1/tasks/${id}`);
    expect(status).toBe(200);
    expect(body.state).toBe('cancelled');
    await expect(runningInTab(tab, id)).toHaveCount(0);

    // The freed slot (cancel_ack) takes the next task while the spin would still have 18 s to go.
    const next = taskId('after-cancel');
    await harness.submit(wasmTask(next, await wasmFixture('wasi-echo'), { params: { args: ['next'] } }));
    await harness.waitFor(next, 'succeeded', 10_000);
    expect(outputBytes(await harness.result(next), 'stdout').toString()).toMatch(/^argc=2 arg1=next\n/);
    expect(Date.now() - cancelledAt).toBeLessThan(10_000);
    // The executor stopped the job itself: no Worker was terminated, none replaced.
    expect(ended.size).toBe(endedBefore);
    const stats = (await tab.page.evaluate('flockVolunteer.ringStats()')) as { pool: { respawns: number } };
    expect(stats.pool.respawns).toBe(0);

    const nonProgress = (): string[] =>
      seen.filter((e) => e.topic !== 'compute:dispatch:v1:progress').map((e) => `${e.topic} ${e.state}`);
    await expect
      .poll(() => {
        seen.push(...events.drain());
        return nonProgress();
      })
      .toEqual([
        'compute:dispatch:v1:requested queued',
        'compute:dispatch:v1:accepted running',
        'compute:dispatch:v1:cancelled cancelled',
      ]);
    // Progress flowed while it ran, and nothing came after the cancel (no late progress, no result).
    expect(seen.filter((e) => e.topic === 'compute:dispatch:v1:progress').length).toBeGreaterThan(0);
    expect(seen.at(-1)?.topic).toBe('compute:dispatch:v1:cancelled');
    expect(seen.at(-1)?.task_id).toBe(id);
    const view = await harness.task(id);
    expect(view.state).toBe('cancelled');
    expect(view.attempts.map((a) => a.outcome)).toEqual(['cancelled']);
  } finally {
    events.close();
  }
});
