// Batch tails (#17), engine only: at a campaign's 90 %, a straggler on a slow volunteer gets a
// speculative copy on a fast one; the first result completes the task and the other is cancelled.
import type { ComputeAssignment } from '@flock/protocol';
import { afterEach, expect, test } from 'vitest';
import { EngineHarness, task, until, type Volunteer } from './engine-harness.ts';

let h: EngineHarness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

/** Answers every assignment of `v` as it comes, after `delayMs` (or never, for those `hold` picks). */
function serve(v: Volunteer, delayMs: (n: number) => number | undefined): () => void {
  let answered = 0;
  const timer = setInterval(() => {
    while (answered < v.link.assignments.length) {
      const n = answered++;
      const a: ComputeAssignment = v.link.assignments[n]!;
      const delay = delayMs(n);
      if (delay === undefined) continue; // held for ever
      setTimeout(() => void h?.result(v, a), delay);
    }
  }, 2);
  return () => clearInterval(timer);
}

test('a straggler at the tail gets a copy on a fast volunteer, which completes it; the slow lease is cancelled', async () => {
  h = await EngineHarness.start({ leaseMs: 60_000 });
  const fast = await h.connect({ wasm: true, cpu_slots: 2 });
  const slow = await h.connect({ wasm: true, cpu_slots: 1 });
  const ids = Array.from({ length: 60 }, (_, i) => `tail-${i}`);
  await h.submit(...ids.map((id) => task(id, { campaign_id: 'c-tail' })));
  // Fast: 20 ms a task; slow: 200 ms for its first, and its second never returns.
  const stopFast = serve(fast, () => 20);
  const stopSlow = serve(slow, (n) => (n === 0 ? 200 : undefined));
  try {
    await until(
      async () => {
        const states = await Promise.all(ids.map((id) => h!.state(id)));
        return states.every((s) => s === 'succeeded');
      },
      'every task succeeded',
      10_000,
    );
  } finally {
    stopFast();
    stopSlow();
  }
  const straggler = slow.link.assignments[1]!;
  // Its copy went to the fast volunteer, which completed the task on the stored attempt.
  const copies = fast.link.assignments.filter((a) => a.task_id === straggler.task_id);
  expect(copies).toHaveLength(1);
  expect(copies[0]!.lease_id).not.toBe(straggler.lease_id);
  const result = JSON.parse(
    Buffer.from((await h.store.getTask('a', straggler.task_id ?? ''))!.result!).toString(),
  ) as { worker_id: string };
  expect(result.worker_id).toBe(fast.worker.workerId);
  expect(await h.attempts(straggler.task_id ?? '')).toEqual([['succeeded', undefined]]);
  expect(slow.link.cancels).toEqual([
    { task_id: straggler.task_id, lease_id: straggler.lease_id, reason: 'CANCELLED' },
  ]);
  // Only the straggler was copied, and the slow volunteer got nothing in the tail.
  expect(await h.metric('flock_errors_total')).toContain('flock_errors_total{code="SPECULATIVE_COPY"} 1');
  expect(slow.link.assignments).toHaveLength(2);
});

test('FLOCK_TAILS=off: the straggler is left to its volunteer', async () => {
  h = await EngineHarness.start({ leaseMs: 60_000, tailAcceleration: false });
  const fast = await h.connect({ wasm: true, cpu_slots: 2 });
  const slow = await h.connect({ wasm: true, cpu_slots: 1 });
  const ids = Array.from({ length: 60 }, (_, i) => `slow-${i}`);
  await h.submit(...ids.map((id) => task(id, { campaign_id: 'c-slow' })));
  const stopFast = serve(fast, () => 20);
  const stopSlow = serve(slow, (n) => (n === 0 ? 200 : undefined));
  try {
    await until(
      async () => {
        const states = await Promise.all(ids.map((id) => h!.state(id)));
        return states.filter((s) => s === 'succeeded').length === 59;
      },
      'all but one succeeded',
      10_000,
    );
    // Two more seconds of ticks: still no copy.
    await new Promise((r) => setTimeout(r, 2000));
  } finally {
    stopFast();
    stopSlow();
  }
  expect(await h.state(slow.link.assignments[1]!.task_id ?? '')).toBe('running');
  expect(fast.link.assignments.some((a) => a.task_id === slow.link.assignments[1]!.task_id)).toBe(false);
});
