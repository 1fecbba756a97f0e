// The webhook outbox (edge/webhook-outbox.ts, the webhook_outbox table) in both stores, on a
// SQLite file and a real PostgreSQL server: rows armed before their tasks, found once the task
// or workflow ended (or was never stored), deleted with the delivery's insert, and settled into
// the deliveries a killed coordinator would have stored. test/crash-webhook.test.ts kills one.
import { EVENTS } from '@flock/protocol';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { OUTBOX_SWEEP_MS, WebhookOutbox } from '../src/edge/webhook-outbox.ts';
import { PostgresStore } from '../src/store/postgres-store.ts';
import type { NewTask, Store } from '../src/store/store.ts';
import type { ArmedWebhook } from '../src/store/webhook-store.ts';
import { until } from './helpers.ts';
import { newTask } from './store-contract/store-test.ts';
import { usePostgres } from './support/postgres.ts';
import { temporarySqliteStore } from './support/sqlite.ts';

type Factory = () => Promise<{ store: Store; cleanup: () => Promise<void> }>;

const HOOK = 'https://hooks.example.com/flock';

/** A stored task whose envelope names `returnChannel` (or none). */
function task(taskId: string, returnChannel: string | undefined): NewTask {
  const envelope = {
    task_id: taskId,
    op: 'sum',
    ...(returnChannel ? { return_channel: returnChannel } : {}),
  };
  return newTask(taskId, {
    envelope: Buffer.from(JSON.stringify(envelope)),
    maxRetries: 0,
    createdAtMs: 200,
  });
}

const arm = (taskId: string, kind: ArmedWebhook['kind'] = 'task', armedAtMs = 100): ArmedWebhook => ({
  tenant: 'a',
  taskId,
  kind,
  armedAtMs,
});

const delivery = (taskId: string, createdAtMs = 1000) => ({
  tenant: 'a',
  taskId,
  event: EVENTS.cancelled,
  url: HOOK,
  body: `{"task_id":"${taskId}"}`,
  createdAtMs,
});

/** Stores `ids` (tasks of tenant a) and returns their uids. */
async function insert(store: Store, tasks: NewTask[]): Promise<number[]> {
  const outcomes = await store.insertTasks(tasks);
  return outcomes.map((o) => (o.kind === 'created' ? o.task.uid : -1));
}

async function workflow(store: Store, workflowId: string, finishAtMs: number | undefined): Promise<void> {
  const definition = JSON.stringify({ workflow_id: workflowId, return_channel: HOOK, steps: [] });
  await store
    .workflowStore()
    .insert({ tenant: 'a', workflowId, definition, contentHash: `h-${workflowId}`, createdAtMs: 200 });
  if (finishAtMs === undefined) return;
  await store.workflowStore().finish({
    tenant: 'a',
    workflowId,
    state: 'cancelled',
    code: 'CANCELLED',
    message: 'by request',
    nowMs: finishAtMs,
  });
}

function describeOutbox(name: string, factory: Factory): void {
  describe(`webhook outbox: ${name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ store, cleanup } = await factory());
      await store.migrate();
    });
    afterEach(async () => cleanup());

    test('rows are found once their task or workflow ended (or never was stored), and go with a delivery', async () => {
      const w = store.webhookStore();
      await w.arm(['t1', 't2', 't3', 't4', 'ghost'].map((id) => arm(id)));
      await w.arm([arm('wf1', 'workflow'), arm('wf2', 'workflow'), arm('t1', 'task', 999)]);
      const [t1, t2, t3, t4] = await insert(
        store,
        ['t1', 't2', 't3', 't4'].map((id) => task(id, HOOK)),
      );
      expect(await store.cancelTask(t1!, 'by request', 500)).toBe('queued');
      expect(await store.failQueued(t2!, 'DEADLINE_EXCEEDED', 'late', 600)).toBe(true);
      await workflow(store, 'wf1', 700);
      await workflow(store, 'wf2', undefined);
      // t4's delivery was stored live: its row went in the same write, whatever t4 does next.
      expect(await w.insert(delivery('t4'), 'task')).toBeGreaterThan(0);
      expect(await store.cancelTask(t4!, 'by request', 500)).toBe('queued');

      const found = async (beforeMs: number) =>
        (await w.settledArms(beforeMs, 10)).map((a) => [a.taskId, a.kind, a.armedAtMs, a.stored]);
      // Before 500 only the row whose task was never stored; t3 and wf2 are still running.
      expect(await found(400)).toEqual([['ghost', 'task', 100, false]]);
      expect(await found(1000)).toEqual([
        ['ghost', 'task', 100, false],
        ['t1', 'task', 100, true],
        ['t2', 'task', 100, true],
        ['wf1', 'workflow', 100, true],
      ]);
      expect((await w.settledArms(1000, 2)).map((a) => a.taskId)).toEqual(['ghost', 't1']);

      // Settling deletes the row, storing the delivery only where the row was there.
      const id = await w.settle(arm('t1'), delivery('t1'));
      expect(id).toBeGreaterThan(0);
      expect(await w.settle(arm('t1'), delivery('t1'))).toBeUndefined();
      expect(await w.settle(arm('ghost'), undefined)).toBeUndefined();
      expect((await w.list('a', 't1', 10)).map((d) => [d.id, d.state, d.event])).toEqual([
        [id, 'pending', EVENTS.cancelled],
      ]);
      expect(await found(1e12)).toEqual([
        ['t2', 'task', 100, true],
        ['wf1', 'workflow', 100, true],
      ]);
      expect(await store.cancelTask(t3!, 'by request', 800)).toBe('queued');
      expect((await found(1e12)).map(([taskId]) => taskId)).toEqual(['t2', 't3', 'wf1']);
    });

    test('settle stores the deliveries a killed coordinator left, rebuilt from the stored rows, once', async () => {
      const w = store.webhookStore();
      await w.arm(['t1', 't2', 't3', 't4', 't5', 'ghost'].map((id) => arm(id)));
      await w.arm([arm('wf1', 'workflow')]);
      const [t1, t2, t3, t4, t5] = await insert(store, [
        task('t1', HOOK),
        task('t2', HOOK),
        task('t3', 'plain-channel'),
        task('t4', HOOK),
        task('t5', HOOK),
      ]);
      await store.cancelTask(t1!, 'by request', 500);
      await store.failQueued(t2!, 'DEADLINE_EXCEEDED', 'late', 600);
      await store.cancelTask(t3!, 'by request', 500);
      // t4 ended and was delivered; then submitted again under its id, which armed a row again.
      await store.cancelTask(t4!, 'by request', 500);
      await w.insert(delivery('t4', 510));
      await workflow(store, 'wf1', 700);
      let kicked = 0;
      const outbox = new WebhookOutbox(store, pino({ level: 'silent' }), () => (kicked += 1));

      expect(await outbox.settle(1000)).toBe(3);
      expect(await w.settledArms(1e12, 10)).toEqual([]);
      // t5 is still queued: its row stays for the live path (or the next start).
      await store.cancelTask(t5!, 'by request', 2000);
      expect((await w.settledArms(1e12, 10)).map((a) => a.taskId)).toEqual(['t5']);

      const only = async (taskId: string) => {
        const list = await w.list('a', taskId, 10);
        expect(list).toHaveLength(1);
        expect(list[0]).toMatchObject({ state: 'pending', url: HOOK, attempts: [] });
        return { event: list[0]!.event, body: JSON.parse(list[0]!.body) };
      };
      const cancelled = await only('t1');
      expect(cancelled.event).toBe(EVENTS.cancelled);
      expect(cancelled.body).toMatchObject({
        type: 'event',
        topic: HOOK,
        ts: new Date(500).toISOString(),
        schema: 'flock.task.event.v1',
        payload: { task_id: 't1', state: 'cancelled', event: EVENTS.cancelled, data: { task_id: 't1' } },
      });
      const failed = await only('t2');
      expect(failed.event).toBe(EVENTS.failed);
      expect(failed.body.payload).toMatchObject({
        state: 'failed',
        data: { task_id: 't2', code: 'DEADLINE_EXCEEDED', message: 'late' },
      });
      const wf = await only('wf1');
      expect(wf.event).toBe('compute:workflow:v1:cancelled');
      expect(wf.body).toMatchObject({
        schema: 'flock.workflow.event.v1',
        payload: { task_id: 'wf1', state: 'cancelled', data: { workflow_id: 'wf1', code: 'CANCELLED' } },
      });
      // No URL: no delivery; already delivered: not again; never stored: nothing.
      expect(await w.list('a', 't3', 10)).toEqual([]);
      expect((await w.list('a', 't4', 10)).map((d) => d.createdAtMs)).toEqual([510]);
      expect(await w.list('a', 'ghost', 10)).toEqual([]);
      expect(kicked).toBe(0); // settle() alone does not kick; start() does when it stored some
      await outbox.start(3000, false);
      expect(kicked).toBe(1);
      expect((await w.list('a', 't5', 10)).map((d) => d.event)).toEqual([EVENTS.cancelled]);
      await outbox.stop();
    });
  });
}

describeOutbox('SqliteStore', async () => temporarySqliteStore('flock-outbox-'));

describe('PostgreSQL', () => {
  const harness = usePostgres();
  describeOutbox('PostgresStore', async () => {
    const store = new PostgresStore(await harness().createSchema(), { maxConnections: 3 });
    return { store, cleanup: () => store.close() };
  });

  test('shared: a start leaves tasks that just ended to their coordinator; the sweep takes them after the grace', async () => {
    const store = new PostgresStore(await harness().createSchema(), { maxConnections: 3 });
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    try {
      await store.migrate();
      const now = Date.now();
      const w = store.webhookStore();
      await w.arm([arm('old'), arm('recent', 'task', now - 1000)]);
      const [old, recent] = await insert(store, [task('old', HOOK), task('recent', HOOK)]);
      await store.cancelTask(old!, 'by request', 500);
      await store.cancelTask(recent!, 'by request', now - 1000);
      let kicked = 0;
      const outbox = new WebhookOutbox(store, pino({ level: 'silent' }), () => (kicked += 1));
      await outbox.start(now, true);
      expect(kicked).toBe(1);
      expect((await w.list('a', 'old', 10)).map((d) => d.event)).toEqual([EVENTS.cancelled]);
      // Ended 1 s before the start: its own coordinator may be storing its delivery right now.
      expect(await w.list('a', 'recent', 10)).toEqual([]);
      expect((await w.settledArms(now, 10)).map((a) => a.taskId)).toEqual(['recent']);
      await vi.advanceTimersByTimeAsync(OUTBOX_SWEEP_MS);
      await until(async () => kicked === 2);
      expect((await w.list('a', 'recent', 10)).map((d) => d.event)).toEqual([EVENTS.cancelled]);
      await outbox.stop();
    } finally {
      vi.useRealTimers();
      await store.close();
    }
  });
});
