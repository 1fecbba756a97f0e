// The SQLite store's multi-row INSERTs (store/sqlite-multi-insert.ts) and the lease pass that
// writes its attempt and audit rows through them: every row lands, in order, across 32-row chunks.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, expect, test } from 'vitest';
import { MultiInsert } from '../src/store/sqlite-multi-insert.ts';
import { SqliteStore } from '../src/store/sqlite-store.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'flock-multi-insert-'));
  dirs.push(dir);
  return dir;
};

test('70 rows go in as chunks of 32, 32 and 6, in order; no rows, no statement', () => {
  const db = new Database(join(tempDir(), 't.db'));
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER NOT NULL, b TEXT)');
  const insert = new MultiInsert(db, 'INSERT INTO t (a, b)', '(?, ?)', 2);
  insert.run([]);
  expect(db.prepare('SELECT COUNT(*) AS n FROM t').get()).toEqual({ n: 0 });
  const values: unknown[] = [];
  for (let i = 0; i < 70; i++) values.push(i, i % 3 === 0 ? null : `r${i}`);
  insert.run(values);
  const rows = db.prepare('SELECT id, a, b FROM t ORDER BY id').all() as Array<{
    id: number;
    a: number;
    b: string | null;
  }>;
  expect(rows).toHaveLength(70);
  expect(rows).toEqual(rows.map((_, i) => ({ id: i + 1, a: i, b: i % 3 === 0 ? null : `r${i}` })));
  // The sizes used were 32 and 6: two statements prepared, reused by a second batch of 38.
  insert.run(values.slice(0, 76));
  expect(db.prepare('SELECT COUNT(*) AS n FROM t').get()).toEqual({ n: 108 });
  expect((insert as unknown as { bySize: Map<number, unknown> }).bySize.size).toBe(2);
  db.close();
});

test('a lease pass of 40 writes 40 attempt rows and 40 accepted audit rows, skipping the task not queued', async () => {
  const store = new SqliteStore(tempDir());
  const envelope = new TextEncoder().encode('{"task_id":"x"}');
  const created = await store.insertTasks(
    Array.from({ length: 41 }, (_, i) => ({
      tenant: 'a',
      taskId: `t${i}`,
      campaignId: undefined,
      op: 'sum',
      moduleKind: 'builtin',
      contentHash: `h${i}`,
      envelope,
      priority: 0,
      deadlineAtMs: undefined,
      maxRetries: 0,
      createdAtMs: 1000,
    })),
  );
  const uids = created.map((o) => (o.kind === 'created' ? o.task.uid : 0));
  await store.cancelTask(uids[5]!, 'gone', 1500);
  const lease = (uid: number, i: number) => ({
    taskUid: uid,
    tenant: 'a',
    leaseId: `l-${String(i).padStart(3, '0')}`,
    attempt: 1,
    workerId: `w${i % 2}`,
    startedAtMs: 2000 + i,
    expiresAtMs: 9000 + i,
  });
  const started = await store.startLeases(uids.map(lease));
  expect(started.filter(Boolean)).toHaveLength(40);
  expect(started[5]).toBe(false);
  for (const [i, uid] of uids.entries()) {
    if (i === 5) {
      expect(await store.listAttempts(uid)).toEqual([]);
      continue;
    }
    const attempts = await store.listAttempts(uid);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({ leaseId: lease(uid, i).leaseId, workerId: `w${i % 2}`, attempt: 1 });
    expect(attempts[0]!.startedAtMs).toBe(2000 + i);
    expect(attempts[0]!.expiresAtMs).toBe(9000 + i);
    const trail = await store.auditTrail(uid);
    expect(
      trail.map((r) => [r.fromState ?? null, r.toState, r.leaseId ?? null, r.workerId ?? null, r.tsMs]),
    ).toEqual([
      [null, 'queued', null, null, 1000],
      ['queued', 'running', lease(uid, i).leaseId, `w${i % 2}`, 2000 + i],
    ]);
  }
  await store.close();
});
