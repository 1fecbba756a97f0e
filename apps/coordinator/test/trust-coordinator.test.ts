import type { ComputeAssignment } from '@flock/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { referenceRunner, type SimRunner, SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import { envelope, type Json, startTest, type TestCoordinator, taskState, until } from './helpers.ts';

// The coordinator with the trust engine in its dispatch and result paths, over real WebSockets,
// with simulated volunteers (honest ones compute built-in ops by their CPU reference, so they pass
// known-answer checks; liars corrupt their outputs). Tasks ask for verification per task.
let c: TestCoordinator | undefined;
const sims: SimulatedVolunteer[] = [];
afterEach(async () => {
  for (const s of sims.splice(0)) await s.close();
  await c?.stop();
  c = undefined;
});

async function submitVerified(ids: string[], verification: Json): Promise<void> {
  for (const id of ids) {
    const res = await c!.api('/v1/tasks', { method: 'POST', json: envelope(id, { verification }) });
    expect(res.status).toBe(201);
  }
}

async function resultOf(id: string): Promise<Json> {
  return (await c!.api(`/v1/tasks/${id}/result`)).json();
}

async function workersById(): Promise<Map<string, Json>> {
  const { workers }: Json = await (await c!.api('/v1/workers')).json();
  return new Map(workers.map((w: Json) => [w.worker_id, w]));
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${c!.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.slice(name.length).trim()) : 0;
}

const uidOf = async (id: string) => String((await c!.store.getTask('a', id))!.uid);

/**
 * Pinned draws for the trust engine, all in [0, 0.5): a worker with a streak n ≥ 2 is always
 * believed alone (draw < 1 − 1/n) and a spot-check rate of 0 or 1 means never or always; the
 * digits of the check ids still vary (a seeded LCG).
 */
function lowDraws(): () => number {
  let x = 12345;
  return () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x / 2 ** 32) * 0.49;
  };
}

describe('verified tasks on the coordinator', () => {
  it('checks every new worker first: a liar fails its check, is quarantined and never counts', async () => {
    c = await startTest({ spotCheckRate: 0 }); // probation checks only: exact counts
    // Tasks first: a check's id is drawn again when it names an existing task, and only then
    // are all of them known (the tests below tell checks from tasks by id).
    const ids = Array.from({ length: 12 }, (_, i) => `v-${100 + i}`);
    await submitVerified(ids, { replicas: 2, max_replicas: 4 });
    const liar = await SimulatedVolunteer.connect({ url: c.url, lie: true });
    const honest1 = await SimulatedVolunteer.connect({ url: c.url });
    const honest2 = await SimulatedVolunteer.connect({ url: c.url });
    sims.push(liar, honest1, honest2);
    for (const id of ids) await until(async () => (await taskState(c!, id)) === 'succeeded', 20_000, id);

    const honest = new Set([honest1.workerId, honest2.workerId]);
    for (const id of ids) {
      const result = await resultOf(id);
      expect(result.outputs).toMatchObject([{ name: 'sum', inline_json: '10' }]);
      expect(honest.has(result.worker_id)).toBe(true);
      const status = await c.coordinator.trust.status(await uidOf(id));
      expect(status).toMatchObject({ state: 'accepted', acceptedBy: 'quorum', agreeing: 2, returned: 2 });
    }
    // Each worker's first assignment was a known-answer check, shaped like the real tasks: an id
    // of the same form that is none of theirs. The liar got that one assignment and nothing more.
    for (const sim of [liar, honest1, honest2]) {
      const first = sim.assignments[0]!;
      expect(first.task_id).toMatch(/^v-\d+$/);
      expect(ids).not.toContain(first.task_id);
      expect(first.envelope?.module?.kind).toBe('builtin');
    }
    expect(liar.assignments.length).toBe(1);
    expect(liar.acks).toMatchObject([{ accepted: true }]); // acked like any result

    const liarStanding = await c.coordinator.trust.standing(liar.workerId);
    expect(liarStanding).toMatchObject({
      quarantined: true,
      vetted: false,
      checksFailed: 1,
      validResults: 0,
      invalidResults: 1,
      credit: 0,
    });
    const byId = await workersById();
    expect(byId.get(liar.workerId)).toMatchObject({ quarantined: true, credit: 0, checks_failed: 1 });
    for (const sim of [honest1, honest2]) {
      const w = byId.get(sim.workerId);
      expect(w).toMatchObject({ vetted: true, quarantined: false, checks_passed: 1, invalid_results: 0 });
      expect(w.credit).toBeGreaterThan(0);
    }
    expect(byId.get(honest1.workerId).valid_results + byId.get(honest2.workerId).valid_results).toBe(
      2 * ids.length + 2,
    );
    expect(await metric('flock_spot_checks_total{outcome="failed"}')).toBe(1);
    expect(await metric('flock_spot_checks_total{outcome="passed"}')).toBe(2);

    // Requesters see the verification state.
    const view: Json = await (await c.api(`/v1/tasks/${ids[0]}`)).json();
    expect(view.verification).toMatchObject({ state: 'accepted', mode: 'fixed', quorum: 2, agreeing: 2 });
    expect(view.verification.accepted_by).toBe('quorum');
  });

  it('outvotes a worker that answers checks but lies on real tasks; its tasks are redone elsewhere', async () => {
    c = await startTest({ spotCheckRate: 0 });
    const ids = Array.from({ length: 12 }, (_, i) => `v-${100 + i}`);
    const real = new Set(ids);
    await submitVerified(ids, { replicas: 2, max_replicas: 4 }); // before any check is drawn
    const liar = await SimulatedVolunteer.connect({
      url: c.url,
      lie: (a: ComputeAssignment) => real.has(a.task_id ?? ''),
    });
    const honest1 = await SimulatedVolunteer.connect({ url: c.url });
    const honest2 = await SimulatedVolunteer.connect({ url: c.url });
    sims.push(liar, honest1, honest2);
    for (const id of ids) await until(async () => (await taskState(c!, id)) === 'succeeded', 20_000, id);
    const honest = new Set([honest1.workerId, honest2.workerId]);
    let redone = 0;
    for (const id of ids) {
      const result = await resultOf(id);
      expect(result.outputs).toMatchObject([{ name: 'sum', inline_json: '10' }]);
      expect(honest.has(result.worker_id)).toBe(true);
      const status = await c.coordinator.trust.status(await uidOf(id));
      expect(status).toMatchObject({ state: 'accepted', acceptedBy: 'quorum', agreeing: 2 });
      if (status.returned === 3) redone++;
    }
    const lied = liar.assignments.filter((a) => real.has(a.task_id ?? '')).length;
    expect(lied).toBeGreaterThan(0);
    expect(redone).toBe(lied);
    const standing = await c.coordinator.trust.standing(liar.workerId);
    expect(standing).toMatchObject({ validResults: standing.checksPassed, invalidResults: lied });
    expect(standing.checksPassed).toBeGreaterThanOrEqual(1);
  });

  it('fails VERIFICATION_FAILED when no quorum is possible within max_replicas', async () => {
    c = await startTest();
    const liar = await SimulatedVolunteer.connect({ url: c.url, lie: (a) => a.task_id === 'f-1' });
    const honest = await SimulatedVolunteer.connect({ url: c.url });
    sims.push(liar, honest);
    await submitVerified(['f-1'], { replicas: 2, max_replicas: 2 });
    await until(async () => (await taskState(c!, 'f-1')) === 'failed', 20_000, 'f-1 failed');
    const view: Json = await (await c.api('/v1/tasks/f-1')).json();
    expect(view.error ?? view.failure ?? view).toMatchObject({ code: 'VERIFICATION_FAILED' });
  });

  it('believes a trusted worker alone (adaptive); credit for those results stays pending', async () => {
    // No random checks (rate 0) beyond each worker's first; heartbeats every 500 ms.
    c = await startTest({ trustThreshold: 2, spotCheckRate: 0, leaseMs: 1500 }, undefined, {
      trust: { random: lowDraws() },
    });
    const a = await SimulatedVolunteer.connect({ url: c.url, capability: { cpu_slots: 1 } });
    const b = await SimulatedVolunteer.connect({ url: c.url, capability: { cpu_slots: 1 } });
    sims.push(a, b);
    const ids = Array.from({ length: 10 }, (_, i) => `ad-${i}`);
    for (const id of ids) {
      await submitVerified([id], {});
      await until(async () => (await taskState(c!, id)) === 'succeeded', 20_000, id);
    }
    const by = await Promise.all(
      ids.map(async (id) => (await c!.coordinator.trust.status(await uidOf(id))).acceptedBy),
    );
    // Two quorum tasks give both workers a streak of 2; from then on each task runs once.
    expect(by.slice(0, 2)).toEqual(['quorum', 'quorum']);
    expect(by.slice(2)).toEqual(Array(8).fill('trusted'));
    for (const id of ids) expect((await resultOf(id)).outputs).toMatchObject([{ inline_json: '10' }]);
    const executions = a.assignments.length + b.assignments.length;
    expect(executions).toBe(2 /* checks */ + 2 * 2 /* quorum tasks */ + 8);
    const standings = await Promise.all([a, b].map((s) => c!.coordinator.trust.standing(s.workerId)));
    expect(standings[0]!.pendingCredit + standings[1]!.pendingCredit).toBeGreaterThan(0);
    // The page sees the same numbers (heartbeat acks carry the standing).
    await until(
      () => a.standing?.pending_credit === standings[0]!.pendingCredit || undefined,
      5_000,
      'standing',
    );
    expect(a.standing).toMatchObject({ vetted: true, credit: standings[0]!.credit });
  });

  it('withdraws results believed from a worker caught lying later, and verifies them again', async () => {
    // Pinned draws: believed alone from a streak of 2; every dispatch to a vetted worker without a
    // check in flight is a check (rate 1). The sleeper answers honestly until it is trusted, then
    // lies on "late" tasks, and holds its answers to checks shaped like them until the test has
    // seen its lie accepted: then the check catches it.
    c = await startTest({ trustThreshold: 2, spotCheckRate: 1 }, undefined, {
      trust: { random: lowDraws() },
    });
    const lateIds = new Set<string>();
    let caught = false;
    let lieSeen = false;
    const sleeper = await SimulatedVolunteer.connect({
      url: c.url,
      lie: (a) => (a.task_id ?? '').startsWith('late-'),
      run: async (job) => {
        const id = job.assignment.task_id ?? '';
        if (id.startsWith('late-') && !lateIds.has(id)) {
          await until(() => lieSeen, 20_000, 'lie accepted');
          caught = true;
        }
        return referenceRunner(job);
      },
    });
    const honest = await SimulatedVolunteer.connect({ url: c.url });
    sims.push(sleeper, honest);
    // One task at a time: both run each of the first two (quorum), which gives both a streak of 2.
    for (const id of ['warm-0', 'warm-1', 'warm-2']) {
      await submitVerified([id], {});
      await until(async () => (await taskState(c!, id)) === 'succeeded', 20_000, id);
    }
    const trusted = await c.coordinator.trust.standing(sleeper.workerId);
    expect(trusted.trusted.map((t) => t.moduleHash)).toContain('builtin:sum');

    // Only the sleeper takes work now: the late task is believed from it alone, wrong.
    honest.pause();
    await until(
      () => c!.coordinator.workers.get(honest.workerId)?.capability.paused || undefined,
      5_000,
      'paused',
    );
    lateIds.add('late-1000');
    await submitVerified(['late-1000'], {});
    await until(async () => (await taskState(c!, 'late-1000')) === 'succeeded', 20_000, 'late-1000 accepted');
    expect((await resultOf('late-1000')).outputs).toMatchObject([{ inline_json: '11' }]);
    expect(caught).toBe(false);
    lieSeen = true;

    // Its check then fails: quarantined, late-1000 is withdrawn and waits for a quorum of others.
    await until(async () => (await c!.coordinator.trust.standing(sleeper.workerId)).quarantined || undefined);
    expect(caught).toBe(true);
    await until(async () => (await taskState(c!, 'late-1000')) === 'queued', 5_000, 'late-1000 reopened');
    const helper = await SimulatedVolunteer.connect({ url: c.url });
    sims.push(helper);
    honest.resume();
    await until(async () => (await taskState(c!, 'late-1000')) === 'succeeded', 20_000, 'late-1000 redone');
    const redone = await resultOf('late-1000');
    expect(redone.outputs).toMatchObject([{ inline_json: '10' }]);
    expect([honest.workerId, helper.workerId]).toContain(redone.worker_id);
    const status = await c.coordinator.trust.status(await uidOf('late-1000'));
    expect(status).toMatchObject({ state: 'accepted', acceptedBy: 'quorum', agreeing: 2 });
    const audit = await c.store.auditTrail(Number(await uidOf('late-1000')));
    expect(audit.map((e) => `${e.fromState ?? ''}>${e.toState}:${e.code ?? ''}`)).toContain(
      'succeeded>queued:REVERIFY',
    );
  });

  it('keeps trust across a restart: a vetted worker is not checked again, a quarantined one stays out', async () => {
    c = await startTest({ spotCheckRate: 0 });
    const liar = await SimulatedVolunteer.connect({ url: c.url, lie: true });
    const honest = await SimulatedVolunteer.connect({ url: c.url });
    await submitVerified(['r-0'], { replicas: 1, quorum: 1 });
    await until(async () => (await taskState(c!, 'r-0')) === 'succeeded', 20_000, 'r-0');
    await until(async () => (await c!.coordinator.trust.standing(liar.workerId)).quarantined || undefined);
    const before = await c.coordinator.trust.standing(honest.workerId);
    expect(before).toMatchObject({ vetted: true, checksPassed: 1 });
    const tokens: [string, string] = [liar.sessionToken!, honest.sessionToken!];
    await liar.close();
    await honest.close();
    const dir = c.dataDir;
    await c.coordinator.stop();
    await c.close();
    c = await startTest({ spotCheckRate: 0 }, dir);
    const liar2 = await SimulatedVolunteer.connect({ url: c.url, lie: true, sessionToken: tokens[0] });
    const honest2 = await SimulatedVolunteer.connect({ url: c.url, sessionToken: tokens[1] });
    sims.push(liar2, honest2);
    expect(liar2.workerId).toBe(liar.workerId);
    expect(liar2.standing).toMatchObject({ quarantined: true });
    expect(honest2.standing).toMatchObject({ vetted: true, credit: before.credit });
    await submitVerified(['r-1'], { replicas: 1, quorum: 1 });
    await until(async () => (await taskState(c!, 'r-1')) === 'succeeded', 20_000, 'r-1');
    expect((await resultOf('r-1')).worker_id).toBe(honest.workerId);
    // No check before real work: the vetted worker's only assignment is the task itself.
    expect(honest2.assignments.map((a) => a.task_id)).toEqual(['r-1']);
    expect(liar2.assignments).toEqual([]);
  });

  it('resumes a half-verified task after a restart: the replica it has counts, its worker stays excluded', async () => {
    c = await startTest({ spotCheckRate: 0 });
    const a = await SimulatedVolunteer.connect({ url: c.url });
    const b = await SimulatedVolunteer.connect({ url: c.url });
    // A first task gets both checked and vetted.
    await submitVerified(['h-0'], { replicas: 2 });
    await until(async () => (await taskState(c!, 'h-0')) === 'succeeded', 20_000, 'h-0');
    b.pause(); // only a runs now
    await until(
      () => c!.coordinator.workers.get(b.workerId)?.capability.paused || undefined,
      5_000,
      'paused',
    );
    await submitVerified(['h-1'], { replicas: 2 });
    await until(
      async () => (await c!.coordinator.trust.status(await uidOf('h-1'))).returned === 1 || undefined,
    );
    const tokens: [string, string] = [a.sessionToken!, b.sessionToken!];
    await a.close();
    await b.close();
    const dir = c.dataDir;
    await c.close();

    c = await startTest({ spotCheckRate: 0 }, dir);
    const status = await c.coordinator.trust.status(await uidOf('h-1'));
    expect(status).toMatchObject({ state: 'pending', returned: 1 });
    // a comes back first: it ran the task already, so it may not run it again.
    const a2 = await SimulatedVolunteer.connect({ url: c.url, sessionToken: tokens[0] });
    sims.push(a2);
    const view: Json = await (await c.api('/v1/tasks/h-1')).json();
    expect(view.state).toBe('queued');
    await until(
      async () => {
        const v: Json = await (await c!.api('/v1/tasks/h-1')).json();
        return String(v.waiting_reason ?? '').includes('another volunteer') || undefined;
      },
      5_000,
      'waiting reason',
    );
    expect(a2.assignments).toEqual([]);
    const b2 = await SimulatedVolunteer.connect({ url: c.url, sessionToken: tokens[1] });
    sims.push(b2);
    await until(async () => (await taskState(c!, 'h-1')) === 'succeeded', 20_000, 'h-1');
    expect(b2.assignments.map((x) => x.task_id)).toEqual(['h-1']); // vetted before the restart: no check
    expect(await c.coordinator.trust.status(await uidOf('h-1'))).toMatchObject({
      state: 'accepted',
      acceptedBy: 'quorum',
      agreeing: 2,
      returned: 2,
    });
    expect((await resultOf('h-1')).outputs).toMatchObject([{ inline_json: '10' }]);
  });

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

  it('takes a campaign-wide policy for the tasks that set none; a bad one is 400 naming the field', async () => {
    c = await startTest();
    const res = await c.api('/v1/campaigns', {
      method: 'POST',
      json: {
        campaign_id: 'camp-1',
        verification: { replicas: 3, max_replicas: 5 },
        tasks: [envelope('cp-1'), envelope('cp-2', { verification: { replicas: 1, quorum: 1 } })],
      },
    });
    expect(res.status).toBe(201);
    // The 201's views name each task's policy too (the campaign's, or the task's own).
    const created: Json = await res.json();
    expect(
      created.tasks.map((t: Json) => [t.task_id, t.verification?.state, t.verification?.quorum]),
    ).toEqual([
      ['cp-1', 'pending', 2],
      ['cp-2', 'pending', 1],
    ]);
    const one: Json = await (await c.api('/v1/tasks/cp-1')).json();
    expect(one.verification).toMatchObject({ state: 'pending', mode: 'fixed', quorum: 2, max_replicas: 5 });
    const two: Json = await (await c.api('/v1/tasks/cp-2')).json();
    expect(two.verification).toMatchObject({ state: 'pending', mode: 'fixed', quorum: 1 });
    for (const [verification, field] of [
      [{ replicas: 20 }, 'verification.replicas'],
      [{ replicas: 2, quorum: 3 }, 'verification.quorum'],
    ] as const) {
      const bad = await c.api('/v1/campaigns', {
        method: 'POST',
        json: { verification, tasks: [envelope('cp-3')] },
      });
      expect(bad.status).toBe(400);
      expect(await bad.json()).toMatchObject({ error: { code: 'INVALID_ARGUMENT', field } });
    }
    const unknown = await c.api('/v1/campaigns', {
      method: 'POST',
      json: { verification: { replicaz: 2 }, tasks: [envelope('cp-3')] },
    });
    expect(unknown.status).toBe(400);
    expect((await unknown.json()).error.field).toMatch(/^verification/);
    expect((await c.api('/v1/tasks/cp-3')).status).toBe(404); // nothing stored
  });

  it('refuses a bad policy with 400 INVALID_ARGUMENT naming the field', async () => {
    c = await startTest();
    const res = await c.api('/v1/tasks', {
      method: 'POST',
      json: envelope('p-1', { verification: { replicas: 20 } }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      error: { code: 'INVALID_ARGUMENT', field: 'verification.replicas' },
    });
  });

  it('runs tasks without a policy once, as before', async () => {
    c = await startTest();
    const sim = await SimulatedVolunteer.connect({ url: c.url });
    sims.push(sim);
    await c.api('/v1/tasks', { method: 'POST', json: envelope('n-1') });
    await until(async () => (await taskState(c!, 'n-1')) === 'succeeded', 10_000, 'n-1');
    const attempts = await c.store.listAttempts((await c.store.getTask('a', 'n-1'))!.uid);
    expect(attempts.length).toBe(1);
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
