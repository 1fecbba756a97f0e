// Fuel instrumentation (issue #14) on real modules: the C fixtures of apps/worker-web, compiled by
// clang/wasi-libc (apps/worker-web/scripts/build-fixtures.sh), run in Node like a volunteer tab.
import { createHash } from 'node:crypto';
import { DEFAULT_FUEL, FUEL_GLOBAL } from '@flock/protocol';
import { beforeAll, describe, expect, it } from 'vitest';
import { capMemory, inspectWasm } from '../../worker-web/src/wasm-binary.ts';
import { type FuelScheme, instrumentFuel } from '../src/fuel/index.ts';
import { EXACT_GLOBAL, instrumentExactCount } from './fuel-exact-count.ts';
import { fixture, refusal, runKernel, runWasi } from './fuel-runner.ts';
import { wasm } from './fuel-wasm-api.ts';

const BUDGET = BigInt(DEFAULT_FUEL);
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Deterministic f32 input for the polynomial kernel. */
function floats(count: number): Uint8Array {
  const values = new Float32Array(count);
  let seed = 7;
  for (let i = 0; i < count; i++) {
    seed = (Math.imul(seed, 1_664_525) + 1_013_904_223) >>> 0;
    values[i] = seed / 2 ** 31 - 1;
  }
  return new Uint8Array(values.buffer);
}

describe('an instrumented module', () => {
  let work: Uint8Array;
  let workFuel: Uint8Array;

  beforeAll(() => {
    work = fixture('fuel-work');
    workFuel = instrumentFuel(work);
  });

  it('exports a mutable i64 fuel global initialised to DEFAULT_FUEL', async () => {
    const instance = await wasm.instantiate(await wasm.compile(workFuel), {
      wasi_snapshot_preview1: new Proxy({}, { get: () => () => 0 }),
    });
    const global = instance.exports[FUEL_GLOBAL];
    if (!(global instanceof wasm.Global)) throw new Error('no fuel global');
    expect(global.value).toBe(BUDGET);
    global.value = 5n;
    expect(global.value).toBe(5n);
  });

  it('traps an infinite loop within a small budget, leaving the global negative', async () => {
    const looping = instrumentFuel(fixture('infinite-loop'));
    const run = await runWasi(looping, { fuel: 1_000_000n });
    expect(run.trap).toBe('unreachable');
    expect(run.code).toBeUndefined();
    expect(run.fuelLeft).toBeLessThan(0n);
    // The loop's region charges a few dozen units at a time: it stops just past the budget.
    expect(run.fuelLeft).toBeGreaterThan(-100n);
    expect(run.ms).toBeLessThan(2_000);
    const again = await runWasi(looping, { fuel: 1_000_000n });
    expect(again.fuelLeft).toBe(run.fuelLeft);
  });

  it('uses the same fuel on every run and in every separately instrumented copy', async () => {
    const copy = instrumentFuel(new Uint8Array(work));
    expect(sha(copy)).toBe(sha(workFuel));
    const runs = [
      await runWasi(workFuel, { args: ['2'] }),
      await runWasi(workFuel, { args: ['2'] }),
      await runWasi(copy, { args: ['2'] }),
    ];
    for (const run of runs) expect(run.code).toBe(0);
    expect(runs[0]!.fuelUsed).toBeGreaterThan(1_000_000n);
    expect(runs[1]!.fuelUsed).toBe(runs[0]!.fuelUsed);
    expect(runs[2]!.fuelUsed).toBe(runs[0]!.fuelUsed);
  });

  it('charges between 1.0x and 1.01x the exact count of instructions executed', async () => {
    // Measured 1.0001x for fuel-work at scales 1 to 40: a region is charged as a whole where it
    // starts, and only an exit from the middle of one (here: WASI exit) leaves some of it unrun.
    const exact = await runWasi(instrumentExactCount(work), { args: ['2'], counter: EXACT_GLOBAL });
    const metered = await runWasi(workFuel, { args: ['2'] });
    expect(exact.stdout.toString()).toBe(metered.stdout.toString());
    expect(exact.counter).toBeGreaterThan(1_000_000n);
    const factor = Number(metered.fuelUsed) / Number(exact.counter);
    expect(factor).toBeGreaterThanOrEqual(1.0);
    expect(factor).toBeLessThanOrEqual(1.01);
  });

  it('runs a budget of exactly the fuel it needs, and traps with one unit less', async () => {
    const { fuelUsed } = await runWasi(workFuel, { args: ['1'] });
    const enough = await runWasi(workFuel, { args: ['1'], fuel: fuelUsed! });
    expect(enough.code).toBe(0);
    expect(enough.fuelLeft).toBe(0n);
    const short = await runWasi(workFuel, { args: ['1'], fuel: fuelUsed! - 1n });
    // It runs out at its last charge, after printing: the exit's store of the fuel traps.
    expect(short.trap).toBe('unreachable');
    expect(short.fuelLeft).toBe(-1n);
    expect(short.code).toBeUndefined();
  });

  it.each<FuelScheme>(['passed', 'local', 'global'])(
    'gives the same stdout and the same fuel with the %s scheme',
    async (scheme) => {
      const original = await runWasi(work, { args: ['3'] });
      const run = await runWasi(instrumentFuel(work, { scheme }), { args: ['3'] });
      expect(original.stdout.toString()).toBe(
        'fuel-work scale=3 hash=37310691 escape=214739 wave=56.413892284\n',
      );
      expect(run.stdout.equals(original.stdout)).toBe(true);
      expect(run.code).toBe(0);
      const passed = await runWasi(workFuel, { args: ['3'] });
      expect(run.fuelUsed).toBe(passed.fuelUsed);
    },
  );

  it('keeps WASI stdin, args, files and exit codes working', async () => {
    const echo = fixture('wasi-echo');
    const options = {
      args: ['one', 'two'],
      stdin: new TextEncoder().encode('hello fuel\n'),
      inputs: { 'a.txt': 'abc', 'b.txt': 'xyz' },
    };
    const original = await runWasi(echo, options);
    const run = await runWasi(instrumentFuel(echo), options);
    expect(original.code).toBe(0);
    expect(run.code).toBe(0);
    expect(run.stdout.toString()).toBe(original.stdout.toString());
    expect(run.stdout.toString()).toContain('in:a.txt sum=294');
    expect(run.files.get('upper.txt')?.toString()).toBe('HELLO FUEL\n');
    const exit = await runWasi(instrumentFuel(fixture('exit-code')));
    expect(exit.code).toBe(7);
    expect(exit.stderr.toString()).toBe('something went wrong\n');
    expect(exit.fuelUsed).toBeGreaterThan(0n);
  });

  it('leaves the global at or above zero after an ordinary trap', async () => {
    // memory-bomb calls __builtin_trap() once malloc fails under the tab's page cap.
    const capped = capMemory(instrumentFuel(fixture('memory-bomb')), 64);
    expect(inspectWasm(capped).memories[0]?.maximum).toBe(64);
    const run = await runWasi(capped);
    // The global holds what was stored last (at entry or the last import call): not negative.
    expect(run.trap).toBe('unreachable');
    expect(run.fuelLeft).toBeGreaterThanOrEqual(0n);
    expect(run.fuelLeft).toBeLessThanOrEqual(BUDGET);
  });

  it('keeps what the tab inspects: imports, memories, and capMemory still applies', () => {
    for (const name of ['fuel-work', 'wasi-echo', 'kernel-poly-simd', 'kernel-poly-private']) {
      const original = inspectWasm(fixture(name));
      const instrumented = inspectWasm(instrumentFuel(fixture(name)));
      expect(instrumented).toEqual(original);
    }
    const capped = capMemory(workFuel, 100);
    expect(inspectWasm(capped).memories).toEqual([{ initial: 2, maximum: 100, shared: false }]);
    expect(wasm.validate(capped)).toBe(true);
  });
});

describe('an instrumented kernel', () => {
  const input = floats(64 * 1024);

  it.each(['kernel-poly-simd', 'kernel-poly-scalar', 'kernel-poly-private'])(
    '%s writes the same output bytes on its imported memory, with deterministic fuel',
    async (name) => {
      const original = await runKernel(fixture(name), input);
      const instrumented = instrumentFuel(fixture(name));
      const runs = [await runKernel(instrumented, input), await runKernel(instrumented, input)];
      expect(original.code).toBe(input.byteLength);
      for (const run of runs) {
        expect(run.code).toBe(input.byteLength);
        expect(sha(run.output)).toBe(sha(original.output));
      }
      expect(runs[0]!.fuelUsed).toBeGreaterThan(BigInt(input.byteLength / 16));
      expect(runs[1]!.fuelUsed).toBe(runs[0]!.fuelUsed);
    },
  );

  it('still imports shared memory the tab recognises (kernel-poly-simd)', () => {
    const info = inspectWasm(instrumentFuel(fixture('kernel-poly-simd')));
    expect(info.imports).toEqual([
      { module: 'env', name: 'memory', kind: 'memory', memory: { initial: 2, maximum: 16384, shared: true } },
    ]);
    expect(info.memories).toEqual([]);
  });

  it('traps a kernel whose budget runs out, leaving the global negative', async () => {
    const run = await runKernel(instrumentFuel(fixture('kernel-poly-simd')), input, 10_000n);
    expect(run.trap).toBe('unreachable');
    expect(run.fuelLeft).toBeLessThan(0n);
  });
});

describe('instrumentFuel refuses', () => {
  it('bytes that are not WebAssembly with NOT_WASM', () => {
    const cases = [
      new Uint8Array(0),
      new TextEncoder().encode('not a module at all'),
      fixture('fuel-work').subarray(0, 1000),
    ];
    for (const bytes of cases) expect(refusal(() => instrumentFuel(bytes))).toBe('NOT_WASM');
  });

  it('to instrument twice: an instrumented module comes back as it is', () => {
    const once = instrumentFuel(fixture('fuel-work'));
    expect(instrumentFuel(once)).toBe(once);
    expect(refusal(() => instrumentFuel(once, { existing: 'refuse' }))).toBe('ALREADY_NAMED');
  });
});
