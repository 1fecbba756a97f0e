// biome-ignore-all lint/suspicious/noTemplateCurlyInString: workflow references are `${…}` in plain strings
// Circuits: a workflow template stored by name, its topology, and runs that fill its slots.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SimulatedVolunteer } from '../../src/sim/simulated-volunteer.ts';
import { type Json, KEY_B, startTest, type TestCoordinator, until } from '../helpers.ts';
import { step, stepRunner } from './workflow-helpers.ts';

let c: TestCoordinator;
let sim: SimulatedVolunteer;

beforeAll(async () => {
  c = await startTest();
  sim = await SimulatedVolunteer.connect({ url: c.url, run: stepRunner });
});

afterAll(async () => {
  sim.close();
  await c.stop();
});

const b64 = (bytes: number[]) => Buffer.from(bytes).toString('base64');

const PIPELINE = {
  name: 'sumtwice',
  steps: [
    step('first', { inputs: [{ name: 'x', uri: '${input.data}' }] }),
    step('second', {
      inputs: [{ name: 'p', uri: '${steps.first.outputs.sum}' }],
      params: { label: 'run ${param.label}', n: '${param.n}' },
    }),
    step('check', { depends_on: ['first'], when: '${steps.first.summary.sum} > 5' }),
  ],
};

async function finished(id: string): Promise<Json> {
  return until(
    async () => {
      const body = await (await c.api(`/v1/workflows/${id}`)).json();
      return body.state === 'running' ? undefined : body;
    },
    15_000,
    `workflow ${id}`,
  );
}

describe('circuits', () => {
  test('stored once by name with its slots and topology; another definition is 409', async () => {
    const res = await c.api('/v1/circuits', { method: 'POST', json: PIPELINE });
    expect(res.status).toBe(201);
    const expected = {
      name: 'sumtwice',
      inputs: ['data'],
      params: ['label', 'n'],
      topology: {
        nodes: [
          { id: 'first', op: 'sum' },
          { id: 'second', op: 'sum' },
          { id: 'check', op: 'sum', when: '${steps.first.summary.sum} > 5' },
        ],
        edges: [
          { from: 'first', to: 'second' },
          { from: 'first', to: 'check' },
        ],
      },
    };
    expect(await res.json()).toMatchObject(expected);
    expect((await c.api('/v1/circuits', { method: 'POST', json: PIPELINE })).status).toBe(200);
    const other = await c.api('/v1/circuits', {
      method: 'POST',
      json: { ...PIPELINE, steps: [step('only')] },
    });
    expect(other.status).toBe(409);
    const list = await (await c.api('/v1/circuits')).json();
    expect(list.circuits).toHaveLength(1);
    expect(list.circuits[0]).toMatchObject(expected);
    const one = await (await c.api('/v1/circuits/sumtwice')).json();
    expect(one.definition.steps[0].inputs).toEqual([{ name: 'x', uri: '${input.data}' }]);
    expect((await c.api('/v1/circuits/sumtwice', { key: KEY_B })).status).toBe(404);
  });

  test('each run is a workflow <name>-<run_id> with the run’s inputs and params in the slots', async () => {
    const runs: Array<[string, number[], string]> = [
      ['r1', [1, 2, 3, 4], '97'], // "10" → 49 + 48
      ['r2', [1, 1], '50'], // "2"; its check is skipped (2 ≤ 5)
    ];
    for (const [runId, bytes] of runs) {
      const res = await c.api('/v1/circuits/sumtwice/runs', {
        method: 'POST',
        json: {
          run_id: runId,
          inputs: { data: { inline_bytes: b64(bytes) } },
          params: { label: runId, n: 3 },
        },
      });
      expect(res.status).toBe(201);
      expect(await res.json()).toMatchObject({
        workflow_id: `sumtwice-${runId}`,
        circuit: 'sumtwice',
        run_id: runId,
      });
    }
    const r1 = await finished('sumtwice-r1');
    const r2 = await finished('sumtwice-r2');
    expect(r1.steps.map((s: Json) => s.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(r2.steps.map((s: Json) => s.state)).toEqual(['succeeded', 'succeeded', 'skipped']);
    for (const [runId, , sum] of runs) {
      const result = await (await c.api(`/v1/tasks/sumtwice-${runId}.second/result`)).json();
      expect(result.summary.sum).toBe(sum);
      const assignment = sim.assignments.find((a) => a.task_id === `sumtwice-${runId}.second`);
      expect(assignment?.envelope?.params).toEqual({ label: `run ${runId}`, n: 3 });
    }
  });

  test('a run without a slot’s input or param, or with a malformed input, is 400 naming it; an unknown circuit 404', async () => {
    const noInput = await c.api('/v1/circuits/sumtwice/runs', {
      method: 'POST',
      json: { params: { label: 'x', n: 1 } },
    });
    expect(noInput.status).toBe(400);
    expect((await noInput.json()).error).toEqual({
      code: 'INVALID_ARGUMENT',
      message: 'the circuit needs input "data" ({ "uri": … }, { "inline_bytes": … } or { "inline_json": … })',
      field: 'inputs.data',
    });
    const bareUri = await c.api('/v1/circuits/sumtwice/runs', {
      method: 'POST',
      json: { inputs: { data: 'flock:sha256:00' }, params: { label: 'x', n: 1 } },
    });
    expect(bareUri.status).toBe(400);
    expect((await bareUri.json()).error).toEqual({
      code: 'INVALID_ARGUMENT',
      message:
        'input "data" must be an object, got a string ({ "uri": … }, { "inline_bytes": … } or { "inline_json": … })',
      field: 'inputs.data',
    });
    const malformed: Array<[unknown, string, string]> = [
      [{ foo: 1 }, 'inputs.data.foo', 'unknown field "foo" in input "data"'],
      [{ name: 'y', inline_json: '1' }, 'inputs.data.name', 'unknown field "name" in input "data"'],
      [
        { uri: 'flock:sha256:00', inline_json: '1' },
        'inputs.data',
        'input "data" needs exactly one of "uri", "inline_bytes", "inline_json"',
      ],
      [{ inline_json: 5 }, 'inputs.data.inline_json', 'inline_json must be a string'],
    ];
    for (const [data, field, message] of malformed) {
      const res = await c.api('/v1/circuits/sumtwice/runs', {
        method: 'POST',
        json: { inputs: { data }, params: { label: 'x', n: 1 } },
      });
      expect([res.status, (await res.json()).error]).toEqual([
        400,
        { code: 'INVALID_ARGUMENT', message, field },
      ]);
    }
    const noParam = await c.api('/v1/circuits/sumtwice/runs', {
      method: 'POST',
      json: { inputs: { data: { inline_bytes: b64([1]) } }, params: { label: 'x' } },
    });
    expect(noParam.status).toBe(400);
    expect((await noParam.json()).error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'params.n' });
    expect((await c.api('/v1/circuits/nope/runs', { method: 'POST', json: {} })).status).toBe(404);
    const badTemplate = await c.api('/v1/circuits', {
      method: 'POST',
      json: { name: 'bad', steps: [step('a', { depends_on: ['a'] })] },
    });
    expect(badTemplate.status).toBe(400);
    expect((await badTemplate.json()).error.field).toBe('steps[0].depends_on');
  });
});
