// Service levels and circuit breakers over the REST API (#17): /v1/stats ops, GET /v1/breakers,
// POST /v1/breakers/:op/reset, on a real coordinator with a simulated volunteer.
import { afterEach, expect, test } from 'vitest';
import { SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import { envelope, type Json, KEY_B, startTest, type TestCoordinator, until } from './helpers.ts';

let c: TestCoordinator | undefined;
let sim: SimulatedVolunteer | undefined;
afterEach(async () => {
  await sim?.close();
  await c?.stop();
  sim = undefined;
  c = undefined;
});

const state = async (id: string): Promise<Json> => (await c!.api(`/v1/tasks/${id}`)).json();

test('/v1/stats lists each op with exact counts and percentiles over the window', async () => {
  c = await startTest();
  sim = await SimulatedVolunteer.connect({
    url: c.url,
    run: (job) =>
      job.assignment.task_id === 'ok-3' || job.assignment.task_id === 'ok-4'
        ? { failure: { code: 'EXECUTION_ERROR', message: 'no', retryable: false } }
        : { outputs: [] },
  });
  for (let i = 0; i < 5; i++) await c.api('/v1/tasks', { method: 'POST', json: envelope(`ok-${i}`) });
  await until(
    async () => (await c!.api('/v1/stats').then((r) => r.json())).ops?.[0]?.count === 5,
    5000,
    'five outcomes',
  );
  const { ops } = await (await c.api('/v1/stats')).json();
  expect(ops).toEqual([
    {
      op: 'sum',
      count: 5,
      succeeded: 3,
      failed: 2,
      success_rate: 0.6,
      p50_ms: expect.any(Number),
      p95_ms: expect.any(Number),
      violations: [], // fewer than 20 outcomes: not judged
    },
  ]);
  expect(ops[0].p95_ms).toBeGreaterThanOrEqual(ops[0].p50_ms);
});

test('a breaker opens after non-retryable failures on distinct workers, is listed, and a reset releases its tasks', async () => {
  c = await startTest({ breakerFailures: 2, breakerCooldownMs: 3_600_000 });
  const broken = { failure: { code: 'FUEL_EXHAUSTED', message: 'out of fuel', retryable: false } };
  const a = await SimulatedVolunteer.connect({ url: c.url, run: () => broken });
  const b = await SimulatedVolunteer.connect({ url: c.url, run: () => broken });
  try {
    await c.api('/v1/tasks', { method: 'POST', json: envelope('br-1') });
    await c.api('/v1/tasks', { method: 'POST', json: envelope('br-2') });
    await until(
      async () => (await state('br-1')).state === 'failed' && (await state('br-2')).state === 'failed',
      5000,
      'two failures',
    );
    const listed = await (await c.api('/v1/breakers')).json();
    expect(listed.breakers).toEqual([
      expect.objectContaining({
        op: 'sum',
        state: 'open',
        failed_workers: 2,
        last_code: 'FUEL_EXHAUSTED',
        held_tasks: 0,
      }),
    ]);
    expect(await (await c.api('/v1/breakers', { key: KEY_B })).json()).toEqual({ breakers: [] });
    await c.api('/v1/tasks', { method: 'POST', json: envelope('br-3') });
    const held = await state('br-3');
    expect(held.state).toBe('queued');
    expect(held.waiting_reason).toMatch(
      /^held: op sum failed non-retryably on 2 distinct volunteers in a row \(last FUEL_EXHAUSTED\)/,
    );
    // Another tenant's sum is not held.
    await c.api('/v1/tasks', { method: 'POST', json: envelope('br-b'), key: KEY_B });
    await until(
      async () => (await (await c!.api('/v1/tasks/br-b', { key: KEY_B })).json()).state === 'failed',
      5000,
      "b's task ran",
    );
    const metrics = await (await fetch(`${c.url}/metrics`)).text();
    expect(metrics).toContain('flock_breaker_open{tenant="a",op="sum"} 1');
    await a.close();
    await b.close();
    sim = await SimulatedVolunteer.connect({ url: c.url });
    const reset = await c.api('/v1/breakers/sum/reset', { method: 'POST' });
    expect(reset.status).toBe(200);
    expect(await reset.json()).toEqual({ op: 'sum', state: 'closed' });
    await until(async () => (await state('br-3')).state === 'succeeded', 5000, 'released and run');
    const again = await c.api('/v1/breakers/sum/reset', { method: 'POST' });
    expect(again.status).toBe(404);
    expect((await again.json()).error.code).toBe('NOT_FOUND');
  } finally {
    await a.close();
    await b.close();
  }
});
