// A job's share of the arena (job-placement.ts): the spec's own block only past the record's limit
// (multi-byte text counted in UTF-8 bytes), and regions reserved all together or not at all.
import { describe, expect, it } from 'vitest';
import { RingHostTransport } from '../src/host-transport.ts';
import { DEFAULT_LIMITS } from '../src/job.ts';
import type { PreparedJob } from '../src/job-builder.ts';
import { bytesNeeded, reserveRegions, specBlockBytes } from '../src/job-placement.ts';
import { SPEC_IN_RECORD_MAX, specBytes } from '../src/job-record.ts';

function spec(params: Record<string, unknown>): PreparedJob['spec'] {
  return {
    kind: 'library',
    taskId: 't-placement',
    entry: '',
    moduleHash: '',
    wasiFs: false,
    inputs: [],
    params,
    limits: { ...DEFAULT_LIMITS },
  } as PreparedJob['spec'];
}

describe('specBlockBytes', () => {
  it('is 0 for a spec the record carries, and its UTF-8 length plus the handoff room past that', () => {
    expect(specBlockBytes(spec({ sql: 'SELECT 1' }))).toBe(0);
    // 6,000 é: 6,000 UTF-16 units but 12,000 UTF-8 bytes, under the limit either way.
    expect(specBlockBytes(spec({ s: 'é'.repeat(6_000) }))).toBe(0);
    // 9,000 é: under the limit in UTF-16 units, over it in UTF-8 bytes.
    const long = spec({ s: 'é'.repeat(9_000) });
    expect(JSON.stringify(long).length).toBeLessThan(SPEC_IN_RECORD_MAX);
    expect(specBlockBytes(long)).toBe(specBytes(long).byteLength + 128);
  });
});

describe('reserveRegions', () => {
  it('gives every region of a job, or none and holds nothing', () => {
    const host = new RingHostTransport(1 << 16);
    const extras = { moduleBytes: 100, stopWord: true, specBlock: 0 };
    expect(bytesNeeded(spec({}), [10, 20], extras)).toBe(10 + 20 + 100 + 64 * 5);
    const regions = reserveRegions(host, 1, [10, 20], extras)!;
    expect(regions.inputs.map((r) => r.byteLength)).toEqual([10, 20]);
    expect([regions.module?.byteLength, regions.stopWord?.byteLength, regions.spec]).toEqual([
      100,
      4,
      undefined,
    ]);
    expect(regions.all).toHaveLength(4);
    for (const region of regions.all) host.free(region);
    // Each fits the arena, not both: the one reserved before the one that does not fit is given
    // back, so the whole arena is free for the next job.
    expect(reserveRegions(host, 2, [40_000, 40_000], extras)).toBeUndefined();
    const whole = reserveRegions(host, 3, [(1 << 16) - 4096], {
      moduleBytes: 0,
      stopWord: false,
      specBlock: 0,
    });
    expect(whole?.inputs[0]?.byteLength).toBe((1 << 16) - 4096);
    host.close();
  });
});
