// Leases that end while the coordinator's PostgreSQL server cannot be reached (SCALE.md): a lease
// that expires, one given back, a replica that fails. The store is written before the lease ends
// in memory, so a write the outage refuses leaves both as they were and the end is tried again
// (the next housekeeping tick, or the volunteer's parked failure): once the server is back, each
// task runs to its end exactly once. The outage is a real one: the coordinator reaches the shared
// test server through a TCP relay the test closes and reopens.
import { expect, test } from 'vitest';
import { sumRunner } from '../src/sim/simulated-volunteer.ts';
import { gated, useStoreOutage } from './support/store-outage.ts';

const LEASE_MS = 1000;

const outage = useStoreOutage({ coordinatorId: 'leases', leaseMs: LEASE_MS, spotChecks: false });
const { volunteer, submit, healthz, cutStore, restoreStore } = outage;

/** The task's state and failures, and its attempts by outcome and worker, as stored. */
async function stored(taskId: string) {
  const task = await outage
    .direct()
    .query('SELECT state, failures, failure_code FROM tasks WHERE task_id = $1', [taskId]);
  const attempts = await outage.direct().query(
    `SELECT a.outcome, a.worker_id FROM attempts a JOIN tasks t ON a.task_uid = t.uid
     WHERE t.task_id = $1 ORDER BY a.attempt`,
    [taskId],
  );
  return { task: task.rows, attempts: attempts.rows };
}

const stateOf = async (taskId: string): Promise<string | undefined> =>
  (await outage.direct().query('SELECT state FROM tasks WHERE task_id = $1', [taskId])).rows[0]?.state;

/** Waits out `ms` of the outage (what the test is about: leases running out meanwhile). */
const outlast = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a lease that expires during the outage is ended once the server is back: the task runs again, once', async () => {
  const first = await volunteer(gated().run);
  await submit('expired');
  await first.assignmentOf('expired');

  await cutStore();
  // The tab is gone and cannot come back within its lease: the lease runs out during the outage.
  await first.close();
  await outlast(LEASE_MS * 3);

  await restoreStore();
  const second = await volunteer(sumRunner);
  await expect.poll(() => stateOf('expired'), { timeout: 10_000, interval: 50 }).toBe('succeeded');
  expect(await stored('expired')).toEqual({
    task: [{ state: 'succeeded', failures: 0, failure_code: null }],
    attempts: [
      { outcome: 'lease_expired', worker_id: first.workerId },
      { outcome: 'succeeded', worker_id: second.workerId },
    ],
  });
  expect(second.assignments.map((a) => a.task_id)).toEqual(['expired']);
  await second.close();
});

test('a lease given back during the outage is requeued once the server is back, and its failure acked', async () => {
  let given = 0;
  const { run, release } = gated((job) => {
    given += 1;
    return given === 1
      ? { failure: { code: 'LEASE_RETURNED', message: 'paused', retryable: true } }
      : sumRunner(job);
  });
  const sim = await volunteer(run);
  await submit('returned');
  const leaseId = (await sim.assignmentOf('returned')).lease_id ?? '';

  await cutStore();
  release();
  await expect.poll(() => sim.unacked.has(leaseId), { timeout: 5000, interval: 10 }).toBe(true);
  await outlast(LEASE_MS * 2);
  expect(sim.acks).toEqual([]);

  await restoreStore();
  // Its failure acked, and its result too: the task ran again on the same volunteer.
  await expect.poll(() => sim.acks.length, { timeout: 10_000, interval: 25 }).toBe(2);
  expect(sim.acks.map((a) => [a.lease_id === leaseId, a.accepted, a.code])).toEqual([
    [true, true, undefined],
    [false, true, undefined],
  ]);
  expect(await stored('returned')).toEqual({
    task: [{ state: 'succeeded', failures: 0, failure_code: null }],
    attempts: [
      { outcome: 'lease_expired', worker_id: sim.workerId },
      { outcome: 'succeeded', worker_id: sim.workerId },
    ],
  });
  await sim.close();
});

test("a verified task's replica that fails for good during the outage fails the task once the server is back", async () => {
  const failing = gated(() => ({
    failure: { code: 'INVALID_INPUT', message: 'x: not a number', retryable: false },
  }));
  const a = await volunteer(failing.run);
  // The other replica runs until it is cancelled.
  const b = await volunteer(
    (job) => new Promise((resolve) => job.signal.addEventListener('abort', () => resolve(sumRunner(job)))),
  );
  await submit('replica-failed', { verification: { replicas: 2 } });
  const leaseId = (await a.assignmentOf('replica-failed')).lease_id ?? '';
  const other = (await b.assignmentOf('replica-failed')).lease_id ?? '';

  await cutStore();
  failing.release();
  await expect.poll(() => a.unacked.has(leaseId), { timeout: 5000, interval: 10 }).toBe(true);
  await outlast(LEASE_MS * 2);
  expect(a.acks).toEqual([]);

  await restoreStore();
  await expect
    .poll(() => a.acks, { timeout: 10_000, interval: 25 })
    .toEqual([{ task_id: 'replica-failed', lease_id: leaseId, accepted: true }]);
  await expect.poll(() => b.running.has(other), { timeout: 5000, interval: 25 }).toBe(false);
  expect(b.acks).toEqual([]);
  expect((await stored('replica-failed')).task).toEqual([
    { state: 'failed', failures: 0, failure_code: 'INVALID_INPUT' },
  ]);
  await a.close();
  await b.close();
});

test("a verified task's deciding replica result sent during the outage is voted once, then stored and acked", async () => {
  const a = await volunteer(sumRunner);
  const deciding = gated();
  const b = await volunteer(deciding.run);
  await submit('decided', { verification: { replicas: 2 } });
  const leaseId = (await b.assignmentOf('decided')).lease_id ?? '';
  // The first replica's result agrees with nothing yet: acked, no store write.
  await expect.poll(() => a.acks.map((x) => x.accepted), { timeout: 5000, interval: 10 }).toEqual([true]);

  await cutStore();
  deciding.release();
  await expect.poll(() => b.unacked.has(leaseId), { timeout: 5000, interval: 10 }).toBe(true);
  // The parked result is tried again meanwhile, and its lease outlives the lease length.
  await outlast(LEASE_MS * 2);
  expect(b.acks).toEqual([]);

  await restoreStore();
  await expect
    .poll(() => b.acks, { timeout: 10_000, interval: 25 })
    .toEqual([{ task_id: 'decided', lease_id: leaseId, accepted: true }]);
  expect((await stored('decided')).task).toEqual([{ state: 'succeeded', failures: 0, failure_code: null }]);
  const uid = (await outage.direct().query('SELECT uid FROM tasks WHERE task_id = $1', ['decided'])).rows[0]
    .uid;
  expect(await outage.node().coordinator.trust.status(String(uid))).toMatchObject({
    state: 'accepted',
    returned: 2,
    agreeing: 2,
    workers: [a.workerId, b.workerId],
  });
  await a.close();
  await b.close();
});

test('a verified task decided during the outage by a volunteer that then left is stored once the server is back', async () => {
  const a = await volunteer(sumRunner);
  const deciding = gated();
  const b = await volunteer(deciding.run);
  await submit('decided-left', { verification: { replicas: 2 } });
  const leaseId = (await b.assignmentOf('decided-left')).lease_id ?? '';
  await expect.poll(() => a.acks.map((x) => x.accepted), { timeout: 5000, interval: 10 }).toEqual([true]);

  await cutStore();
  deciding.release();
  await expect.poll(() => b.unacked.has(leaseId), { timeout: 5000, interval: 10 }).toBe(true);
  // Gone for good: its lease runs out during the outage, with the decision its result made.
  await b.close();
  await outlast(LEASE_MS * 3);

  await restoreStore();
  await expect.poll(() => stateOf('decided-left'), { timeout: 10_000, interval: 50 }).toBe('succeeded');
  expect(await stored('decided-left')).toEqual({
    task: [{ state: 'succeeded', failures: 0, failure_code: null }],
    attempts: [{ outcome: 'succeeded', worker_id: expect.any(String) }],
  });
  const uid = (await outage.direct().query('SELECT uid FROM tasks WHERE task_id = $1', ['decided-left']))
    .rows[0].uid;
  expect(await outage.node().coordinator.trust.status(String(uid))).toMatchObject({
    state: 'accepted',
    returned: 2,
  });
  await a.close();
});

test('a result whose output goes to the blob store during the outage is stored and acked once the server is back', async () => {
  const big = new Uint8Array(70 << 10).fill(7); // past the 64 KiB kept inline: a blob
  const { run, release } = gated(() => ({ outputs: [{ name: 'big', inline_bytes: big }] }));
  const sim = await volunteer(run);
  await submit('blob-output');
  const leaseId = (await sim.assignmentOf('blob-output')).lease_id ?? '';

  await cutStore();
  release();
  await expect.poll(() => sim.unacked.has(leaseId), { timeout: 5000, interval: 10 }).toBe(true);
  await outlast(LEASE_MS * 2);

  await restoreStore();
  await expect
    .poll(() => sim.acks, { timeout: 10_000, interval: 25 })
    .toEqual([{ task_id: 'blob-output', lease_id: leaseId, accepted: true }]);
  const blobs = async () =>
    (await outage.direct().query('SELECT hash, tenant, size::int FROM blobs WHERE kind = $1', ['output']))
      .rows;
  // Recorded without holding up the result: polled.
  await expect
    .poll(blobs, { timeout: 5000, interval: 25 })
    .toEqual([{ hash: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), tenant: 'a', size: big.length }]);
  await sim.close();
});

test('a deadline that passes during the outage fails the task once the server is back', async () => {
  // No volunteer here has a GPU: the task waits in the queue.
  await submit('deadline', {
    requirements: { min: { wasm: true, webgpu: true }, qos: { deadline_ms: 1500 } },
  });
  await cutStore();
  await outlast(2000);
  expect(await healthz()).toBe(503);

  await restoreStore();
  await expect.poll(() => stateOf('deadline'), { timeout: 5000, interval: 25 }).toBe('failed');
  expect((await stored('deadline')).task).toEqual([
    { state: 'failed', failures: 0, failure_code: 'DEADLINE_EXCEEDED' },
  ]);
});
