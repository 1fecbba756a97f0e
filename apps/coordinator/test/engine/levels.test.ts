// Service levels per op and circuit breakers: exact values from controlled runs of the engine.
import { afterEach, describe, expect, test } from 'vitest';
import { NOTICES } from '../../src/engine/notices.ts';
import { opKeyOf } from '../../src/engine/op-key.ts';
import { OpStats, percentile } from '../../src/engine/op-stats.ts';
import { EngineHarness, task, until } from './engine-harness.ts';

let h: EngineHarness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

describe('OpStats', () => {
  test('exact success rate and nearest-rank percentiles over the window; targets judged from minSamples on', () => {
    const stats = new OpStats({ windowMs: 1000, p95TargetMs: 18, successTarget: 0.95, minSamples: 20 });
    for (let i = 1; i <= 19; i++) stats.record('sum', i !== 7, i, 100);
    let [level] = stats.levels(100);
    expect(level).toMatchObject({ op: 'sum', count: 19, succeeded: 18, failed: 1, p50Ms: 10, p95Ms: 19 });
    expect(level!.violations).toEqual([]); // 19 outcomes: too few to judge
    stats.record('sum', false, 20, 200);
    [level] = stats.levels(200);
    expect(level).toMatchObject({ count: 20, succeeded: 18, successRate: 0.9, p50Ms: 10, p95Ms: 19 });
    expect(level!.violations).toEqual(['p95', 'success']);
    expect(stats.evaluate(200).map((c) => [c.slo, c.violated])).toEqual([
      ['p95', true],
      ['success', true],
    ]);
    expect(stats.evaluate(300)).toEqual([]); // no change, no notice
    // The window moves on: outcomes at 100 and 200 are gone by 1250; the op recovers.
    expect(stats.evaluate(1250).map((c) => [c.op, c.slo, c.violated])).toEqual([
      ['sum', 'p95', false],
      ['sum', 'success', false],
    ]);
    expect(stats.levels(1250)).toEqual([]);
  });

  test('percentiles are nearest-rank; ops past maxOps are counted as other', () => {
    expect(percentile([5], 0.95)).toBe(5);
    expect(percentile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(percentile([], 0.95)).toBe(0);
    const stats = new OpStats({ windowMs: 1000, p95TargetMs: 0, successTarget: 0, maxOps: 2 });
    for (const op of ['a', 'b', 'c', 'd']) stats.record(op, true, 1, 0);
    expect(stats.levels(0).map((l) => [l.op, l.count])).toEqual([
      ['a', 1],
      ['b', 1],
      ['other', 2],
    ]);
  });

  test('op keys: built-in ops by name, modules by kind and hash prefix', () => {
    expect(opKeyOf({ op: 'sum', module: { kind: 'builtin' } })).toBe('sum');
    expect(opKeyOf({ op: 'fft', module: { kind: 'builtin' } })).toBe('fft');
    expect(opKeyOf({ op: 'run', module: { kind: 'wasm' } })).toBe('wasm:unnamed');
    expect(opKeyOf({ op: 'run', module: { kind: 'wasm', hash: `sha256:${'ab'.repeat(32)}` } })).toBe(
      'wasm:abababababab',
    );
  });
});

describe('service levels in the engine', () => {
  test('successes are counted between scrapes: each scrape shows all so far, none twice', async () => {
    h = await EngineHarness.start();
    const v = await h.connect({ wasm: true, cpu_slots: 4 });
    const succeeded = async (): Promise<string[]> =>
      (await h!.metric('flock_task_outcomes_total')).filter((l) => l.includes('succeeded'));
    const run = async (ids: string[], from: number): Promise<void> => {
      await h!.submit(...ids.map((id) => task(id)));
      for (let i = 0; i < ids.length; i++) await h!.result(v, await h!.assignment(v, from + i));
    };
    expect(await succeeded()).toEqual([]);
    await run(['t-count-0', 't-count-1'], 0);
    expect(await succeeded()).toEqual(['flock_task_outcomes_total{op="sum",outcome="succeeded",code=""} 2']);
    await run(['t-count-2', 't-count-3', 't-count-4'], 2);
    expect(await succeeded()).toEqual(['flock_task_outcomes_total{op="sum",outcome="succeeded",code=""} 5']);
    expect(await succeeded()).toEqual(['flock_task_outcomes_total{op="sum",outcome="succeeded",code=""} 5']);
  });

  test('per-op outcomes, and a violation flagged and announced once the window misses the target', async () => {
    h = await EngineHarness.start({ sloSuccess: 0.9 });
    const v = await h.connect({ wasm: true, cpu_slots: 4 });
    const ids = Array.from({ length: 20 }, (_, i) => `t-slo-${i}`);
    await h.submit(...ids.map((id) => task(id)));
    // The first three fail, the others succeed, as the four slots take them.
    for (let i = 0; i < 20; i++) {
      const a = await h.assignment(v, i);
      if (i < 3) await h.fail(v, a, 'EXECUTION_ERROR', false);
      else await h.result(v, a);
    }
    expect(await h.metric('flock_task_outcomes_total')).toEqual([
      'flock_task_outcomes_total{op="sum",outcome="failed",code="EXECUTION_ERROR"} 3',
      'flock_task_outcomes_total{op="sum",outcome="succeeded",code=""} 17',
    ]);
    // 17 of 20: 0.85 < 0.9. The tick judges it within a second.
    await until(async () => (await h!.metric('flock_slo_violation')).length > 0, 'violation', 3000);
    expect(await h.metric('flock_slo_violation')).toEqual(['flock_slo_violation{op="sum",slo="success"} 1']);
    expect(h.hub.notices).toEqual([
      {
        topic: NOTICES.sloViolated,
        payload: { op: 'sum', slo: 'success', target: 0.9, measured: 0.85, window_ms: 300_000, count: 20 },
      },
    ]);
    expect((await h.metric('flock_task_run_seconds_count')).length).toBe(1);
  });
});

describe('circuit breakers', () => {
  test('an op failing non-retryably on N distinct workers is held for its tenant, then let through once and closed', async () => {
    h = await EngineHarness.start({ breakerFailures: 2, breakerCooldownMs: 1000 });
    const v1 = await h.connect();
    const v2 = await h.connect();
    await h.submit(task('t-b1'), task('t-b2'));
    await h.fail(v1, await h.assignment(v1), 'FORBIDDEN_IMPORT', false);
    await h.fail(v2, await h.assignment(v2), 'FORBIDDEN_IMPORT', false);
    expect(await h.metric('flock_breaker_open')).toEqual(['flock_breaker_open{tenant="a",op="sum"} 1']);
    expect(h.hub.notices.map((n) => [n.topic, n.tenant])).toEqual([[NOTICES.breakerOpened, 'a']]);
    // New tasks of the op wait with the reason; another tenant's are not held.
    await h.submit(task('t-b3'), task('t-b4'));
    await h.coordinator.submit([{ tenant: 'b', envelope: task('t-other') }]);
    await until(() => v1.link.assignments.length + v2.link.assignments.length === 3, "tenant b's task");
    const uid = (await h.store.getTask('a', 't-b3'))!.uid;
    expect(h.coordinator.waitingReason(uid)).toMatch(
      /^held: op sum failed non-retryably on 2 distinct volunteers in a row \(last FORBIDDEN_IMPORT\); one task is let through at .+, or reset it with POST \/v1\/breakers\/sum\/reset$/,
    );
    expect(await h.state('t-b3')).toBe('queued');
    // After the cool-down one task goes out; its success closes the breaker and frees the other.
    await until(() => v1.link.assignments.length + v2.link.assignments.length === 4, 'the probe', 5000);
    const all = () => [
      ...v1.link.assignments.map((a) => [v1, a] as const),
      ...v2.link.assignments.map((a) => [v2, a] as const),
    ];
    const probe = all().find(([, a]) => a.task_id === 't-b3' || a.task_id === 't-b4')!;
    expect(all().filter(([, a]) => a.task_id === 't-b3' || a.task_id === 't-b4')).toHaveLength(1);
    await h.result(probe[0], probe[1]);
    await until(
      () => all().filter(([, a]) => a.task_id === 't-b3' || a.task_id === 't-b4').length === 2,
      'released',
    );
    expect(await h.metric('flock_breaker_open')).toEqual(['flock_breaker_open{tenant="a",op="sum"} 0']);
    expect(h.hub.notices.map((n) => n.topic)).toEqual([NOTICES.breakerOpened, NOTICES.breakerClosed]);
  });

  test('retryable failures and failures on the same worker do not open it; a success resets the count', async () => {
    h = await EngineHarness.start({ breakerFailures: 2 });
    const v1 = await h.connect();
    await h.submit(task('t-r1'), task('t-r2'), task('t-r3'));
    await h.fail(v1, await h.assignment(v1, 0), 'EXECUTION_ERROR', false);
    await h.fail(v1, await h.assignment(v1, 1), 'EXECUTION_ERROR', false); // same worker: still 1
    await h.result(v1, await h.assignment(v1, 2));
    expect(await h.metric('flock_breaker_open')).toEqual([]);
    expect(h.hub.notices).toEqual([]);
  });
});
