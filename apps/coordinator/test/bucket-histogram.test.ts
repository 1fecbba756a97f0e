import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BucketHistogram } from '../src/bucket-histogram.ts';

const BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** A seeded stream of values across every bucket, bounds and beyond the last one included. */
function values(n: number): number[] {
  let x = 0x2545f491;
  const out: number[] = [0, 0.001, 0.005, 300, 300.0001, 1e6];
  while (out.length < n) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.push(((x >>> 0) / 2 ** 32) * 10 ** (((x >>> 0) % 7) - 3));
  }
  return out;
}

function pair(labelled: boolean): { ours: BucketHistogram; theirs: Histogram; a: Registry; b: Registry } {
  const [a, b] = [new Registry(), new Registry()];
  const config = { name: 'flock_x_seconds', help: 'A "test" histogram\\ of\nvalues.', buckets: BUCKETS };
  const ours = new BucketHistogram({
    ...config,
    registers: [a],
    ...(labelled ? { labelName: 'op' } : {}),
  });
  const theirs = new Histogram({ ...config, registers: [b], ...(labelled ? { labelNames: ['op'] } : {}) });
  return { ours, theirs, a, b };
}

describe('BucketHistogram', () => {
  it('exposes exactly what prom-client exposes for the same unlabelled observations', async () => {
    const { ours, theirs, a, b } = pair(false);
    expect(await a.metrics()).toBe(await b.metrics()); // a series of zeros from the start
    for (const v of values(500)) {
      ours.observe(v);
      theirs.observe(v);
    }
    const text = await a.metrics();
    expect(text).toBe(await b.metrics());
    expect(text).toContain('flock_x_seconds_bucket{le="+Inf"} 500\n');
    expect(text).toContain('flock_x_seconds_count 500\n');
    expect(await a.getMetricsAsJSON()).toEqual(await b.getMetricsAsJSON());
  });

  it('exposes labelled series in the order of their first observation, with escaped labels', async () => {
    const { ours, theirs, a, b } = pair(true);
    const ops = ['wasm:b', 'ml.x "quoted"\\', 'wasm:a', 'never observed'];
    const series = ops.map((op) => ours.labels(op));
    const children = ops.map((op) => theirs.labels({ op }));
    values(600).forEach((v, i) => {
      const k = i < 3 ? 2 - i : i % 3;
      series[k]!.observe(v);
      children[k]!.observe(v);
    });
    const text = await a.metrics();
    expect(text).toBe(await b.metrics());
    expect(text.indexOf('op="wasm:a"')).toBeLessThan(text.indexOf('op="wasm:b"'));
    expect(text).not.toContain('never observed');
    expect(text).toContain('flock_x_seconds_count{op="wasm:b"} 200\n');
    expect(await a.getMetricsAsJSON()).toEqual(await b.getMetricsAsJSON());
  });

  it('forgets its observations on reset, as prom-client does', async () => {
    for (const labelled of [false, true]) {
      const { ours, theirs, a, b } = pair(labelled);
      const [s, c] = labelled ? [ours.labels('x'), theirs.labels({ op: 'x' })] : [ours, theirs];
      s.observe(0.2);
      c.observe(0.2);
      a.resetMetrics();
      b.resetMetrics();
      expect(await a.metrics()).toBe(await b.metrics());
      s.observe(7);
      c.observe(7);
      expect(await a.metrics()).toBe(await b.metrics());
    }
  });

  it('refuses a value that is not a finite number', () => {
    const { ours } = pair(false);
    expect(() => ours.observe(Number.NaN)).toThrow('Value is not a valid number: NaN');
    expect(() => ours.observe(Number.POSITIVE_INFINITY)).toThrow(TypeError);
  });
});
