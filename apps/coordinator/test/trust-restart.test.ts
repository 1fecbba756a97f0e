import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import { type Json, startTest, type TestCoordinator, taskState, until } from './helpers.ts';
import { verifiedTasks } from './support/verified-tasks.ts';

// Verified tasks across a coordinator restart on the same data (SQLite), with simulated volunteers
// that come back with their session tokens: trust and a half-verified task's replicas are durable.
let c: TestCoordinator | undefined;
const sims: SimulatedVolunteer[] = [];
afterEach(async () => {
  for (const s of sims.splice(0)) await s.close();
  await c?.stop();
  c = undefined;
});
const { submitVerified, resultOf, uidOf } = verifiedTasks(() => c!);

describe('verified tasks across a restart', () => {
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
});
