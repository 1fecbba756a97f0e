// Retention (FLOCK_RETENTION_DAYS) and workflows, on the real SQLite store: a finished workflow's
// steps are never shown waiting or running again because their tasks were purged; the workflow
// goes with its step tasks, and a running one keeps the steps it has finished.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SimulatedVolunteer } from '../../src/sim/simulated-volunteer.ts';
import { type Json, startTest, type TestCoordinator, taskState, until } from '../helpers.ts';
import { step, stepRunner } from './workflow-helpers.ts';

const DAY_MS = 24 * 3600_000;
let c: TestCoordinator;
let sim: SimulatedVolunteer;

beforeAll(async () => {
  c = await startTest({ retentionDays: 1 });
  sim = await SimulatedVolunteer.connect({ url: c.url, run: stepRunner });
});

afterAll(async () => {
  sim.close();
  await c.stop();
});

async function view(id: string): Promise<{ status: number; body: Json }> {
  const res = await c.api(`/v1/workflows/${id}`);
  return { status: res.status, body: await res.json() };
}

const states = (body: Json): Record<string, string> =>
  Object.fromEntries(body.steps.map((s: Json) => [s.id, s.state]));

describe('workflows under retention', () => {
  test('a finished workflow goes with its step tasks; a running one keeps its finished steps', async () => {
    for (const def of [
      { workflow_id: 'done', steps: [step('a'), step('b', { depends_on: ['a'] })] },
      { workflow_id: 'long', steps: [step('a'), step('b', { depends_on: ['a'], params: { hang: true } })] },
    ]) {
      expect((await c.api('/v1/workflows', { method: 'POST', json: def })).status).toBe(201);
    }
    await until(async () => (await view('done')).body.state === 'succeeded' || undefined, 15_000, 'done');
    await until(async () => (await taskState(c, 'long.b')) === 'running' || undefined, 15_000, 'long.b');
    expect(states((await view('done')).body)).toEqual({ a: 'succeeded', b: 'succeeded' });

    // A day is not past retention: nothing goes.
    expect(await c.coordinator.housekeeping(Date.now() + DAY_MS / 2)).toMatchObject({ purged: 0 });
    expect(states((await view('done')).body)).toEqual({ a: 'succeeded', b: 'succeeded' });

    expect(await c.coordinator.housekeeping(Date.now() + 2 * DAY_MS)).toMatchObject({ purged: 2 });
    expect(await view('done')).toEqual({
      status: 404,
      body: { error: { code: 'NOT_FOUND', message: 'no workflow "done"' } },
    });
    expect((await c.api('/v1/tasks/done.a')).status).toBe(404);
    const listed: Json = await (await c.api('/v1/workflows')).json();
    expect(listed.workflows.map((w: Json) => w.workflow_id)).toEqual(['long']);

    const long = (await view('long')).body;
    expect({ state: long.state, steps: states(long) }).toEqual({
      state: 'running',
      steps: { a: 'succeeded', b: 'running' },
    });
    expect(await taskState(c, 'long.a')).toBe('succeeded');
  });
});
