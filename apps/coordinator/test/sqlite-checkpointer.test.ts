import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterEach, expect, test, vi } from 'vitest';
import type { WalCheckpointer } from '../src/store/sqlite-checkpointer.ts';
import { SqliteStore } from '../src/store/sqlite-store.ts';
import { openSqliteThreadStore } from '../src/store/sqlite-thread-store.ts';
import type { NewTask } from '../src/store/store.ts';
import { until } from './helpers.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function open(warn?: (message: string) => void): SqliteStore {
  const dir = mkdtempSync(join(tmpdir(), 'flock-ckpt-'));
  dirs.push(dir);
  return new SqliteStore(dir, warn ? { warn } : {});
}

const inner = (store: SqliteStore) =>
  store as unknown as {
    checkpointer: Pick<WalCheckpointer, 'started'> & { worker: Worker | undefined; start(): void };
    db: { pragma(sql: string, options?: { simple: boolean }): unknown };
  };

const envelope = new Uint8Array(2000).fill(7);
const task = (id: string): NewTask => ({
  tenant: 'a',
  taskId: id,
  campaignId: 'c',
  op: 'sum',
  moduleKind: 'builtin',
  contentHash: `h-${id}`,
  envelope,
  priority: 0,
  deadlineAtMs: undefined,
  maxRetries: 0,
  createdAtMs: 1,
});

const walBytes = (store: SqliteStore): number =>
  statSync(`${store.path}-wal`, { throwIfNoEntry: false })?.size ?? 0;

test('the WAL stays bounded while writing far past the checkpoint threshold; close removes it', async () => {
  const store = open();
  const { checkpointer, db } = inner(store);
  expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
  const mib = 2 ** 20;
  let largest = 0;
  let written = 0;
  for (let b = 0; b < 100; b++) {
    await store.insertTasks(Array.from({ length: 500 }, (_, k) => task(`t${b}-${k}`)));
    written += 500 * envelope.length;
    largest = Math.max(largest, walBytes(store));
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  // At least 95 MiB of rows went through the WAL; without checkpoints it would hold them all.
  expect(written).toBeGreaterThan(95 * mib);
  expect(checkpointer.started).toBe(1);
  // On a quiet machine the file peaks at 20–26 MiB; under a loaded CI box the thread can hold the
  // checkpoint lock while descheduled and the store's own catch-up waits for it, so the bound
  // asserted is half of what went through (without checkpoints it would be all of it).
  expect(largest).toBeLessThan(48 * mib);
  await store.close();
  expect(existsSync(`${store.path}-wal`)).toBe(false);
  const again = new SqliteStore(join(store.path, '..'));
  expect((await again.countByState('a', 'c')).queued).toBe(50_000);
  expect(await again.getTask('a', 't99-499')).toMatchObject({ state: 'queued' });
  await again.close();
});

test('a store that writes little never starts the checkpoint thread', async () => {
  const store = open();
  for (let k = 0; k < 5; k++) {
    await store.insertTasks([task(`t${k}`)]);
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
  expect(inner(store).checkpointer.started).toBe(0);
  await store.close();
  expect(existsSync(`${store.path}-wal`)).toBe(false);
});

test('a checkpoint thread that dies hands checkpoints back to SQLite, warning once', async () => {
  const store = open();
  const { checkpointer, db } = inner(store);
  // Without a `warn` of the store's (as on its own thread), the warning goes to the console.
  const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
  try {
    checkpointer.start();
    await checkpointer.worker!.terminate();
    // The thread's exit is handled in a later turn: poll for SQLite's own checkpoint coming back.
    await until(() => db.pragma('wal_autocheckpoint', { simple: true }) === 1000, 5_000, 'the fallback');
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![0]).toMatch(
      /^flock: the SQLite checkpoint thread exited \(code \d+\); checkpoints run in commits again$/,
    );
    await store.insertTasks([task('after')]);
    expect(await store.getTask('a', 'after')).toMatchObject({ state: 'queued' });
    await store.close();
    expect(existsSync(`${store.path}-wal`)).toBe(false);
  } finally {
    warn.mockRestore();
  }
});

test("the dying thread's warning goes to the store's `warn` (the coordinator's log) when it has one", async () => {
  const warnings: string[] = [];
  const store = open((message) => warnings.push(message));
  const { checkpointer, db } = inner(store);
  const console_ = vi.spyOn(console, 'warn').mockImplementation(() => {});
  try {
    checkpointer.start();
    await checkpointer.worker!.terminate();
    await until(() => db.pragma('wal_autocheckpoint', { simple: true }) === 1000, 5_000, 'the fallback');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /^the SQLite checkpoint thread exited \(code \d+\); checkpoints run in commits again$/,
    );
    expect(console_).not.toHaveBeenCalled();
    await store.close();
  } finally {
    console_.mockRestore();
  }
});

test('with the store on its own thread (FLOCK_SQLITE_THREAD) the checkpoints run beside it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flock-ckpt-'));
  dirs.push(dir);
  const store = openSqliteThreadStore(dir);
  const path = join(dir, 'flock.db');
  let largest = 0;
  for (let b = 0; b < 60; b++) {
    await store.insertTasks(Array.from({ length: 500 }, (_, k) => task(`t${b}-${k}`)));
    largest = Math.max(largest, statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  // 57 MiB of rows went through the WAL (a loaded box's margin as above).
  expect(largest).toBeLessThan(40 * 2 ** 20);
  await store.close();
  expect(existsSync(`${path}-wal`)).toBe(false);
  const again = new SqliteStore(dir);
  expect((await again.countByState('a', 'c')).queued).toBe(30_000);
  await again.close();
});
