// PostgresStore against a real PostgreSQL server: the store contract shared with SQLite, the pool's
// BIGINT parsing, and batch inserts, leases and completions giving the same outcomes on both stores.
// What only a shared server has lives beside this file: postgres-shared-server.test.ts (SKIP
// LOCKED claims, fencing across pools, LISTEN/NOTIFY, concurrent migration) and
// postgres-coordinators.test.ts (coordinator ids, orphaned leases, the queue scanner).

import pg from 'pg';
import { describe, expect, test } from 'vitest';
import { PostgresStore } from '../src/store/postgres-store.ts';
import type { Store } from '../src/store/store.ts';
import { describeStoreContract, newTask as task } from './store-contract.ts';
import { usePostgres } from './support/postgres.ts';
import { temporarySqliteStore } from './support/sqlite.ts';

const harness = usePostgres();

describeStoreContract('PostgresStore', async () => {
  const store = new PostgresStore(await harness().createSchema(), { maxConnections: 3 });
  return { store, cleanup: () => store.close() };
});

test('BIGINT columns come back as numbers in this pool only', async () => {
  const store = new PostgresStore(await harness().createSchema(), { maxConnections: 1 });
  try {
    const { rows } = await store.pool.query<{ n: number }>('SELECT 9007199254740991::bigint AS n');
    expect(rows[0]?.n).toBe(Number.MAX_SAFE_INTEGER);
    const plain = new pg.Client({ connectionString: harness().url });
    await plain.connect();
    const other = await plain.query<{ n: string }>('SELECT 5::bigint AS n');
    await plain.end();
    expect(other.rows[0]?.n).toBe('5');
  } finally {
    await store.close();
  }
});

describe('batch inserts: the same outcomes on both stores', () => {
  const stores: Array<[string, () => Promise<{ store: Store; done: () => Promise<void> }>]> = [
    [
      'SqliteStore',
      async () => {
        const { store, cleanup } = temporarySqliteStore('flock-batch-');
        return { store, done: cleanup };
      },
    ],
    [
      'PostgresStore',
      async () => {
        const store = new PostgresStore(await harness().createSchema(), { maxConnections: 1 });
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
