// The memory budget of a coordinator's open tasks (FLOCK_MAX_OPEN_BYTES): past it queued tasks
// wait in the store, loaded as tasks finish, up to FLOCK_MAX_STORE_QUEUED; past that a submission
// is refused 503 QUEUE_FULL with Retry-After and nothing of it is stored. And a restart reads the
// first page of open tasks (RECOVERY_PAGE) and loads the queued ones past it while it serves.
import { afterEach, describe, expect, test, vi } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { BACKLOG_REASON, LOAD_PAGE, RESTART_REASON } from '../src/engine/backlog.ts';
import { OPEN_TASK_BYTES, PARAMS_HEAP_EXTRA } from '../src/engine/open-tasks.ts';
import { RECOVERY_PAGE } from '../src/engine/recovery.ts';
import { SqliteStore } from '../src/store/sqlite-store.ts';
import { EngineHarness, task } from './engine/engine-harness.ts';
import { envelope, type Json, startTest, type TestCoordinator, until } from './helpers.ts';

let c: TestCoordinator | undefined;
let h: EngineHarness | undefined;
afterEach(async () => {
  await c?.stop();
  c = undefined;
  await h?.stop();
  h = undefined;
});

async function post(path: string, body: unknown) {
  const res = await c!.api(path, { method: 'POST', json: body });
  const json = (await res.json()) as Json;
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    code: json.error?.code as string | undefined,
  };
}

describe('FLOCK_MAX_OPEN_BYTES', () => {
  test('past it tasks wait in the store; past FLOCK_MAX_STORE_QUEUED a submission is 503 QUEUE_FULL whole', async () => {
    c = await startTest({ maxOpenBytes: 1 << 20 });
    expect((await post('/v1/tasks', envelope('o1'))).status).toBe(201);
    // One open task: OPEN_TASK_BYTES and its stored envelope (the JSON, trace id spliced in).
    const one = c.coordinator.openBytes();
    const stored = await c.store.getTask('a', 'o1');
    expect(one).toBe(OPEN_TASK_BYTES + stored!.envelope.byteLength);
    await c.stop();
    // Room for two such tasks in memory, not three; three more may wait in the store.
    c = await startTest({ maxOpenBytes: 2 * one + OPEN_TASK_BYTES - 1, maxStoreQueued: 3 });
    for (const id of ['o1', 'o2', 'o3']) expect((await post('/v1/tasks', envelope(id))).status).toBe(201);
    expect([c.coordinator.openBytes(), c.coordinator.leftInStore()]).toEqual([2 * one, 1]);
    const o3 = (await (await c.api('/v1/tasks/o3')).json()) as Json;
    expect([o3.state, o3.waiting_reason]).toEqual(['queued', BACKLOG_REASON]);
    const campaign = (tasks: string[]) => ({ campaign_id: 'c', tasks: tasks.map((id) => envelope(id)) });
    expect((await post('/v1/campaigns', campaign(['c1', 'c2']))).status).toBe(201);
    expect(c.coordinator.leftInStore()).toBe(3);
    // The store's queue is full: a task, a campaign, a new workflow are refused, nothing stored.
    const full = { status: 503, retryAfter: '10', code: 'QUEUE_FULL' };
    expect(await post('/v1/tasks', envelope('o4'))).toEqual(full);
    expect(await post('/v1/campaigns', campaign(['c3']))).toEqual(full);
    const { task_id: _, ...step } = envelope('w-s');
    expect(await post('/v1/workflows', { steps: [{ id: 's', ...step }] })).toEqual(full);
    const refused = await c.api('/v1/tasks', { method: 'POST', json: envelope('o4') });
    expect(((await refused.json()) as Json).error?.message).toMatch(/FLOCK_MAX_STORE_QUEUED \(3\)/);
    expect((await c.api('/v1/tasks/o4')).status).toBe(404);
    expect((await c.api('/v1/tasks/c3')).status).toBe(404);
    const metrics = await (await fetch(`${c.url}/metrics`)).text();
    expect(metrics).toContain(`flock_open_task_bytes ${2 * one}`);
    expect(metrics).toContain('flock_store_queued_tasks 3');
    expect(metrics).toContain('flock_queue_depth 5');
    expect(metrics).toContain('flock_errors_total{code="QUEUE_FULL"} 4');
    // A finished task leaves the budget; the oldest waiting task is loaded in its place.
    expect((await c.api('/v1/tasks/o1', { method: 'DELETE' })).status).toBe(200);
    await until(() => c!.coordinator.leftInStore() === 2, 5000, 'o3 loaded');
    expect(c.coordinator.openBytes()).toBe(2 * one);
    expect((await post('/v1/tasks', envelope('o4'))).status).toBe(201);
    expect(c.coordinator.leftInStore()).toBe(3);
  });

  test('params are counted at 2.5× their JSON text: they are held parsed', async () => {
    c = await startTest({ maxOpenBytes: 1 << 20 });
    const params = { rows: [{ id: 1, name: 'row-1', tags: ['a', 'b'] }], scale: 0.5 };
    expect((await post('/v1/tasks', envelope('p1', { params }))).status).toBe(201);
    const stored = await c.store.getTask('a', 'p1');
    const text = JSON.stringify(params).length;
    expect(c.coordinator.openBytes()).toBe(
      OPEN_TASK_BYTES + stored!.envelope.byteLength + Math.ceil(PARAMS_HEAP_EXTRA * text),
    );
  });

  test('0 turns it off; it is read from the environment and bad values name the variable', () => {
    expect(loadConfig({ FLOCK_MAX_OPEN_BYTES: '0' }).maxOpenBytes).toBe(0);
    expect(loadConfig({ FLOCK_MAX_OPEN_BYTES: '1048576' }).maxOpenBytes).toBe(1 << 20);
    // The default: 40 % of the heap V8 may grow to.
    expect(loadConfig({}).maxOpenBytes).toBeGreaterThan(100 << 20);
    expect(() => loadConfig({ FLOCK_MAX_OPEN_BYTES: '-1' })).toThrow(/FLOCK_MAX_OPEN_BYTES/);
    expect(() => loadConfig({ FLOCK_MAX_OPEN_BYTES: 'lots' })).toThrow(/FLOCK_MAX_OPEN_BYTES/);
    expect(loadConfig({}).maxStoreQueued).toBe(10_000_000);
    expect(loadConfig({ FLOCK_MAX_STORE_QUEUED: '0' }).maxStoreQueued).toBe(0);
    expect(() => loadConfig({ FLOCK_MAX_STORE_QUEUED: '-5' })).toThrow(/FLOCK_MAX_STORE_QUEUED/);
  });
});

/**
 * A stopped coordinator's data dir holding RECOVERY_PAGE + 2 queued tasks `p-…` and, last, `late`
 * running (it went first by priority: a running lease with the highest uid); and the estimated
 * bytes of those open tasks.
 */
async function stoppedPastOnePage(past = 2): Promise<{ dir: string; bytes: number }> {
  h = await EngineHarness.start({ leaseMs: 60_000 });
  const ids = Array.from({ length: RECOVERY_PAGE + past }, (_, i) => `p-${i}`);
  for (let i = 0; i < ids.length; i += 1000) await h.submit(...ids.slice(i, i + 1000).map((id) => task(id)));
  await h.submit(task('late', { requirements: { min: { wasm: true }, qos: { priority: 9 } } }));
  const v = await h.connect();
  expect((await h.assignment(v)).task_id).toBe('late');
  const bytes = h.coordinator.openBytes();
  const dir = h.dir;
  await h.stop(true);
  return { dir, bytes };
}

describe('recovery', () => {
  test('reads one page and the running tasks after it before it serves; the queued ones past it load in order while it serves', async () => {
    const { dir, bytes } = await stoppedPastOnePage();
    // Watched, not replaced: the real store answers each page.
    const pages = vi.spyOn(SqliteStore.prototype, 'openTasks');
    const running = vi.spyOn(SqliteStore.prototype, 'runningTasks');
    try {
      h = await EngineHarness.start({ leaseMs: 60_000 }, dir);
      expect(pages.mock.calls).toEqual([[0, RECOVERY_PAGE]]);
      expect(running.mock.calls).toHaveLength(1);
      // Started: the first page in memory, 'late' running (its lease kept), the last two queued
      // tasks waiting in the store, and saying why.
      expect([h.coordinator.leftInStore(), h.coordinator.queueDepth()]).toEqual([2, RECOVERY_PAGE + 2]);
      expect(await h.state('late')).toBe('running');
      const last = (await h.store.getTask('a', `p-${RECOVERY_PAGE + 1}`))!.uid;
      expect(h.coordinator.waitingReason(last)).toBe(RESTART_REASON);
      // Loaded at a housekeeping tick, from where the first page ended.
      await until(() => h!.coordinator.leftInStore() === 0, 5000, 'the rest loaded');
      expect(pages.mock.calls[1]).toEqual([pages.mock.calls[1]![0], LOAD_PAGE]);
      expect(pages.mock.calls[1]![0]).toBeGreaterThan(0);
    } finally {
      pages.mockRestore();
      running.mockRestore();
    }
    expect(h.coordinator.queueDepth()).toBe(RECOVERY_PAGE + 2);
    expect(h.coordinator.openBytes()).toBe(bytes);
    // Its lease was kept, not requeued (it would go first again): a new volunteer gets p-0.
    const fresh = await h.connect();
    expect((await h.assignment(fresh)).task_id).toBe('p-0');
  });

  test('a load from the store gives the event loop a turn between its pages', async () => {
    const past = 2 * LOAD_PAGE + 2;
    const { dir } = await stoppedPastOnePage(past);
    h = await EngineHarness.start({ leaseMs: 60_000 }, dir);
    // Three pages to load (1,000, 1,000, and 2 with 'late'): a timer polling in between sees
    // them go, where a load that never yielded would go from all to none in one turn.
    const seen = new Set<number>();
    await until(() => {
      seen.add(h!.coordinator.leftInStore());
      return h!.coordinator.leftInStore() === 0;
    });
    expect([...seen].some((n) => n > 0 && n < past)).toBe(true);
    expect(h.coordinator.queueDepth()).toBe(RECOVERY_PAGE + past);
  });

  test('past the budget it reads only the running tasks after the first page, and counts the queued ones left', async () => {
    const { dir, bytes } = await stoppedPastOnePage();
    const one = bytes / (RECOVERY_PAGE + 3);
    const pages = vi.spyOn(SqliteStore.prototype, 'openTasks');
    const running = vi.spyOn(SqliteStore.prototype, 'runningTasks');
    try {
      // Room for ten tasks: the first page fills it and leaves the rest of its queued tasks.
      h = await EngineHarness.start({ leaseMs: 60_000, maxOpenBytes: Math.floor(10 * one) }, dir);
      expect(pages.mock.calls.map(([, limit]) => limit)).toEqual([RECOVERY_PAGE]);
      expect(running.mock.calls).toHaveLength(1);
    } finally {
      pages.mockRestore();
      running.mockRestore();
    }
    // Ten queued tasks in memory, 'late' running (its lease kept), the other 4,992 left in the store.
    expect([h.coordinator.leftInStore(), h.coordinator.queueDepth()]).toEqual([
      RECOVERY_PAGE - 8,
      RECOVERY_PAGE + 2,
    ]);
    expect(await h.state('late')).toBe('running');
    const fresh = await h.connect();
    expect((await h.assignment(fresh)).task_id).toBe('p-0');
  });
});
