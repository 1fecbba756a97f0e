// Service levels per op (engine/op-stats.ts): exact counts, success rates and nearest-rank
// percentiles over the window's last maxSamples outcomes, kept in a ring per op.
import { expect, test } from 'vitest';
import { OpStats } from '../src/engine/op-stats.ts';

const options = { windowMs: 10_000, p95TargetMs: 50, successTarget: 0.9, minSamples: 5 };

test('counts, rate and percentiles of one op, across the ring growing past its first size', () => {
  const stats = new OpStats({ ...options, maxSamples: 1000 });
  // 100 outcomes at t=1000..1099 with latencies 1..100 ms; every 10th failed.
  for (let i = 1; i <= 100; i++) stats.record('sum', i % 10 !== 0, i, 999 + i);
  expect(stats.levels(2000)).toEqual([
    {
      op: 'sum',
      count: 100,
      succeeded: 90,
      failed: 10,
      successRate: 0.9,
      p50Ms: 50,
      p95Ms: 95,
      violations: ['p95'],
    },
  ]);
});

test('only the last maxSamples outcomes count, oldest overwritten first', () => {
  const stats = new OpStats({ ...options, maxSamples: 40 });
  // 100 failures then 40 successes at 7 ms: the failures are all overwritten.
  for (let i = 0; i < 100; i++) stats.record('op', false, 1000, 1000 + i);
  for (let i = 0; i < 40; i++) stats.record('op', true, 7, 1100 + i);
  const [level] = stats.levels(2000);
  expect(level).toMatchObject({ count: 40, succeeded: 40, failed: 0, successRate: 1, p50Ms: 7, p95Ms: 7 });
  expect(level!.violations).toEqual([]);
  // 10 more: the 10 oldest successes give way; latencies 7 (30 of them) and 100 (10).
  for (let i = 0; i < 10; i++) stats.record('op', false, 100, 1200 + i);
  expect(stats.levels(2000)[0]).toMatchObject({ count: 40, succeeded: 30, failed: 10, p50Ms: 7, p95Ms: 100 });
  expect(stats.levels(2000)[0]!.violations).toEqual(['p95', 'success']);
});

test('outcomes older than the window are dropped; an op with none left is forgotten', () => {
  const stats = new OpStats({ ...options, maxSamples: 1000 });
  for (let i = 0; i < 30; i++) stats.record('a', true, 10, 1000 + i * 100); // t = 1000..3900
  stats.record('b', false, 5, 1000);
  // At t=12,500 the window starts at 2,500: a keeps t = 2500..3900 (15 outcomes); b has none.
  expect(stats.levels(12_500)).toEqual([
    { op: 'a', count: 15, succeeded: 15, failed: 0, successRate: 1, p50Ms: 10, p95Ms: 10, violations: [] },
  ]);
  expect(stats.levels(20_000)).toEqual([]);
  // Fewer than minSamples judge nothing.
  for (let i = 0; i < 4; i++) stats.record('c', false, 500, 20_000);
  expect(stats.levels(20_000)[0]).toMatchObject({ op: 'c', count: 4, successRate: 0, violations: [] });
});

test('ops past maxOps are counted together as other', () => {
  const stats = new OpStats({ ...options, maxSamples: 10, maxOps: 2 });
  stats.record('x', true, 1, 1000);
  stats.record('y', true, 2, 1000);
  stats.record('z', false, 3, 1000);
  stats.record('w', true, 4, 1000);
  expect(stats.levels(1000).map((l) => [l.op, l.count, l.succeeded])).toEqual([
    ['other', 2, 1],
    ['x', 1, 1],
    ['y', 1, 1],
  ]);
});
