// The rows the SQLite store's hot transitions write, column by column: insert, lease and
// complete write their constant columns (states, topic) as SQL literals (sqlite-statements.ts).
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { EVENTS } from '@flock/protocol';
import Database from 'better-sqlite3';
import { expect, test } from 'vitest';
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
      { taskUid: uid, leaseId: 'l1', attempt: 1, workerId: 'w1', startedAtMs: 20, expiresAtMs: 50 },
    ]),
  ).toEqual([true]);
  const result = new Uint8Array([0, 7, 8, 0]).subarray(1, 3);
  expect(
    await store.completeTasks([
      {
        taskUid: uid,
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
  const none = { lease_id: null, worker_id: null, code: null, output_hash: null };
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
      ...{ lease_id: 'l1', worker_id: 'w1', code: null, output_hash: null },
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
      ...{ lease_id: 'l1', worker_id: 'w1', code: null, output_hash: 'sha256:out' },
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
