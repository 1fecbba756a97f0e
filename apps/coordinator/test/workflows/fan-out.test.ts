// biome-ignore-all lint/suspicious/noTemplateCurlyInString: workflow references are `${…}` in plain strings
// for_each: one task per element of a JSON list output (1,000 branches) or per output, and a fan-in
// step that takes every branch's output as its inputs; too wide a fan-out fails typed.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { MAX_FOR_EACH_BRANCHES } from '../../src/engine/workflow-definition.ts';
import { SimulatedVolunteer } from '../../src/sim/simulated-volunteer.ts';
import { type Json, startTest, type TestCoordinator } from '../helpers.ts';
import { step, stepRunner } from './workflow-helpers.ts';

const BRANCHES = 1000;
let c: TestCoordinator;
const sims: SimulatedVolunteer[] = [];

beforeAll(async () => {
  // The simulated volunteer fetches the fan-in step's 1,000 inputs at once, a connection each.
  c = await startTest({ maxConnectionsPerAddress: 4096 });
  for (let i = 0; i < 4; i++)
    sims.push(
      await SimulatedVolunteer.connect({ url: c.url, run: stepRunner, capability: { cpu_slots: 8 } }),
    );
});

afterAll(async () => {
  for (const s of sims) s.close();
  await c.stop();
});

async function run(def: Record<string, unknown>, timeoutMs: number): Promise<Json> {
  const res = await c.api('/v1/workflows', { method: 'POST', json: def });
  expect(res.status).toBe(201);
  // Polled gently: each view loads every step task.
  const end = Date.now() + timeoutMs;
  for (;;) {
    const body = await (await c.api(`/v1/workflows/${def.workflow_id}`)).json();
    if (body.state !== 'running') return body;
    if (Date.now() > end) throw new Error(`workflow ${def.workflow_id} still running`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The byte sum of a string's UTF-8 (what the sum op computes of an input). */
const byteSum = (text: string): number => [...Buffer.from(text)].reduce((a, b) => a + b, 0);

test(`fan-out to ${BRANCHES} branches over a JSON list, fan-in of every branch's output`, async () => {
  const started = Date.now();
  const view = await run(
    {
      workflow_id: 'fan',
      steps: [
        step('split', { params: { list: BRANCHES } }),
        step('map', { for_each: '${steps.split.outputs.list}', inputs: [{ name: 'v', uri: '${item}' }] }),
        step('reduce', { inputs: [{ name: 'part', uri: '${steps.map.outputs.sum}' }] }),
      ],
    },
    120_000,
  );
  const elapsed = Date.now() - started;
  expect(view.state).toBe('succeeded');
  expect(view.steps.map((s: Json) => [s.id, s.state])).toEqual([
    ['split', 'succeeded'],
    ['map', 'succeeded'],
    ['reduce', 'succeeded'],
  ]);
  expect(view.steps[1].branches).toBe(BRANCHES);
  expect(view.steps[1].task_ids).toHaveLength(BRANCHES);
  expect(view.steps[1].task_ids[999]).toBe('fan.map.999');
  // Branch i sums the bytes of its element's JSON text; reduce sums the bytes of every branch's sum.
  const branch = (await (await c.api('/v1/tasks/fan.map.123/result')).json()).summary.sum;
  expect(branch).toBe(String(byteSum('123')));
  let expected = 0;
  for (let i = 0; i < BRANCHES; i++) expected += byteSum(String(byteSum(String(i))));
  const reduce = await (await c.api('/v1/tasks/fan.reduce/result')).json();
  expect(reduce.summary.sum).toBe(String(expected));
  const assignment = sims.flatMap((s) => s.assignments).find((a) => a.task_id === 'fan.reduce');
  const inputs = assignment?.envelope?.inputs ?? [];
  expect(inputs).toHaveLength(BRANCHES);
  expect(inputs.map((i) => i.name).slice(0, 3)).toEqual(['part.0', 'part.1', 'part.2']);
  console.log(`${BRANCHES}-branch fan-out and fan-in: ${elapsed} ms`);
});

test('fan-out over every output of a step; a step over a missing list output fails typed', async () => {
  const view = await run(
    {
      workflow_id: 'outs',
      steps: [
        step('a', { params: { list: 3 } }),
        step('each', {
          for_each: '${steps.a.outputs}',
          inputs: [{ name: 'o', uri: '${item}' }],
          params: { of: '${item}' },
        }),
        step('bad', { depends_on: ['each'], for_each: '${steps.a.outputs.nope}' }),
      ],
    },
    15_000,
  );
  expect(view.state).toBe('failed');
  expect(view.steps[1]).toMatchObject({
    state: 'succeeded',
    branches: 2,
    task_ids: ['outs.each.0', 'outs.each.1'],
  });
  expect(view.steps[2]).toMatchObject({
    state: 'failed',
    code: 'REFERENCE_UNRESOLVED',
    message: 'step "a" has no output "nope"',
  });
  const params = sims.flatMap((s) => s.assignments).filter((a) => a.task_id?.startsWith('outs.each.'));
  expect(params.map((a) => a.envelope?.params?.of).sort()).toEqual(['list', 'sum']);
});

test("for_each over a for_each step's list output: the elements of every branch's list, in order", async () => {
  const view = await run(
    {
      workflow_id: 'lists',
      steps: [
        step('a', { params: { list: 2 } }),
        // Each of its 2 branches outputs the list [0, 1, 2].
        step('m', { for_each: '${steps.a.outputs.list}', params: { list: 3 } }),
        step('n', { for_each: '${steps.m.outputs.list}', inputs: [{ name: 'v', uri: '${item}' }] }),
        step('bad', { depends_on: ['m'], for_each: '${steps.m.outputs.nope}', on_error: 'skip' }),
      ],
    },
    15_000,
  );
  expect(view.steps[2]).toMatchObject({ state: 'succeeded', branches: 6 });
  expect(view.steps[2].task_ids).toEqual([0, 1, 2, 3, 4, 5].map((i) => `lists.n.${i}`));
  const element = async (i: number) =>
    (await (await c.api(`/v1/tasks/lists.n.${i}/result`)).json()).summary.sum;
  // Branch 4 is the second element of m's second branch: 1, whose JSON text sums to 49.
  expect([await element(2), await element(4)]).toEqual([String(byteSum('2')), String(byteSum('1'))]);
  expect(view.steps[3]).toMatchObject({
    state: 'skipped',
    code: 'REFERENCE_UNRESOLVED',
    message: 'step "m[0]" has no output "nope"',
  });
});

test(`more than ${MAX_FOR_EACH_BRANCHES} branches fails the step FAN_OUT_TOO_WIDE (skips it under skip) without a task`, async () => {
  const view = await run(
    {
      workflow_id: 'wide',
      steps: [
        step('a', { params: { list: MAX_FOR_EACH_BRANCHES + 1 } }),
        step('b', { for_each: '${steps.a.outputs.list}' }),
        step('c', { depends_on: ['a'], for_each: '${steps.a.outputs.list}', on_error: 'skip' }),
      ],
    },
    15_000,
  );
  expect(view.state).toBe('failed');
  const message = `${MAX_FOR_EACH_BRANCHES + 1} branches, at most ${MAX_FOR_EACH_BRANCHES}`;
  expect(view.steps[1]).toEqual({
    id: 'b',
    state: 'failed',
    depends_on: ['a'],
    task_ids: [],
    code: 'FAN_OUT_TOO_WIDE',
    message,
  });
  // Under on_error skip, the step is skipped with the code instead.
  expect(view.steps[2]).toEqual({ ...view.steps[1], id: 'c', state: 'skipped' });
});
