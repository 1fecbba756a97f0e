// The rows the SQLite store's hot transitions write, column by column: insert, lease and
// complete write their constant columns (states, topic) as SQL literals (sqlite-statements.ts),
// a batch of completions ends its attempts and counts its workers by UPDATE … FROM (VALUES …)
// in chunks of 32; and the index of open tasks recovery reads, before and after its migration
// (with the audit rows' tenants, whose migration came after it).
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { EVENTS } from '@flock/protocol';
import Database from 'better-sqlite3';
import { expect, test } from 'vitest';
import { SQLITE_MIGRATIONS } from '../src/store/sqlite-schema.ts';
import { SqliteStore } from '../src/store/sqlite-store.ts';
import type { CompleteTask, NewTask } from '../src/store/store.ts';
import { newLease } from './store-contract/store-test.ts';
import { temporarySqliteStore } from './support/sqlite.ts';

test('insert, lease and complete write these audit, attempt and task rows', async () => {
  const { store } = temporarySqliteStore('flock-rows-');
  await store.upsertWorker({
    workerId: 'w1',
    sessionHash: 'h',
    createdAtMs: 1,
    lastSeenMs: 1,
    tasksSucceeded: 0,
    tasksFailed: 0,
  });
  const envelope = new Uint8Array([9, 1, 2, 3, 9]).subarray(1, 4);
  const [created] = await store.insertTasks([
    {
      tenant: 'a',
      taskId: 't1',
      campaignId: 'c',
      op: 'sum',
      moduleKind: 'builtin',
      contentHash: 'h1',
      envelope,
      priority: 2,
      deadlineAtMs: undefined,
      maxRetries: 1,
      createdAtMs: 10,
    },
  ]);
  const uid = created!.kind === 'created' ? created!.task.uid : -1;
  expect(
    await store.startLeases([
      {
        taskUid: uid,
        tenant: 'a',
        leaseId: 'l1',
        attempt: 1,
        workerId: 'w1',
        startedAtMs: 20,
        expiresAtMs: 50,
      },
    ]),
  ).toEqual([true]);
  const result = new Uint8Array([0, 7, 8, 0]).subarray(1, 3);
  expect(
    await store.completeTasks([
      {
        taskUid: uid,
        tenant: 'a',
        leaseId: 'l1',
        result,
        executor: 'sim',
        durationMs: 4,
        nowMs: 30,
        workerId: 'w1',
        outputHash: 'sha256:out',
      },
    ]),
  ).toEqual([true]);
  const path = store.path;
  await store.close();

  const db = new Database(path, { readonly: true });
  const none = { lease_id: null, worker_id: null, code: null, output_hash: null, tenant: 'a' };
  expect(db.prepare('SELECT * FROM audit ORDER BY id').all()).toEqual([
    {
      id: 1,
      task_uid: uid,
      ts_ms: 10,
      from_state: null,
      to_state: 'queued',
      topic: EVENTS.requested,
      ...none,
    },
    {
      ...{
        id: 2,
        task_uid: uid,
        ts_ms: 20,
        from_state: 'queued',
        to_state: 'running',
        topic: EVENTS.accepted,
      },
      ...{ lease_id: 'l1', worker_id: 'w1', code: null, output_hash: null, tenant: 'a' },
    },
    {
      ...{
        id: 3,
        task_uid: uid,
        ts_ms: 30,
        from_state: 'running',
        to_state: 'succeeded',
        topic: EVENTS.success,
      },
      ...{ lease_id: 'l1', worker_id: 'w1', code: null, output_hash: 'sha256:out', tenant: 'a' },
    },
  ]);
  expect(db.prepare('SELECT * FROM attempts').all()).toEqual([
    {
      ...{ lease_id: 'l1', task_uid: uid, attempt: 1, worker_id: 'w1', started_at_ms: 20, expires_at_ms: 50 },
      ...{ ended_at_ms: 30, outcome: 'succeeded', code: null },
    },
  ]);
  const task = db
    .prepare('SELECT envelope, result, state, attempts, current_lease_id, executor, duration_ms FROM tasks')
    .get();
  expect(task).toEqual({
    envelope: Buffer.from([1, 2, 3]),
    result: Buffer.from([7, 8]),
    state: 'succeeded',
    attempts: 1,
    current_lease_id: null,
    executor: 'sim',
    duration_ms: 4,
  });
  expect(db.prepare('SELECT tasks_succeeded FROM workers').get()).toEqual({ tasks_succeeded: 1 });
  db.close();
  rmSync(dirname(path), { recursive: true, force: true });
});

/** The tasks table's own indexes (not the one its UNIQUE constraint makes). */
const indexesOf = (db: Database.Database): string[] =>
  db
    .prepare<[], { name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks' AND sql IS NOT NULL ORDER BY name",
    )
    .all()
    .map((r) => r.name);

const task = (taskId: string): NewTask => ({
  tenant: 'a',
  taskId,
  campaignId: undefined,
  op: 'sum',
  moduleKind: 'wasm',
  contentHash: taskId,
  envelope: new Uint8Array([1]),
  priority: 0,
  deadlineAtMs: undefined,
  maxRetries: 0,
  createdAtMs: 1,
});

test('open tasks are read through tasks_unfinished, in a new file and in one upgraded from tasks_open', async () => {
  const { store } = temporarySqliteStore('flock-rows-');
  const ids = [
    'queued',
    'running',
    'succeeded',
    'failed',
    'cancelled',
    'reopened',
    'requeued',
    'fails-queued',
  ];
  const out = await store.insertTasks(ids.map(task));
  const uid = Object.fromEntries(out.map((o, i) => [ids[i]!, o.kind === 'created' ? o.task.uid : -1]));
  const leased = ['running', 'succeeded', 'failed', 'reopened', 'requeued'];
  await store.startLeases(
    leased.map((id) => ({
      taskUid: uid[id]!,
      tenant: 'a',
      leaseId: `l-${id}`,
      attempt: 1,
      workerId: 'w1',
      startedAtMs: 2,
      expiresAtMs: 9,
    })),
  );
  for (const id of ['succeeded', 'reopened']) {
    const done = {
      taskUid: uid[id]!,
      tenant: 'a',
      leaseId: `l-${id}`,
      result: new Uint8Array([5]),
      nowMs: 3,
    };
    expect(await store.completeTask({ ...done, executor: 'sim', durationMs: 1 })).toBe(true);
  }
  expect(await store.reopenTask(uid.reopened!, 'REVERIFY', 4)).toBeDefined();
  const end = { code: 'X', message: 'm', countsAsFailure: true, nowMs: 4 };
  for (const [id, requeueAtMs] of [
    ['failed', undefined],
    ['requeued', 8],
  ] as const) {
    const ended = { ...end, taskUid: uid[id]!, leaseId: `l-${id}`, outcome: 'failed' as const, requeueAtMs };
    expect(await store.endAttempt(ended)).toBe(true);
  }
  expect(await store.cancelTask(uid.cancelled!, 'no', 4)).toBe('queued');
  expect(await store.failQueued(uid['fails-queued']!, 'DEADLINE_EXCEEDED', 'late', 4)).toBe(true);
  const open = ['queued', 'running', 'reopened', 'requeued'];
  const openNow = async (s: SqliteStore) => (await s.openTasks()).map((t) => [t.taskId, t.state]);
  const expected = open.map((id) => [id, id === 'running' ? 'running' : 'queued']);
  expect(await openNow(store)).toEqual(expected);
  const path = store.path;
  await store.close();

  // The same file as the migrations before tasks_unfinished left it (so before audit_tenant,
  // which came after it, too: the upgrade gives the audit rows their tasks' tenants).
  const old = new Database(path);
  expect(indexesOf(old)).toEqual(['tasks_tenant_campaign', 'tasks_tenant_uid', 'tasks_unfinished']);
  const unfinished = SQLITE_MIGRATIONS.findIndex((sql) => sql.includes('CREATE INDEX tasks_unfinished'));
  old.exec(`DROP INDEX tasks_unfinished;
    CREATE INDEX tasks_open ON tasks (state) WHERE state IN ('queued', 'running');
    DROP INDEX audit_tenant;
    ALTER TABLE audit DROP COLUMN tenant;
    PRAGMA user_version = ${unfinished};`);
  old.close();
  const upgraded = new SqliteStore(dirname(path));
  expect(await openNow(upgraded)).toEqual(expected);
  await upgraded.close();
  const after = new Database(path, { readonly: true });
  expect(indexesOf(after)).toEqual(['tasks_tenant_campaign', 'tasks_tenant_uid', 'tasks_unfinished']);
  const plan = after.prepare<[], { detail: string }>(
    "EXPLAIN QUERY PLAN SELECT * FROM tasks WHERE result IS NULL AND state IN ('queued', 'running') ORDER BY uid",
  );
  expect(plan.all().map((r) => r.detail)).toEqual(['SCAN tasks USING INDEX tasks_unfinished']);
  const tenants = after.prepare('SELECT tenant, COUNT(*) AS n FROM audit GROUP BY tenant').all();
  expect(tenants).toEqual([{ tenant: 'a', n: 20 }]);
  after.close();
  rmSync(dirname(path), { recursive: true, force: true });
});

test('a batch of 40 completions ends each attempt at its own time and counts each worker exactly', async () => {
  const { store } = temporarySqliteStore('flock-rows-');
  const workers = ['w0', 'w1', 'w2', 'w-unknown'];
  for (const w of workers.slice(0, 3)) {
    await store.upsertWorker({
      workerId: w,
      sessionHash: w,
      createdAtMs: 1,
      lastSeenMs: 1,
      tasksSucceeded: w === 'w2' ? 5 : 0,
      tasksFailed: 0,
    });
  }
  const ids = Array.from({ length: 42 }, (_, i) => `t${i}`);
  const out = await store.insertTasks(ids.map(task));
  const uids = out.map((o) => (o.kind === 'created' ? o.task.uid : -1));
  const workerOf = (i: number) => workers[i % 4]!;
  await store.startLeases(
    uids.map((uid, i) => newLease(uid, `l${i}`, { workerId: workerOf(i), startedAtMs: 2, expiresAtMs: 9 })),
  );
  // Tasks 40 and 41 are not completed; task 7's second completion and task 8's stale lease fail.
  const changes: CompleteTask[] = uids.slice(0, 40).map((uid, i) => ({
    taskUid: uid,
    tenant: 'a',
    leaseId: i === 8 ? 'stale' : `l${i}`,
    result: new Uint8Array([i]),
    executor: undefined,
    durationMs: undefined,
    nowMs: 100 + i,
    workerId: workerOf(i),
  }));
  changes.push({ ...changes[7]!, nowMs: 999 });
  const done = await store.completeTasks(changes);
  expect(done).toEqual(changes.map((_, i) => i !== 8 && i !== 40));
  const path = store.path;
  await store.close();

  const db = new Database(path, { readonly: true });
  const ends = db
    .prepare<[], { lease_id: string; ended_at_ms: number | null; outcome: string | null }>(
      'SELECT lease_id, ended_at_ms, outcome FROM attempts ORDER BY task_uid',
    )
    .all();
  expect(ends).toEqual(
    ids.map((_, i) =>
      i === 8 || i >= 40
        ? { lease_id: `l${i}`, ended_at_ms: null, outcome: null }
        : { lease_id: `l${i}`, ended_at_ms: 100 + i, outcome: 'succeeded' },
    ),
  );
  // Of the 39 successes: w0 has 9 (i ≡ 0 mod 4 but 8), w1 10, w2 5 + 10, the unknown worker none.
  expect(db.prepare('SELECT worker_id, tasks_succeeded FROM workers ORDER BY worker_id').all()).toEqual([
    { worker_id: 'w0', tasks_succeeded: 9 },
    { worker_id: 'w1', tasks_succeeded: 10 },
    { worker_id: 'w2', tasks_succeeded: 15 },
  ]);
  db.close();
  rmSync(dirname(path), { recursive: true, force: true });
});
