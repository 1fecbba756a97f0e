// Fuel instrumentation of the shapes a C fixture does not have: exception handling (fuel stays
// in the global), exported tables and function references (a local synced at calls), multiple
// results and tail calls (fuel passed as a parameter), a start function, imports that look at the
// fuel mid-run, and the modules instrumentFuel must refuse.
import { DEFAULT_FUEL, FUEL_GLOBAL } from '@flock/protocol';
import { describe, expect, it } from 'vitest';
import { type FuelScheme, instrumentFuel } from '../src/fuel/index.ts';
import { refusal, wat } from './fuel-runner.ts';
import { type WasmGlobal, type WasmImports, type WasmInstance, wasm } from './fuel-wasm-api.ts';

const BUDGET = BigInt(DEFAULT_FUEL);
const SCHEMES: FuelScheme[] = ['passed', 'local', 'global'];

async function instantiate(bytes: Uint8Array, imports: WasmImports = {}): Promise<WasmInstance> {
  return wasm.instantiate(await wasm.compile(bytes), imports);
}

function fuelOf(instance: WasmInstance): WasmGlobal {
  const global = instance.exports[FUEL_GLOBAL];
  if (!(global instanceof wasm.Global)) throw new Error('no fuel global');
  return global;
}

type Fn = (...args: number[]) => unknown;

/**
 * Calls `name(...args)` on the original and on each scheme's instrumentation; checks that results
 * agree and that all schemes use the same fuel, which it returns.
 */
async function sameEverywhere(
  bytes: Uint8Array,
  name: string,
  args: number[],
  imports: () => WasmImports = () => ({}),
): Promise<bigint> {
  const expected = ((await instantiate(bytes, imports())).exports[name] as Fn)(...args);
  const used: bigint[] = [];
  for (const scheme of SCHEMES) {
    const instance = await instantiate(instrumentFuel(bytes, { scheme }), imports());
    const fuel = fuelOf(instance);
    fuel.value = BUDGET;
    expect((instance.exports[name] as Fn)(...args)).toEqual(expected);
    used.push(BUDGET - (fuel.value as bigint));
  }
  expect(used[1]).toBe(used[0]);
  expect(used[2]).toBe(used[0]);
  return used[0]!;
}

const EXCEPTIONS = wat(`(module
  (tag $e (param i32))
  (func $thrower (param i32) (throw $e (local.get 0)))
  (func (export "run") (param $n i32) (result i32)
    (local $acc i32)
    (loop $l
      (try
        (do (call $thrower (local.get $n)))
        (catch $e
          local.get $acc
          i32.add
          local.set $acc))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $acc)))`);

const EXPORTED_TABLE = wat(`(module
  (type $op (func (param i32) (result i32)))
  (table (export "table") 2 funcref)
  (elem (i32.const 0) $double $square)
  (func $double (param i32) (result i32) (i32.add (local.get 0) (local.get 0)))
  (func $square (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))
  (func (export "apply") (param $which i32) (param $x i32) (result i32)
    (call_indirect (type $op) (local.get $x) (local.get $which))))`);

const MULTI_VALUE = wat(`(module
  (func $divmod (param i32 i32) (result i32 i32)
    (i32.div_u (local.get 0) (local.get 1))
    (i32.rem_u (local.get 0) (local.get 1)))
  (func $tail (param i32 i32) (result i32 i32) (return_call $divmod (local.get 0) (local.get 1)))
  (func $count (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 0))
      (else (return_call $count (i32.sub (local.get $n) (i32.const 1))))))
  (func (export "divmod") (param i32 i32) (result i32 i32) (call $tail (local.get 0) (local.get 1)))
  (func (export "sum") (param $n i32) (result i32)
    (local $acc i32)
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (i32.add (local.get $acc) (i32.add (call $divmod (local.get $n) (i32.const 7)))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (i32.add (local.get $acc) (call $count (i32.const 1000)))))`);

describe('every scheme', () => {
  it('keeps exception handling working, fuel charged on the global (try, throw, catch)', async () => {
    const used = await sameEverywhere(EXCEPTIONS, 'run', [100]);
    expect(used).toBeGreaterThan(100n * 10n);
    const instance = await instantiate(instrumentFuel(EXCEPTIONS), {});
    fuelOf(instance).value = 50n;
    expect(() => (instance.exports['run'] as Fn)(1_000_000)).toThrow(wasm.RuntimeError);
    expect(fuelOf(instance).value).toBeLessThan(0n);
  });

  it('keeps an exported table callable by the host at its original signature', async () => {
    expect(await sameEverywhere(EXPORTED_TABLE, 'apply', [1, 9])).toBeGreaterThan(0n);
    const instance = await instantiate(instrumentFuel(EXPORTED_TABLE), {});
    const table = instance.exports['table'] as { get(i: number): Fn };
    expect(table.get(1)(12)).toBe(144);
  });

  it('keeps multiple results and tail calls', async () => {
    expect(await sameEverywhere(MULTI_VALUE, 'divmod', [47, 5])).toBeGreaterThan(0n);
    expect((await instantiate(MULTI_VALUE)).exports['divmod']).toBeDefined();
    const used = await sameEverywhere(MULTI_VALUE, 'sum', [500]);
    // 500 loop iterations and 1000 tail calls, each a few instructions.
    expect(used).toBeGreaterThan(500n * 10n + 1000n * 5n);
  });

  it('lets the host see the fuel going down while the module calls an import', async () => {
    const bytes = wat(`(module
      (import "env" "tick" (func $tick (param i32)))
      (func (export "run") (param $n i32)
        (loop $l
          (call $tick (local.get $n))
          (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))))`);
    for (const scheme of SCHEMES) {
      const seen: bigint[] = [];
      let instance: WasmInstance | undefined;
      const imports = { env: { tick: () => seen.push(fuelOf(instance!).value as bigint) } };
      instance = await instantiate(instrumentFuel(bytes, { scheme }), imports);
      fuelOf(instance).value = 1000n;
      (instance.exports['run'] as Fn)(5);
      expect(seen).toHaveLength(5);
      const steps = seen.slice(1).map((v, i) => seen[i]! - v);
      expect(new Set(steps).size).toBe(1);
      expect(steps[0]).toBeGreaterThan(0n);
      // The rest of the last iteration was charged at its loop header, before the call.
      expect(fuelOf(instance).value).toBe(seen[4]);
    }
  });

  it('runs a start function on the initial DEFAULT_FUEL', async () => {
    const bytes = wat(`(module
      (global $sum (mut i32) (i32.const 0))
      (func $init (local $i i32)
        (loop $l
          (global.set $sum (i32.add (global.get $sum) (local.get $i)))
          (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 100)))))
      (start $init)
      (func (export "sum") (result i32) (global.get $sum)))`);
    for (const scheme of SCHEMES) {
      const instance = await instantiate(instrumentFuel(bytes, { scheme }));
      expect((instance.exports['sum'] as Fn)()).toBe(4950);
      const used = BUDGET - (fuelOf(instance).value as bigint);
      expect(used).toBeGreaterThan(100n * 5n);
      expect(used).toBeLessThan(100n * 20n);
    }
  });

  it('falls back from passing fuel when function references could escape (ref.func, an imported table entry)', async () => {
    const refs = wat(`(module
      (type $op (func (param i32) (result i32)))
      (table 1 funcref)
      (elem declare func $inc)
      (func $inc (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
      (func (export "run") (param i32) (result i32)
        (table.set (i32.const 0) (ref.func $inc))
        (call_indirect (type $op) (local.get 0) (i32.const 0))))`);
    expect(await sameEverywhere(refs, 'run', [41])).toBeGreaterThan(0n);
    const importedEntry = wat(`(module
      (type $op (func (param i32) (result i32)))
      (import "env" "neg" (func $neg (param i32) (result i32)))
      (table 1 funcref)
      (elem (i32.const 0) $neg)
      (func (export "run") (param i32) (result i32) (call_indirect (type $op) (local.get 0) (i32.const 0))))`);
    const imports = () => ({ env: { neg: (x: number) => -x } });
    expect(await sameEverywhere(importedEntry, 'run', [5], imports)).toBeGreaterThan(0n);
  });

  it('leaves the global at or above zero when the module traps on its own', async () => {
    const bytes = wat(`(module
      (func (export "run") (param $n i32)
        (loop $l (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
        (unreachable)))`);
    for (const scheme of SCHEMES) {
      const instance = await instantiate(instrumentFuel(bytes, { scheme }));
      fuelOf(instance).value = 1_000_000n;
      expect(() => (instance.exports['run'] as Fn)(100)).toThrow(wasm.RuntimeError);
      const left = fuelOf(instance).value as bigint;
      expect(left).toBeGreaterThanOrEqual(0n);
      expect(left).toBeLessThanOrEqual(1_000_000n);
    }
  });
});

describe('instrumentFuel refuses', () => {
  it('a module whose export named __flock_fuel is not a mutable i64 global (ALREADY_NAMED)', () => {
    const others = [
      '(func (export "__flock_fuel"))',
      '(global (export "__flock_fuel") i64 (i64.const 0))',
      '(global (export "__flock_fuel") (mut i32) (i32.const 0))',
      '(memory (export "__flock_fuel") 1)',
    ];
    for (const field of others) {
      expect(refusal(() => instrumentFuel(wat(`(module ${field})`)))).toBe('ALREADY_NAMED');
    }
    const lookalike = wat('(module (global (export "__flock_fuel") (mut i64) (i64.const 0)))');
    expect(instrumentFuel(lookalike)).toBe(lookalike);
    expect(refusal(() => instrumentFuel(lookalike, { existing: 'refuse' }))).toBe('ALREADY_NAMED');
  });

  it('instructions it cannot walk (UNSUPPORTED)', () => {
    const gc = wat(`(module
      (type $pair (struct (field i32) (field i32)))
      (func (export "make") (result i32) (struct.get $pair 0 (struct.new $pair (i32.const 1) (i32.const 2)))))`);
    expect(refusal(() => instrumentFuel(gc))).toBe('UNSUPPORTED');
    const fill = wat(`(module (table 4 funcref)
      (func (export "clear") (table.fill (i32.const 0) (ref.null func) (i32.const 4))))`);
    expect(refusal(() => instrumentFuel(fill))).toBe('UNSUPPORTED');
  });
});
