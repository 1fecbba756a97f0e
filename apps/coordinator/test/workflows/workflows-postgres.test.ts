// biome-ignore-all lint/suspicious/noTemplateCurlyInString: workflow references are `${…}` in plain strings
// Workflows on the PostgreSQL store: a chain passing an output, a fan-out with its fan-in, and a
// rollback run to their exact ends; then a coordinator restarted on the same database finds a
// workflow whose first step was still queued and runs it to the end.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { SimulatedVolunteer } from '../../src/sim/simulated-volunteer.ts';
import { PostgresStore } from '../../src/store/postgres-store.ts';
import { type Json, startTest, type TestCoordinator, until } from '../helpers.ts';
import { acquirePostgres, type PostgresHarness } from '../support/postgres.ts';
import { STEP_TASK, step, stepRunner } from './workflow-helpers.ts';

let harness: PostgresHarness;
let url: string;

beforeAll(async () => {
  harness = await acquirePostgres();
  url = await harness.createSchema();
});

afterAll(async () => {
  await harness?.release();
});

/** A coordinator on the test's PostgreSQL schema (the same one each time). */
function coordinator(): Promise<TestCoordinator> {
  return startTest({}, undefined, { store: new PostgresStore(url, { maxConnections: 4 }) });
}

async function finished(c: TestCoordinator, id: string): Promise<Json> {
  return until(
    async () => {
      const body = await (await c.api(`/v1/workflows/${id}`)).json();
      return body.state === 'running' ? undefined : body;
    },
    20_000,
    `workflow ${id}`,
  );
}

test('chain, fan-out with fan-in, rollback; a restarted coordinator finishes a started workflow', async () => {
  const c = await coordinator();
  const sim = await SimulatedVolunteer.connect({ url: c.url, run: stepRunner });
  try {
    const defs = [
      {
        workflow_id: 'pg-chain',
        steps: [step('a'), step('b', { inputs: [{ name: 'p', uri: '${steps.a.outputs.sum}' }] })],
      },
      {
        workflow_id: 'pg-fan',
        steps: [
          step('split', { params: { list: 20 } }),
          step('map', { for_each: '${steps.split.outputs.list}', inputs: [{ name: 'v', uri: '${item}' }] }),
          step('reduce', { inputs: [{ name: 'part', uri: '${steps.map.outputs.sum}' }] }),
        ],
      },
      {
        workflow_id: 'pg-rollback',
        on_error: 'rollback',
        steps: [
          step('a', { compensate: { ...STEP_TASK, params: { undo: 'a' } } }),
          step('bad', { params: { fail: true } }),
        ],
      },
    ];
    for (const def of defs)
      expect((await c.api('/v1/workflows', { method: 'POST', json: def })).status).toBe(201);
    expect((await finished(c, 'pg-chain')).state).toBe('succeeded');
    expect((await (await c.api('/v1/tasks/pg-chain.b/result')).json()).summary.sum).toBe('97');
    const fan = await finished(c, 'pg-fan');
    expect(fan.steps.map((s: Json) => [s.id, s.state, s.task_ids.length])).toEqual([
      ['split', 'succeeded', 1],
      ['map', 'succeeded', 20],
      ['reduce', 'succeeded', 1],
    ]);
    const rollback = await finished(c, 'pg-rollback');
    expect(rollback.state).toBe('failed');
    expect(rollback.steps[0].compensation).toEqual({
      task_id: 'pg-rollback.a.compensate',
      state: 'succeeded',
    });
    // No volunteer now: a new workflow's first step stays queued while the coordinator stops.
    sim.close();
    await c.api('/v1/workflows', {
      method: 'POST',
      json: { workflow_id: 'pg-half', steps: [step('a'), step('b'), step('c')] },
    });
    await until(async () => (await (await c.api('/v1/tasks/pg-half.a')).json()).state === 'queued');
  } finally {
    sim.close();
    await c.stop();
  }
  const again = await coordinator();
  const sim2 = await SimulatedVolunteer.connect({ url: again.url, run: stepRunner });
  try {
    // The restarted coordinator advances it from the store: every step runs once.
    const half = await finished(again, 'pg-half');
    expect(half.state).toBe('succeeded');
    expect(half.steps.map((s: Json) => [s.state, s.task_ids])).toEqual([
      ['succeeded', ['pg-half.a']],
      ['succeeded', ['pg-half.b']],
      ['succeeded', ['pg-half.c']],
    ]);
    const list = await (await again.api('/v1/workflows?limit=10')).json();
    expect(list.workflows.map((w: Json) => `${w.workflow_id}:${w.state}`)).toEqual([
      'pg-chain:succeeded',
      'pg-fan:succeeded',
      'pg-rollback:failed',
      'pg-half:succeeded',
    ]);
  } finally {
    sim2.close();
    await again.stop();
  }
}, 60_000);
