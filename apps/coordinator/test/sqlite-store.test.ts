import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { SqliteStore } from '../src/sqlite-store.ts';
import { describeStoreContract } from './store-contract.ts';

describeStoreContract('SqliteStore', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flock-store-'));
  const store = new SqliteStore(dir);
  return {
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

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
