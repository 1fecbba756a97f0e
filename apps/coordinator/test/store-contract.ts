// The Store contract: every implementation (SQLite in-process or on its thread, PostgreSQL) must
// pass these. Call `describeStoreContract(name, factory)` from a test file; the factory makes an
// empty store. The cases live by store area under store-contract/; this file runs them all.
import { afterEach, beforeEach, describe, test } from 'vitest';
import type { Store } from '../src/store/store.ts';
import { blobWorkerKeyCases } from './store-contract/blobs-workers-keys.ts';
import type { StoreTest } from './store-contract/store-test.ts';
import { taskLifecycleCases } from './store-contract/task-lifecycle.ts';
import { taskQueryCases } from './store-contract/task-queries.ts';
import { workflowCases } from './store-contract/workflows.ts';

export { newTask } from './store-contract/store-test.ts';

export type StoreFactory = () => Promise<{ store: Store; cleanup: () => Promise<void> }>;

export function describeStoreContract(name: string, factory: StoreFactory): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ store, cleanup } = await factory());
      await store.migrate();
    });
    afterEach(async () => {
      await cleanup();
    });
    const storeTest: StoreTest = (title, body) => test(title, () => body(store));
    taskLifecycleCases(storeTest);
    taskQueryCases(storeTest);
    blobWorkerKeyCases(storeTest);
    workflowCases(storeTest);
  });
}
