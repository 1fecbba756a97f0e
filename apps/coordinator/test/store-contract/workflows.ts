// Store contract, the workflow tables (`Store.workflowStore()`): workflows, stalled ones, the
// retention of their steps, and stored circuits.
import { expect } from 'vitest';
import type { NewWorkflow } from '../../src/store/workflow-store.ts';
import { newTask, type StoreTest } from './store-test.ts';

/** The workflow tables: idempotent inserts, guarded finish, stalled workflows, retention of steps, circuits. */
export function workflowCases(storeTest: StoreTest): void {
  storeTest(
    'workflows: insert is idempotent by (tenant, id), finish is guarded, lists page by uid',
    async (store) => {
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
    },
  );

  storeTest('stalled workflows: running, old enough, and no queued or running task', async (store) => {
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

  storeTest('retention keeps the finished steps of a running workflow until it finishes', async (store) => {
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

  storeTest(
    'retention takes a finished workflow with its steps once it ended before the cutoff, never its steps alone',
    async (store) => {
      const wf = store.workflowStore();
      const outcomes = await store.insertTasks([
        newTask('old.a', { campaignId: 'old' }),
        newTask('late.a', { campaignId: 'late' }),
        newTask('open.a', { campaignId: 'open' }),
        newTask('open.b', { campaignId: 'open' }),
      ]);
      const uids = outcomes.map((o) => (o.kind === 'created' ? o.task.uid : -1));
      for (const uid of [uids[0]!, uids[1]!, uids[2]!]) await store.cancelTask(uid, 'done', 2000);
      const end = { state: 'succeeded' as const, code: undefined, message: undefined };
      for (const [id, finishedAt] of [
        ['old', 3000],
        ['late', 20_000],
        ['open', 3000],
      ] as const) {
        await wf.insert({
          tenant: 'a',
          workflowId: id,
          definition: '{}',
          contentHash: 'h',
          createdAtMs: 1000,
        });
        await wf.finish({ tenant: 'a', workflowId: id, ...end, nowMs: finishedAt });
      }
      // `late` ended after the cutoff and `open` still has a queued task: both stay whole.
      expect(await store.purgeFinished(10_000, 10)).toEqual([uids[0]]);
      expect(await wf.get('a', 'old')).toBeUndefined();
      expect(await store.getTask('a', 'old.a')).toBeUndefined();
      expect((await wf.get('a', 'late'))?.state).toBe('succeeded');
      expect((await store.getTask('a', 'late.a'))?.state).toBe('cancelled');
      expect((await wf.get('a', 'open'))?.state).toBe('succeeded');
      expect((await store.getTask('a', 'open.a'))?.state).toBe('cancelled');
      await store.cancelTask(uids[3]!, 'done', 4000);
      expect(await store.purgeFinished(30_000, 10)).toEqual([uids[1], uids[2], uids[3]]);
      expect((await wf.list('a', { limit: 10 })).map((r) => r.workflowId)).toEqual([]);
    },
  );

  storeTest(
    'circuits: stored once by (tenant, name), another definition conflicts, listed by name',
    async (store) => {
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
    },
  );
}
