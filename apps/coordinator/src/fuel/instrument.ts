// Fuel instrumentation of a WebAssembly module (issue #14): adds the exported mutable i64 global
// `__flock_fuel` and charges it as the module runs (function-meter.ts has the cost rules).
import { DEFAULT_FUEL, FUEL_GLOBAL } from '@flock/protocol';
import binaryen from 'binaryen';
import { getFunctionBody, readBinary, WRITE_FEATURES } from './binaryen-raw.ts';
import { FuelCode } from './fuel-code.ts';
import { FuelError } from './fuel-error.ts';
import { FuelPassing } from './fuel-passing.ts';
import { FunctionMeter } from './function-meter.ts';
import { FunctionTemps } from './function-temps.ts';
import { GlobalLinkage } from './global-linkage.ts';
import { scanModule } from './module-scan.ts';
import { PassingLinkage } from './passing-linkage.ts';
import { SyncLinkage } from './sync-linkage.ts';

/**
 * How fuel crosses calls (linkage.ts), from fastest to plainest:
 * - `'passed'`: an extra i64 parameter and result of every function the module defines (fuel
 *   stays in registers), the global only around imports and the host's calls in. Needs a module
 *   whose function references cannot escape to the host (no table or reference-typed global
 *   imported or exported, no `ref.func`/`call_ref`/`table.get`/`table.set`/`table.grow`, no
 *   imported function in a table) and without exception handling; others get `'local'`.
 * - `'local'`: a local per function, stored to the global before calls and exits and reloaded
 *   after calls. Functions with exception handling get `'global'`.
 * - `'global'`: charged on the global at every charge point.
 * All three charge the same units at the same points: a run uses the same fuel whichever is used.
 */
export type FuelScheme = 'passed' | 'local' | 'global';

/** Options of `instrumentFuel`. */
export interface FuelOptions {
  /**
   * What to do with a module that already exports a mutable i64 global named `__flock_fuel`:
   * `'keep'` (default) returns its bytes unchanged, taking it as instrumented already;
   * `'refuse'` throws ALREADY_NAMED (for bytes from requesters, who could export an uncharged
   * global of that name to run unmetered).
   */
  existing?: 'keep' | 'refuse';
  /** The preferred scheme; default `'passed'`. */
  scheme?: FuelScheme;
}

/**
 * Returns `bytes` instrumented with fuel. The module exports a mutable i64 global `__flock_fuel`,
 * initially DEFAULT_FUEL (the start function, if any, runs on that before the host can set the
 * budget), and decrements it by about one unit per instruction it runs (function-meter.ts has the
 * cost rules). It traps (`unreachable`) rather than run a loop iteration, a call or a return to the
 * host with the fuel below zero, and then leaves the global negative. After any other trap the
 * global holds an earlier value, never below zero (the budget, or what was left at a call out).
 * Imports, exports, memories, tables, data and the start function are kept; the `name` and
 * `target_features` custom sections are dropped. Pure and deterministic: the same bytes and
 * options give the same output. Throws FuelError NOT_WASM (bytes binaryen cannot read),
 * ALREADY_NAMED (an export of that name that is not a mutable i64 global), UNSUPPORTED (GC and
 * other instructions the meter cannot walk).
 */
export function instrumentFuel(bytes: Uint8Array, options: FuelOptions = {}): Uint8Array {
  const module = readModule(bytes);
  try {
    const existing = exportsOf(module).find((e) => e.name === FUEL_GLOBAL);
    if (existing) {
      if (options.existing !== 'refuse' && isFuelGlobal(module, existing)) return bytes;
      throw new FuelError('ALREADY_NAMED', `the module already exports "${FUEL_GLOBAL}"`);
    }
    const scan = scanModule(module);
    const globalName = freshGlobalName(module);
    module.addGlobal(globalName, binaryen.i64, true, module.i64.const(BigInt(DEFAULT_FUEL)));
    module.addGlobalExport(globalName, FUEL_GLOBAL);
    const code = new FuelCode(module, globalName, binaryen.i64);
    const scheme = options.scheme ?? 'passed';
    if (scheme === 'passed' && scan.notPassable === undefined) {
      const passing = new FuelPassing(module, code);
      for (const { func, paramCount } of passing.retype()) {
        const linkage = new PassingLinkage(
          module,
          code,
          new FunctionTemps(module, func),
          paramCount,
          passing.callees,
        );
        new FunctionMeter(module, code, func, linkage).instrument();
      }
      passing.wrapEntries();
    } else {
      for (const func of definedFunctions(module)) {
        const name = binaryen.getFunctionInfo(func).name;
        const linkage =
          scheme === 'global' || scan.exceptions.has(name)
            ? new GlobalLinkage(module)
            : new SyncLinkage(module, code, new FunctionTemps(module, func));
        new FunctionMeter(module, code, func, linkage).instrument();
      }
    }
    // The input's target_features section listed its features; binaryen would write all of them.
    module.runPasses(['strip-target-features']);
    module.setFeatures(WRITE_FEATURES);
    if (!module.validate()) throw new Error('fuel instrumentation produced an invalid module (bug)');
    return module.emitBinary();
  } finally {
    module.dispose();
  }
}

function definedFunctions(module: binaryen.Module): binaryen.FunctionRef[] {
  const all: binaryen.FunctionRef[] = [];
  for (let i = 0; i < module.getNumFunctions(); i++) {
    const func = module.getFunctionByIndex(i);
    if (getFunctionBody(func) !== 0) all.push(func);
  }
  return all;
}

function readModule(bytes: Uint8Array): binaryen.Module {
  try {
    return readBinary(bytes, binaryen.Features.All);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new FuelError('NOT_WASM', `not a readable WebAssembly module: ${reason}`);
  }
}

function exportsOf(module: binaryen.Module): binaryen.ExportInfo[] {
  const all: binaryen.ExportInfo[] = [];
  for (let i = 0; i < module.getNumExports(); i++) {
    all.push(binaryen.getExportInfo(module.getExportByIndex(i)));
  }
  return all;
}

function isFuelGlobal(module: binaryen.Module, found: binaryen.ExportInfo): boolean {
  if (found.kind !== binaryen.ExternalGlobal) return false;
  const global = binaryen.getGlobalInfo(module.getGlobal(found.value));
  return global.mutable && global.type === binaryen.i64;
}

function freshGlobalName(module: binaryen.Module): string {
  let name = 'flock$fuel';
  for (let n = 1; module.getGlobal(name) !== 0; n++) name = `flock$fuel${n}`;
  return name;
}
