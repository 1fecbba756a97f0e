// A SQLite store in a fresh temporary directory, for store-level tests, and how to be rid of it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite-store.ts';

export interface TemporaryStore {
  store: SqliteStore;
  /** Closes the store and removes its directory. */
  cleanup(): Promise<void>;
}

export function temporarySqliteStore(prefix = 'flock-store-'): TemporaryStore {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const store = new SqliteStore(dir);
  return {
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
