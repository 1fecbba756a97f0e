import { afterEach, expect, test } from 'vitest';
import { SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import { envelope, startTest, type TestCoordinator, taskState, until } from './helpers.ts';

let c: TestCoordinator | undefined;
afterEach(async () => {
  await c?.stop();
});

test('smoke: a task runs on a simulated volunteer and its result is served', async () => {
  c = await startTest();
  const res = await c.api('/v1/tasks', { method: 'POST', json: envelope('t-1') });
  expect(res.status).toBe(201);
  const sim = await SimulatedVolunteer.connect({ url: c.url });
  await until(async () => (await taskState(c!, 't-1')) === 'succeeded');
  const result = await (await c.api('/v1/tasks/t-1/result')).json();
  expect(result).toMatchObject({ task_id: 't-1', outputs: [{ name: 'sum', inline_json: '10' }] });
  await sim.close();
});
