// Dispatch is failure-atomic (#21): a failure in the middle of a pass costs only the task that
// caused it. Tasks are put in through `coordinator.submit`, behind the REST checks, as a task
// stored by an older version would be; a store failure is injected into one pass.
import type { ComputeEnvelope } from '@flock/protocol';
import { afterEach, expect, test } from 'vitest';
import { type SimRunner, SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import { envelopeObj, type Json, startTest, type TestCoordinator, until } from './helpers.ts';

let c: TestCoordinator | undefined;
const sims: SimulatedVolunteer[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
  await c?.stop();
  c = undefined;
});

/** A runner that holds every job until `open()`. */
function gate(): { run: SimRunner; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((r) => {
    open = r;
  });
  return {
    open,
    run: async () => {
      await opened;
      return { outputs: [{ name: 'o', inline_json: '1' }] };
    },
  };
}

const view = async (id: string): Promise<Json> => (await c!.api(`/v1/tasks/${id}`)).json();

/** The worker's slot counts equal the leases it holds: nothing leaked. */
function slotsMatchLeases(workerId: string): void {
  const w = c!.coordinator.workers.get(workerId)!;
  expect(w.runningCpu + w.runningGpu).toBe(c!.coordinator.leases.forWorker(workerId).length);
}

test('a task whose assignment cannot be encoded fails alone; the rest of the pass is sent', async () => {
  c = await startTest();
  const held = gate();
  // Paused while the tasks go in, so that one dispatch pass takes all ten.
  const sim = await SimulatedVolunteer.connect({
    url: c.url,
    run: held.run,
    capability: { cpu_slots: 16, paused: true },
  });
  sims.push(sim);
  const envelopes: ComputeEnvelope[] = [];
  for (let i = 0; i < 10; i++) {
    const env = envelopeObj(`t-${i}`);
    // Another tenant's task in the middle, with text the wire cannot carry.
    if (i === 4) env.op = 'bad\ud800op';
    envelopes.push(env);
  }
  await c.coordinator.submit(envelopes.map((envelope, i) => ({ tenant: i === 4 ? 'b' : 'a', envelope })));
  sim.resume();
  await until(() => sim.assignments.length === 9, 5000, 'nine assignments');
  const bad = await (await c.api('/v1/tasks/t-4', { key: 'key-bravo-0123456789' })).json();
  expect(bad.state).toBe('failed');
  expect(bad.failure.code).toBe('UNDELIVERABLE');
  expect(bad.failure.message).toMatch(/^the task cannot be sent to a volunteer: /);
  expect(sim.assignments.map((a) => a.task_id).sort()).toEqual(
    ['t-0', 't-1', 't-2', 't-3', 't-5', 't-6', 't-7', 't-8', 't-9'].sort(),
  );
  for (const id of ['t-0', 't-5', 't-9']) expect((await view(id)).state).toBe('running');
  slotsMatchLeases(sim.workerId);
  expect(c.coordinator.leases.forWorker(sim.workerId)).toHaveLength(9);
  held.open();
  await until(async () => (await view('t-9')).state === 'succeeded', 5000, 'the rest done');
  await until(() => c!.coordinator.leases.size === 0, 5000, 'no leases');
  slotsMatchLeases(sim.workerId);
});

test('a store failure while the pass starts its leases returns every pick to the queue', async () => {
  c = await startTest();
  const sim = await SimulatedVolunteer.connect({ url: c.url, capability: { cpu_slots: 8, paused: true } });
  sims.push(sim);
  await c.coordinator.submit(
    Array.from({ length: 6 }, (_, i) => ({ tenant: 'a', envelope: envelopeObj(`s-${i}`) })),
  );
  const store = c.store;
  const real = store.startLeases.bind(store);
  let failures = 0;
  store.startLeases = async () => {
    failures += 1;
    store.startLeases = real; // once
    throw new Error('injected: the database went away');
  };
  sim.resume();
  await until(() => failures === 1, 5000, 'the injected failure');
  // Nothing was leased by the failed pass, and nothing leaked: the worker shows no running slot.
  slotsMatchLeases(sim.workerId);
  expect(c.coordinator.queueDepth()).toBe(6);
  // The next pass (any event schedules one) sends them all.
  sim.setCapability({ cpu_slots: 8, paused: false });
  await until(
    async () => {
      const states = await Promise.all(
        Array.from({ length: 6 }, async (_, i) => (await view(`s-${i}`)).state),
      );
      return states.every((s) => s === 'succeeded');
    },
    10_000,
    'all six done',
  );
  expect(sim.assignments).toHaveLength(6);
  slotsMatchLeases(sim.workerId);
});
