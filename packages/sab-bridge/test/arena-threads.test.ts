import { describe, expect, it } from 'vitest';
import { create } from '../src/index.ts';
import { type ChurnReport, churn } from './support/churn.ts';
import { spawnTs } from './support/spawn.ts';

describe('arena shared by two threads', () => {
  it('never gives both threads the same bytes, zeroes between them, and coalesces at the end', async () => {
    const bridge = create({ inboxBytes: 64, outboxBytes: 64, arenaBytes: 4 << 20, minBlockBytes: 256 });
    const iterations = 20_000;
    const peer = spawnTs(new URL('./support/churn-peer.ts', import.meta.url), {
      buffer: bridge.buffer,
      seed: 2,
      owner: 2,
      iterations,
    });
    expect(await peer.next()).toBe('ready');
    bridge.inbox.push(new Uint8Array(0)); // go
    const mine = churn(bridge.arena, 1, 1, iterations);
    const theirs = (await peer.next()) as ChurnReport;
    for (const rep of [mine, theirs]) {
      expect(rep.firstError).toBe('');
      expect(rep.errors).toBe(0);
      expect(rep.allocs).toBe(rep.frees);
      expect(rep.allocs).toBeGreaterThan(5000);
    }
    const s = bridge.arena.stats();
    expect(s).toMatchObject({
      liveAllocations: 0,
      requestedBytes: 0,
      largestFreeBlock: 4 << 20,
      fragmentation: 0,
    });
    expect(s.totalAllocations).toBe(mine.allocs + theirs.allocs);
    expect(s.zeroedBytes).toBeGreaterThan(0); // blocks did pass between the two owners
    bridge.verifyGuards();
  });
});
