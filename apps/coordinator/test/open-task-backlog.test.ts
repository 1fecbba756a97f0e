// Past the memory budget (FLOCK_MAX_OPEN_BYTES) the heap stays bounded and nothing accepted is
// lost: queued tasks that do not fit wait in the store (engine/backlog.ts) and are loaded in
// submission order as tasks finish; those a restart finds past the budget, new ones behind them,
// and a running workflow's steps.
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

describe('a campaign past the budget', () => {
  test('counts each of its tasks once for its tail, whether it waited in the store or not', async () => {
    h = await EngineHarness.start({ maxOpenBytes: 0 });
    await h.submit(task('cp-p', { campaign_id: 'cmp0' }));
    const one = h.coordinator.openBytes();
    const dir = h.dir;
    await h.stop(true);
    h = await EngineHarness.start({ maxOpenBytes: 3 * one }, dir);
    const tails = h.coordinator.campaignTails;
    const ids = Array.from({ length: 6 }, (_, i) => `cp-${i}`);
    await h.submit(...ids.map((id) => task(id, { campaign_id: 'camp' })));
    expect(h.coordinator.leftInStore()).toBe(4);
    expect(tails.counts('a', 'camp')).toEqual({ total: 6, done: 0 });
    // Restarted with some of them still in the store: counted from the store, once.
    await h.stop(true);
    h = await EngineHarness.start({ maxOpenBytes: 3 * one }, dir);
    expect(h.coordinator.leftInStore()).toBe(4);
    expect(h.coordinator.campaignTails.counts('a', 'camp')).toEqual({ total: 6, done: 0 });
    // One cancelled while it waits in the store counts as done.
    expect(await h.coordinator.cancel((await h.store.getTask('a', 'cp-5'))!, 'not needed')).toBe('queued');
    expect(h.coordinator.campaignTails.counts('a', 'camp')).toEqual({ total: 6, done: 1 });
    const v = await h.connect();
    for (let n = 0; n < 6; n++) await h.result(v, await h.assignment(v, n));
    // Done: the campaign is forgotten (a task counted twice would keep it, never done).
    expect(h.coordinator.campaignTails.counts('a', 'camp')).toBeUndefined();
    expect(h.coordinator.leftInStore()).toBe(0);
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

  test('new tasks wait behind the ones it left, each loaded in submission order as tasks finish', async () => {
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
    const waiting = async (id: string) => {
      const view = (await (await c!.api(`/v1/tasks/${id}`)).json()) as Json;
      return [view.state, view.waiting_reason === BACKLOG_REASON];
    };
    expect(await waiting('q-2')).toEqual(['queued', true]);
    expect(await waiting('q-1')).toEqual(['queued', false]);
    // A new task is accepted and waits behind them, though a task finishing would make room.
    expect((await c.api('/v1/tasks', { method: 'POST', json: envelope('n-0') })).status).toBe(201);
    expect(await waiting('n-0')).toEqual(['queued', true]);
    const depth = async () => {
      const stats = (await (await c!.api('/v1/stats')).json()) as Json;
      return [stats.queue_depth, stats.queued_in_store];
    };
    expect(await depth()).toEqual([5, 3]);
    // Cancelled while left, q-3 is not waited for; each loaded task cancelled makes room for the
    // next waiting one, loaded at the next housekeeping tick: q-2, then n-0.
    expect((await c.api('/v1/tasks/q-3', { method: 'DELETE' })).status).toBe(200);
    expect(c.coordinator.leftInStore()).toBe(2);
    expect((await c.api('/v1/tasks/q-0', { method: 'DELETE' })).status).toBe(200);
    await until(() => c!.coordinator.leftInStore() === 1, 5000, 'q-2 loaded');
    expect([await waiting('q-2'), await waiting('n-0')]).toEqual([
      ['queued', false],
      ['queued', true],
    ]);
    expect((await c.api('/v1/tasks/q-1', { method: 'DELETE' })).status).toBe(200);
    await until(() => c!.coordinator.leftInStore() === 0, 5000, 'n-0 loaded');
    expect([await waiting('n-0'), await depth(), c.coordinator.openBytes()]).toEqual([
      ['queued', false],
      [2, 0],
      2 * one,
    ]);
  });
});

describe('a running workflow past the budget', () => {
  test('its steps wait in the store like any task, and all of them run', async () => {
    // A budget no task fits: one is open at a time (a task always fits an empty coordinator).
    c = await startTest({ maxOpenBytes: 1 });
    const steps = ['s1', 's2', 's3', 's4'].map((id) => {
      const { task_id: _t, ...rest } = envelope(id);
      return { id, depends_on: [], ...rest };
    });
    const res = await c.api('/v1/workflows', { method: 'POST', json: { workflow_id: 'wf-room', steps } });
    expect(res.status).toBe(201);
    const view = async () => (await (await c!.api('/v1/workflows/wf-room')).json()) as Json;
    await until(async () => ((await view()).steps as Json[]).every((s) => s.task_ids.length === 1));
    expect([c.coordinator.leftInStore(), c.coordinator.queueDepth()]).toEqual([3, 4]);

    sim = await SimulatedVolunteer.connect({ url: c.url });
    await until(async () => (await view()).state === 'succeeded', 10_000, 'the workflow succeeded');
    for (const step of (await view()).steps as Json[]) expect(step.state).toBe('succeeded');
    expect(c.coordinator.leftInStore()).toBe(0);
  });
});
