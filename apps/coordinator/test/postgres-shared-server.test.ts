// PostgresStore: what only a shared server has. Two stores on one database stand for two
// coordinators (separate pools): SKIP LOCKED claims from concurrent connections, fencing across
// them, LISTEN/NOTIFY delivery and reconnection, concurrent migration, racing inserts.

import { describe, expect, test } from 'vitest';
import { MAX_NOTIFY_BYTES } from '../src/cluster/notify.ts';
import { CoordinatorError } from '../src/errors.ts';
import { PG_MIGRATIONS, QUEUED_CHANNEL } from '../src/store/pg-migrations.ts';
import { PostgresStore } from '../src/store/postgres-store.ts';
import { newTask as task } from './store-contract.ts';
import { usePostgres } from './support/postgres.ts';
import { usePostgresPair } from './support/postgres-pair.ts';
import { rng } from './support/rng.ts';

const harness = usePostgres();

/** A pool of four connections, named for pg_stat_activity. */
const coordinator = (name: string) => ({ maxConnections: 4, applicationName: name });

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
  // Both migrate at once: the advisory lock makes each migration run exactly once.
  usePostgresPair(harness, [coordinator('coord-a'), coordinator('coord-b')], (pair) => {
    ({ a, b } = pair);
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
