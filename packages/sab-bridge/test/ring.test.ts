import { afterEach, describe, expect, it } from 'vitest';
import { BridgeError, create, forceWaitAsyncFallback, Ring } from '../src/index.ts';

function bridge(ringBytes: number) {
  return create({ inboxBytes: ringBytes, outboxBytes: ringBytes, arenaBytes: 4096, minBlockBytes: 256 });
}

function pattern(len: number, salt: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = (i * 31 + salt * 7 + 1) & 0xff;
  return out;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof BridgeError) return e.code;
    throw e;
  }
  return 'no error';
}

afterEach(() => forceWaitAsyncFallback(false));

describe('Ring', () => {
  it('is empty, then full, then empty again, in order', () => {
    const { inbox } = bridge(64);
    expect(inbox.pop()).toBeUndefined();
    expect(inbox.popInto(new Uint8Array(8))).toBe(-1);
    expect(inbox.peekLength()).toBe(-1);
    // 12-byte records take 16 bytes: four fill a 64-byte ring.
    for (let i = 0; i < 4; i++) expect(inbox.push(pattern(12, i))).toBe(true);
    expect(inbox.usedBytes).toBe(64);
    expect(inbox.push(pattern(0, 9))).toBe(false);
    expect(inbox.push(pattern(12, 9))).toBe(false);
    for (let i = 0; i < 4; i++) expect(inbox.pop()).toEqual(pattern(12, i));
    expect(inbox.pop()).toBeUndefined();
    expect(inbox.usedBytes).toBe(0);
  });

  it('takes a record as large as the ring allows and refuses a larger one', () => {
    const { inbox } = bridge(64);
    expect(codeOf(() => inbox.push(new Uint8Array(61)))).toBe('RECORD_TOO_LARGE');
    expect(inbox.push(pattern(60, 1))).toBe(true);
    expect(inbox.usedBytes).toBe(64);
    expect(inbox.pop()).toEqual(pattern(60, 1));
  });

  it('carries zero-length records', () => {
    const { outbox } = bridge(64);
    expect(outbox.push(new Uint8Array(0))).toBe(true);
    expect(outbox.peekLength()).toBe(0);
    expect(outbox.pop()).toEqual(new Uint8Array(0));
    expect(outbox.pop()).toBeUndefined();
  });

  it('wraps around at every offset with every record length, guards intact', () => {
    const cap = 256;
    const b = bridge(cap);
    const ring = b.inbox;
    const dst = new Uint8Array(cap);
    let pos = 0; // byte position of head and tail (the ring is empty between steps)
    const moveTo = (start: number): void => {
      const gap = (start - pos + cap) % cap;
      if (gap === 0) return;
      expect(ring.push(new Uint8Array(gap - 4))).toBe(true);
      expect(ring.popInto(dst)).toBe(gap - 4);
      pos = start;
    };
    let checked = 0;
    const failures: string[] = [];
    const same = (a: Uint8Array, b: Uint8Array): boolean =>
      a.length === b.length && a.every((x, i) => x === b[i]);
    for (let start = 0; start < cap; start += 4) {
      for (let len = 0; len <= cap - 4; len++) {
        moveTo(start);
        const rec = pattern(len, start + len);
        if (!ring.push(rec)) failures.push(`push ${start}/${len}`);
        const got = len % 2 === 0 ? ring.pop() : dst.subarray(0, ring.popInto(dst));
        if (!got || !same(got, rec)) failures.push(`bytes ${start}/${len}`);
        pos = (pos + Ring.footprint(len)) % cap;
        checked++;
      }
    }
    expect(failures).toEqual([]);
    expect(checked).toBe(64 * 253);
    expect(ring.usedBytes).toBe(0);
    b.verifyGuards();
  });

  it('leaves a record in place when popInto has too little room', () => {
    const { inbox } = bridge(64);
    inbox.push(pattern(20, 3));
    expect(codeOf(() => inbox.popInto(new Uint8Array(19)))).toBe('BUFFER_TOO_SMALL');
    expect(inbox.pop()).toEqual(pattern(20, 3));
  });

  it('detects a record length that cannot be', () => {
    const b = bridge(64);
    b.inbox.push(pattern(8, 1));
    new Int32Array(b.buffer)[b.layout.inboxData >> 2] = 1000;
    expect(codeOf(() => b.inbox.pop())).toBe('CORRUPT_RING');
    new Int32Array(b.buffer)[b.layout.inboxData >> 2] = -5;
    expect(codeOf(() => b.inbox.peekLength())).toBe('CORRUPT_RING');
  });

  it('scrubFree zeroes records already read, wrapped or not, and keeps the unread ones whole', () => {
    const ring = bridge(256).inbox;
    for (let i = 0; i < 5; i++) expect(ring.push(new Uint8Array(40).fill(0xc0 + i))).toBe(true);
    for (let i = 0; i < 4; i++) ring.pop();
    // Wrap: these land across the end of the data region.
    expect(ring.push(new Uint8Array(60).fill(0xd1))).toBe(true);
    expect(ring.push(new Uint8Array(60).fill(0xd2))).toBe(true);
    ring.pop(); // the fifth 0xc4 record
    const used = ring.usedBytes;
    expect(ring.scrubFree()).toBe(256 - used);
    const data = ring.dataView();
    for (const gone of [0xc0, 0xc1, 0xc2, 0xc3, 0xc4]) expect(data.includes(gone)).toBe(false);
    expect(ring.pop()).toEqual(new Uint8Array(60).fill(0xd1));
    expect(ring.pop()).toEqual(new Uint8Array(60).fill(0xd2));
  });

  it('bumps the data epoch once per push', () => {
    const { inbox } = bridge(64);
    const e0 = inbox.epoch;
    inbox.push(pattern(4, 0));
    inbox.push(pattern(4, 1));
    expect(inbox.epoch - e0).toBe(2);
  });

  it('times out a blocking wait on an empty ring, and sees data and close', () => {
    const b = bridge(64);
    expect(b.inbox.waitForData(20, 0)).toBe('timed-out');
    b.inbox.push(pattern(4, 0));
    expect(b.inbox.waitForData(20, 0)).toBe('ok');
    b.inbox.pop();
    for (let i = 0; i < 4; i++) b.outbox.push(pattern(12, i));
    expect(b.outbox.waitForSpace(12, 20, 0)).toBe('timed-out');
    b.outbox.pop();
    expect(b.outbox.waitForSpace(12, 20, 0)).toBe('ok');
    b.close();
    expect(b.closed).toBe(true);
    expect(b.inbox.waitForData(1000, 0)).toBe('closed');
  });

  it('resolves an async wait for space when the consumer pops', async () => {
    const b = bridge(64);
    for (let i = 0; i < 4; i++) b.inbox.push(pattern(12, i));
    const space = b.inbox.waitForSpaceAsync(12, 60_000, 0);
    setTimeout(() => b.inbox.pop(), 5);
    expect(await space).toBe('ok');
    expect(b.inbox.push(pattern(12, 4))).toBe(true);
    expect(await b.inbox.waitForSpaceAsync(12, 10, 0)).toBe('timed-out');
  });

  it('resolves an async wait when a record arrives, with Atomics.waitAsync and with the fallback', async () => {
    for (const fallback of [false, true]) {
      forceWaitAsyncFallback(fallback);
      const b = bridge(64);
      const waiting = b.outbox.waitForDataAsync(5000, 0);
      setTimeout(() => b.outbox.push(pattern(4, 1)), 5);
      expect(await waiting).toBe('ok');
      expect(b.outbox.pop()).toEqual(pattern(4, 1));
      expect(await b.outbox.waitForDataAsync(10, 0)).toBe('timed-out');
      const closing = b.outbox.waitForDataAsync(5000, 0);
      setTimeout(() => b.close(), 5);
      expect(await closing).toBe('closed');
    }
  });

  it('wakes a blocked executor on requestCancel', async () => {
    const b = bridge(64);
    const waiting = b.inbox.waitForDataAsync(60_000, 0);
    setTimeout(() => b.requestCancel(7), 5);
    expect(await waiting).toBe('cancelled');
    expect(b.cancelledJob).toBe(7);
    // The same id again still interrupts a wait that began after the first request.
    const again = b.inbox.waitForDataAsync(60_000, 0);
    setTimeout(() => b.requestCancel(7), 5);
    expect(await again).toBe('cancelled');
    // The outbox has no cancel word: only data, time or close end its waits.
    expect(b.outbox.waitForData(10, 0)).toBe('timed-out');
    expect(codeOf(() => b.requestCancel(0))).toBe('INVALID_ARGUMENT');
  });
});
