// PostgresStore against a real PostgreSQL server: the store contract shared with SQLite, then
// what only a shared server has: SKIP LOCKED claims from concurrent connections, fencing across
// coordinators (separate pools), LISTEN/NOTIFY delivery and reconnection, concurrent migration.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { MAX_NOTIFY_BYTES } from '../src/cluster/notify.ts';
import { QueueScanner } from '../src/cluster/queue-scanner.ts';
import { CoordinatorError } from '../src/errors.ts';
import { PG_MIGRATIONS, QUEUED_CHANNEL } from '../src/store/pg-migrations.ts';
import { PostgresStore } from '../src/store/postgres-store.ts';
import { SqliteStore } from '../src/store/sqlite-store.ts';
import type { Store } from '../src/store/store.ts';
import { describeStoreContract, newTask as task } from './store-contract.ts';
import { acquirePostgres, type PostgresHarness } from './support/postgres.ts';
import { rng } from './support/rng.ts';

let harness: PostgresHarness;
beforeAll(async () => {
  harness = await acquirePostgres();
});
afterAll(async () => {
  await harness?.release();
});

describeStoreContract('PostgresStore', async () => {
  const store = new PostgresStore(await harness.createSchema(), { maxConnections: 3 });
  return { store, cleanup: () => store.close() };
});

/** Resolves with the next payload `count` handlers see, in order. */
function collector() {
  const seen: string[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  return {
    seen,
    push(payload: string) {
      seen.push(payload);
      for (const w of waiters.filter((w) => seen.length >= w.n)) w.resolve();
    },
    until(n: number): Promise<void> {
      if (seen.length >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
  };
}

describe('PostgresStore on a shared server', () => {
  // Two stores on one database: two coordinators, each with its own pool.
  let a: PostgresStore;
  let b: PostgresStore;
  beforeEach(async () => {
    const url = await harness.createSchema();
    a = new PostgresStore(url, { maxConnections: 4, applicationName: 'coord-a' });
    b = new PostgresStore(url, { maxConnections: 4, applicationName: 'coord-b' });
    // Both migrate at once: the advisory lock makes each migration run exactly once.
    await Promise.all([a.migrate(), b.migrate()]);
  });
  afterEach(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  test('concurrent migration applies each migration once and a second run is a no-op', async () => {
    const { rows } = await a.pool.query<{ version: number }>(
      'SELECT version FROM schema_migrations ORDER BY 1',
    );
    expect(rows.map((r) => r.version)).toEqual(PG_MIGRATIONS.map((_, i) => i + 1));
    await a.migrate();
    const again = await a.pool.query('SELECT version FROM schema_migrations');
    expect(again.rowCount).toBe(PG_MIGRATIONS.length);
  });

  test('a non-postgres URL is refused with CONFIG_INVALID', () => {
    let err: unknown;
    try {
      new PostgresStore('mysql://x');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CoordinatorError);
    expect(err).toMatchObject({ code: 'CONFIG_INVALID', field: 'FLOCK_STORE' });
  });

  test('claimQueued takes priority, then deadline, then age, and honours not_before and module kinds', async () => {
    await a.insertTasks([
      task('old-low'),
      task('high', { priority: 5 }),
      task('late-deadline', { priority: 1, deadlineAtMs: 9000 }),
      task('early-deadline', { priority: 1, deadlineAtMs: 5000 }),
      task('wasm', { priority: 9, moduleKind: 'wasm' }),
    ]);
    const claimed = await b.claimQueued({
      workerId: 'w1',
      limit: 3,
      nowMs: 2000,
      leaseMs: 500,
      moduleKinds: ['builtin'],
    });
    expect(claimed.map((c) => c.task.taskId)).toEqual(['high', 'early-deadline', 'late-deadline']);
    const first = claimed[0]!;
    expect(first.task).toMatchObject({ state: 'running', attempts: 1, currentLeaseId: first.lease.leaseId });
    expect(first.lease).toMatchObject({ attempt: 1, workerId: 'w1', startedAtMs: 2000, expiresAtMs: 2500 });
    expect(await a.getAttempt(first.lease.leaseId)).toMatchObject({
      taskUid: first.task.uid,
      workerId: 'w1',
      expiresAtMs: 2500,
      endedAtMs: undefined,
    });
    expect((await a.auditTrail(first.task.uid)).map((r) => [r.toState, r.leaseId])).toEqual([
      ['queued', undefined],
      ['running', first.lease.leaseId],
    ]);

    // Requeued with backoff: invisible to claims until not_before passes.
    expect(
      await a.endAttempt({
        taskUid: first.task.uid,
        leaseId: first.lease.leaseId,
        outcome: 'lease_expired',
        code: 'LEASE_EXPIRED',
        message: 'expired',
        requeueAtMs: 4000,
        countsAsFailure: false,
        nowMs: 2600,
      }),
    ).toBe(true);
    const early = await b.claimQueued({ workerId: 'w2', limit: 10, nowMs: 3000, leaseMs: 500 });
    expect(early.map((c) => c.task.taskId)).toEqual(['wasm', 'old-low']);
    const later = await b.claimQueued({ workerId: 'w2', limit: 10, nowMs: 4000, leaseMs: 500 });
    expect(later.map((c) => [c.task.taskId, c.lease.attempt])).toEqual([['high', 2]]);
    expect(await b.claimQueued({ workerId: 'w2', limit: 10, nowMs: 9999, leaseMs: 500 })).toEqual([]);
  });

  test('SKIP LOCKED: a claim passes over a row another transaction holds instead of waiting for it', async () => {
    await a.insertTasks([task('t1', { priority: 9 }), task('t2'), task('t3')]);
    const holder = await a.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query("SELECT uid FROM tasks WHERE task_id = 't1' FOR UPDATE");
      // Without SKIP LOCKED this claim would block until the holder commits (never, here).
      const claimed = await b.claimQueued({ workerId: 'w', limit: 10, nowMs: 2000, leaseMs: 100 });
      expect(claimed.map((c) => c.task.taskId)).toEqual(['t2', 't3']);
      await holder.query('COMMIT');
    } finally {
      holder.release();
    }
    const rest = await b.claimQueued({ workerId: 'w', limit: 10, nowMs: 2000, leaseMs: 100 });
    expect(rest.map((c) => c.task.taskId)).toEqual(['t1']);
  });

  test('two coordinators claiming concurrently never get the same task (seeded, 400 tasks)', async () => {
    const n = 400;
    const random = rng(0x5eed);
    const tasks = Array.from({ length: n }, (_, i) => task(`t${i}`, { priority: Math.floor(random() * 4) }));
    await a.insertTasks(tasks);
    const claim = async (store: PostgresStore, name: string, seed: number) => {
      const r = rng(seed);
      const got: number[] = [];
      for (;;) {
        const batch = await store.claimQueued({
          workerId: name,
          limit: 1 + Math.floor(r() * 8),
          nowMs: 2000,
          leaseMs: 1000,
        });
        if (batch.length === 0) return got;
        got.push(...batch.map((c) => c.task.uid));
      }
    };
    // Four claimers over two pools: each pool has several connections, so claims really overlap.
    // The pools' connections are opened first: a claimer whose first connect is slow (a loaded
    // machine) could otherwise find every task taken before it asks.
    await Promise.all([a, b].flatMap((s) => [0, 1, 2, 3].map(() => s.pool.query('SELECT pg_sleep(0.02)'))));
    const results = await Promise.all([
      claim(a, 'a1', 1),
      claim(a, 'a2', 2),
      claim(b, 'b1', 3),
      claim(b, 'b2', 4),
    ]);
    const all = results.flat();
    expect(all).toHaveLength(n);
    expect(new Set(all).size).toBe(n);
    for (const got of results) expect(got.length).toBeGreaterThan(0);
    const counts = await a.stateCounts();
    expect(counts).toEqual({ queued: 0, running: n, succeeded: 0, failed: 0, cancelled: 0 });
    const attempts = await a.pool.query<{ n: number }>('SELECT COUNT(*) AS n FROM attempts');
    expect(attempts.rows[0]?.n).toBe(n);
    const runningAudit = await a.pool.query<{ n: number }>(
      "SELECT COUNT(*) AS n FROM audit WHERE to_state = 'running'",
    );
    expect(runningAudit.rows[0]?.n).toBe(n);
  });

  test("fencing across coordinators: B accepts A's current lease once and refuses stale ones", async () => {
    const [created] = await a.insertTasks([task('t1')]);
    const uid = created?.kind === 'created' ? created.task.uid : -1;
    const [claimed] = await a.claimQueued({ workerId: 'w1', limit: 1, nowMs: 2000, leaseMs: 100 });
    const lease1 = claimed!.lease.leaseId;
    // A's lease expires: A requeues; the task is then claimed again through B.
    expect(
      await a.endAttempt({
        taskUid: uid,
        leaseId: lease1,
        outcome: 'lease_expired',
        code: 'LEASE_EXPIRED',
        message: 'expired',
        requeueAtMs: 2100,
        countsAsFailure: false,
        nowMs: 2100,
      }),
    ).toBe(true);
    const [again] = await b.claimQueued({ workerId: 'w2', limit: 1, nowMs: 2200, leaseMs: 100 });
    const lease2 = again!.lease.leaseId;
    const result = {
      taskUid: uid,
      tenant: 'a',
      result: new Uint8Array([7]),
      executor: 'sim',
      durationMs: 3,
      nowMs: 2300,
    };
    // The late result of the expired lease, arriving at B, is refused; the current one is taken once.
    expect(await b.completeTask({ ...result, leaseId: lease1 })).toBe(false);
    expect(await b.completeTask({ ...result, leaseId: lease2 })).toBe(true);
    expect(await a.completeTask({ ...result, leaseId: lease2 })).toBe(false);
    // Both coordinators racing on the same completion: exactly one wins.
    const [t2] = await a.insertTasks([task('t2')]);
    const uid2 = t2?.kind === 'created' ? t2.task.uid : -1;
    const [c2] = await a.claimQueued({ workerId: 'w3', limit: 1, nowMs: 3000, leaseMs: 100 });
    const race = await Promise.all([
      a.completeTask({ ...result, taskUid: uid2, leaseId: c2!.lease.leaseId }),
      b.completeTask({ ...result, taskUid: uid2, leaseId: c2!.lease.leaseId }),
    ]);
    expect(race.filter(Boolean)).toHaveLength(1);
    const trail = await a.auditTrail(uid);
    expect(trail.map((r) => r.toState)).toEqual(['queued', 'running', 'queued', 'running', 'succeeded']);
    expect(trail.at(-1)).toMatchObject({ leaseId: lease2, workerId: 'w2' });
    expect((await a.listAttempts(uid)).map((r) => [r.leaseId, r.outcome])).toEqual([
      [lease1, 'lease_expired'],
      [lease2, 'succeeded'],
    ]);
  });

  test('NOTIFY reaches a listener on another coordinator, only on commit, with the exact payload', async () => {
    const got = collector();
    await b.notifier.listen('flock_events', (p) => got.push(p));
    const client = await a.pool.connect();
    try {
      await client.query('BEGIN');
      await a.notifier.notify('flock_events', 'rolled-back', client);
      await client.query('ROLLBACK');
      await client.query('BEGIN');
      await a.notifier.notify('flock_events', 'committed', client);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const text = '{"topic":"compute:dispatch:v1:success","task_id":"t-ü"}';
    await a.notifier.notify('flock_events', text);
    await got.until(2);
    expect(got.seen).toEqual(['committed', text]);
  });

  test('a batch insert or a requeue wakes other coordinators once per transaction', async () => {
    const got = collector();
    await b.notifier.listen(QUEUED_CHANNEL, (p) => got.push(p));
    await a.insertTasks(Array.from({ length: 50 }, (_, i) => task(`t${i}`)));
    // Notifications arrive in commit order: the marker proves nothing else came in between.
    await a.notifier.notify(QUEUED_CHANNEL, 'marker-1');
    await got.until(2);
    expect(got.seen).toEqual(['', 'marker-1']);
    const [claimed] = await a.claimQueued({ workerId: 'w', limit: 1, nowMs: 2000, leaseMs: 100 });
    await a.endAttempt({
      taskUid: claimed!.task.uid,
      leaseId: claimed!.lease.leaseId,
      outcome: 'failed',
      code: 'X',
      message: 'x',
      requeueAtMs: 2100,
      countsAsFailure: true,
      nowMs: 2050,
    });
    await a.notifier.notify(QUEUED_CHANNEL, 'marker-2');
    await got.until(4);
    expect(got.seen).toEqual(['', 'marker-1', '', 'marker-2']);
  });

  test('the LISTEN connection comes back after the server drops it, and says so', async () => {
    let resyncs = 0;
    const url = a.url;
    const c = new PostgresStore(url, {
      maxConnections: 1,
      notifier: { reconnectMs: 20, onResync: () => resyncs++ },
    });
    try {
      const got = collector();
      await c.notifier.listen('flock_events', (p) => got.push(p));
      const killed = await a.pool.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'flock-listen' AND datname = current_database()",
      );
      expect(killed.rowCount).toBe(1);
      await expect.poll(() => resyncs, { timeout: 10_000, interval: 20 }).toBe(1);
      await a.notifier.notify('flock_events', 'after-reconnect');
      await got.until(1);
      expect(got.seen).toEqual(['after-reconnect']);
    } finally {
      await c.close();
    }
  });

  test('bad channel names and oversized payloads are refused before reaching the server', async () => {
    await expect(a.notifier.notify('Bad-Channel', 'x')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: 'channel',
    });
    await expect(a.notifier.listen('x; DROP TABLE tasks', () => undefined)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: 'channel',
    });
    await expect(a.notifier.notify('ok', 'é'.repeat(4000))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: 'payload',
    });
    // The limit itself goes through.
    await a.notifier.notify('ok', 'x'.repeat(MAX_NOTIFY_BYTES));
  });

  test('an insert racing the same task id on two coordinators yields one row', async () => {
    const same = task('dup');
    const [x, y] = await Promise.all([a.insertTasks([same]), b.insertTasks([same])]);
    expect([x[0]?.kind, y[0]?.kind].sort()).toEqual(['created', 'existing']);
    const n = await a.pool.query<{ n: number }>("SELECT COUNT(*) AS n FROM tasks WHERE task_id = 'dup'");
    expect(n.rows[0]?.n).toBe(1);
    const audit = await a.pool.query<{ n: number }>('SELECT COUNT(*) AS n FROM audit');
    expect(audit.rows[0]?.n).toBe(1);
  });
});

test('BIGINT columns come back as numbers in this pool only', async () => {
  const store = new PostgresStore(await harness.createSchema(), { maxConnections: 1 });
  try {
    const { rows } = await store.pool.query<{ n: number }>('SELECT 9007199254740991::bigint AS n');
    expect(rows[0]?.n).toBe(Number.MAX_SAFE_INTEGER);
    const plain = new pg.Client({ connectionString: harness.url });
    await plain.connect();
    const other = await plain.query<{ n: string }>('SELECT 5::bigint AS n');
    await plain.end();
    expect(other.rows[0]?.n).toBe('5');
  } finally {
    await store.close();
  }
});

describe('PostgresStore with coordinator ids (several coordinators)', () => {
  let a: PostgresStore;
  let b: PostgresStore;
  beforeEach(async () => {
    const url = await harness.createSchema();
    a = new PostgresStore(url, { maxConnections: 2, coordinatorId: 'coord-a' });
    b = new PostgresStore(url, { maxConnections: 2, coordinatorId: 'coord-b' });
    await Promise.all([a.migrate(), b.migrate()]);
  });
  afterEach(async () => {
    await Promise.all([a.close(), b.close()]);
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
    store = new PostgresStore(await harness.createSchema(), { maxConnections: 2, coordinatorId: 'scan' });
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

describe('batch inserts: the same outcomes on both stores', () => {
  const stores: Array<[string, () => Promise<{ store: Store; done: () => Promise<void> }>]> = [
    [
      'SqliteStore',
      async () => {
        const dir = mkdtempSync(join(tmpdir(), 'flock-batch-'));
        const store = new SqliteStore(dir);
        return {
          store,
          done: async () => {
            await store.close();
            rmSync(dir, { recursive: true, force: true });
          },
        };
      },
    ],
    [
      'PostgresStore',
      async () => {
        const store = new PostgresStore(await harness.createSchema(), { maxConnections: 1 });
        await store.migrate();
        return { store, done: () => store.close() };
      },
    ],
  ];
  for (const [name, make] of stores) {
    test(`${name}: uids follow input order; an id twice in a batch is created then existing; lease batches`, async () => {
      const { store, done } = await make();
      try {
        const out = await store.insertTasks([task('x'), task('y'), task('x'), task('w')]);
        expect(out.map((o) => o.kind)).toEqual(['created', 'created', 'existing', 'created']);
        const uids = out.map((o) => (o.kind === 'created' || o.kind === 'existing' ? o.task.uid : -1));
        expect(uids[2]).toBe(uids[0]);
        expect(uids[0]! < uids[1]! && uids[1]! < uids[3]!).toBe(true);
        const bad = await store.insertTasks([task('z'), task('z', { contentHash: 'other' })]);
        expect(bad).toEqual([
          { kind: 'skipped', taskId: 'z' },
          { kind: 'conflict', taskId: 'z' },
        ]);
        expect(await store.getTask('a', 'z')).toBeUndefined();
        expect((await store.auditTrail(uids[0]!)).map((r) => r.toState)).toEqual(['queued']);
        // A batch of leases: one task already running, one named twice.
        const lease = (uid: number, leaseId: string) => ({
          taskUid: uid,
          tenant: 'a',
          leaseId,
          attempt: 1,
          workerId: 'w',
          startedAtMs: 5,
          expiresAtMs: 50,
        });
        expect(await store.startLeases([lease(uids[0]!, 'l0')])).toEqual([true]);
        expect(
          await store.startLeases([
            lease(uids[0]!, 'l1'),
            lease(uids[1]!, 'l2'),
            lease(uids[1]!, 'l3'),
            lease(uids[3]!, 'l4'),
          ]),
        ).toEqual([false, true, false, true]);
        expect((await store.getTaskByUid(uids[1]!))?.currentLeaseId).toBe('l2');
        expect(await store.getAttempt('l3')).toBeUndefined();
        expect((await store.auditTrail(uids[3]!)).map((r) => [r.toState, r.leaseId])).toEqual([
          ['queued', undefined],
          ['running', 'l4'],
        ]);
        // Group commit: the current leases complete once, a stale lease and a repeat do not, and
        // the worker's successes are counted in the same commit.
        await store.upsertWorker({
          workerId: 'w',
          sessionHash: 'h',
          createdAtMs: 1,
          lastSeenMs: 1,
          tasksSucceeded: 0,
          tasksFailed: 0,
        });
        const done = (uid: number, leaseId: string) => ({
          taskUid: uid,
          tenant: 'a',
          leaseId,
          result: new Uint8Array([7]),
          executor: 'sim',
          durationMs: 1.5,
          nowMs: 60,
          workerId: 'w',
        });
        expect(
          await store.completeTasks!([
            done(uids[0]!, 'l0'),
            done(uids[1]!, 'l3'),
            done(uids[3]!, 'l4'),
            done(uids[3]!, 'l4'),
          ]),
        ).toEqual([true, false, true, false]);
        expect(await store.findWorkerBySession('h')).toMatchObject({ tasksSucceeded: 2 });
        expect(await store.getTaskByUid(uids[3]!)).toMatchObject({ state: 'succeeded', durationMs: 1.5 });
        expect(await store.getAttempt('l4')).toMatchObject({ outcome: 'succeeded', endedAtMs: 60 });
        expect((await store.auditTrail(uids[3]!)).map((r) => [r.toState, r.workerId])).toEqual([
          ['queued', undefined],
          ['running', 'w'],
          ['succeeded', 'w'],
        ]);
        expect(await store.completeTask(done(uids[1]!, 'l2'))).toBe(true);
        expect(await store.findWorkerBySession('h')).toMatchObject({ tasksSucceeded: 3 });
      } finally {
        await done();
      }
    });
  }
});
