// The SQLite store on its own worker thread (FLOCK_SQLITE_THREAD=on): the same contract as the
// in-process store, answers only after the commit, errors kept, and a coordinator that runs on it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, expect, test } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import { SqliteStore } from '../src/store/sqlite-store.ts';
import { openSqliteThreadStore } from '../src/store/sqlite-thread-store.ts';
import type { Store } from '../src/store/store.ts';
import { envelope, startTest, type TestCoordinator, taskState, until } from './helpers.ts';
import { describeStoreContract, newTask } from './store-contract.ts';

function threadStore(): { store: Store; dir: string; cleanup: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'flock-thread-store-'));
  const store = openSqliteThreadStore(dir);
  return {
    store,
    dir,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describeStoreContract('SQLite on its own thread', async () => threadStore());

let coordinator: TestCoordinator | undefined;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await coordinator?.stop();
  coordinator = undefined;
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

test('a write is answered only once committed: another connection sees it as soon as it resolves', async () => {
  const { store, dir, cleanup } = threadStore();
  cleanups.push(cleanup);
  await store.migrate();
  const reader = new Database(join(dir, 'flock.db'), { readonly: true });
  const count = reader.prepare('SELECT count(*) AS n FROM tasks');
  // Twenty writes made in one turn travel in one message and share the thread's group commit.
  const outcomes = await Promise.all(
    Array.from({ length: 20 }, (_, i) => store.insertTasks([newTask(`t${i}`)])),
  );
  expect(outcomes.map(([o]) => o?.kind)).toEqual(Array(20).fill('created'));
  expect(count.get()).toEqual({ n: 20 });
  // Bytes, undefined fields and numbers come back as the in-process store returns them.
  const stored = await store.getTask('a', 't3');
  expect(stored?.envelope).toEqual(new Uint8Array([1, 2, 3]));
  expect(stored?.campaignId).toBeUndefined();
  expect(stored?.state).toBe('queued');
  reader.close();
});

test('calls run in the order they were made, sub-stores included', async () => {
  const { store, cleanup } = threadStore();
  cleanups.push(cleanup);
  await store.migrate();
  const keys = store.keyStore();
  const [inserted, none, listed] = await Promise.all([
    store.insertTasks([newTask('t1')]),
    keys.list('a'),
    store.listTasks('a', { limit: 10 }),
  ]);
  expect(inserted[0]?.kind).toBe('created');
  expect(none).toEqual([]);
  expect(listed.map((t) => t.taskId)).toEqual(['t1']);
});

test('a closed store refuses calls with a clear error, and an unopenable file fails its first call', async () => {
  const { store, dir } = threadStore();
  await store.migrate();
  await store.close();
  await expect(store.getTask('a', 't1')).rejects.toThrow('the store is closed');
  rmSync(dir, { recursive: true, force: true });

  // The data directory is a file: the thread cannot open flock.db under it.
  const parent = mkdtempSync(join(tmpdir(), 'flock-thread-store-'));
  const notADir = join(parent, 'file');
  writeFileSync(notADir, 'x');
  const broken = openSqliteThreadStore(notADir);
  await expect(broken.migrate()).rejects.toThrow(/^the SQLite thread failed: EEXIST: file already exists/);
  await expect(broken.getTask('a', 't1')).rejects.toThrow(/the SQLite thread failed/);
  await broken.close();
  rmSync(parent, { recursive: true, force: true });
});

test('FLOCK_SQLITE_THREAD is on|off, and a coordinator on the thread runs a task and keeps it on disk', async () => {
  expect(loadConfig({ FLOCK_SQLITE_THREAD: 'on' }).sqliteThread).toBe(true);
  expect(loadConfig({}).sqliteThread).toBe(false);
  expect(() => loadConfig({ FLOCK_SQLITE_THREAD: 'yes' })).toThrow('FLOCK_SQLITE_THREAD');

  const dir = mkdtempSync(join(tmpdir(), 'flock-thread-store-'));
  coordinator = await startTest({ sqliteThread: true }, dir);
  expect(coordinator.store).not.toBeInstanceOf(SqliteStore);
  const res = await coordinator.api('/v1/tasks', { method: 'POST', json: envelope('t-1') });
  expect(res.status).toBe(201);
  const sim = await SimulatedVolunteer.connect({ url: coordinator.url });
  await until(async () => (await taskState(coordinator!, 't-1')) === 'succeeded');
  expect(await (await coordinator.api('/v1/tasks/t-1/result')).json()).toMatchObject({
    outputs: [{ name: 'sum', inline_json: '10' }],
  });
  await sim.close();
  await coordinator.stop();
  coordinator = undefined;
  // The in-process store reads what the thread wrote.
  const again = new SqliteStore(dir);
  expect((await again.getTask('a', 't-1'))?.state).toBe('succeeded');
  await again.close();
  rmSync(dir, { recursive: true, force: true });
});
