// FuelModules: each distinct module instrumented once per process, LRU-bounded, own outputs kept.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FuelModules, instrumentFuel } from '../src/fuel/index.ts';
import { fixture, refusal, wat } from './fuel-runner.ts';

const hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const tiny = (n: number) => wat(`(module (func (export "f") (result i32) (i32.const ${n})))`);

describe('FuelModules', () => {
  it('instruments a module once and names it by the sha256 of the instrumented bytes', () => {
    const stored: Uint8Array[] = [];
    const modules = new FuelModules({
      put: (bytes) => {
        stored.push(bytes);
        return hex(bytes);
      },
    });
    const original = fixture('kernel-poly-simd');
    const first = modules.get(original);
    const second = modules.get(new Uint8Array(original));
    expect(second).toBe(first);
    expect(modules.instrumentedCount).toBe(1);
    expect(stored).toEqual([first.bytes]);
    expect(first.hash).toBe(`sha256:${hex(first.bytes)}`);
    expect(hex(first.bytes)).toBe(hex(instrumentFuel(original)));
  });

  it('hands its own output back unchanged, and refuses other modules that export __flock_fuel', () => {
    const modules = new FuelModules();
    const entry = modules.get(tiny(1));
    expect(modules.get(entry.bytes)).toBe(entry);
    expect(modules.instrumentedCount).toBe(1);
    const elsewhere = instrumentFuel(tiny(2));
    expect(refusal(() => modules.get(elsewhere))).toBe('ALREADY_NAMED');
    expect(refusal(() => modules.get(new Uint8Array([0, 1, 2])))).toBe('NOT_WASM');
    expect(modules.size).toBe(1);
  });

  it('forgets the least recently used module past maxEntries', () => {
    const modules = new FuelModules({ maxEntries: 2 });
    const [a, b, c] = [tiny(1), tiny(2), tiny(3)];
    const first = modules.get(a);
    modules.get(b);
    modules.get(a); // a is now the most recently used
    modules.get(c); // b goes
    expect(modules.size).toBe(2);
    expect(modules.instrumentedCount).toBe(3);
    expect(modules.get(a)).toBe(first);
    expect(modules.instrumentedCount).toBe(3);
    modules.get(b);
    expect(modules.instrumentedCount).toBe(4);
  });

  it('forgets modules past maxBytes but keeps the newest', () => {
    const big = fixture('fuel-work');
    const modules = new FuelModules({ maxBytes: 1000 });
    const small = modules.get(tiny(1));
    expect(modules.size).toBe(1);
    const large = modules.get(big);
    expect(large.bytes.byteLength).toBeGreaterThan(1000);
    expect(modules.size).toBe(1);
    expect(modules.get(big)).toBe(large);
    expect(modules.get(tiny(1))).not.toBe(small);
  });

  it('rejects bounds that cannot hold a module', () => {
    expect(() => new FuelModules({ maxEntries: 0 })).toThrow(RangeError);
  });
});
