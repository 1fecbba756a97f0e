import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { attach, BridgeError, bytesFor, create, layoutFor, MAGIC } from '../src/index.ts';

const config = { inboxBytes: 4096, outboxBytes: 4096, arenaBytes: 1 << 20, minBlockBytes: 256 };

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof BridgeError) return e.code;
    throw e;
  }
  return 'no error';
}

describe('layout', () => {
  it('places every region where the drawing says', () => {
    expect(layoutFor(config)).toEqual({
      inboxBytes: 4096,
      outboxBytes: 4096,
      arenaBytes: 1048576,
      minBlockBytes: 256,
      inboxData: 512,
      inboxGuard: 4608,
      outboxData: 4672,
      outboxGuard: 8768,
      blockTable: 8832,
      blockCount: 4096,
      arena: 94208,
      arenaGuard: 1142784,
      totalBytes: 1142848,
    });
    expect(bytesFor(config)).toBe(1142848);
    expect(create(config).buffer.byteLength).toBe(1142848);
  });

  it('is drawn the same in the code and in the README', () => {
    const drawing = (text: string): string[] => {
      const lines = text.split('\n');
      const start = lines.findIndex((l) => l.includes('┌'));
      const end = lines.findIndex((l) => l.includes('└'));
      return lines.slice(start, end + 1).map((l) => l.replace(/^ \* ?/, '').trimEnd());
    };
    const code = drawing(readFileSync(new URL('../src/layout.ts', import.meta.url), 'utf8'));
    expect(code.length).toBe(20);
    expect(drawing(readFileSync(new URL('../README.md', import.meta.url), 'utf8'))).toEqual(code);
  });

  it('writes the header words in the documented order', () => {
    const b = create(config);
    const w = new Uint32Array(b.buffer, 0, 8);
    expect(Array.from(w.subarray(0, 7))).toEqual([MAGIC, 1, 1142848, 4096, 4096, 1048576, 256]);
    expect(new TextDecoder().decode(new Uint8Array(b.buffer, 0, 4))).toBe('FLKB');
  });

  it('refuses configurations that are not powers of two', () => {
    expect(codeOf(() => bytesFor({ ...config, inboxBytes: 1000 }))).toBe('INVALID_CONFIG');
    expect(codeOf(() => bytesFor({ ...config, arenaBytes: 128 }))).toBe('INVALID_CONFIG');
    expect(codeOf(() => bytesFor({ ...config, minBlockBytes: 8 }))).toBe('INVALID_CONFIG');
    expect(codeOf(() => bytesFor({ ...config, outboxBytes: 32 }))).toBe('INVALID_CONFIG');
  });

  it('attaches to a bridge made elsewhere and shares its rings', () => {
    const a = create(config);
    const b = attach(a.buffer);
    expect(a.inbox.push(new Uint8Array([1, 2, 3]))).toBe(true);
    expect(Array.from(b.inbox.pop()!)).toEqual([1, 2, 3]);
    expect(b.layout).toEqual(a.layout);
  });

  it('lays out inside a caller buffer at an offset and leaves the bytes around it alone', () => {
    const size = bytesFor(config);
    const sab = new SharedArrayBuffer(size + 256);
    const u8 = new Uint8Array(sab);
    u8.fill(0x5c);
    const b = create(config, { buffer: sab, byteOffset: 128 });
    expect(attach(sab, 128).byteLength).toBe(size);
    b.outbox.push(new Uint8Array(100).fill(7));
    const h = b.arena.alloc(1 << 20, 1)!;
    b.arena.bytes(h).fill(0xee);
    expect(u8.subarray(0, 128).every((x) => x === 0x5c)).toBe(true);
    expect(u8.subarray(128 + size).every((x) => x === 0x5c)).toBe(true);
    b.verifyGuards();
  });

  it('refuses a foreign or corrupt buffer with a typed error', () => {
    const good = create(config);
    const copy = (): SharedArrayBuffer => {
      const s = new SharedArrayBuffer(good.buffer.byteLength);
      new Uint8Array(s).set(new Uint8Array(good.buffer));
      return s;
    };
    expect(codeOf(() => attach(new ArrayBuffer(4096) as unknown as SharedArrayBuffer))).toBe('NOT_SHARED');
    expect(codeOf(() => attach(new SharedArrayBuffer(bytesFor(config))))).toBe('BAD_MAGIC');
    expect(codeOf(() => attach(good.buffer, 3))).toBe('BAD_OFFSET');
    expect(codeOf(() => attach(new SharedArrayBuffer(100)))).toBe('BUFFER_TOO_SMALL');

    const version = copy();
    new Uint32Array(version)[1] = 2;
    expect(codeOf(() => attach(version))).toBe('BAD_VERSION');

    const sizes = copy();
    new Uint32Array(sizes)[5] = 1 << 21; // arenaBytes changed after create
    expect(codeOf(() => attach(sizes))).toBe('CORRUPT_HEADER');

    const bitflip = copy();
    new Uint8Array(bitflip)[13]! ^= 0x10; // inboxBytes 4096 → 8192, checksum now wrong
    expect(codeOf(() => attach(bitflip))).toBe('CORRUPT_HEADER');

    const truncated = new SharedArrayBuffer(good.buffer.byteLength - 64);
    new Uint8Array(truncated).set(new Uint8Array(good.buffer, 0, truncated.byteLength));
    expect(codeOf(() => attach(truncated))).toBe('BUFFER_TOO_SMALL');

    expect(codeOf(() => create(config, { buffer: new SharedArrayBuffer(4096) }))).toBe('BUFFER_TOO_SMALL');
  });

  it('reports an overwritten guard with the region it follows', () => {
    const b = create(config);
    b.verifyGuards();
    new Uint8Array(b.buffer)[b.layout.outboxGuard + 5] = 0;
    let err: unknown;
    try {
      b.verifyGuards();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BridgeError);
    expect((err as BridgeError).code).toBe('GUARD_CORRUPT');
    expect((err as BridgeError).message).toContain('outbox');
  });
});
