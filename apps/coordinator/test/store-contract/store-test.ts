// What the store contract's case modules share: how a case receives the store under test, and the
// tasks and leases they write.
import type { NewLease, NewTask, Store } from '../../src/store/store.ts';

/**
 * Registers one contract case in the enclosing `describe`; `body` gets that describe's store, made
 * and migrated afresh before each case (see `describeStoreContract`).
 */
export type StoreTest = (title: string, body: (store: Store) => Promise<void>) => void;

/** A task for store-level tests: tenant `a`, hash `hash-<id>`, three envelope bytes. */
export function newTask(taskId: string, over: Partial<NewTask> = {}): NewTask {
  return {
    tenant: 'a',
    taskId,
    campaignId: undefined,
    op: 'sum',
    moduleKind: 'builtin',
    contentHash: `hash-${taskId}`,
    envelope: new Uint8Array([1, 2, 3]),
    priority: 0,
    deadlineAtMs: undefined,
    maxRetries: 2,
    createdAtMs: 1000,
    ...over,
  };
}

/** A lease of `taskUid` for store-level tests: tenant `a`, attempt 1, worker `w`, from 1000 to 9000 ms. */
export function newLease(taskUid: number, leaseId: string, over: Partial<NewLease> = {}): NewLease {
  return {
    taskUid,
    tenant: 'a',
    leaseId,
    attempt: 1,
    workerId: 'w',
    startedAtMs: 1000,
    expiresAtMs: 9000,
    ...over,
  };
}
