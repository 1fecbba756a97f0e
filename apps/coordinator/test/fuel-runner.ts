// Test-only: runs the worker-web WebAssembly fixtures in Node the way a volunteer tab would (WASI
// preview1 commands through node:wasi, kernel-ABI modules on a shared imported memory), and reads
// the fuel global around the run.
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { WASI } from 'node:wasi';
import { FUEL_GLOBAL } from '@flock/protocol';
import binaryen from 'binaryen';
import { inspectWasm } from '../../worker-web/src/wasm-binary.ts';
import { WRITE_FEATURES } from '../src/fuel/binaryen-raw.ts';
import { FuelError } from '../src/fuel/index.ts';
import { type WasmGlobal, type WasmInstance, wasm } from './fuel-wasm-api.ts';

const FIXTURES = resolve(import.meta.dirname, '../../worker-web/build/fixtures');

/** A fixture compiled by apps/worker-web/scripts/build-fixtures.sh (`npm run build -w @flock/worker-web`). */
export function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(resolve(FIXTURES, `${name}.wasm`)));
}

/** A module written in the WebAssembly text format, assembled by binaryen with every feature on. */
export function wat(text: string): Uint8Array {
  const module = binaryen.parseText(text);
  try {
    module.setFeatures(WRITE_FEATURES);
    if (!module.validate()) throw new Error('invalid test module');
    return module.emitBinary();
  } finally {
    module.dispose();
  }
}

function fuelGlobal(instance: WasmInstance): WasmGlobal | undefined {
  const global = instance.exports[FUEL_GLOBAL];
  return global instanceof wasm.Global ? global : undefined;
}

/** How a run ended and what it left behind. */
export interface RunResult {
  /** The WASI exit status, or the kernel's return value; undefined after a trap. */
  code: number | undefined;
  /** The trap's message (a WebAssembly.RuntimeError), if it trapped. */
  trap: string | undefined;
  /** The fuel global after the run (undefined for a module without one). */
  fuelLeft: bigint | undefined;
  /** Budget minus what is left. */
  fuelUsed: bigint | undefined;
  ms: number;
}

/** A WASI command's run: stdout, stderr, and the files it wrote under /out. */
export interface WasiResult extends RunResult {
  stdout: Buffer;
  stderr: Buffer;
  files: Map<string, Buffer>;
  /** The value of the `counter` global after the run. */
  counter: bigint | undefined;
}

export interface WasiOptions {
  args?: string[];
  stdin?: Uint8Array;
  /** Files under the read-only /in directory. */
  inputs?: Record<string, string>;
  /** The fuel budget set before `_start` (modules with the fuel global). */
  fuel?: bigint;
  /** An i64 global exported under this name to read after the run (into `counter`). */
  counter?: string;
}

/** Runs a WASI command in Node (node:wasi, preview1) with /in and /out preopened. */
export async function runWasi(bytes: Uint8Array, options: WasiOptions = {}): Promise<WasiResult> {
  const dir = mkdtempSync(join(tmpdir(), 'flock-fuel-'));
  const inDir = join(dir, 'in');
  const outDir = join(dir, 'out');
  mkdirSync(inDir);
  mkdirSync(outDir);
  for (const [name, text] of Object.entries(options.inputs ?? {})) writeFileSync(join(inDir, name), text);
  writeFileSync(join(dir, 'stdin'), options.stdin ?? new Uint8Array(0));
  const stdin = openSync(join(dir, 'stdin'), 'r');
  const stdout = openSync(join(dir, 'stdout'), 'w');
  const stderr = openSync(join(dir, 'stderr'), 'w');
  try {
    const wasi = new WASI({
      version: 'preview1',
      args: ['fixture', ...(options.args ?? [])],
      env: {},
      preopens: { '/in': inDir, '/out': outDir },
      stdin,
      stdout,
      stderr,
      returnOnExit: true,
    });
    const module = await wasm.compile(bytes);
    const instance = await wasm.instantiate(module, wasi.getImportObject());
    const global = fuelGlobal(instance);
    if (global && options.fuel !== undefined) global.value = options.fuel;
    const budget = global ? (global.value as bigint) : undefined;
    const t0 = performance.now();
    let code: number | undefined;
    let trap: string | undefined;
    try {
      code = wasi.start(instance);
    } catch (error) {
      if (!(error instanceof wasm.RuntimeError)) throw error;
      trap = error.message;
    }
    const ms = performance.now() - t0;
    const fuelLeft = global ? (global.value as bigint) : undefined;
    const files = new Map(readdirSync(outDir).map((name) => [name, readFileSync(join(outDir, name))]));
    const counter = options.counter === undefined ? undefined : instance.exports[options.counter];
    return {
      counter: counter instanceof wasm.Global ? (counter.value as bigint) : undefined,
      code,
      trap,
      fuelLeft,
      fuelUsed: budget !== undefined && fuelLeft !== undefined ? budget - fuelLeft : undefined,
      ms,
      stdout: readFileSync(join(dir, 'stdout')),
      stderr: readFileSync(join(dir, 'stderr')),
      files,
    };
  } finally {
    closeSync(stdin);
    closeSync(stdout);
    closeSync(stderr);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A kernel-ABI run: the output bytes it wrote. */
export interface KernelResult extends RunResult {
  output: Uint8Array;
}

const PAGE = 65_536;

/**
 * Runs `flock_kernel(in, len, out, cap)` of a kernel module that imports `env.memory` (shared or
 * not, as the module declares) on `input`, placed after the module's own pages like the tab's
 * arena (apps/worker-web/src/kernel-arena.ts).
 */
export async function runKernel(bytes: Uint8Array, input: Uint8Array, fuel?: bigint): Promise<KernelResult> {
  const limits = inspectWasm(bytes).imports.find((i) => i.kind === 'memory')?.memory;
  if (!limits) throw new Error('not a kernel module: no memory import');
  const inPtr = (limits.initial + 1) * PAGE;
  const outPtr = inPtr + input.byteLength;
  const initial = Math.ceil((outPtr + input.byteLength) / PAGE);
  const memory = limits.shared
    ? new wasm.Memory({ initial, maximum: limits.maximum ?? initial, shared: true })
    : new wasm.Memory({ initial });
  const module = await wasm.compile(bytes);
  new Uint8Array(memory.buffer, inPtr, input.byteLength).set(input);
  const instance = await wasm.instantiate(module, { env: { memory } });
  const global = fuelGlobal(instance);
  if (global && fuel !== undefined) global.value = fuel;
  const budget = global ? (global.value as bigint) : undefined;
  const kernel = instance.exports['flock_kernel'] as (a: number, b: number, c: number, d: number) => number;
  const t0 = performance.now();
  let code: number | undefined;
  let trap: string | undefined;
  try {
    code = kernel(inPtr, input.byteLength, outPtr, input.byteLength);
  } catch (error) {
    if (!(error instanceof wasm.RuntimeError)) throw error;
    trap = error.message;
  }
  const ms = performance.now() - t0;
  const fuelLeft = global ? (global.value as bigint) : undefined;
  return {
    code,
    trap,
    fuelLeft,
    fuelUsed: budget !== undefined && fuelLeft !== undefined ? budget - fuelLeft : undefined,
    ms,
    output: new Uint8Array(memory.buffer, outPtr, input.byteLength).slice(),
  };
}

/** The FuelError code that `run` throws (anything else is rethrown). */
export function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof FuelError) return error.code;
    throw error;
  }
  throw new Error('no FuelError thrown');
}
