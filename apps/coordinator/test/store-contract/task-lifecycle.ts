// Store contract, task lifecycle: idempotent inserts, leases fenced by lease id, completion once,
// reopen after a failed verification, requeue with backoff or failure, cancellation.
import { expect } from 'vitest';
import { newLease, newTask, type StoreTest } from './store-test.ts';

/** The task state machine as each store writes it: insert, lease, complete, reopen, requeue, cancel. */
export function taskLifecycleCases(storeTest: StoreTest): void {
  storeTest('insert is idempotent on (tenant, task_id) and refuses other content', async (store) => {
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

  storeTest('a batch with a conflict inserts nothing', async (store) => {
    await store.insertTasks([newTask('t1')]);
    const out = await store.insertTasks([newTask('t2'), newTask('t1', { contentHash: 'x' })]);
    expect(out.map((o) => o.kind)).toEqual(['skipped', 'conflict']);
    expect(await store.getTask('a', 't2')).toBeUndefined();
  });

  storeTest('lease, complete once: a second completion or a stale lease is refused', async (store) => {
    const [created] = await store.insertTasks([newTask('t1')]);
    const uid = created!.kind === 'created' ? created!.task.uid : -1;
    const lease = newLease(uid, 'l1', { workerId: 'w1', startedAtMs: 2000 });
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

  storeTest(
    "a lease or a completion given another tenant than the task's is refused, as a lost race",
    async (store) => {
      // Tenant a's t1 and tenant b's t1: b's lease of a's task would file its audit row in b's trail.
      const out = await store.insertTasks([newTask('t1'), newTask('t1', { tenant: 'b' })]);
      const [a, b] = out.map((o) => (o.kind === 'created' ? o.task.uid : -1));
      const bTrail = async () =>
        (await store.auditStore().entries({ tenant: 'b', afterId: 0, limit: 10 })).map(
          (e) => `${e.taskId} ${e.toState} ${e.leaseId ?? '-'}`,
        );
      expect(
        await store.startLeases([newLease(a!, 'lx', { tenant: 'b' }), newLease(b!, 'lb', { tenant: 'b' })]),
      ).toEqual([false, true]);
      expect(await store.getTaskByUid(a!)).toMatchObject({
        state: 'queued',
        attempts: 0,
        currentLeaseId: undefined,
      });
      expect(await store.getAttempt('lx')).toBeUndefined();
      expect(await store.listAttempts(a!)).toEqual([]);
      expect((await store.auditTrail(a!)).map((e) => e.toState)).toEqual(['queued']);
      expect(await bTrail()).toEqual(['t1 queued -', 't1 running lb']);

      expect(await store.startLeases([newLease(a!, 'la', { workerId: 'w1' })])).toEqual([true]);
      const done = {
        taskUid: a!,
        tenant: 'b',
        leaseId: 'la',
        result: new Uint8Array([9]),
        executor: 'sim',
        durationMs: 5,
        nowMs: 3000,
      };
      expect(await store.completeTask(done)).toBe(false);
      expect(await store.completeTasks!([done])).toEqual([false]);
      expect(await store.getTaskByUid(a!)).toMatchObject({
        state: 'running',
        attempts: 1,
        currentLeaseId: 'la',
        result: undefined,
      });
      expect(await store.getAttempt('la')).toMatchObject({ outcome: undefined, endedAtMs: undefined });
      expect((await store.auditTrail(a!)).map((e) => e.toState)).toEqual(['queued', 'running']);
      expect(await bTrail()).toEqual(['t1 queued -', 't1 running lb']);

      expect(await store.completeTask({ ...done, tenant: 'a' })).toBe(true);
      expect(await store.getTaskByUid(a!)).toMatchObject({ state: 'succeeded', attempts: 1 });
      expect((await store.auditTrail(a!)).map((e) => e.toState)).toEqual(['queued', 'running', 'succeeded']);
    },
  );

  storeTest(
    'reopen withdraws a succeeded result (verification found a liar); only succeeded tasks',
    async (store) => {
      const [created] = await store.insertTasks([newTask('t1')]);
      const uid = created!.kind === 'created' ? created!.task.uid : -1;
      expect(await store.reopenTask(uid, 'REVERIFY', 2500)).toBeUndefined(); // still queued
      const lease = newLease(uid, 'l1', { workerId: 'w1', startedAtMs: 2000 });
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
    },
  );

  storeTest('endAttempt requeues (with backoff) or fails; the stale lease is then refused', async (store) => {
    const [created] = await store.insertTasks([newTask('t1')]);
    const uid = created!.kind === 'created' ? created!.task.uid : -1;
    await store.startLeases([newLease(uid, 'l1', { workerId: 'w1', startedAtMs: 1, expiresAtMs: 2 })]);
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
      newLease(uid, 'l2', { attempt: 2, workerId: 'w2', startedAtMs: 20, expiresAtMs: 30 }),
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

  storeTest('cancel from queued and running; finished tasks stay finished', async (store) => {
    const out = await store.insertTasks([newTask('q'), newTask('r')]);
    const [q, r] = out.map((o) => (o.kind === 'created' ? o.task.uid : -1));
    await store.startLeases([newLease(r!, 'lr', { startedAtMs: 1, expiresAtMs: 2 })]);
    expect(await store.cancelTask(q!, 'why', 5)).toBe('queued');
    expect(await store.cancelTask(r!, 'why', 5)).toBe('running');
    expect(await store.cancelTask(r!, 'why', 6)).toBeUndefined();
    expect(await store.getAttempt('lr')).toMatchObject({ outcome: 'cancelled' });
    expect(await store.failQueued(q!, 'DEADLINE_EXCEEDED', 'late', 7)).toBe(false);
  });
}
