// Batch tails of verified campaigns (#17), engine only: a straggling replica at the tail gets one
// replica more on another volunteer, granted by the trust engine and counted toward the quorum;
// what the quorum leaves running is cancelled.
import type { ComputeAssignment } from '@flock/protocol';
import { afterEach, expect, test } from 'vitest';
import { EngineHarness, task, until, type Volunteer } from './engine-harness.ts';

let h: EngineHarness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

/** Answers every assignment of `v` after `delayMs`, or never (`hold`). */
function serve(v: Volunteer, delayMs: number | 'hold'): () => void {
  let answered = 0;
  const timer = setInterval(() => {
    while (answered < v.link.assignments.length) {
      const a: ComputeAssignment = v.link.assignments[answered++]!;
      if (delayMs !== 'hold') setTimeout(() => void h?.result(v, a), delayMs);
    }
  }, 2);
  return () => clearInterval(timer);
}

const uidOf = async (id: string) => String((await h!.store.getTask('a', id))!.uid);
const verified = (ids: string[], campaign: string) =>
  ids.map((id) => task(id, { campaign_id: campaign, verification: { replicas: 2 } }));

test('a 2-of-2 task with a replica stuck on a slow volunteer gets a third replica, which completes the quorum', async () => {
  h = await EngineHarness.start({ leaseMs: 60_000 });
  const ids = Array.from({ length: 20 }, (_, i) => `vt-${i}`);
  await h.submit(...verified(ids, 'c-verified'));
  // The slow volunteer takes the first replica and never answers; its one slot stays taken.
  const slow = await h.connect({ wasm: true, cpu_slots: 1 });
  const straggler = await h.assignment(slow);
  const fastA = await h.connect({ wasm: true, cpu_slots: 1 });
  const fastB = await h.connect({ wasm: true, cpu_slots: 1 });
  const stops = [serve(slow, 'hold'), serve(fastA, 20), serve(fastB, 20)];
  try {
    await until(
      async () => (await Promise.all(ids.map((id) => h!.state(id)))).every((s) => s === 'succeeded'),
      'every task succeeded',
      10_000,
    );
  } finally {
    for (const stop of stops) stop();
  }
  // The straggler ran on three volunteers: slow, one fast one, and its copy on the other.
  const runs = (v: Volunteer) => v.link.assignments.filter((a) => a.task_id === straggler.task_id);
  expect(runs(slow)).toHaveLength(1);
  expect(runs(fastA)).toHaveLength(1);
  expect(runs(fastB)).toHaveLength(1);
  expect(slow.link.assignments).toHaveLength(1);
  // The quorum of the two fast results decided; the slow replica returned nothing and was cancelled.
  expect(await h.coordinator.trust.status(await uidOf(straggler.task_id!))).toMatchObject({
    state: 'accepted',
    acceptedBy: 'quorum',
    dispatched: 3,
    returned: 2,
    agreeing: 2,
  });
  expect(slow.link.cancels).toEqual([
    { task_id: straggler.task_id, lease_id: straggler.lease_id, reason: 'CANCELLED' },
  ]);
  expect(await h.attempts(straggler.task_id!)).toEqual([['succeeded', undefined]]);
  const result = JSON.parse(
    Buffer.from((await h.store.getTask('a', straggler.task_id!))!.result!).toString(),
  );
  expect([fastA.worker.workerId, fastB.worker.workerId]).toContain(result.worker_id);
  // Every task's quorum was the two fast volunteers: 40 valid results between them, none for slow.
  const a = await h.coordinator.trust.standing(fastA.worker.workerId);
  const b = await h.coordinator.trust.standing(fastB.worker.workerId);
  expect(a.validResults + b.validResults).toBe(40);
  expect(a.invalidResults + b.invalidResults).toBe(0);
  expect(await h.coordinator.trust.standing(slow.worker.workerId)).toMatchObject({
    validResults: 0,
    invalidResults: 0,
    credit: 0,
  });
  expect(await h.metric('flock_errors_total')).toContain('flock_errors_total{code="SPECULATIVE_COPY"} 1');
});

test('a verified campaign short of 90 % done gets no speculative replica', async () => {
  h = await EngineHarness.start({ leaseMs: 60_000 });
  const ids = Array.from({ length: 20 }, (_, i) => `vn-${i}`);
  await h.submit(...verified(ids, 'c-short'));
  // Three replicas held for ever: at most 17 of 20 tasks (85 %) can finish.
  const slow = await h.connect({ wasm: true, cpu_slots: 3 });
  await h.assignment(slow, 2);
  const fastA = await h.connect({ wasm: true, cpu_slots: 1 });
  const fastB = await h.connect({ wasm: true, cpu_slots: 1 });
  const stops = [serve(slow, 'hold'), serve(fastA, 20), serve(fastB, 20)];
  try {
    await until(
      async () =>
        (await Promise.all(ids.map((id) => h!.state(id)))).filter((s) => s === 'succeeded').length === 17,
      '17 succeeded',
      10_000,
    );
    // Two more seconds of ticks (one a second), the held replicas far past 3 × the median: no copy.
    await new Promise((r) => setTimeout(r, 2000));
  } finally {
    for (const stop of stops) stop();
  }
  const held = slow.link.assignments.map((a) => a.task_id!);
  expect(new Set(held).size).toBe(3);
  for (const id of held) {
    expect(await h.state(id)).toBe('running');
    expect(await h.coordinator.trust.status(await uidOf(id))).toMatchObject({ dispatched: 2, returned: 1 });
  }
  expect(slow.link.cancels).toEqual([]);
  expect((await h.metric('flock_errors_total')).filter((l) => l.includes('SPECULATIVE_COPY'))).toEqual([]);
});
