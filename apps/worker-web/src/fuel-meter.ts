// Fuel: the coordinator instruments every WASM module with an instruction budget (a mutable i64
// global exported as FUEL_GLOBAL, charged about one unit per WASM instruction, trapping below
// zero). The executor sets the budget before the run and reads what is left after.
import { FUEL_GLOBAL } from '@flock/protocol';

export class FuelMeter {
  private readonly global: WebAssembly.Global | undefined;

  /** Arms the instance's fuel global with `budget` units; a module without one is not metered. */
  constructor(
    instance: WebAssembly.Instance,
    private readonly budget: number,
  ) {
    const global = instance.exports[FUEL_GLOBAL];
    this.global = global instanceof WebAssembly.Global ? global : undefined;
    if (this.global) this.global.value = BigInt(budget);
  }

  get metered(): boolean {
    return this.global !== undefined;
  }

  /** Units used so far (undefined when not metered). */
  used(): number | undefined {
    if (!this.global) return undefined;
    return this.budget - Number(this.global.value as bigint);
  }

  /** Whether the budget ran out (the module trapped with the global below zero). */
  exhausted(): boolean {
    return this.global !== undefined && (this.global.value as bigint) < 0n;
  }
}
