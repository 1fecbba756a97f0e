import { describe, expect, it } from 'vitest';
import { bytesFor, create } from '../src/index.ts';
import { type PeerReport, run } from './support/pump.ts';
import { spawnTs } from './support/spawn.ts';

// 10^6 records through each ring by default; FLOCK_RING_RECORDS scales it (e.g. for a soak run).
const COUNT = Number(process.env.FLOCK_RING_RECORDS ?? 1_000_000);
const SEED = Number(process.env.FLOCK_SEED ?? 0x5eed);

/** Starts the peer thread and waits until it has attached; `report` resolves when it is done. */
async function startPeer(input: object): Promise<{ report: Promise<PeerReport> }> {
  const peer = spawnTs(new URL('./support/ring-peer.ts', import.meta.url), input);
  // The test thread blocks in its own loop from now on: the peer must be loaded first.
  expect(await peer.next()).toBe('ready');
  return { report: peer.next() as Promise<PeerReport> };
}

describe('rings across real threads', () => {
  it(`moves ${COUNT} seeded records each way, in order and intact, with canaries`, async () => {
    // Small rings (1 KiB, 4 KiB) so records wrap at every offset and both sides hit full/empty.
    for (const ringBytes of [1024, 4096]) {
      const config = { inboxBytes: ringBytes, outboxBytes: ringBytes, arenaBytes: 4096, minBlockBytes: 256 };
      const size = bytesFor(config);
      const sab = new SharedArrayBuffer(size + 128);
      const u8 = new Uint8Array(sab);
      u8.fill(0xc3);
      const bridge = create(config, { buffer: sab, byteOffset: 64 });
      const count = ringBytes === 1024 ? Math.ceil(COUNT / 4) : COUNT;
      const input = {
        buffer: sab,
        byteOffset: 64,
        count,
        inSeed: SEED,
        outSeed: SEED ^ 0xabcdef,
        maxExtra: 200,
      };
      const peer = await startPeer(input);
      const mine = run(bridge.outbox, bridge.inbox, input.outSeed, input.inSeed, count, input.maxExtra);
      const theirs = await peer.report;
      expect(mine).toEqual({ received: count, sent: count, errors: 0, firstError: '' });
      expect(theirs).toEqual({ received: count, sent: count, errors: 0, firstError: '' });
      expect(bridge.inbox.usedBytes).toBe(0);
      expect(bridge.outbox.usedBytes).toBe(0);
      bridge.verifyGuards();
      expect(u8.subarray(0, 64).every((x) => x === 0xc3)).toBe(true);
      expect(u8.subarray(64 + size).every((x) => x === 0xc3)).toBe(true);
    }
  });
});
