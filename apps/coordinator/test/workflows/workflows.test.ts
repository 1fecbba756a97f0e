// biome-ignore-all lint/suspicious/noTemplateCurlyInString: workflow references are `${…}` in plain strings
// Workflows end to end: definitions through the REST API, steps run as tasks by simulated volunteers,
// exact states for each error policy, conditions, references (and their errors), cancel mid-run.
import { createHash } from 'node:crypto';
import { encodeMessage, fromJson } from '@flock/protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WebSocket } from 'ws';
import { SimulatedVolunteer } from '../../src/sim/simulated-volunteer.ts';
import { type Json, KEY_A, KEY_B, startTest, type TestCoordinator, until } from '../helpers.ts';
import { BYTES, step, stepRunner, STEP_TASK as TASK } from './workflow-helpers.ts';

let c: TestCoordinator;
const sims: SimulatedVolunteer[] = [];

beforeAll(async () => {
  c = await startTest();
  for (let i = 0; i < 2; i++) sims.push(await SimulatedVolunteer.connect({ url: c.url, run: stepRunner }));
});

afterAll(async () => {
  for (const s of sims) s.close();
  await c.stop();
});

async function submit(def: Record<string, unknown>, status = 201): Promise<Json> {
  const res = await c.api('/v1/workflows', { method: 'POST', json: def });
  const body = await res.json();
  expect({ status: res.status, body }).toMatchObject({ status });
  return body;
}

/** Polls until the workflow has finished and returns its view. */
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

const states = (view: Json): Record<string, string> =>
  Object.fromEntries(view.steps.map((s: Json) => [s.id, s.state]));

/** The assignment a simulated volunteer received for `taskId`. */
function assignment(taskId: string): Json {
  return sims.flatMap((s) => s.assignments).find((a) => a.task_id === taskId);
}

async function result(taskId: string): Promise<Json> {
  return (await c.api(`/v1/tasks/${taskId}/result`)).json();
}

describe('workflows', () => {
  test('a chain passes an output by blob reference and a summary into params', async () => {
    const created = await submit({
      workflow_id: 'chain',
      steps: [
        step('a'),
        step('b', { inputs: [{ name: 'prev', uri: '${steps.a.outputs.sum}' }] }),
        step('c', { params: { label: 'b made ${steps.b.summary.sum}', n: '${steps.b.summary.sum}' } }),
      ],
    });
    expect(created).toMatchObject({ workflow_id: 'chain', state: 'running' });
    expect(created.definition.steps[1].depends_on).toEqual(['a']);
    const view = await finished('chain');
    expect(view.state).toBe('succeeded');
    expect(states(view)).toEqual({ a: 'succeeded', b: 'succeeded', c: 'succeeded' });
    expect(view.steps.map((s: Json) => s.task_ids)).toEqual([['chain.a'], ['chain.b'], ['chain.c']]);
    for (const s of view.steps) expect(s.finished_at_ms).toBeGreaterThanOrEqual(s.started_at_ms);
    // a sums 1+2+3+4 = 10; its output "10" (two bytes, 49 + 48) is b's input: 97.
    expect((await result('chain.a')).summary).toEqual({ sum: '10', bytes: '4' });
    expect((await result('chain.b')).summary).toEqual({ sum: '97', bytes: '2' });
    const hex = createHash('sha256').update('10').digest('hex');
    expect(assignment('chain.b').envelope.inputs).toEqual([
      { name: 'prev', uri: `flock:sha256:${hex}`, size: 2 },
    ]);
    expect(assignment('chain.b').envelope.campaign_id).toBe('chain');
    expect(assignment('chain.c').envelope.params).toEqual({ label: 'b made 97', n: 97 });
  });

  test('independent steps run in parallel and a join waits for both', async () => {
    await submit({
      workflow_id: 'diamond',
      steps: [
        step('left', { depends_on: [] }),
        step('right', {
          depends_on: [],
          inputs: [{ name: 'y', inline_bytes: Buffer.from([5]).toString('base64') }],
        }),
        step('join', {
          depends_on: ['left', 'right'],
          inputs: [
            { name: 'l', uri: '${steps.left.outputs.sum}' },
            { name: 'r', uri: '${steps.right.outputs.sum}' },
          ],
        }),
      ],
    });
    const view = await finished('diamond');
    expect(states(view)).toEqual({ left: 'succeeded', right: 'succeeded', join: 'succeeded' });
    // "10" and "5": 49 + 48 + 53.
    expect((await result('diamond.join')).summary.sum).toBe('150');
  });

  test('a false condition skips the step and its dependants; the workflow succeeds', async () => {
    await submit({
      workflow_id: 'cond',
      steps: [
        step('a'),
        step('big', { when: '${steps.a.summary.sum} > 100' }),
        step('after', { depends_on: ['big'] }),
        step('small', { depends_on: ['a'], when: '${steps.a.summary.sum} <= 10' }),
      ],
    });
    const view = await finished('cond');
    expect(view.state).toBe('succeeded');
    expect(states(view)).toEqual({ a: 'succeeded', big: 'skipped', after: 'skipped', small: 'succeeded' });
    expect(view.steps[1]).toMatchObject({ code: 'CONDITION_FALSE', task_ids: [] });
    expect(view.steps[2]).toMatchObject({ code: 'DEPENDENCY_SKIPPED', task_ids: [] });
    expect((await c.api('/v1/tasks/cond.big')).status).toBe(404);
  });

  test('abort: a failed step fails the workflow, running steps are cancelled, later ones never run', async () => {
    await submit({
      workflow_id: 'abort',
      steps: [
        step('slow', { depends_on: [], params: { hang: true } }),
        step('bad', { depends_on: [], params: { fail: true } }),
        step('never', { depends_on: ['bad'] }),
      ],
    });
    const view = await finished('abort');
    expect(view).toMatchObject({
      state: 'failed',
      code: 'STEP_FAILED',
      message: 'step "bad" failed: BOOM: abort.bad asked to fail',
    });
    expect(states(view)).toEqual({ slow: 'cancelled', bad: 'failed', never: 'cancelled' });
    expect((await (await c.api('/v1/tasks/abort.slow')).json()).state).toBe('cancelled');
    expect((await c.api('/v1/tasks/abort.never')).status).toBe(404);
  });

  test('abort ends every step: one waiting out a retry’s backoff and its dependants are cancelled', async () => {
    await submit({
      workflow_id: 'abort-backoff',
      steps: [
        step('flaky', { params: { fail: true }, on_error: { retry: 2, backoff_ms: 60_000 } }),
        step('next', { depends_on: ['flaky'] }),
        step('bad', { depends_on: [], params: { fail: true } }),
      ],
    });
    const view = await finished('abort-backoff');
    expect(view.message).toBe('step "bad" failed: BOOM: abort-backoff.bad asked to fail');
    expect(view.steps.map((s: Json) => [s.id, s.state, s.task_ids])).toEqual([
      ['flaky', 'cancelled', ['abort-backoff.flaky']],
      ['next', 'cancelled', []],
      ['bad', 'failed', ['abort-backoff.bad']],
    ]);
  });

  test('skip: the failed step is skipped with its code, dependants see it, the workflow succeeds', async () => {
    await submit({
      workflow_id: 'skip',
      steps: [step('a'), step('bad', { params: { fail: true }, on_error: 'skip' }), step('c')],
    });
    const view = await finished('skip');
    expect(view.state).toBe('succeeded');
    expect(states(view)).toEqual({ a: 'succeeded', bad: 'skipped', c: 'skipped' });
    expect(view.steps[1]).toMatchObject({ code: 'BOOM', task_ids: ['skip.bad'] });
  });

  test('retry: n more attempts as .retry<n> tasks after a backoff', async () => {
    await submit({
      workflow_id: 'retry',
      steps: [step('flaky', { params: { fail_unless: '.retry2' }, on_error: { retry: 3, backoff_ms: 20 } })],
    });
    const view = await finished('retry');
    expect(view.state).toBe('succeeded');
    expect(view.steps[0].task_ids).toEqual(['retry.flaky', 'retry.flaky.retry1', 'retry.flaky.retry2']);
    const first = await (await c.api('/v1/tasks/retry.flaky')).json();
    const second = await (await c.api('/v1/tasks/retry.flaky.retry1')).json();
    expect(second.created_at_ms - first.updated_at_ms).toBeGreaterThanOrEqual(20);
    // Exhausted: the workflow fails.
    await submit({
      workflow_id: 'retry-out',
      steps: [step('flaky', { params: { fail: true }, on_error: { retry: 1, backoff_ms: 0 } })],
    });
    const out = await finished('retry-out');
    expect(out.state).toBe('failed');
    expect(out.steps[0]).toMatchObject({
      state: 'failed',
      code: 'BOOM',
      task_ids: ['retry-out.flaky', 'retry-out.flaky.retry1'],
    });
  });

  test('rollback: each completed step’s compensation runs once, in reverse order, then the workflow fails', async () => {
    const undo = { ...TASK, inputs: [{ name: 'done', uri: '${steps.a.outputs.sum}' }] };
    await submit({
      workflow_id: 'rb',
      on_error: 'rollback',
      steps: [
        step('a', { compensate: undo }),
        step('b', { compensate: { ...TASK, params: { undo: 'b' } } }),
        step('plain'),
        step('bad', { params: { fail: true } }),
      ],
    });
    const view = await finished('rb');
    expect(view).toMatchObject({
      state: 'failed',
      code: 'STEP_FAILED',
      message: 'step "bad" failed: BOOM: rb.bad asked to fail (rolled back)',
    });
    expect(view.steps[0].compensation).toEqual({ task_id: 'rb.a.compensate', state: 'succeeded' });
    expect(view.steps[1].compensation).toEqual({ task_id: 'rb.b.compensate', state: 'succeeded' });
    expect(view.steps[2].compensation).toBeUndefined();
    const a = await (await c.api('/v1/tasks/rb.a.compensate')).json();
    const b = await (await c.api('/v1/tasks/rb.b.compensate')).json();
    expect(b.updated_at_ms).toBeLessThanOrEqual(a.created_at_ms);
    expect((await result('rb.a.compensate')).summary.sum).toBe('97');
  });

  test('a reference to an output that does not exist fails the step with REFERENCE_UNRESOLVED', async () => {
    await submit({
      workflow_id: 'badref',
      steps: [step('a'), step('b', { inputs: [{ name: 'x', uri: '${steps.a.outputs.nope}' }] })],
    });
    const view = await finished('badref');
    expect(view.state).toBe('failed');
    expect(view.steps[1]).toEqual({
      id: 'b',
      state: 'failed',
      depends_on: ['a'],
      task_ids: [],
      code: 'REFERENCE_UNRESOLVED',
      message: 'step a has no output "nope"',
    });
  });

  test('an envelope that breaks the rules once resolved fails its step STEP_INVALID, never submitted', async () => {
    await submit({
      workflow_id: 'invalid',
      steps: [
        step('a', { params: { list: 2 } }),
        step('m', { for_each: '${steps.a.outputs.list}', inputs: [{ name: 'v', uri: '${item}' }] }),
        // The fan-in makes inputs p.0 and p.1: p.0 is then named twice.
        step('r', {
          inputs: [
            { name: 'p', uri: '${steps.m.outputs.sum}' },
            { name: 'p.0', inline_json: '1' },
          ],
        }),
        step('after'),
      ],
    });
    const view = await finished('invalid');
    expect([view.state, view.code, view.message]).toEqual([
      'failed',
      'STEP_FAILED',
      'step "r" failed: STEP_INVALID: inputs[2].name: duplicate input name "p.0"',
    ]);
    expect(view.steps.slice(2)).toEqual([
      {
        id: 'r',
        state: 'failed',
        depends_on: ['m'],
        task_ids: [],
        code: 'STEP_INVALID',
        message: 'inputs[2].name: duplicate input name "p.0"',
      },
      { id: 'after', state: 'cancelled', depends_on: ['r'], task_ids: [] },
    ]);
    expect((await c.api('/v1/tasks/invalid.r')).status).toBe(404);
  });

  test('cancel mid-run: the workflow and its running step are cancelled; again is 409', async () => {
    const ws = new WebSocket(`${c.url.replace('http', 'ws')}/v1/events?key=${KEY_A}&campaign_id=cancel`);
    const seen: Json[] = [];
    ws.on('message', (data) => seen.push(JSON.parse(String(data))));
    await new Promise((resolve) => ws.once('open', resolve));
    await submit({ workflow_id: 'cancel', steps: [step('slow', { params: { hang: true } }), step('next')] });
    await until(async () => (await (await c.api('/v1/tasks/cancel.slow')).json()).state === 'running');
    const res = await c.api('/v1/workflows/cancel', { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ workflow_id: 'cancel', state: 'cancelled', code: 'CANCELLED' });
    const view = await (await c.api('/v1/workflows/cancel')).json();
    expect(states(view)).toEqual({ slow: 'cancelled', next: 'cancelled' });
    expect((await (await c.api('/v1/tasks/cancel.slow')).json()).state).toBe('cancelled');
    const again = await c.api('/v1/workflows/cancel', { method: 'DELETE' });
    expect(again.status).toBe(409);
    expect((await again.json()).error.code).toBe('ALREADY_FINISHED');
    // The steps it stopped are announced ended, then the workflow.
    await until(() => seen.some((e) => e.topic === 'compute:workflow:v1:cancelled'));
    ws.close();
    const flow = seen
      .filter((e) => e.topic.startsWith('compute:workflow:v1:'))
      .map((e) => (e.payload.data.step ? `${e.payload.data.step.id}:${e.payload.data.step.state}` : e.topic));
    expect(flow.slice(-3)).toEqual(['slow:cancelled', 'next:cancelled', 'compute:workflow:v1:cancelled']);
  });

  test('events: step changes and the workflow’s end on /v1/events, filtered by campaign_id', async () => {
    const ws = new WebSocket(`${c.url.replace('http', 'ws')}/v1/events?key=${KEY_A}&campaign_id=events`);
    const seen: Json[] = [];
    ws.on('message', (data) => seen.push(JSON.parse(String(data))));
    await new Promise((resolve) => ws.once('open', resolve));
    await submit({ workflow_id: 'events', steps: [step('a'), step('b')] });
    await until(() => seen.some((e) => e.topic === 'compute:workflow:v1:succeeded'));
    ws.close();
    const flow = seen.filter((e) => e.topic.startsWith('compute:workflow:v1:'));
    expect(flow.map((e) => e.topic)[0]).toBe('compute:workflow:v1:running');
    const steps = flow
      .filter((e) => e.topic === 'compute:workflow:v1:step')
      .map((e) => `${e.payload.data.step.id}:${e.payload.data.step.state}`);
    expect(steps).toEqual(['a:running', 'b:waiting', 'a:succeeded', 'b:running', 'b:succeeded']);
    // A step announced running names the task it is submitting, to follow on /v1/events.
    const running = flow.filter((e) => e.payload.data.step?.state === 'running');
    expect(running.map((e) => e.payload.data.step.task_ids)).toEqual([['events.a'], ['events.b']]);
    expect(flow.at(-1).schema).toBe('flock.workflow.event.v1');
    expect(flow.at(-1).payload.data).toMatchObject({ workflow_id: 'events', state: 'succeeded' });
  });

  test('return_channel: the workflow’s and its steps’ terminal events reach the channel', async () => {
    const ws = new WebSocket(`${c.url.replace('http', 'ws')}/v1/events?key=${KEY_A}&channel=wf-done`);
    const seen: Json[] = [];
    ws.on('message', (data) => seen.push(JSON.parse(String(data))));
    await new Promise((resolve) => ws.once('open', resolve));
    await submit({
      workflow_id: 'channel',
      return_channel: 'wf-done',
      steps: [step('a'), step('b', { when: '${steps.a.summary.sum} > 99' })],
    });
    await until(() => seen.some((e) => e.payload.event === 'compute:workflow:v1:succeeded'));
    ws.close();
    expect(seen.every((e) => e.topic === 'wf-done')).toBe(true);
    const steps = seen
      .filter((e) => e.payload.event === 'compute:workflow:v1:step')
      .map((e) => `${e.payload.data.step.id}:${e.payload.data.step.state}`);
    expect(steps).toEqual(['a:succeeded', 'b:skipped']);
    expect(seen.at(-1).payload).toMatchObject({
      event: 'compute:workflow:v1:succeeded',
      state: 'succeeded',
      task_id: 'channel',
    });
  });

  test("a definition as Cap'n Proto runs, and is the same workflow as its JSON form", async () => {
    const envelope = (extra: Record<string, unknown>) => ({ ...TASK, ...extra });
    const message = fromJson('WorkflowDefinition', {
      workflow_id: 'capnp',
      on_error: { kind: 'skip' },
      steps: [
        { id: 'a', envelope: envelope({ inputs: [BYTES] }) },
        {
          id: 'b',
          envelope: envelope({ inputs: [{ name: 'p', uri: '${steps.a.outputs.sum}' }], params: { n: 1 } }),
          on_error: { kind: 'retry', retry: 2, backoff_ms: 10 },
        },
        {
          id: 'c',
          envelope: envelope({ inputs: [BYTES] }),
          depends_on: ['a'],
          depends_on_set: true,
          when: '${steps.a.summary.sum} > 100',
        },
      ],
    });
    const res = await c.api('/v1/workflows', {
      method: 'POST',
      headers: { 'content-type': 'application/x-capnp' },
      body: encodeMessage('WorkflowDefinition', message),
    });
    expect(res.status).toBe(201);
    const view = await finished('capnp');
    expect(states(view)).toEqual({ a: 'succeeded', b: 'succeeded', c: 'skipped' });
    expect((await result('capnp.b')).summary.sum).toBe('97');
    // The same definition in the JSON form is the same workflow (same stored content).
    const again = await c.api('/v1/workflows', {
      method: 'POST',
      json: {
        workflow_id: 'capnp',
        on_error: 'skip',
        steps: [
          step('a'),
          step('b', {
            inputs: [{ name: 'p', uri: '${steps.a.outputs.sum}' }],
            params: { n: 1 },
            on_error: { retry: 2, backoff_ms: 10 },
          }),
          step('c', { depends_on: ['a'], when: '${steps.a.summary.sum} > 100' }),
        ],
      },
    });
    expect(again.status).toBe(200);
    // A task_id in a step's envelope is refused as in JSON.
    const bad = await c.api('/v1/workflows', {
      method: 'POST',
      headers: { 'content-type': 'application/x-capnp' },
      body: encodeMessage(
        'WorkflowDefinition',
        fromJson('WorkflowDefinition', { steps: [{ id: 'a', envelope: envelope({ task_id: 'x' }) }] }),
      ),
    });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'steps[0].task_id' });
  });

  test('the REST surface: 400 with the field, 409 on another definition, 404 per tenant, lists page', async () => {
    const bad = await c.api('/v1/workflows', {
      method: 'POST',
      json: { steps: [step('a', { depends_on: ['b'] }), step('b')] },
    });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toEqual({
      code: 'INVALID_ARGUMENT',
      message: 'depends_on has a cycle: a → b → a',
      field: 'steps[0].depends_on',
    });
    const badEnv = await c.api('/v1/workflows', {
      method: 'POST',
      json: { steps: [{ id: 'a', op: 'sum', module: { kind: 'builtin' } }] },
    });
    expect(badEnv.status).toBe(400);
    expect((await badEnv.json()).error.field).toBe('steps[0].requirements.min');
    // An input that is no object is the envelope's refusal, not a 500.
    const nullInput = await c.api('/v1/workflows', {
      method: 'POST',
      json: { steps: [step('a', { inputs: [null] })] },
    });
    expect([nullInput.status, (await nullInput.json()).error]).toEqual([
      400,
      { code: 'WRONG_TYPE', message: 'must be an object', field: 'steps[0].inputs[0]' },
    ]);
    await submit({ workflow_id: 'same', steps: [step('a')] });
    await submit({ workflow_id: 'same', steps: [step('a')] }, 200);
    const conflict = await c.api('/v1/workflows', {
      method: 'POST',
      json: { workflow_id: 'same', steps: [step('z')] },
    });
    expect(conflict.status).toBe(409);
    // A campaign that already has tasks would lend them to the steps named like them.
    const task = { task_id: 'taken.a', campaign_id: 'taken', ...TASK, inputs: [BYTES], params: { other: 1 } };
    expect((await c.api('/v1/tasks', { method: 'POST', json: task })).status).toBe(201);
    const taken = await c.api('/v1/workflows', {
      method: 'POST',
      json: { workflow_id: 'taken', steps: [step('a')] },
    });
    expect([taken.status, (await taken.json()).error]).toEqual([
      409,
      {
        code: 'CONFLICT',
        message:
          'campaign "taken" already has tasks (taken.a): a workflow\'s steps are the tasks of the campaign named by its id',
        field: 'workflow_id',
      },
    ]);
    expect((await c.api('/v1/workflows/same', { key: KEY_B })).status).toBe(404);
    const page = await (await c.api('/v1/workflows?limit=2')).json();
    expect(page.workflows).toHaveLength(2);
    const rest = await (await c.api(`/v1/workflows?limit=100&after=${page.next}`)).json();
    expect(rest.workflows.map((w: Json) => w.workflow_id)).not.toContain(page.workflows[0].workflow_id);
    const succeeded = await (await c.api('/v1/workflows?state=succeeded&limit=100')).json();
    expect(succeeded.workflows.every((w: Json) => w.state === 'succeeded')).toBe(true);
    expect((await c.api('/v1/workflows?state=nope')).status).toBe(400);
  });
});
