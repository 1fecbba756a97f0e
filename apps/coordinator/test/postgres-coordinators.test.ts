// PostgresStore with several coordinators named by id: each attempt records its coordinator, the
// leases of one that stops beating are orphans requeued once, and the queue scanner adopts tasks
// queued through other coordinators.

import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { QueueScanner } from '../src/cluster/queue-scanner.ts';
import { PostgresStore } from '../src/store/postgres-store.ts';
import { newTask as task } from './store-contract.ts';
import { usePostgres } from './support/postgres.ts';
import { usePostgresPair } from './support/postgres-pair.ts';

const harness = usePostgres();

/** A pool of two connections for the coordinator `id`. */
const coordinator = (id: string) => ({ maxConnections: 2, coordinatorId: id });

describe('PostgresStore with coordinator ids (several coordinators)', () => {
  let a: PostgresStore;
  let b: PostgresStore;
  usePostgresPair(harness, [coordinator('coord-a'), coordinator('coord-b')], (pair) => {
    ({ a, b } = pair);
  });

  const lease = (taskUid: number, leaseId: string, at: number) => ({
    taskUid,
    tenant: 'a',
    leaseId,
    attempt: 1,
    workerId: 'w',
    startedAtMs: at,
    expiresAtMs: at + 100,
  });

  test("attempts record their coordinator; openTasks leaves other coordinators' running tasks alone", async () => {
    const out = await a.insertTasks([task('t1'), task('t2'), task('t3')]);
    const [u1, u2] = out.map((o) => (o.kind === 'created' ? o.task.uid : -1));
    expect(await a.startLeases([lease(u1!, 'la', 2000)])).toEqual([true]);
    expect(await b.startLeases([lease(u2!, 'lb', 2000)])).toEqual([true]);
    const owners = await a.pool.query<{ lease_id: string; coordinator_id: string }>(
      'SELECT lease_id, coordinator_id FROM attempts ORDER BY lease_id',
    );
    expect(owners.rows).toEqual([
      { lease_id: 'la', coordinator_id: 'coord-a' },
      { lease_id: 'lb', coordinator_id: 'coord-b' },
    ]);
    expect((await a.openTasks()).map((t) => [t.taskId, t.state])).toEqual([
      ['t1', 'running'],
      ['t3', 'queued'],
    ]);
    expect((await b.openTasks()).map((t) => [t.taskId, t.state])).toEqual([
      ['t2', 'running'],
      ['t3', 'queued'],
    ]);
  });

  test('the leases of a coordinator that stops beating (or leaves) are orphans; requeued once', async () => {
    const out = await a.insertTasks([task('t1'), task('t2')]);
    const [u1, u2] = out.map((o) => (o.kind === 'created' ? o.task.uid : -1));
    await a.beat(1000);
    await b.beat(1000);
    await a.startLeases([lease(u1!, 'la', 1000)]);
    await b.startLeases([lease(u2!, 'lb', 1000)]);
    expect(await b.orphanedLeases(1500, 1000)).toEqual([]);
    await b.beat(5000);
    const orphans = await b.orphanedLeases(5500, 1000);
    expect(orphans).toEqual([{ taskUid: u1, leaseId: 'la', coordinatorId: 'coord-a' }]);
    const requeue = {
      taskUid: u1!,
      leaseId: 'la',
      outcome: 'lease_expired' as const,
      code: 'COORDINATOR_LOST',
      message: 'gone',
      requeueAtMs: 5500,
      countsAsFailure: false,
      nowMs: 5500,
    };
    // Two sweepers racing: the fenced transition lets exactly one requeue it.
    expect((await Promise.all([a.endAttempt(requeue), b.endAttempt(requeue)])).filter(Boolean)).toHaveLength(
      1,
    );
    expect(await b.orphanedLeases(5500, 1000)).toEqual([]);
    expect((await b.queuedSince(5000)).map((t) => t.taskId)).toEqual(['t1']);
    expect((await b.queuedSince(0)).map((t) => t.taskId)).toEqual(['t1']);
    await b.leave();
    expect(await a.orphanedLeases(5600, 60_000)).toEqual([
      { taskUid: u2, leaseId: 'lb', coordinatorId: 'coord-b' },
    ]);
  });

  test('a bad coordinator id is refused with CONFIG_INVALID', () => {
    expect(() => new PostgresStore(a.url, { coordinatorId: "x'; DROP" })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', field: 'coordinatorId' }),
    );
  });
});

describe('QueueScanner (tasks queued through other coordinators)', () => {
  let store: PostgresStore;
  beforeEach(async () => {
    store = new PostgresStore(await harness().createSchema(), { maxConnections: 2, coordinatorId: 'scan' });
    await store.migrate();
  });
  afterEach(async () => {
    await store.close();
  });

  test('offers each queued task once per queue time, after the steal delay, and again when requeued', async () => {
    const now = Date.now();
    const adopted: string[] = [];
    const scanner = new QueueScanner(
      store,
      (t) => adopted.push(`${t.taskId}@${t.attempts}`),
      {
        stealAfterMs: 30,
        clockSkewMs: 1000,
        onError: (err) => {
          throw err;
        },
      },
      now,
    );
    try {
      await store.insertTasks([task('t1', { createdAtMs: now }), task('t2', { createdAtMs: now })]);
      expect((await store.queuedKeys(now - 1, now + 1)).map((k) => k.updatedAtMs)).toEqual([now, now]);
      scanner.wake();
      await expect.poll(() => adopted.length, { timeout: 5000, interval: 5 }).toBe(2);
      // A second wake-up finds nothing new.
      scanner.wake();
      const [claimed] = await store.claimQueued({ workerId: 'w', limit: 1, nowMs: now + 10, leaseMs: 100 });
      scanner.wake();
      await store.endAttempt({
        taskUid: claimed!.task.uid,
        leaseId: claimed!.lease.leaseId,
        outcome: 'lease_expired',
        code: 'LEASE_EXPIRED',
        message: 'x',
        requeueAtMs: now + 20,
        countsAsFailure: false,
        nowMs: now + 20,
      });
      scanner.wake();
      await expect.poll(() => adopted.length, { timeout: 5000, interval: 5 }).toBe(3);
      expect(adopted).toEqual(['t1@0', 't2@0', 't1@1']);
      expect(await store.queuedByUid([claimed!.task.uid, 999_999])).toHaveLength(1);
    } finally {
      await scanner.close();
    }
  });
});
