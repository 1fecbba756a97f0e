// FuelModules: each distinct module instrumented once per process, LRU-bounded, own outputs kept.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FuelError, FuelModules, instrumentFuel } from '../src/fuel/index.ts';
import { fixture, wat } from './fuel-runner.ts';

const hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
async function refusalOf(pending: Promise<unknown>): Promise<string> {
  const error = await pending.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (error instanceof FuelError) return error.code;
  throw new Error(`no FuelError: ${String(error)}`);
}

/** Instruments on this thread (the coordinator passes a FuelThread's). */
const here = (bytes: Uint8Array) => instrumentFuel(bytes, { existing: 'refuse' });

const tiny = (n: number) => wat(`(module (func (export "f") (result i32) (i32.const ${n})))`);

describe('FuelModules', async () => {
  it('instruments a module once and names it by the sha256 of the instrumented bytes', async () => {
    const stored: Uint8Array[] = [];
    const modules = new FuelModules({
      instrument: here,
      put: (bytes) => {
        stored.push(bytes);
        return hex(bytes);
      },
    });
    const original = fixture('kernel-poly-simd');
    const first = await modules.get(original);
    const second = await modules.get(new Uint8Array(original));
    expect(second).toBe(first);
    expect(modules.instrumentedCount).toBe(1);
    expect(stored).toEqual([first.bytes]);
    expect(first.hash).toBe(`sha256:${hex(first.bytes)}`);
    expect(hex(first.bytes)).toBe(hex(instrumentFuel(original)));
  });

  it('hands its own output back unchanged, and refuses other modules that export __flock_fuel', async () => {
    const modules = new FuelModules({ instrument: here });
    const entry = await modules.get(tiny(1));
    expect(await modules.get(entry.bytes)).toBe(entry);
    expect(modules.instrumentedCount).toBe(1);
    const elsewhere = instrumentFuel(tiny(2));
    expect(await refusalOf(modules.get(elsewhere))).toBe('ALREADY_NAMED');
    expect(await refusalOf(modules.get(new Uint8Array([0, 1, 2])))).toBe('NOT_WASM');
    expect(modules.size).toBe(1);
  });

  it('forgets the least recently used module past maxEntries', async () => {
    const modules = new FuelModules({ instrument: here, maxEntries: 2 });
    const [a, b, c] = [tiny(1), tiny(2), tiny(3)];
    const first = await modules.get(a);
    await modules.get(b);
    await modules.get(a); // a is now the most recently used
    await modules.get(c); // b goes
    expect(modules.size).toBe(2);
    expect(modules.instrumentedCount).toBe(3);
    expect(await modules.get(a)).toBe(first);
    expect(modules.instrumentedCount).toBe(3);
    await modules.get(b);
    expect(modules.instrumentedCount).toBe(4);
  });

  it('forgets modules past maxBytes but keeps the newest', async () => {
    const big = fixture('fuel-work');
    const modules = new FuelModules({ instrument: here, maxBytes: 1000 });
    const small = await modules.get(tiny(1));
    expect(modules.size).toBe(1);
    const large = await modules.get(big);
    expect(large.bytes.byteLength).toBeGreaterThan(1000);
    expect(modules.size).toBe(1);
    expect(await modules.get(big)).toBe(large);
    expect(await modules.get(tiny(1))).not.toBe(small);
  });

  it('instruments a module once when several ask for it at the same time', async () => {
    let calls = 0;
    const modules = new FuelModules({
      instrument: async (bytes) => {
        calls++;
        await new Promise((resolve) => setImmediate(resolve));
        return instrumentFuel(bytes);
      },
    });
    const original = tiny(7);
    const [a, b, c] = await Promise.all([modules.get(original), modules.get(original), modules.get(tiny(7))]);
    expect(calls).toBe(1);
    expect(b).toBe(a);
    expect(c).toBe(a);
    expect(modules.instrumentedCount).toBe(1);
  });

  it('does not remember a failure: the next request tries again', async () => {
    let calls = 0;
    const modules = new FuelModules({
      instrument: async () => {
        calls++;
        throw new FuelError('UNSUPPORTED', 'no');
      },
    });
    expect(await refusalOf(modules.get(tiny(8)))).toBe('UNSUPPORTED');
    expect(await refusalOf(modules.get(tiny(8)))).toBe('UNSUPPORTED');
    expect(calls).toBe(2);
    expect(modules.size).toBe(0);
  });

  it('rejects bounds that cannot hold a module', async () => {
    expect(() => new FuelModules({ instrument: here, maxEntries: 0 })).toThrow(RangeError);
  });
});
