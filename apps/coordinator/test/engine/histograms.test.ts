// The per-task histograms on /metrics, exact: a controlled run with the clock set by the test.
import { afterEach, describe, expect, test, vi } from 'vitest';
import { EngineHarness, task } from './engine-harness.ts';

let h: EngineHarness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
  vi.useRealTimers();
});

const T0 = 1_700_000_000_000;
const LOW = [
  '0.001',
  '0.005',
  '0.01',
  '0.025',
  '0.05',
  '0.1',
  '0.25',
  '0.5',
  '1',
  '2.5',
  '5',
  '10',
  '30',
  '60',
];

/** `name_bucket` lines for cumulative `counts` by bound, then +Inf, sum and count. */
function histogram(name: string, labels: string, bounds: string[], counts: number[], sum: string): string[] {
  const sep = labels === '' ? '' : ',';
  const total = counts[counts.length - 1]!;
  return [
    ...bounds.map((le, i) => `${name}_bucket{le="${le}"${sep}${labels}} ${counts[i]}`),
    `${name}_bucket{le="+Inf"${sep}${labels}} ${total}`,
    `${name}_sum${labels === '' ? '' : `{${labels}}`} ${sum}`,
    `${name}_count${labels === '' ? '' : `{${labels}}`} ${total}`,
  ];
}

describe('per-task histograms', () => {
  test('queue wait, assignment latency and run time land in their exact buckets', async () => {
    // Only Date is faked: the engine's timers run as usual, its clock moves when the test says.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    h = await EngineHarness.start();
    const v = await h.connect({ wasm: true, cpu_slots: 1 });
    await h.submit(task('t-h0'), task('t-h1'));
    const a0 = await h.assignment(v, 0); // leased at once: waited 0 s
    vi.setSystemTime(T0 + 20);
    await h.result(v, a0); // ran 0.02 s; t-h1 is leased now, after 0.02 s in the queue
    const a1 = await h.assignment(v, 1);
    vi.setSystemTime(T0 + 2020);
    await h.result(v, a1); // ran 2 s

    const waits = [1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2];
    expect(await h.metric('flock_assignment_latency_seconds_bucket')).toEqual(
      histogram('flock_assignment_latency_seconds', '', LOW, waits, '0.02').slice(0, 15),
    );
    expect([
      ...(await h.metric('flock_assignment_latency_seconds_sum')),
      ...(await h.metric('flock_assignment_latency_seconds_count')),
    ]).toEqual(['flock_assignment_latency_seconds_sum 0.02', 'flock_assignment_latency_seconds_count 2']);

    const text = await h.coordinator.metrics.registry.metrics();
    const lines = (name: string): string[] => text.split('\n').filter((l) => l.startsWith(name));
    expect(lines('flock_task_queue_wait_seconds')).toEqual(
      histogram('flock_task_queue_wait_seconds', 'op="sum"', [...LOW, '300'], [...waits, 2], '0.02'),
    );
    const runs = [0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2];
    expect(lines('flock_task_run_seconds')).toEqual(
      histogram('flock_task_run_seconds', 'op="sum"', [...LOW, '300'], runs, '2.02'),
    );
    expect(text).toContain(
      '# HELP flock_task_run_seconds From leased to the result or failure, by op.\n# TYPE flock_task_run_seconds histogram\n',
    );
  });
});
