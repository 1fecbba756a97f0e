// A volunteer's result that arrives while the coordinator's PostgreSQL server cannot be reached
// (SCALE.md, parked-outcomes.ts): not refused (an ack is final for the tab), not the connection's
// INTERNAL error, and not counted against the volunteer. The connection keeps it, renews its lease
// past the lease length, and stores and acks it once the server is back; a connection that drops
// meanwhile is answered STORE_UNAVAILABLE (close 1013) at its hellos until the server is back,
// and the result comes again in the hello after it. The outage is a real one: the coordinator
// reaches the shared test server through a TCP relay the test closes and reopens.
import { expect, test } from 'vitest';
import { SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import { gated, useStoreOutage } from './support/store-outage.ts';

const LEASE_MS = 3000;

const outage = useStoreOutage({ coordinatorId: 'parks', leaseMs: LEASE_MS });
const { submit, cutStore, restoreStore, sims } = outage;

/** What the store holds of the task and its worker once it is back. */
async function stored(taskId: string, workerId: string) {
  const task = await outage.direct().query(
    `SELECT t.state, t.failures, a.outcome FROM tasks t JOIN attempts a ON a.task_uid = t.uid
     WHERE t.task_id = $1 ORDER BY a.attempt`,
    [taskId],
  );
  const worker = await outage
    .direct()
    .query('SELECT tasks_succeeded, tasks_failed FROM workers WHERE worker_id = $1', [workerId]);
  return { attempts: task.rows, worker: worker.rows };
}

test('a result sent during the outage is kept past its lease, then stored and acked on the same connection', async () => {
  const { run, release } = gated();
  const sim = await SimulatedVolunteer.connect({ url: outage.node().url, run });
  sims.push(sim);
  const errors: unknown[] = [];
  sim.on('error-frame', (e) => errors.push(e));
  await submit('kept');
  const assignment = await sim.assignmentOf('kept');
  const leaseId = assignment.lease_id ?? '';

  await cutStore();
  release();
  await expect.poll(() => sim.unacked.has(leaseId), { timeout: 5000, interval: 10 }).toBe(true);
  // The outage outlasts the lease: the parked result's lease is renewed, not expired.
  await new Promise((resolve) => setTimeout(resolve, LEASE_MS + 1000));
  expect(sim.acks).toEqual([]);
  expect(sim.lastClose).toBeUndefined();

  await restoreStore();
  await expect
    .poll(() => sim.acks, { timeout: 5000, interval: 25 })
    .toEqual([{ task_id: 'kept', lease_id: leaseId, accepted: true }]);
  expect(sim.unacked.size).toBe(0);
  expect(sim.lastClose).toBeUndefined();
  expect(errors).toEqual([]);
  expect(await stored('kept', sim.workerId)).toEqual({
    attempts: [{ state: 'succeeded', failures: 0, outcome: 'succeeded' }],
    worker: [{ tasks_succeeded: 1, tasks_failed: 0 }],
  });
  const metrics = await (await fetch(`${outage.node().url}/metrics`)).text();
  expect(metrics).not.toContain('flock_errors_total{code="INTERNAL"}');
  // The next test's task must go to its own volunteer.
  await sim.close();
});

test('a connection dropped during the outage is told STORE_UNAVAILABLE (1013) and its hello after it delivers the result', async () => {
  const { run, release } = gated();
  const sim = await SimulatedVolunteer.connect({ url: outage.node().url, run, reconnect: true });
  sims.push(sim);
  const closes: number[] = [];
  const errors: Array<{ code?: string }> = [];
  sim.on('close', (code: number) => closes.push(code));
  sim.on('error-frame', (e: { code?: string }) => errors.push(e));
  await submit('resent');
  const assignment = await sim.assignmentOf('resent');
  const leaseId = assignment.lease_id ?? '';

  await cutStore();
  release();
  await expect.poll(() => sim.unacked.has(leaseId), { timeout: 5000, interval: 10 }).toBe(true);
  sim.disconnect();
  // Its hellos need the store: each is refused as retryable, none as the volunteer's fault.
  await expect.poll(() => closes.includes(1013), { timeout: 5000, interval: 10 }).toBe(true);
  expect(new Set(closes)).toEqual(new Set([1006, 1013]));
  expect(new Set(errors.map((e) => e.code))).toEqual(new Set(['STORE_UNAVAILABLE']));

  await restoreStore();
  await expect
    .poll(() => sim.acks, { timeout: 5000, interval: 25 })
    .toEqual([{ task_id: 'resent', lease_id: leaseId, accepted: true }]);
  expect(await stored('resent', sim.workerId)).toEqual({
    attempts: [{ state: 'succeeded', failures: 0, outcome: 'succeeded' }],
    worker: [{ tasks_succeeded: 1, tasks_failed: 0 }],
  });
});
