// /v1/stats' recent successes (engine/recent-stats.ts): the last minute's count and latency
// percentiles, exact, from a ring that grows and then keeps the newest `max`.
import { expect, test } from 'vitest';
import { RecentStats } from '../src/engine/recent-stats.ts';

test('the last minute only: count and percentiles (index floor(p·n) of the sorted latencies)', () => {
  const stats = new RecentStats();
  expect(stats.snapshot(0)).toEqual({ throughputPerMin: 0, p50: 0, p95: 0, p99: 0 });
  // 3,000 successes (past the ring's first 1,024) at t = 0..2999 ms, latencies 3000..1 ms.
  for (let i = 0; i < 3000; i++) stats.record(i, 3000 - i);
  expect(stats.snapshot(3000)).toEqual({ throughputPerMin: 3000, p50: 1501, p95: 2851, p99: 2971 });
  // At t = 61,000 the minute starts at 1,000: the 2,000 newest remain, latencies 2000..1.
  expect(stats.snapshot(61_000)).toEqual({ throughputPerMin: 2000, p50: 1001, p95: 1901, p99: 1981 });
  expect(stats.snapshot(200_000)).toEqual({ throughputPerMin: 0, p50: 0, p95: 0, p99: 0 });
  stats.record(200_000, 7);
  expect(stats.snapshot(200_000)).toEqual({ throughputPerMin: 1, p50: 7, p95: 7, p99: 7 });
});

test('past max the oldest are overwritten: the newest max count', () => {
  const stats = new RecentStats(1500);
  for (let i = 0; i < 4000; i++) stats.record(10_000 + i, i);
  // Kept: i = 2500..3999.
  expect(stats.snapshot(20_000)).toEqual({ throughputPerMin: 1500, p50: 3250, p95: 3925, p99: 3985 });
});
