// Store contract, reading and purging tasks: open tasks, per-state counts, paged lists, and
// retention of finished tasks with their attempts and audit rows.
import { expect } from 'vitest';
import { newLease, newTask, type StoreTest } from './store-test.ts';

/** Open tasks, counts and paged lists, and the retention purge of finished tasks. */
export function taskQueryCases(storeTest: StoreTest): void {
  storeTest('queries: open tasks, counts, lists with cursor and filters', async (store) => {
    await store.insertTasks([
      newTask('a1', { campaignId: 'c1' }),
      newTask('a2', { campaignId: 'c1' }),
      newTask('a3'),
      newTask('b1', { tenant: 'b' }),
    ]);
    const a2 = await store.getTask('a', 'a2');
    await store.failQueued(a2!.uid, 'DEADLINE_EXCEEDED', 'late', 9);
    expect((await store.openTasks()).map((t) => t.taskId)).toEqual(['a1', 'a3', 'b1']);
    // Paged as recovery reads them: after a uid, at most `limit`, skipping the failed a2.
    const first = await store.openTasks(0, 1);
    expect(first.map((t) => t.taskId)).toEqual(['a1']);
    const next = await store.openTasks(first[0]!.uid, 1);
    expect(next.map((t) => t.taskId)).toEqual(['a3']);
    expect((await store.openTasks(next[0]!.uid, 5)).map((t) => t.taskId)).toEqual(['b1']);
    expect(await store.openTasks((await store.getTask('b', 'b1'))!.uid, 5)).toEqual([]);
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
    expect((await store.listTasks('a', { limit: 10, state: 'failed' })).map((t) => t.taskId)).toEqual(['a2']);
    // Running ones only, for a restart past its budget: a1 and b1 leased, a3 still queued.
    const a1 = first[0]!.uid;
    const b1 = (await store.getTask('b', 'b1'))!.uid;
    await store.startLeases([newLease(a1, 'la'), newLease(b1, 'lb', { tenant: 'b' })]);
    expect((await store.runningTasks(0, 5)).map((t) => [t.taskId, t.state])).toEqual([
      ['a1', 'running'],
      ['b1', 'running'],
    ]);
    expect((await store.runningTasks(a1, 1)).map((t) => t.taskId)).toEqual(['b1']);
    expect(await store.runningTasks(b1, 5)).toEqual([]);
  });

  storeTest(
    'retention purges finished tasks last changed before the cutoff, with attempts and audit',
    async (store) => {
      const outcomes = await store.insertTasks(
        ['old-done', 'old-failed', 'new-done', 'queued', 'running'].map((id) => newTask(id)),
      );
      const uid = (i: number) => (outcomes[i]!.kind === 'created' ? outcomes[i]!.task.uid : -1);
      const lease = (i: number, id: string) => newLease(uid(i), id);
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
    },
  );
}
