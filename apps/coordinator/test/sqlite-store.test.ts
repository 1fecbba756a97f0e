import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { SqliteStore } from '../src/store/sqlite-store.ts';
import { newLease } from './store-contract/store-test.ts';
import { describeStoreContract } from './store-contract.ts';
import { temporarySqliteStore } from './support/sqlite.ts';

describeStoreContract('SqliteStore', async () => temporarySqliteStore('flock-store-'));

test('SqliteStore keeps its data across reopen (a new process sees committed tasks)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flock-store-'));
  const first = new SqliteStore(dir, { sync: 'FULL' });
  await first.insertTasks([
    {
      tenant: 'a',
      taskId: 't',
      campaignId: undefined,
      op: 'sum',
      moduleKind: 'wasm',
      contentHash: 'h',
      envelope: new Uint8Array([7]),
      priority: 3,
      deadlineAtMs: 99,
      maxRetries: 1,
      createdAtMs: 5,
    },
  ]);
  await first.close();
  const second = new SqliteStore(dir);
  expect(await second.getTask('a', 't')).toMatchObject({ state: 'queued', priority: 3, deadlineAtMs: 99 });
  await second.close();
  rmSync(dir, { recursive: true, force: true });
});

test('completeTasks commits a batch and counts each worker once per success', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flock-store-'));
  const store = new SqliteStore(dir);
  const base = {
    tenant: 'a',
    campaignId: undefined,
    op: 'sum',
    moduleKind: 'wasm',
    envelope: new Uint8Array([1]),
    priority: 0,
    deadlineAtMs: undefined,
    maxRetries: 0,
    createdAtMs: 1,
  };
  const out = await store.insertTasks(
    ['x', 'y', 'z'].map((id) => ({ ...base, taskId: id, contentHash: id })),
  );
  const uids = out.map((o) => (o.kind === 'created' ? o.task.uid : -1));
  for (const w of ['w1', 'w2']) {
    await store.upsertWorker({
      workerId: w,
      sessionHash: w,
      createdAtMs: 1,
      lastSeenMs: 1,
      tasksSucceeded: 0,
      tasksFailed: 0,
    });
  }
  const workers = ['w1', 'w1', 'w2'];
  await store.startLeases(
    uids.map((uid, i) => newLease(uid, `l${i}`, { workerId: workers[i]!, startedAtMs: 2, expiresAtMs: 9 })),
  );
  const done = await store.completeTasks(
    uids.map((uid, i) => ({
      taskUid: uid,
      tenant: 'a',
      leaseId: i === 2 ? 'stale' : `l${i}`,
      result: new Uint8Array([i]),
      executor: 'sim',
      durationMs: 1,
      nowMs: 3,
      workerId: workers[i],
    })),
  );
  expect(done).toEqual([true, true, false]);
  expect((await store.findWorkerBySession('w1'))?.tasksSucceeded).toBe(2);
  expect((await store.findWorkerBySession('w2'))?.tasksSucceeded).toBe(0);
  expect((await store.getTask('a', 'z'))?.state).toBe('running');
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});
