/**
 * Why a module could not be instrumented with fuel:
 * - `NOT_WASM`: binaryen cannot read the bytes (not a WebAssembly binary, or a malformed one);
 * - `ALREADY_NAMED`: the module already exports something named `__flock_fuel` that is not the fuel
 *   global (or, where instrumented modules are not accepted, any export of that name);
 * - `UNSUPPORTED`: the module uses an instruction the instrumentation cannot walk (GC, strings,
 *   stack switching, `try_table`, `table.fill`/`copy`/`init`);
 * - `FAILED`: the instrumenting thread took longer than its limit or died (e.g. out of memory).
 */
export type FuelErrorCode = 'NOT_WASM' | 'ALREADY_NAMED' | 'UNSUPPORTED' | 'FAILED';

/** A module refused by the fuel instrumentation, with a stable code. */
export class FuelError extends Error {
  readonly code: FuelErrorCode;

  constructor(code: FuelErrorCode, message: string) {
    super(message);
    this.name = 'FuelError';
    this.code = code;
  }
}
