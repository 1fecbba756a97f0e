// Two PostgresStores on one database: two coordinators, each with its own pool, for the tests of
// what only a shared server does (claims, fencing, NOTIFY, coordinator ids).
import { afterEach, beforeEach } from 'vitest';
import { PostgresStore, type PostgresStoreOptions } from '../../src/store/postgres-store.ts';
import type { PostgresHarness } from './postgres.ts';

export interface StorePair {
  a: PostgresStore;
  b: PostgresStore;
}

/**
 * Opens `a` and `b` on a fresh schema of `harness` and migrates both at once (the advisory lock
 * makes each migration run exactly once). The caller closes both.
 */
export async function openPair(
  harness: PostgresHarness,
  optionsA: PostgresStoreOptions,
  optionsB: PostgresStoreOptions,
): Promise<StorePair> {
  const url = await harness.createSchema();
  const a = new PostgresStore(url, optionsA);
  const b = new PostgresStore(url, optionsB);
  await Promise.all([a.migrate(), b.migrate()]);
  return { a, b };
}

/**
 * `openPair` before each test of the enclosing `describe`, handing the pair to `take`; both stores
 * are closed after each test.
 */
export function usePostgresPair(
  harness: () => PostgresHarness,
  options: [PostgresStoreOptions, PostgresStoreOptions],
  take: (pair: StorePair) => void,
): void {
  let pair: StorePair | undefined;
  beforeEach(async () => {
    pair = await openPair(harness(), ...options);
    take(pair);
  });
  afterEach(async () => {
    await Promise.all([pair?.a.close(), pair?.b.close()]);
    pair = undefined;
  });
}
