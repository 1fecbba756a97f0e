// Task transitions and lease outcomes, engine only: a real SQLite file, links that record frames.
import { EVENTS } from '@flock/protocol';
import { afterEach, describe, expect, test } from 'vitest';
import { EngineHarness, task, until } from './engine-harness.ts';

let h: EngineHarness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

describe('a task lease', () => {
  test('is declared a task lease, counts a slot, and its result finishes the task once', async () => {
    h = await EngineHarness.start();
    const v = await h.connect();
    await h.submit(task('t-ok'));
    const a = await h.assignment(v);
    const lease = h.coordinator.leases.get(a.lease_id ?? '')!;
    expect(lease.kind).toBe('task');
    expect(v.worker.runningCpu).toBe(1);
    expect(await h.result(v, a)).toEqual({ task_id: 't-ok', lease_id: a.lease_id, accepted: true });
    expect(await h.state('t-ok')).toBe('succeeded');
    expect(v.worker.runningCpu).toBe(0);
    expect(v.worker.succeeded).toBe(1);
    expect(h.coordinator.leases.size).toBe(0);
    // A replay of the accepted result is acked as a duplicate and changes nothing.
    expect(await h.result(v, a)).toEqual({
      task_id: 't-ok',
      lease_id: a.lease_id,
      accepted: true,
      code: 'DUPLICATE',
    });
    expect(h.topics('t-ok')).toEqual([EVENTS.requested, EVENTS.accepted, EVENTS.success]);
  });

  test('a retryable failure is retried after its backoff; retries used up end RETRIES_EXHAUSTED', async () => {
    h = await EngineHarness.start({ retryBaseMs: 30 });
    const v = await h.connect();
    await h.submit(task('t-retry', { requirements: { min: { wasm: true }, qos: { retries: 1 } } }));
    const fail = async (n: number) => {
      const a = await h!.assignment(v, n);
      return h!.coordinator.handleFailure(v.worker, {
        task_id: a.task_id ?? '',
        lease_id: a.lease_id ?? '',
        task_token: a.task_token ?? '',
        code: 'DEVICE_LOST',
        message: 'gone',
        retryable: true,
      });
    };
    expect(await fail(0)).toMatchObject({ accepted: true });
    expect(await h.state('t-retry')).toBe('queued');
    expect(await fail(1)).toMatchObject({ accepted: true });
    expect(await h.state('t-retry')).toBe('failed');
    const rec = await h.store.getTask('a', 't-retry');
    expect([rec?.failureCode, rec?.failureMessage]).toEqual(['RETRIES_EXHAUSTED', 'DEVICE_LOST: gone']);
    expect(await h.attempts('t-retry')).toEqual([
      ['failed', 'DEVICE_LOST'],
      ['failed', 'DEVICE_LOST'],
    ]);
    expect(v.worker.failed).toBe(2);
    expect(v.worker.reliability).toBeCloseTo(1 / 4);
  });

  test('a lease the tab no longer has (LEASE_LOST at hello) requeues the task at once, no failure counted', async () => {
    h = await EngineHarness.start();
    const v = await h.connect();
    await h.submit(task('t-lost'));
    const a = await h.assignment(v);
    // The tab reloads without the job: its hello lists nothing in flight.
    const again = await h.connect(undefined, { session_token: v.sessionToken, in_flight: [] });
    expect(again.worker.workerId).toBe(v.worker.workerId);
    const next = await h.assignment(again);
    expect(next.task_id).toBe('t-lost');
    expect(next.lease_id).not.toBe(a.lease_id);
    expect(next.attempt).toBe(2);
    expect(await h.attempts('t-lost')).toEqual([
      ['lease_expired', 'LEASE_LOST'],
      [undefined, undefined],
    ]);
    expect(again.worker.failed).toBe(0);
  });

  test('a queued lease given back (LEASE_RETURNED) is requeued with no penalty', async () => {
    h = await EngineHarness.start();
    const v = await h.connect({ wasm: true, cpu_slots: 1, prefetch: 1 });
    await h.submit(task('t-first'), task('t-second'));
    await until(() => v.link.assignments.length === 2, 'two leases');
    const second = v.link.assignments[1]!;
    const ack = await h.coordinator.handleFailure(v.worker, {
      task_id: second.task_id ?? '',
      lease_id: second.lease_id ?? '',
      task_token: second.task_token ?? '',
      code: 'LEASE_RETURNED',
      message: 'paused',
      retryable: true,
    });
    expect(ack).toMatchObject({ accepted: true });
    expect(await h.attempts(second.task_id ?? '')).toContainEqual(['lease_expired', 'LEASE_RETURNED']);
    expect(v.worker.failed).toBe(0);
  });

  test('a deadline passed while running fails the task DEADLINE_EXCEEDED and cancels its lease', async () => {
    h = await EngineHarness.start({ leaseMs: 2000 });
    const v = await h.connect();
    await h.submit(task('t-late', { requirements: { min: { wasm: true }, qos: { deadline_ms: 150 } } }));
    const a = await h.assignment(v);
    await until(async () => (await h!.state('t-late')) === 'failed', 'deadline');
    expect(await h.attempts('t-late')).toEqual([['deadline_exceeded', 'DEADLINE_EXCEEDED']]);
    expect(v.link.cancels).toEqual([
      { task_id: 't-late', lease_id: a.lease_id, reason: 'DEADLINE_EXCEEDED' },
    ]);
    // The slot stays taken until the tab acks the cancel.
    expect(v.worker.runningCpu).toBe(1);
    h.coordinator.cancelAck(v.worker, a.lease_id ?? '');
    expect(v.worker.runningCpu).toBe(0);
  });

  test('an expired lease is requeued by the tick; after FLOCK_MAX_ATTEMPTS the task fails RETRIES_EXHAUSTED', async () => {
    h = await EngineHarness.start({ leaseMs: 150, maxAttempts: 2 });
    const v = await h.connect();
    await h.submit(task('t-silent'));
    await h.assignment(v, 0);
    // The tab heartbeats (it is alive) but never lists or finishes the job: each lease expires.
    const beat = setInterval(() => h!.coordinator.heartbeat(v.worker, []), 30);
    try {
      await until(async () => (await h!.state('t-silent')) === 'failed', 'two expiries', 8000);
    } finally {
      clearInterval(beat);
    }
    expect(v.link.assignments.map((a) => a.attempt)).toEqual([1, 2]);
    expect(await h.attempts('t-silent')).toEqual([
      ['lease_expired', 'LEASE_EXPIRED'],
      ['lease_expired', 'RETRIES_EXHAUSTED'],
    ]);
    expect((await h.store.getTask('a', 't-silent'))?.failureCode).toBe('RETRIES_EXHAUSTED');
  });
});

describe('requester cancel', () => {
  test('a running task is cancelled in the store at once and its worker told to stop', async () => {
    h = await EngineHarness.start();
    const v = await h.connect();
    await h.submit(task('t-cancel'));
    const a = await h.assignment(v);
    const rec = (await h.store.getTask('a', 't-cancel'))!;
    expect(await h.coordinator.cancel(rec, 'not needed')).toBe('running');
    expect(await h.state('t-cancel')).toBe('cancelled');
    expect(v.link.cancels).toEqual([{ task_id: 't-cancel', lease_id: a.lease_id, reason: 'not needed' }]);
    // Its result, should it come now, is refused: the task is cancelled.
    expect(await h.result(v, a)).toMatchObject({ accepted: false, code: 'TASK_CANCELLED' });
  });
});
