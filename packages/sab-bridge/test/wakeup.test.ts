import { describe, expect, it } from 'vitest';
import { create } from '../src/index.ts';
import { spawnTs } from './support/spawn.ts';

// Both sides sleep (spin 0) on every record, so each of the 5000 round trips needs two notifies
// to land: one lost wake-up stalls a side for 30 s, past this test's 20 s limit.
describe('epoch wake-ups', () => {
  it('never loses a notify across 5000 sleeping round trips', async () => {
    const bridge = create({ inboxBytes: 256, outboxBytes: 256, arenaBytes: 4096, minBlockBytes: 256 });
    const peer = spawnTs(new URL('./support/echo-peer.ts', import.meta.url), { buffer: bridge.buffer });
    expect(await peer.next()).toBe('ready');
    const out = new Uint8Array(256);
    const back = new Uint8Array(256);
    let ok = 0;
    for (let i = 0; i < 5000; i++) {
      const len = 1 + (i % 200);
      out.fill(i & 0xff, 0, len);
      expect(bridge.inbox.push(out.subarray(0, len))).toBe(true);
      if (bridge.outbox.waitForData(30_000, 0) !== 'ok') break;
      if (bridge.outbox.popInto(back) === len && back[len - 1] === (i & 0xff)) ok++;
    }
    bridge.close();
    expect(ok).toBe(5000);
    expect(await peer.next()).toBe(5000);
  }, 20_000);
});
