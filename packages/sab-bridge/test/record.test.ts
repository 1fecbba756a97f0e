import { ProtocolError } from '@flock/protocol';
import { describe, expect, it } from 'vitest';
import { BridgeError, create, handleOf, popRecord, pushRecord, sliceOf } from '../src/index.ts';

describe('BridgeRecord ring records', () => {
  it('round-trips a job header naming arena slices', () => {
    const b = create({ inboxBytes: 1024, outboxBytes: 1024, arenaBytes: 1 << 16, minBlockBytes: 64 });
    const h = b.arena.alloc(5000, 9)!;
    const rec = {
      kind: 'job' as const,
      job_id: 9,
      task_id: 't-123',
      slices: [sliceOf('signal', h)],
      params: '{"k":2}',
    };
    expect(pushRecord(b.inbox, rec)).toBe(true);
    const got = popRecord(b.inbox)!;
    // Defaults (offset 0 here) are not on the wire; handleOf fills them back in.
    expect(got).toEqual({ ...rec, slices: [{ name: 'signal', length: 5000, generation: 1 }] });
    expect(handleOf(got.slices![0]!)).toEqual(h);
    expect(b.arena.bytes(handleOf(got.slices![0]!)).length).toBe(5000);
    expect(popRecord(b.inbox)).toBeUndefined();
  });

  it('reports a full ring as false and garbage as a ProtocolError', () => {
    const b = create({ inboxBytes: 128, outboxBytes: 128, arenaBytes: 4096, minBlockBytes: 64 });
    expect(b.outbox.push(new Uint8Array(100))).toBe(true); // 104 of 128 bytes used
    expect(pushRecord(b.outbox, { kind: 'progress', job_id: 1, pct: 50 })).toBe(false);
    b.outbox.pop();
    b.outbox.push(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]));
    expect(() => popRecord(b.outbox)).toThrow(ProtocolError);
  });

  it('refuses a slice without a generation', () => {
    let err: unknown;
    try {
      handleOf({ name: 'x', offset: 0, length: 4 });
    } catch (e) {
      err = e;
    }
    expect((err as BridgeError).code).toBe('STALE_HANDLE');
    expect(err).toBeInstanceOf(BridgeError);
  });
});
