// Batch tails across a restart (#17): a campaign's total and done counts come from the store when
// the coordinator recovers it, so a campaign 95 % done before the restart is in its tail after it.
import type { ComputeAssignment } from '@flock/protocol';
import { afterEach, expect, test } from 'vitest';
import { EngineHarness, task, until, type Volunteer } from './engine-harness.ts';

let h: EngineHarness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

/** Answers the first `answer` assignments of `v` after `delayMs`; holds the rest. */
function serve(v: Volunteer, delayMs: number, answer = Number.POSITIVE_INFINITY): () => void {
  let seen = 0;
  const timer = setInterval(() => {
    while (seen < v.link.assignments.length) {
      const a: ComputeAssignment = v.link.assignments[seen]!;
      if (seen++ < answer) setTimeout(() => void h?.result(v, a), delayMs);
    }
  }, 2);
  return () => clearInterval(timer);
}

const succeeded = async (ids: string[]) =>
  (await Promise.all(ids.map((id) => h!.state(id)))).filter((s) => s === 'succeeded').length;

test('a campaign 95 % done before a restart is in its tail after it: its stragglers get copies', async () => {
  // Before the restart, tails off: 190 of 200 succeed, 3 are held by volunteers, 7 wait.
  h = await EngineHarness.start({ leaseMs: 60_000, tailAcceleration: false });
  const ids = Array.from({ length: 200 }, (_, i) => `rs-${i}`);
  await h.submit(...ids.map((id) => task(id, { campaign_id: 'c-restart' })));
  const slow = await h.connect({ wasm: true, cpu_slots: 2 });
  await h.assignment(slow, 1);
  const fast = await h.connect({ wasm: true, cpu_slots: 1 });
  const stopBefore = [serve(slow, 0, 0), serve(fast, 0, 190)];
  try {
    await until(
      async () => (await succeeded(ids)) === 190 && fast.link.assignments.length === 191,
      '190',
      20_000,
    );
  } finally {
    for (const stop of stopBefore) stop();
  }
  const held = [...slow.link.assignments, fast.link.assignments[190]!];
  const dir = h.dir;
  await h.stop(true);
  h = undefined;

  // After it, tails on: the 7 waiting tasks run on a fresh volunteer (the campaign's median), then
  // the 3 held ones, whose volunteers are gone, are copied to it: 197 of 200 done is the tail.
  // Counted over the recovered tasks alone it would be 7 of 10, short of 90 %: no copy.
  h = await EngineHarness.start({ leaseMs: 60_000 }, dir);
  const fresh = await h.connect({ wasm: true, cpu_slots: 1 });
  const stop = serve(fresh, 20);
  try {
    await until(async () => (await succeeded(ids)) === 200, 'every task succeeded', 10_000);
  } finally {
    stop();
  }
  expect(fresh.link.assignments).toHaveLength(10);
  for (const a of held) {
    expect(fresh.link.assignments.filter((f) => f.task_id === a.task_id)).toHaveLength(1);
    const result = JSON.parse(Buffer.from((await h.store.getTask('a', a.task_id!))!.result!).toString());
    expect(result.worker_id).toBe(fresh.worker.workerId);
  }
  expect(await h.metric('flock_errors_total')).toContain('flock_errors_total{code="SPECULATIVE_COPY"} 3');
});
