// Worker sessions, recovery and verification, engine only: a real SQLite file, recording links.
import { afterEach, describe, expect, test } from 'vitest';
import { EngineHarness, task, until } from './engine-harness.ts';

let h: EngineHarness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

describe('worker sessions', () => {
  test('a session token resumes the identity; leases still in flight are kept, unknown ones cancelled', async () => {
    h = await EngineHarness.start();
    const v = await h.connect();
    await h.submit(task('t-keep'));
    const a = await h.assignment(v);
    const again = await h.connect(undefined, {
      session_token: v.sessionToken,
      in_flight: [a.lease_id ?? '', 'l-never-issued'],
    });
    expect(again.worker.workerId).toBe(v.worker.workerId);
    expect(v.link.closedWith).toEqual({ code: 1008, reason: 'session resumed elsewhere' });
    expect(again.link.cancels).toEqual([{ lease_id: 'l-never-issued', reason: 'LEASE_EXPIRED' }]);
    expect(again.worker.runningCpu).toBe(1);
    expect(h.coordinator.leases.get(a.lease_id ?? '')?.workerId).toBe(v.worker.workerId);
    expect(await h.result(again, a)).toMatchObject({ accepted: true });
    expect(await h.state('t-keep')).toBe('succeeded');
  });

  test('heartbeats renew only the worker’s own leases; lease checks answer with exact codes', async () => {
    h = await EngineHarness.start();
    const v = await h.connect();
    const other = await h.connect();
    await h.submit(task('t-mine'));
    await until(() => v.link.assignments.length + other.link.assignments.length === 1, 'one assignment');
    const [holder, stranger] = v.link.assignments.length === 1 ? [v, other] : [other, v];
    const a = holder.link.assignments[0]!;
    const leaseId = a.lease_id ?? '';
    expect(h.coordinator.heartbeat(holder.worker, [leaseId, leaseId])).toEqual([
      { lease_id: leaseId, expires_at_ms: expect.any(Number), valid: true },
    ]);
    expect(h.coordinator.heartbeat(stranger.worker, [leaseId])).toEqual([
      { lease_id: leaseId, expires_at_ms: 0, valid: false },
    ]);
    const check = h.coordinator.checkLease.bind(h.coordinator);
    expect(check(holder.worker, leaseId, 't-mine', a.task_token)).toBeUndefined();
    expect(check(stranger.worker, leaseId, 't-mine', a.task_token)).toBe('LEASE_UNKNOWN');
    expect(check(holder.worker, leaseId, 't-other', a.task_token)).toBe('TASK_MISMATCH');
    expect(check(holder.worker, leaseId, 't-mine', 'hmac:forged-token-0000')).toBe('WRONG_TOKEN');
  });

  test('a worker that says hello and leaves without work is forgotten, its stored row too', async () => {
    h = await EngineHarness.start();
    const v = await h.connect({ wasm: true, cpu_slots: 1, paused: true });
    const row = () => h!.store.findWorkerBySession(v.worker.sessionHash);
    expect((await row())?.workerId).toBe(v.worker.workerId);
    h.coordinator.disconnected(v.worker, v.link);
    expect(h.coordinator.workers.has(v.worker.workerId)).toBe(false);
    await until(async () => (await row()) === undefined, 'row removed');
  });

  test('the tick forgets a worker gone ten minutes without leases; one holding a lease, or connected, stays', async () => {
    h = await EngineHarness.start();
    const gone = await h.connect();
    await h.submit(task('t-done'));
    expect(await h.result(gone, await h.assignment(gone))).toMatchObject({ accepted: true });
    gone.worker.capability = { ...gone.worker.capability, paused: true };
    const kept = await h.connect();
    await h.submit(task('t-held'));
    await h.assignment(kept);
    const connected = await h.connect({ wasm: true, cpu_slots: 1, paused: true });
    // Two leave (a worker that ran a task is kept in memory); ten minutes and more pass for all.
    h.coordinator.disconnected(gone.worker, gone.link);
    h.coordinator.disconnected(kept.worker, kept.link);
    for (const v of [gone, kept, connected]) v.worker.lastSeenMs = Date.now() - 601_000;
    await until(() => !h!.coordinator.workers.has(gone.worker.workerId), 'the idle worker forgotten');
    expect(h.coordinator.workers.has(kept.worker.workerId)).toBe(true);
    expect(h.coordinator.workers.has(connected.worker.workerId)).toBe(true);
  });
});

describe('recovery', () => {
  test('after a restart a running task keeps its lease, and the tab that reconnects delivers its result', async () => {
    h = await EngineHarness.start();
    const v = await h.connect();
    await h.submit(task('t-restart'));
    const a = await h.assignment(v);
    const dir = h.dir;
    await h.stop(true);
    h = await EngineHarness.start({}, dir);
    const lease = h.coordinator.leases.get(a.lease_id ?? '');
    expect(lease).toMatchObject({ kind: 'task', taskId: 't-restart', workerId: v.worker.workerId });
    const back = await h.connect(undefined, { session_token: v.sessionToken, in_flight: [a.lease_id ?? ''] });
    expect(await h.result(back, a)).toMatchObject({ accepted: true });
    expect(await h.state('t-restart')).toBe('succeeded');
    expect(await h.attempts('t-restart')).toEqual([['succeeded', undefined]]);
  });
});

describe('replica runs', () => {
  test('a verified task runs as replica leases on distinct workers and completes on its stored attempt once they agree', async () => {
    h = await EngineHarness.start();
    const v1 = await h.connect();
    const v2 = await h.connect();
    await h.submit(task('t-quorum', { verification: { replicas: 2, quorum: 2, comparator: 'exact' } }));
    const a1 = await h.assignment(v1);
    const a2 = await h.assignment(v2);
    expect([a1.task_id, a2.task_id]).toEqual(['t-quorum', 't-quorum']);
    expect(h.coordinator.leases.get(a1.lease_id ?? '')?.kind).toBe('replica');
    expect(h.coordinator.leases.get(a2.lease_id ?? '')?.kind).toBe('replica');
    expect(await h.result(v1, a1, new Uint8Array([1, 2]))).toMatchObject({ accepted: true });
    expect(await h.state('t-quorum')).toBe('running');
    expect(await h.result(v2, a2, new Uint8Array([1, 2]))).toMatchObject({ accepted: true });
    expect(await h.state('t-quorum')).toBe('succeeded');
    // One stored attempt (the first replica's); the second replica lived in this process only.
    expect(await h.attempts('t-quorum')).toEqual([['succeeded', undefined]]);
    expect(h.coordinator.leases.size).toBe(0);
  });

  test('replicas that disagree with no replica left fail the task VERIFICATION_FAILED', async () => {
    h = await EngineHarness.start();
    const v1 = await h.connect();
    const v2 = await h.connect();
    await h.submit(
      task('t-split', { verification: { replicas: 2, quorum: 2, comparator: 'exact', max_replicas: 2 } }),
    );
    const a1 = await h.assignment(v1);
    const a2 = await h.assignment(v2);
    await h.result(v1, a1, new Uint8Array([1]));
    await h.result(v2, a2, new Uint8Array([2]));
    expect(await h.state('t-split')).toBe('failed');
    expect((await h.store.getTask('a', 't-split'))?.failureCode).toBe('VERIFICATION_FAILED');
  });
});

describe('spot checks', () => {
  test('a new worker’s first lease for a verified task is a check, not the task, and not stored', async () => {
    h = await EngineHarness.start({ spotChecks: true });
    const v = await h.connect();
    await h.submit(task('t-vetted', { verification: { replicas: 1, quorum: 1, comparator: 'exact' } }));
    const a = await h.assignment(v);
    const lease = h.coordinator.leases.get(a.lease_id ?? '')!;
    expect(lease.kind).toBe('check');
    expect(lease.taskUid).toBeLessThan(0);
    expect(a.task_id).not.toBe('t-vetted');
    expect(await h.store.getTask('a', a.task_id ?? '')).toBeUndefined();
    expect(v.worker.onProbation).toBe(true);
    expect(await h.state('t-vetted')).toBe('queued');
  });
});
