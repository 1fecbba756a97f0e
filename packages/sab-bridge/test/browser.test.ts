import { describe, expect, it } from 'vitest';
import { runInChromium } from '../bench/chromium-runner.ts';

// The same bridge code on a browser page's main thread (no Atomics.wait there) and in a
// dedicated Worker, in headless system Chromium: a short run of the benchmark, whose every step
// checks what it received (ring echoes, arena bytes, records) and throws on a mismatch.
describe('in Chromium', () => {
  it('runs rings, records and the arena between a COOP/COEP page and a Worker', async () => {
    const r = await runInChromium({ samples: 20, bulk: 8, workloadJobs: 200 });
    expect(r.env).toContain('crossOriginIsolated=true');
    expect(r.roundTrip.map((row) => row.name)).toEqual([
      'Worker postMessage (structured clone of 64 B)',
      'MessagePort.postMessage (MessageChannel, 64 B)',
      'SAB ring, main spins, executor Atomics.wait',
      'SAB ring, main spins, executor spins too',
      'SAB ring, Atomics.waitAsync, spin 0',
      'SAB ring, Atomics.waitAsync, spin 200',
      'SAB ring, Atomics.waitAsync, spin 2000',
      'SAB ring + BridgeRecord encode/decode, waitAsync',
    ]);
    for (const row of [...r.roundTrip, ...r.bulk]) expect(row.medianUs).toBeGreaterThan(0);
    expect(r.bulk).toHaveLength(6);
    expect(r.workload).toMatchObject({ jobs: 200, failures: 0 });
  }, 180_000);
});
