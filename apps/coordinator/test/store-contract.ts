// The Store contract: every implementation (SQLite now, PostgreSQL later) must pass these.
// Call `describeStoreContract(name, factory)` from a test file; the factory makes an empty store.
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { NewTask, Store } from '../src/store/store.ts';
import type { NewWorkflow } from '../src/store/workflow-store.ts';

export type StoreFactory = () => Promise<{ store: Store; cleanup: () => Promise<void> }>;

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

    test('insert is idempotent on (tenant, task_id) and refuses other content', async () => {
      const [first] = await store.insertTasks([newTask('t1')]);
      expect(first?.kind).toBe('created');
      const [again] = await store.insertTasks([newTask('t1')]);
      expect(again?.kind).toBe('existing');
      const [other] = await store.insertTasks([newTask('t1', { contentHash: 'different' })]);
      expect(other).toEqual({ kind: 'conflict', taskId: 't1' });
      // Another tenant may use the same id.
      const [b] = await store.insertTasks([newTask('t1', { tenant: 'b' })]);
      expect(b?.kind).toBe('created');
      expect((await store.getTask('a', 't1'))?.state).toBe('queued');
      expect(await store.getTask('c', 't1')).toBeUndefined();
    });

    test('a batch with a conflict inserts nothing', async () => {
      await store.insertTasks([newTask('t1')]);
      const out = await store.insertTasks([newTask('t2'), newTask('t1', { contentHash: 'x' })]);
      expect(out.map((o) => o.kind)).toEqual(['skipped', 'conflict']);
      expect(await store.getTask('a', 't2')).toBeUndefined();
    });

    test('lease, complete once: a second completion or a stale lease is refused', async () => {
      const [created] = await store.insertTasks([newTask('t1')]);
      const uid = created!.kind === 'created' ? created!.task.uid : -1;
      const lease = {
        taskUid: uid,
        tenant: 'a',
        leaseId: 'l1',
        attempt: 1,
        workerId: 'w1',
        startedAtMs: 2000,
        expiresAtMs: 9000,
      };
      expect(await store.startLeases([lease])).toEqual([true]);
      expect(await store.startLeases([{ ...lease, leaseId: 'l2' }])).toEqual([false]);
      const done = {
        taskUid: uid,
        tenant: 'a',
        leaseId: 'l1',
        result: new Uint8Array([9]),
        executor: 'sim',
        durationMs: 5,
        nowMs: 3000,
      };
      expect(await store.completeTask({ ...done, leaseId: 'other' })).toBe(false);
      expect(await store.completeTask(done)).toBe(true);
      expect(await store.completeTask(done)).toBe(false);
      const task = await store.getTaskByUid(uid);
      expect(task).toMatchObject({ state: 'succeeded', attempts: 1, executor: 'sim', durationMs: 5 });
      expect([...(task?.result ?? [])]).toEqual([9]);
      expect(await store.getAttempt('l1')).toMatchObject({
        outcome: 'succeeded',
        endedAtMs: 3000,
        workerId: 'w1',
      });
      const trail = await store.auditTrail(uid);
      expect(trail.map((a) => a.toState)).toEqual(['queued', 'running', 'succeeded']);
      expect(trail.filter((a) => a.toState === 'succeeded')).toHaveLength(1);
    });

    test('reopen withdraws a succeeded result (verification found a liar); only succeeded tasks', async () => {
      const [created] = await store.insertTasks([newTask('t1')]);
      const uid = created!.kind === 'created' ? created!.task.uid : -1;
      expect(await store.reopenTask(uid, 'REVERIFY', 2500)).toBeUndefined(); // still queued
      const lease = {
        taskUid: uid,
        tenant: 'a',
        leaseId: 'l1',
        attempt: 1,
        workerId: 'w1',
        startedAtMs: 2000,
        expiresAtMs: 9000,
      };
      await store.startLeases([lease]);
      const done = {
        taskUid: uid,
        tenant: 'a',
        leaseId: 'l1',
        result: new Uint8Array([9]),
        executor: undefined,
        durationMs: undefined,
        nowMs: 3000,
      };
      expect(await store.completeTask(done)).toBe(true);
      const reopened = await store.reopenTask(uid, 'REVERIFY', 4000);
      expect(reopened).toMatchObject({
        uid,
        state: 'queued',
        attempts: 1,
        result: undefined,
        notBeforeMs: 4000,
      });
      expect((await store.getTaskByUid(uid))?.state).toBe('queued');
      expect(await store.reopenTask(uid, 'REVERIFY', 4001)).toBeUndefined();
      expect(await store.completeTask(done)).toBe(false); // the old lease cannot complete it again
      expect((await store.openTasks()).map((t) => t.uid)).toContain(uid);
      const trail = await store.auditTrail(uid);
      expect(trail.map((a) => `${a.toState}:${a.code ?? ''}`)).toEqual([
        'queued:',
        'running:',
        'succeeded:',
        'queued:REVERIFY',
      ]);
      await store.startLeases([{ ...lease, leaseId: 'l2', attempt: 2, startedAtMs: 5000 }]);
      expect(
        await store.completeTask({ ...done, leaseId: 'l2', result: new Uint8Array([7]), nowMs: 6000 }),
      ).toBe(true);
      expect([...((await store.getTaskByUid(uid))?.result ?? [])]).toEqual([7]);
    });

    test('endAttempt requeues (with backoff) or fails; the stale lease is then refused', async () => {
      const [created] = await store.insertTasks([newTask('t1')]);
      const uid = created!.kind === 'created' ? created!.task.uid : -1;
      await store.startLeases([
        {
          taskUid: uid,
          tenant: 'a',
          leaseId: 'l1',
          attempt: 1,
          workerId: 'w1',
          startedAtMs: 1,
          expiresAtMs: 2,
        },
      ]);
      const requeue = {
        taskUid: uid,
        leaseId: 'l1',
        outcome: 'failed' as const,
        code: 'TIMEOUT',
        message: 'slow',
        requeueAtMs: 5000,
        countsAsFailure: true,
        nowMs: 10,
      };
      expect(await store.endAttempt(requeue)).toBe(true);
      expect(await store.endAttempt(requeue)).toBe(false);
      expect(await store.getTaskByUid(uid)).toMatchObject({
        state: 'queued',
        failures: 1,
        notBeforeMs: 5000,
      });
      await store.startLeases([
        {
          taskUid: uid,
          tenant: 'a',
          leaseId: 'l2',
          attempt: 2,
          workerId: 'w2',
          startedAtMs: 20,
          expiresAtMs: 30,
        },
      ]);
      expect(
        await store.endAttempt({
          ...requeue,
          leaseId: 'l2',
          requeueAtMs: undefined,
          taskCode: 'RETRIES_EXHAUSTED',
          nowMs: 40,
        }),
      ).toBe(true);
      expect(await store.getTaskByUid(uid)).toMatchObject({
        state: 'failed',
        failureCode: 'RETRIES_EXHAUSTED',
        attempts: 2,
      });
      expect((await store.listAttempts(uid)).map((a) => [a.leaseId, a.outcome, a.code])).toEqual([
        ['l1', 'failed', 'TIMEOUT'],
        ['l2', 'failed', 'TIMEOUT'],
      ]);
    });

    test('cancel from queued and running; finished tasks stay finished', async () => {
      const out = await store.insertTasks([newTask('q'), newTask('r')]);
      const [q, r] = out.map((o) => (o.kind === 'created' ? o.task.uid : -1));
      await store.startLeases([
        {
          taskUid: r!,
          tenant: 'a',
          leaseId: 'lr',
          attempt: 1,
          workerId: 'w',
          startedAtMs: 1,
          expiresAtMs: 2,
        },
      ]);
      expect(await store.cancelTask(q!, 'why', 5)).toBe('queued');
      expect(await store.cancelTask(r!, 'why', 5)).toBe('running');
      expect(await store.cancelTask(r!, 'why', 6)).toBeUndefined();
      expect(await store.getAttempt('lr')).toMatchObject({ outcome: 'cancelled' });
      expect(await store.failQueued(q!, 'DEADLINE_EXCEEDED', 'late', 7)).toBe(false);
    });

    test('queries: open tasks, counts, lists with cursor and filters', async () => {
      await store.insertTasks([
        newTask('a1', { campaignId: 'c1' }),
        newTask('a2', { campaignId: 'c1' }),
        newTask('a3'),
        newTask('b1', { tenant: 'b' }),
      ]);
      const a2 = await store.getTask('a', 'a2');
      await store.failQueued(a2!.uid, 'DEADLINE_EXCEEDED', 'late', 9);
      expect((await store.openTasks()).map((t) => t.taskId)).toEqual(['a1', 'a3', 'b1']);
      expect(await store.countByState('a', 'c1')).toEqual({
        queued: 1,
        running: 0,
        succeeded: 0,
        failed: 1,
        cancelled: 0,
      });
      expect((await store.stateCounts()).queued).toBe(3);
      const page1 = await store.listTasks('a', { limit: 2 });
      expect(page1.map((t) => t.taskId)).toEqual(['a1', 'a2']);
      const page2 = await store.listTasks('a', { limit: 2, afterUid: page1[1]!.uid });
      expect(page2.map((t) => t.taskId)).toEqual(['a3']);
      expect((await store.listTasks('a', { limit: 10, state: 'failed' })).map((t) => t.taskId)).toEqual([
        'a2',
      ]);
    });

    test('blob GC: in use are blobs named by results and envelopes, modules, models, and recent records', async () => {
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
      await store.startLeases([
        {
          taskUid: uid,
          tenant: 'a',
          leaseId: 'l1',
          attempt: 1,
          workerId: 'w',
          startedAtMs: 1,
          expiresAtMs: 2,
        },
      ]);
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
    });

    test('retention purges finished tasks last changed before the cutoff, with attempts and audit', async () => {
      const outcomes = await store.insertTasks(
        ['old-done', 'old-failed', 'new-done', 'queued', 'running'].map((id) => newTask(id)),
      );
      const uid = (i: number) => (outcomes[i]!.kind === 'created' ? outcomes[i]!.task.uid : -1);
      const lease = (i: number, id: string) => ({
        taskUid: uid(i),
        tenant: 'a',
        leaseId: id,
        attempt: 1,
        workerId: 'w',
        startedAtMs: 1000,
        expiresAtMs: 9000,
      });
      await store.startLeases([lease(0, 'l0'), lease(1, 'l1'), lease(2, 'l2'), lease(4, 'l4')]);
      const done = { tenant: 'a', result: new Uint8Array([1]), executor: undefined, durationMs: undefined };
      await store.completeTask({ taskUid: uid(0), leaseId: 'l0', ...done, nowMs: 2000 });
      await store.endAttempt({
        taskUid: uid(1),
        leaseId: 'l1',
        outcome: 'failed',
        code: 'EXECUTION_ERROR',
        message: 'x',
        requeueAtMs: undefined,
        countsAsFailure: true,
        nowMs: 2000,
      });
      await store.completeTask({ taskUid: uid(2), leaseId: 'l2', ...done, nowMs: 8000 });
      expect(await store.purgeFinished(5000, 1)).toEqual([uid(0)]); // a batch of one
      expect(await store.purgeFinished(5000, 100)).toEqual([uid(1)]);
      expect(await store.purgeFinished(5000, 100)).toEqual([]);
      expect(await store.getTask('a', 'old-done')).toBeUndefined();
      expect(await store.getAttempt('l0')).toBeUndefined();
      expect(await store.auditTrail(uid(0))).toEqual([]);
      expect((await store.getTask('a', 'new-done'))?.state).toBe('succeeded');
      expect((await store.openTasks()).map((t) => t.taskId)).toEqual(['queued', 'running']);
      // A purged id may be used again.
      const [again] = await store.insertTasks([newTask('old-done')]);
      expect(again!.kind).toBe('created');
    });

    test('workers, blobs and meta', async () => {
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

    test('workflows: insert is idempotent by (tenant, id), finish is guarded, lists page by uid', async () => {
      const wf = store.workflowStore();
      const w = (id: string, over: Partial<NewWorkflow> = {}): NewWorkflow => ({
        tenant: 'a',
        workflowId: id,
        definition: `{"workflow_id":"${id}"}`,
        contentHash: `h-${id}`,
        createdAtMs: 1000,
        ...over,
      });
      const created = await wf.insert(w('w1'));
      expect(created.kind).toBe('created');
      const first = created.kind === 'created' ? created.workflow : undefined;
      expect(first).toMatchObject({
        tenant: 'a',
        workflowId: 'w1',
        definition: '{"workflow_id":"w1"}',
        contentHash: 'h-w1',
        state: 'running',
        createdAtMs: 1000,
        finishedAtMs: undefined,
        code: undefined,
        message: undefined,
      });
      expect(await wf.insert(w('w1'))).toEqual({ kind: 'existing', workflow: first });
      expect(await wf.insert(w('w1', { contentHash: 'other' }))).toEqual({ kind: 'conflict' });
      expect((await wf.insert(w('w1', { tenant: 'b' }))).kind).toBe('created');
      await wf.insert(w('w2'));
      await wf.insert(w('w3'));
      expect((await wf.unfinished()).map((r) => `${r.tenant}/${r.workflowId}`)).toEqual([
        'a/w1',
        'b/w1',
        'a/w2',
        'a/w3',
      ]);
      const end = {
        tenant: 'a',
        workflowId: 'w2',
        state: 'failed',
        code: 'STEP_FAILED',
        message: 'x',
        nowMs: 5,
      } as const;
      expect(await wf.finish(end)).toBe(true);
      expect(await wf.finish({ ...end, state: 'succeeded' })).toBe(false);
      expect(await wf.get('a', 'w2')).toMatchObject({
        state: 'failed',
        finishedAtMs: 5,
        code: 'STEP_FAILED',
        message: 'x',
      });
      expect(await wf.get('c', 'w2')).toBeUndefined();
      expect((await wf.unfinished()).map((r) => r.workflowId)).toEqual(['w1', 'w1', 'w3']);
      const page1 = await wf.list('a', { limit: 2 });
      expect(page1.map((r) => r.workflowId)).toEqual(['w1', 'w2']);
      const page2 = await wf.list('a', { limit: 2, afterUid: page1[1]!.uid });
      expect(page2.map((r) => r.workflowId)).toEqual(['w3']);
      expect((await wf.list('a', { limit: 10, state: 'failed' })).map((r) => r.workflowId)).toEqual(['w2']);
    });

    test('stalled workflows: running, old enough, and no queued or running task', async () => {
      const wf = store.workflowStore();
      const w = (id: string, createdAtMs: number) => ({
        tenant: 'a',
        workflowId: id,
        definition: '{}',
        contentHash: `h-${id}`,
        createdAtMs,
      });
      await wf.insert(w('idle', 1000));
      await wf.insert(w('busy', 1000));
      await wf.insert(w('young', 5000));
      await wf.insert(w('over', 1000));
      await store.insertTasks([
        newTask('busy.a', { campaignId: 'busy' }),
        newTask('idle.a', { campaignId: 'idle' }),
      ]);
      const idleA = await store.getTask('a', 'idle.a');
      await store.cancelTask(idleA!.uid, 'done', 2000);
      await wf.finish({
        tenant: 'a',
        workflowId: 'over',
        state: 'failed',
        code: 'X',
        message: 'x',
        nowMs: 2000,
      });
      expect((await wf.stalled(4000, 10)).map((r) => r.workflowId)).toEqual(['idle']);
      expect((await wf.stalled(6000, 10)).map((r) => r.workflowId)).toEqual(['idle', 'young']);
      expect((await wf.stalled(6000, 1)).map((r) => r.workflowId)).toEqual(['idle']);
    });

    test('retention keeps the finished steps of a running workflow until it finishes', async () => {
      const wf = store.workflowStore();
      const outcomes = await store.insertTasks([newTask('flow.a', { campaignId: 'flow' }), newTask('alone')]);
      const uids = outcomes.map((o) => (o.kind === 'created' ? o.task.uid : -1));
      for (const uid of uids) await store.cancelTask(uid, 'done', 2000);
      const flow = { tenant: 'a', workflowId: 'flow', definition: '{}', contentHash: 'h', createdAtMs: 1000 };
      await wf.insert(flow);
      expect(await store.purgeFinished(10_000, 10)).toEqual([uids[1]]);
      expect((await store.getTask('a', 'flow.a'))?.state).toBe('cancelled');
      await wf.finish({
        tenant: 'a',
        workflowId: 'flow',
        state: 'succeeded',
        code: undefined,
        message: undefined,
        nowMs: 3000,
      });
      expect(await store.purgeFinished(10_000, 10)).toEqual([uids[0]]);
      expect(await store.getTask('a', 'flow.a')).toBeUndefined();
    });

    test('circuits: stored once by (tenant, name), another definition conflicts, listed by name', async () => {
      const wf = store.workflowStore();
      const c = {
        tenant: 'a',
        name: 'thumbs',
        definition: '{"steps":[]}',
        contentHash: 'h1',
        createdAtMs: 7,
      };
      expect(await wf.putCircuit(c)).toBe('created');
      expect(await wf.putCircuit(c)).toBe('existing');
      expect(await wf.putCircuit({ ...c, contentHash: 'h2' })).toBe('conflict');
      expect(await wf.putCircuit({ ...c, tenant: 'b' })).toBe('created');
      expect(await wf.putCircuit({ ...c, name: 'alpha' })).toBe('created');
      expect(await wf.getCircuit('a', 'thumbs')).toEqual(c);
      expect(await wf.getCircuit('c', 'thumbs')).toBeUndefined();
      expect((await wf.listCircuits('a')).map((r) => r.name)).toEqual(['alpha', 'thumbs']);
    });

    test('stored bytes: summed over the tenant’s blob rows, a blob once per kind', async () => {
      await store.recordBlob('sha256:a1', 'a', 'input', 10, 1);
      await store.recordBlob('sha256:a1', 'a', 'input', 10, 2);
      await store.recordBlob('sha256:a2', 'a', 'output', 20, 3);
      await store.recordBlob('sha256:a1', 'b', 'input', 10, 4);
      await store.recordBlob('sha256:m1', 'b', 'module', 5, 5);
      expect(await store.storedBytes('a')).toBe(30);
      expect(await store.storedBytes('b')).toBe(15);
      expect(await store.storedBytes('c')).toBe(0);
    });

    test('api keys: stored by hash with scopes, listed per tenant, revoked once and only by their tenant', async () => {
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
    });
  });
}
