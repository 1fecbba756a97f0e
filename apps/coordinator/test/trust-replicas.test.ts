import { afterEach, describe, expect, it } from 'vitest';
import { referenceRunner, type SimRunner, SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import { envelope, type Json, startTest, type TestCoordinator, taskState, until } from './helpers.ts';
import { verifiedTasks } from './support/verified-tasks.ts';

// The replicas of a verified task running at once on distinct simulated volunteers: the surplus
// cancelled once a quorum agrees, and a cancel, a deadline, a silent worker or a failure mid-run.
let c: TestCoordinator | undefined;
const sims: SimulatedVolunteer[] = [];
afterEach(async () => {
  for (const s of sims.splice(0)) await s.close();
  await c?.stop();
  c = undefined;
});
const { submitVerified, resultOf, uidOf } = verifiedTasks(() => c!);

describe('replicas running at once: surplus', () => {
  it('runs the replicas of a task at once, and cancels the surplus once a quorum agrees', async () => {
    c = await startTest({ spotCheckRate: 0 });
    await submitVerified(['p-0'], { replicas: 3, quorum: 2 }); // first: the checks take its shape
    // Every replica of p-0 waits until all three are running: sequential replicas would never finish.
    const started: string[] = [];
    const gate: SimRunner = async (job) => {
      if (job.assignment.task_id === 'p-0') {
        const order = started.push(job.assignment.lease_id ?? '');
        await until(() => started.length === 3 || job.signal.aborted, 20_000, 'three replicas running');
        // The third to start is slow: the other two agree first and it is cancelled.
        if (order === 3) {
          await until(() => job.signal.aborted, 20_000, 'surplus cancelled');
        }
      }
      return referenceRunner(job);
    };
    const sims3 = [];
    for (let i = 0; i < 3; i++) sims3.push(await SimulatedVolunteer.connect({ url: c.url, run: gate }));
    sims.push(...sims3);
    await until(() => started.length === 3 || undefined, 20_000, 'parallel replicas');
    const leases = started;
    await until(async () => (await taskState(c!, 'p-0')) === 'succeeded', 20_000, 'p-0');
    expect(await c.coordinator.trust.status(await uidOf('p-0'))).toMatchObject({
      state: 'accepted',
      acceptedBy: 'quorum',
      agreeing: 2,
      returned: 2,
    });
    const cancelled = sims3.find((sim) => sim.assignments.some((a) => a.lease_id === leases[2]))!;
    await until(() => cancelled.running.size === 0 || undefined, 5_000, 'surplus stopped');
    // One stored attempt for the three replicas; the result is one of the agreeing two.
    const attempts = await c.store.listAttempts(Number(await uidOf('p-0')));
    expect(attempts.map((a) => a.outcome)).toEqual(['succeeded']);
    expect(leases.slice(0, 2)).toContain((await resultOf('p-0')).lease_id);
  });
});

describe('replicas running at once: cancel, deadline, loss, failure', () => {
  /** Two vetted sims whose jobs of task `hold` wait until told (or cancelled). */
  async function twoHolding(hold: string, overrides: Parameters<typeof startTest>[0] = {}) {
    c = await startTest({ spotCheckRate: 0, ...overrides });
    await submitVerified([`${hold}-warm`], { replicas: 2 }); // checks take its shape; both get vetted
    const release = { go: false };
    const started: string[] = [];
    const run: SimRunner = async (job) => {
      if (job.assignment.task_id === hold) {
        started.push(job.assignment.worker_id ?? '');
        await until(() => release.go || job.signal.aborted, 20_000, 'released');
      }
      return referenceRunner(job);
    };
    const a = await SimulatedVolunteer.connect({ url: c.url, run });
    const b = await SimulatedVolunteer.connect({ url: c.url, run });
    sims.push(a, b);
    await until(async () => (await taskState(c!, `${hold}-warm`)) === 'succeeded', 20_000, 'warm');
    return { a, b, release, started };
  }

  it('cancelling a task stops every replica, and their slots run other work', async () => {
    const { a, b, started } = await twoHolding('x-1');
    await submitVerified(['x-1'], { replicas: 2 });
    await until(() => started.length === 2 || undefined, 10_000, 'both replicas');
    const cancels: string[] = [];
    for (const sim of [a, b]) sim.on('cancel', (x: Json) => cancels.push(x.task_id));
    expect((await c!.api('/v1/tasks/x-1', { method: 'DELETE' })).status).toBe(200);
    await until(() => cancels.length === 2 || undefined, 5_000, 'two cancels');
    expect(cancels).toEqual(['x-1', 'x-1']);
    await until(() => a.running.size + b.running.size === 0 || undefined, 5_000, 'slots free');
    expect(c!.coordinator.runningCount()).toBe(0);
    await c!.api('/v1/tasks', { method: 'POST', json: envelope('x-2') });
    await until(async () => (await taskState(c!, 'x-2')) === 'succeeded', 10_000, 'x-2');
  });

  it('a deadline fails the task DEADLINE_EXCEEDED and stops its replicas', async () => {
    const { a, b, started } = await twoHolding('d-1');
    await c!.api('/v1/tasks', {
      method: 'POST',
      json: envelope('d-1', {
        verification: { replicas: 2 },
        requirements: { min: { wasm: true }, qos: { deadline_ms: 800 } },
      }),
    });
    await until(() => started.length === 2 || undefined, 10_000, 'both replicas');
    await until(async () => (await taskState(c!, 'd-1')) === 'failed', 10_000, 'deadline');
    const view: Json = await (await c!.api('/v1/tasks/d-1')).json();
    expect(JSON.stringify(view)).toContain('DEADLINE_EXCEEDED');
    await until(() => a.running.size + b.running.size === 0 || undefined, 5_000, 'replicas stopped');
  });

  it('a replica whose worker goes silent is released and runs on another worker', async () => {
    const { a, b, release, started } = await twoHolding('s-1', { leaseMs: 900 });
    await submitVerified(['s-1'], { replicas: 2 });
    await until(() => started.length === 2 || undefined, 10_000, 'both replicas');
    a.stall(); // no heartbeats: its lease runs out
    const c3 = await SimulatedVolunteer.connect({ url: c!.url });
    sims.push(c3);
    release.go = true;
    await until(async () => (await taskState(c!, 's-1')) === 'succeeded', 20_000, 's-1');
    const status = await c!.coordinator.trust.status(await uidOf('s-1'));
    expect(status).toMatchObject({ state: 'accepted', agreeing: 2 });
    const view: Json = await (await c!.api('/v1/tasks/s-1')).json();
    expect([...view.verification.workers].sort()).toEqual([b.workerId, c3.workerId].sort());
    a.stall(false);
  });

  it('a replica that fails for good fails the task with its code and stops the other', async () => {
    c = await startTest({ spotCheckRate: 0 });
    await submitVerified(['f-warm'], { replicas: 2 });
    const started: string[] = [];
    const run =
      (fail: boolean): SimRunner =>
      async (job) => {
        if (job.assignment.task_id !== 'f-2') return referenceRunner(job);
        started.push(job.assignment.worker_id ?? '');
        await until(() => started.length === 2 || job.signal.aborted, 10_000, 'both');
        if (fail) return { failure: { code: 'MODULE_TRAP', message: 'unreachable', retryable: false } };
        await until(() => job.signal.aborted, 10_000, 'cancelled');
        return referenceRunner(job);
      };
    const ok = await SimulatedVolunteer.connect({ url: c.url, run: run(false) });
    const bad = await SimulatedVolunteer.connect({ url: c.url, run: run(true) });
    sims.push(ok, bad);
    await until(async () => (await taskState(c!, 'f-warm')) === 'succeeded', 20_000, 'warm');
    await submitVerified(['f-2'], { replicas: 2 });
    await until(async () => (await taskState(c!, 'f-2')) === 'failed', 10_000, 'f-2 failed');
    const view: Json = await (await c.api('/v1/tasks/f-2')).json();
    expect(JSON.stringify(view)).toContain('MODULE_TRAP');
    await until(() => ok.running.size === 0 || undefined, 5_000, 'other replica stopped');
  });
});
