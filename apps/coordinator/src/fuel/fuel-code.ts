// The instructions that read, charge and check fuel.
import type binaryen from 'binaryen';
import type { ExpressionRef } from './binaryen-raw.ts';

/**
 * Where a function keeps its fuel while it runs: in the exported global itself, or in an i64
 * local (a register in hot loops) that its linkage keeps in step with the global.
 */
export type FuelPlace = { kind: 'local'; index: number } | { kind: 'global' };

/** Emits fuel instructions for one module: the mutable i64 global is named `globalName` in it. */
export class FuelCode {
  constructor(
    private readonly module: binaryen.Module,
    readonly globalName: string,
    readonly i64: binaryen.Type,
  ) {}

  /** The fuel global's value. */
  global(): ExpressionRef {
    return this.module.global.get(this.globalName, this.i64);
  }

  /** `local = fuel`. */
  load(local: number): ExpressionRef {
    return this.module.local.set(local, this.global());
  }

  /**
   * `fuel = local`, then a trap if it is below zero: the host may look at the global from here on,
   * and must never see it negative outside a fuel trap.
   */
  store(local: number): ExpressionRef[] {
    const m = this.module;
    return [
      m.global.set(this.globalName, m.local.get(local, this.i64)),
      m.if(m.i64.lt_s(m.local.get(local, this.i64), m.i64.const(0n)), m.unreachable()),
    ];
  }

  /**
   * Takes `cost` units. With `check` (always for the global), traps (`unreachable`) when fewer
   * than zero are left, first storing a local's value so that the global is left negative and the
   * host can tell fuel exhaustion from other traps.
   */
  charge(place: FuelPlace, cost: number, check: boolean): ExpressionRef[] {
    const m = this.module;
    const units = m.i64.const(BigInt(cost));
    if (place.kind === 'global') {
      return [
        m.global.set(this.globalName, m.i64.sub(this.global(), units)),
        m.if(m.i64.lt_s(this.global(), m.i64.const(0n)), m.unreachable()),
      ];
    }
    const left = () => m.local.get(place.index, this.i64);
    const take = m.local.set(place.index, m.i64.sub(left(), units));
    if (!check) return [take];
    const trap = m.block(null, [m.global.set(this.globalName, left()), m.unreachable()]);
    return [take, m.if(m.i64.lt_s(left(), m.i64.const(0n)), trap)];
  }
}
