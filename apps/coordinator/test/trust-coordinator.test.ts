import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import { envelope, type Json, startTest, type TestCoordinator, taskState, until } from './helpers.ts';

// The coordinator with the trust engine in its result path, over real WebSockets, with simulated
// volunteers of which one lies (reports sum + 1). Tasks ask for verification per task.
let c: TestCoordinator | undefined;
const sims: SimulatedVolunteer[] = [];
afterEach(async () => {
  for (const s of sims.splice(0)) await s.close();
  await c?.stop();
  c = undefined;
});

describe('verified tasks on the coordinator', () => {
  it('never accepts the liar’s result: its tasks are redone elsewhere until two workers agree', async () => {
    c = await startTest();
    const liar = await SimulatedVolunteer.connect({ url: c.url, lie: true });
    const honest1 = await SimulatedVolunteer.connect({ url: c.url });
    const honest2 = await SimulatedVolunteer.connect({ url: c.url });
    sims.push(liar, honest1, honest2);
    const ids = Array.from({ length: 12 }, (_, i) => `v-${i}`);
    for (const id of ids) {
      const res = await c.api('/v1/tasks', {
        method: 'POST',
        json: envelope(id, { verification: { replicas: 2, max_replicas: 4 } }),
      });
      expect(res.status).toBe(201);
    }
    for (const id of ids) await until(async () => (await taskState(c!, id)) === 'succeeded', 20_000, id);
    const honest = new Set([honest1.workerId, honest2.workerId]);
    let redone = 0;
    for (const id of ids) {
      const result: Json = await (await c.api(`/v1/tasks/${id}/result`)).json();
      expect(result.outputs).toMatchObject([{ name: 'sum', inline_json: '10' }]);
      expect(honest.has(result.worker_id)).toBe(true);
      const status = await c.coordinator.trust.status(String((await c.store.getTask('a', id))!.uid));
      expect(status).toMatchObject({ state: 'accepted', acceptedBy: 'quorum', agreeing: 2 });
      // The liar's replica disagreed: a third replica was needed.
      if (status.returned === 3) redone++;
      expect(status.returned).toBe(status.dispatched);
    }
    expect(redone).toBeGreaterThan(0);
    const standing = await c.coordinator.trust.standing(liar.workerId);
    expect(standing).toMatchObject({ validResults: 0, credit: 0 });
    expect(standing.invalidResults).toBe(redone);

    // Requesters see the verification state; /v1/workers shows credit and verdict counts.
    const view: Json = await (await c.api(`/v1/tasks/${ids[0]}`)).json();
    expect(view.verification).toMatchObject({ state: 'accepted', mode: 'fixed', quorum: 2, agreeing: 2 });
    expect(view.verification.accepted_by).toBe('quorum');
    const { workers }: Json = await (await c.api('/v1/workers')).json();
    const byId = new Map<string, Json>(workers.map((w: Json) => [w.worker_id, w]));
    expect(byId.get(liar.workerId)).toMatchObject({ credit: 0, valid_results: 0, invalid_results: redone });
    const honestValid = byId.get(honest1.workerId).valid_results + byId.get(honest2.workerId).valid_results;
    expect(honestValid).toBe(2 * ids.length);
  });

  it('fails VERIFICATION_FAILED when no quorum is possible within max_replicas', async () => {
    c = await startTest();
    const liar = await SimulatedVolunteer.connect({ url: c.url, lie: true });
    const honest = await SimulatedVolunteer.connect({ url: c.url });
    sims.push(liar, honest);
    await c.api('/v1/tasks', {
      method: 'POST',
      json: envelope('f-1', { verification: { replicas: 2, max_replicas: 2 } }),
    });
    await until(async () => (await taskState(c!, 'f-1')) === 'failed', 20_000, 'f-1 failed');
    const view: Json = await (await c.api('/v1/tasks/f-1')).json();
    expect(JSON.stringify(view)).toContain('VERIFICATION_FAILED');
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
