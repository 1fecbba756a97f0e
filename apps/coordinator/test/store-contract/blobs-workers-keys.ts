// Store contract, what sits beside the tasks: blob records (GC, visibility, stored bytes), worker
// rows, meta values and API keys.
import { expect } from 'vitest';
import { newLease, newTask, type StoreTest } from './store-test.ts';

/** Blob records and their GC, worker rows, meta values and the API key table. */
export function blobWorkerKeyCases(storeTest: StoreTest): void {
  storeTest(
    'blob GC: in use are blobs named by results and envelopes, modules, models, and recent records',
    async (store) => {
      const hex = (c: string) => c.repeat(64);
      const [inResult, inEnvelope, module, recent, garbage, model] = ['a', 'b', 'c', 'd', 'e', 'f'].map(
        (c) => `sha256:${hex(c)}`,
      ) as [string, string, string, string, string, string];
      const [created] = await store.insertTasks([
        newTask('t1', {
          envelope: new TextEncoder().encode(`{"inputs":[{"uri":"/v1/blobs/${inEnvelope}"}]}`),
        }),
      ]);
      const uid = created!.kind === 'created' ? created!.task.uid : -1;
      await store.startLeases([newLease(uid, 'l1', { startedAtMs: 1, expiresAtMs: 2 })]);
      const result = new TextEncoder().encode(
        `{"outputs":[{"uri":"/v1/blobs/${inResult}","hash":"${inResult}"}]}`,
      );
      await store.completeTask({
        taskUid: uid,
        tenant: 'a',
        leaseId: 'l1',
        result,
        executor: undefined,
        durationMs: undefined,
        nowMs: 3,
      });
      await store.recordBlob(inResult, 'a', 'output', 5, 10);
      await store.recordBlob(module, 'a', 'module', 5, 10);
      await store.recordBlob(recent, 'a', 'output', 5, 5000);
      await store.recordBlob(garbage, 'a', 'output', 5, 10);
      await store.recordBlob(model, 'a', 'model', 5, 10);
      const inUse = await store.blobsInUse(1000);
      expect([...inUse].sort()).toEqual([inResult, inEnvelope, module, recent, model].sort());
      await store.forgetOutputBlobs([garbage, module, model]);
      expect(await store.blobVisible(garbage, 'a')).toBe(false);
      expect(await store.isModule(module)).toBe(true); // modules are never forgotten
      expect(await store.isModel(model)).toBe(true); // nor are models
      expect(await store.isModel(module)).toBe(false);
      expect(await store.blobVisible(inResult, 'a')).toBe(true);
    },
  );

  storeTest('workers, blobs and meta', async (store) => {
    await store.upsertWorker({
      workerId: 'w1',
      sessionHash: 'h1',
      createdAtMs: 1,
      lastSeenMs: 1,
      tasksSucceeded: 0,
      tasksFailed: 0,
    });
    await store.countWorkerOutcome('w1', true);
    await store.countWorkerOutcome('w1', false);
    expect(await store.findWorkerBySession('h1')).toMatchObject({
      workerId: 'w1',
      tasksSucceeded: 1,
      tasksFailed: 1,
    });
    expect(await store.findWorkerBySession('nope')).toBeUndefined();
    await store.recordBlob('sha256:aa', 'a', 'output', 3, 1);
    expect(await store.blobVisible('sha256:aa', 'a')).toBe(true);
    expect(await store.blobVisible('sha256:aa', 'b')).toBe(false);
    expect(await store.isModule('sha256:aa')).toBe(false);
    await store.recordBlob('sha256:bb', 'b', 'module', 3, 1);
    expect(await store.isModule('sha256:bb')).toBe(true);
    expect(await store.isModel('sha256:bb')).toBe(false);
    // A model is public by hash like a module (GET /v1/modules), and known as a model.
    await store.recordBlob('sha256:cc', 'b', 'model', 3, 1);
    expect(await store.isModule('sha256:cc')).toBe(true);
    expect(await store.isModel('sha256:cc')).toBe(true);
    await store.setMeta('k', 'v');
    expect(await store.getMeta('k')).toBe('v');
  });

  storeTest('stored bytes: summed over the tenant’s blob rows, a blob once per kind', async (store) => {
    await store.recordBlob('sha256:a1', 'a', 'input', 10, 1);
    await store.recordBlob('sha256:a1', 'a', 'input', 10, 2);
    await store.recordBlob('sha256:a2', 'a', 'output', 20, 3);
    await store.recordBlob('sha256:a1', 'b', 'input', 10, 4);
    await store.recordBlob('sha256:m1', 'b', 'module', 5, 5);
    expect(await store.storedBytes('a')).toBe(30);
    expect(await store.storedBytes('b')).toBe(15);
    expect(await store.storedBytes('c')).toBe(0);
  });

  storeTest(
    'api keys: stored by hash with scopes, listed per tenant, revoked once and only by their tenant',
    async (store) => {
      const keys = store.keyStore();
      const k = (keyId: string, tenant: string, hash: string, createdAtMs: number) => ({
        keyId,
        tenant,
        hash,
        scopes: ['read', 'can_submit:image.*'],
        name: keyId === 'k-1' ? 'ci' : undefined,
        createdAtMs,
      });
      await keys.insert(k('k-1', 'a', 'h1', 10));
      await keys.insert(k('k-2', 'b', 'h2', 20));
      await keys.insert(k('k-3', 'a', 'h3', 30));
      expect(await keys.byHash('h1')).toEqual({ ...k('k-1', 'a', 'h1', 10), revokedAtMs: undefined });
      expect(await keys.byHash('nope')).toBeUndefined();
      await expect(keys.insert(k('k-4', 'a', 'h1', 40))).rejects.toThrow();
      expect((await keys.list('a')).map((r) => r.keyId)).toEqual(['k-1', 'k-3']);
      expect((await keys.list(undefined)).map((r) => r.keyId)).toEqual(['k-1', 'k-2', 'k-3']);
      // Another tenant's key is not found, and stays valid.
      expect(await keys.revoke('k-2', 'a', 50)).toBeUndefined();
      expect((await keys.byHash('h2'))?.revokedAtMs).toBeUndefined();
      expect(await keys.revoke('k-1', 'a', 60)).toMatchObject({ keyId: 'k-1', revokedAtMs: 60 });
      // A second revoke keeps the first time; an operator (any tenant) may revoke.
      expect(await keys.revoke('k-1', undefined, 70)).toMatchObject({ keyId: 'k-1', revokedAtMs: 60 });
      expect(await keys.revoke('k-2', undefined, 80)).toMatchObject({ tenant: 'b', revokedAtMs: 80 });
      expect(await keys.revoke('k-9', undefined, 80)).toBeUndefined();
      expect((await keys.byHash('h1'))?.revokedAtMs).toBe(60);
      expect((await keys.list('a')).map((r) => [r.keyId, r.revokedAtMs])).toEqual([
        ['k-1', 60],
        ['k-3', undefined],
      ]);
    },
  );
}
