// A failure's field at fault leads the task's failure message once: a library's own message often
// starts with it already (`params.sql must be one SELECT query`), and read "params.sql: params.sql
// must be ..." when the coordinator put it in front again.
import { afterEach, expect, test } from 'vitest';
import { SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import { envelope, type Json, startTest, type TestCoordinator, until } from './helpers.ts';

let c: TestCoordinator | undefined;
let sim: SimulatedVolunteer | undefined;
afterEach(async () => {
  await sim?.close();
  await c?.stop();
});

const FAILURES: Record<string, { code: string; field: string; message: string; retryable: false }> = {
  'f-said': {
    code: 'FORBIDDEN',
    field: 'params.sql',
    message: 'params.sql must be one SELECT query (it starts with "attach")',
    retryable: false,
  },
  'f-unsaid': {
    code: 'INVALID_INPUT',
    field: 'inputs[0]',
    message: 'x.png is not an image',
    retryable: false,
  },
};

test('the field leads the failure message once, whether or not the message names it', async () => {
  c = await startTest();
  sim = await SimulatedVolunteer.connect({
    url: c.url,
    run: (job) => ({ failure: FAILURES[job.assignment.task_id ?? '']! }),
  });
  for (const id of Object.keys(FAILURES)) await c.api('/v1/tasks', { method: 'POST', json: envelope(id) });
  const failure = async (id: string) => ((await (await c!.api(`/v1/tasks/${id}`)).json()) as Json).failure;
  await until(async () => (await failure('f-said')) && (await failure('f-unsaid')), 5000, 'both failed');
  expect(await failure('f-said')).toEqual({
    code: 'FORBIDDEN',
    message: 'params.sql must be one SELECT query (it starts with "attach")',
  });
  expect(await failure('f-unsaid')).toEqual({
    code: 'INVALID_INPUT',
    message: 'inputs[0]: x.png is not an image',
  });
});
