// Past the memory budget (FLOCK_MAX_OPEN_BYTES) nothing accepted is lost and the heap stays
// bounded: a restart leaves the queued tasks that do not fit in the store and loads them in
// submission order as room frees (engine/backlog.ts), refusing new submissions until it has; a
// running workflow's ready steps wait for room instead of passing the budget.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { BACKLOG_REASON } from '../src/engine/backlog.ts';
import { OPEN_TASK_BYTES } from '../src/engine/open-tasks.ts';
import { SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import type { StartOptions } from '../src/start-coordinator.ts';
import { PostgresStore } from '../src/store/postgres-store.ts';
import { EngineHarness, task } from './engine/engine-harness.ts';
import { envelope, type Json, startTest, type TestCoordinator, until } from './helpers.ts';
import { acquirePostgres, type PostgresHarness } from './support/postgres.ts';

let c: TestCoordinator | undefined;
let h: EngineHarness | undefined;
let sim: SimulatedVolunteer | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await sim?.close();
  sim = undefined;
  await c?.stop();
  c = undefined;
  await h?.stop();
  h = undefined;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('a restart past the budget', () => {
  test('leaves the queued tasks that do not fit in the store and loads them in submission order as room frees', async () => {
    h = await EngineHarness.start({ maxOpenBytes: 0 });
    const ids = Array.from({ length: 10 }, (_, i) => `b-${i}`);
    await h.submit(...ids.map((id) => task(id)));
    const one = h.coordinator.openBytes() / ids.length;
    const dir = h.dir;
    await h.stop(true);

    h = await EngineHarness.start({ maxOpenBytes: 4 * one }, dir);
    const co = h.coordinator;
    expect([co.queueDepth(), co.leftInStore(), co.openBytes()]).toEqual([10, 6, 4 * one]);
    const uid = async (id: string) => (await h!.store.getTask('a', id))!.uid;
    expect(co.waitingReason(await uid('b-5'))).toBe(BACKLOG_REASON);
    expect(co.waitingReason(await uid('b-3'))).toMatch(/no volunteer/i);
    // One cancelled before it is loaded: it is not loaded later, and no longer counted.
    expect(await co.cancel((await h.store.getTask('a', 'b-7'))!, 'not needed')).toBe('queued');
    expect([co.queueDepth(), co.leftInStore()]).toEqual([9, 5]);

    const v = await h.connect();
    const order: string[] = [];
    for (let n = 0; n < 9; n++) {
      const a = await h.assignment(v, n);
      expect(co.openBytes()).toBeLessThanOrEqual(4 * one);
      order.push(a.task_id ?? '');
      await h.result(v, a);
    }
    expect(order).toEqual(ids.filter((id) => id !== 'b-7'));
    expect([co.queueDepth(), co.leftInStore(), co.openBytes()]).toEqual([0, 0, 0]);
    expect(await h.state('b-7')).toBe('cancelled');
    for (const id of order) expect(await h.state(id)).toBe('succeeded');
  });
});

describe.each(['SQLite', 'PostgreSQL'])('a restart past the budget on %s', (storeName) => {
  let harness: Promise<PostgresHarness> | undefined;
  afterAll(async () => {
    await (await harness)?.release();
  });
  /** The same store at each start: the data dir's SQLite file, or one PostgreSQL schema. */
  async function storeOf(): Promise<() => StartOptions> {
    if (storeName === 'SQLite') return () => ({});
    harness ??= acquirePostgres();
    const url = await (await harness).createSchema();
    return () => ({ store: new PostgresStore(url, { maxConnections: 4 }) });
  }

  test('refuses submissions 503 QUEUE_FULL until the tasks it left are loaded, and says why a task waits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flock-backlog-'));
    dirs.push(dir);
    const store = await storeOf();
    c = await startTest({ maxOpenBytes: 0 }, dir, store());
    for (const id of ['q-0', 'q-1', 'q-2', 'q-3'])
      expect((await c.api('/v1/tasks', { method: 'POST', json: envelope(id) })).status).toBe(201);
    const one = c.coordinator.openBytes() / 4;
    await c.stop();

    // Room for two and not quite a third: q-2 and q-3 stay in the store.
    c = await startTest({ maxOpenBytes: 2 * one + OPEN_TASK_BYTES - 1 }, dir, store());
    expect(c.coordinator.leftInStore()).toBe(2);
    const post = async (id: string) => {
      const res = await c!.api('/v1/tasks', { method: 'POST', json: envelope(id) });
      const json = (await res.json()) as Json;
      return { status: res.status, retryAfter: res.headers.get('retry-after'), ...json.error };
    };
    expect(await post('n-0')).toMatchObject({
      status: 503,
      retryAfter: '10',
      code: 'QUEUE_FULL',
      message: expect.stringMatching(/still loading 2 tasks queued before its restart/),
    });
    const reason = async (id: string) => {
      const view = (await (await c!.api(`/v1/tasks/${id}`)).json()) as Json;
      return [view.state, view.waiting_reason === BACKLOG_REASON];
    };
    expect(await reason('q-2')).toEqual(['queued', true]);
    expect(await reason('q-1')).toEqual(['queued', false]);
    expect(((await (await c.api('/v1/stats')).json()) as Json).queue_depth).toBe(4);
    // Cancelled while left, q-3 is no longer waited for; a loaded task cancelled makes room, and
    // the next housekeeping tick loads q-2.
    expect((await c.api('/v1/tasks/q-3', { method: 'DELETE' })).status).toBe(200);
    expect(c.coordinator.leftInStore()).toBe(1);
    expect((await c.api('/v1/tasks/q-0', { method: 'DELETE' })).status).toBe(200);
    await until(() => c!.coordinator.leftInStore() === 0, 5000, 'q-2 loaded');
    expect(await reason('q-2')).toEqual(['queued', false]);
    expect(c.coordinator.openBytes()).toBe(2 * one);
    // Now the budget alone decides: full with q-1 and q-2.
    expect(await post('n-0')).toMatchObject({
      status: 503,
      code: 'QUEUE_FULL',
      message: expect.stringMatching(/would pass its budget/),
    });
    expect((await c.api('/v1/tasks/q-1', { method: 'DELETE' })).status).toBe(200);
    expect((await post('n-0')).status).toBe(201);
  });
});

describe('a running workflow past the budget', () => {
  test('submits the ready steps that fit and the rest once room frees; all of them run', async () => {
    // Room for two steps at OPEN_TASK_BYTES each, as the edge counts a submission.
    c = await startTest({ maxOpenBytes: 2 * OPEN_TASK_BYTES + 500 });
    const steps = ['s1', 's2', 's3', 's4'].map((id) => {
      const { task_id: _t, ...rest } = envelope(id);
      return { id, depends_on: [], ...rest };
    });
    const res = await c.api('/v1/workflows', { method: 'POST', json: { workflow_id: 'wf-room', steps } });
    expect(res.status).toBe(201);
    const created = async () => {
      const view = (await (await c!.api('/v1/workflows/wf-room')).json()) as Json;
      return (view.steps as Json[]).flatMap((s) => s.task_ids as string[]);
    };
    await until(async () => (await created()).length === 2, 5000, 'two steps submitted');
    const first = await created();

    sim = await SimulatedVolunteer.connect({ url: c.url });
    await until(
      async () => ((await (await c!.api('/v1/workflows/wf-room')).json()) as Json).state === 'succeeded',
      10_000,
      'the workflow succeeded',
    );
    const all = await created();
    expect(all).toHaveLength(4);
    // The later two were submitted only after one of the first two had finished.
    const rec = async (id: string) => (await c!.store.getTask('a', id))!;
    const firstDone = Math.min(...(await Promise.all(first.map(async (id) => (await rec(id)).updatedAtMs))));
    for (const id of all.filter((id) => !first.includes(id))) {
      expect((await rec(id)).createdAtMs).toBeGreaterThanOrEqual(firstDone);
      expect((await rec(id)).state).toBe('succeeded');
    }
  });
});
