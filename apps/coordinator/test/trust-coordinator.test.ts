import type { ComputeAssignment } from '@flock/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { referenceRunner, SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import { envelope, type Json, startTest, type TestCoordinator, taskState, until } from './helpers.ts';
import { lowDraws, verifiedTasks } from './support/verified-tasks.ts';

// The coordinator with the trust engine in its dispatch and result paths, over real WebSockets,
// with simulated volunteers (honest ones compute built-in ops by their CPU reference, so they pass
// known-answer checks; liars corrupt their outputs). Tasks ask for verification per task. A restart
// (trust-restart.test.ts) and replicas running at once (trust-replicas.test.ts) have files of their own.
let c: TestCoordinator | undefined;
const sims: SimulatedVolunteer[] = [];
afterEach(async () => {
  for (const s of sims.splice(0)) await s.close();
  await c?.stop();
  c = undefined;
});
const { submitVerified, resultOf, workersById, metric, uidOf } = verifiedTasks(() => c!);

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
