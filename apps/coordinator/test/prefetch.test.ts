// Prefetch (#14): a tab may hold one queued lease per slot beyond the ones it runs. The scheduler
// counts them, a queued lease gets two time limits (it starts when the job ahead of it ends), and
// a tab that pauses gives queued leases back with LEASE_RETURNED: requeued at once, no penalty.
import { afterEach, expect, test } from 'vitest';
import { type SimRunner, SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import { envelope, type Json, startTest, type TestCoordinator, until } from './helpers.ts';

let c: TestCoordinator | undefined;
const sims: SimulatedVolunteer[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
  await c?.stop();
  c = undefined;
});

async function sim(options: Partial<Parameters<typeof SimulatedVolunteer.connect>[0]> = {}) {
  const s = await SimulatedVolunteer.connect({ url: c!.url, ...options });
  sims.push(s);
  return s;
}

const view = async (id: string): Promise<Json> => (await c!.api(`/v1/tasks/${id}`)).json();

/** Never finishes (a job still running, or queued behind one). */
const never: SimRunner = ({ signal }) =>
  new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));

test('a prefetching tab gets its slots plus its prefetch; a returned lease is requeued with no penalty', async () => {
  c = await startTest();
  // Queued before the tab connects: its hello leases the first two and `third` waits, so the
  // returned `second` queues behind `third` (posted to a connected tab, each would start at once).
  for (const id of ['first', 'second', 'third']) {
    expect((await c.api('/v1/tasks', { method: 'POST', json: envelope(id) })).status).toBe(201);
  }
  let returned = false;
  const tab = await sim({
    capability: { cpu_slots: 1, prefetch: 1 },
    // The first job runs for ever; the second, queued behind it, is given back.
    run: (job) => {
      if (job.assignment.task_id === 'second' && !returned) {
        returned = true;
        return { failure: { code: 'LEASE_RETURNED', message: 'paused', retryable: true } };
      }
      return never(job);
    },
  });
  await until(() => tab.assignments.length >= 2, 5000, 'two leases');
  expect(tab.assignments.slice(0, 2).map((a) => a.task_id)).toEqual(['first', 'second']);
  await until(
    async () => (await view('second')).attempts.length === 1 && (await view('second')).state === 'queued',
  );
  const second = await view('second');
  expect(second.attempts.map((a: Json) => [a.outcome, a.code])).toEqual([
    ['lease_expired', 'LEASE_RETURNED'],
  ]);
  const { workers } = await (await c.api('/v1/workers')).json();
  expect(workers[0]).toMatchObject({ tasks_failed: 0 });
  expect(c.coordinator.workers.get(tab.workerId)!.reliability).toBe(0.5);
  // Another tab picks it up at once (no backoff).
  const other = await sim({ capability: { cpu_slots: 1 } });
  await until(async () => (await view('second')).state === 'succeeded', 5000, 'second done elsewhere');
  expect((await view('second')).attempts.at(-1).worker_id).toBe(other.workerId);
});

test('a lease of a prefetching worker may run two time limits; without prefetch, one', async () => {
  c = await startTest({ leaseMs: 500, heartbeatMs: 100 });
  const timed = async (prefetch: number, id: string): Promise<number> => {
    const tab = await sim({ run: never, capability: { cpu_slots: 1, prefetch } });
    const cancelled = tab.waitFor<Json>('cancel', (x) => x.task_id === id, 10_000);
    await c!.api('/v1/tasks', {
      method: 'POST',
      json: envelope(id, { module: { kind: 'builtin', permissions: { timeout_ms: 400 } } }),
    });
    await tab.assignmentOf(id);
    const started = Date.now();
    expect(await cancelled).toMatchObject({ reason: 'RUN_TIME_EXCEEDED' });
    await tab.close();
    return Date.now() - started;
  };
  const plain = await timed(0, 'plain');
  const queued = await timed(1, 'queued');
  // 400 + 500 ms against 2 × 400 + 500 ms, give or take a sweep of the lease table.
  expect(plain).toBeLessThan(1250);
  expect(queued).toBeGreaterThanOrEqual(1250);
});
