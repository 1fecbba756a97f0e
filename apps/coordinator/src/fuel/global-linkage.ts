// Fuel charged on the exported global at every charge point: nothing crosses calls. Used for
// functions with exception handling (a catch resumes after any instruction of its body, where a
// local could be stale) and as the plain baseline scheme.
import binaryen from 'binaryen';
import type { ExpressionRef } from './binaryen-raw.ts';
import type { FuelPlace } from './fuel-code.ts';
import type { Linkage } from './linkage.ts';

/** Charges the global; calls, returns and locals stay as they are. */
export class GlobalLinkage implements Linkage {
  readonly place: FuelPlace = { kind: 'global' };

  constructor(private readonly module: binaryen.Module) {}

  prologue(): ExpressionRef[] {
    return [];
  }

  call(expr: ExpressionRef): ExpressionRef {
    return expr;
  }

  ret(expr: ExpressionRef): ExpressionRef {
    return expr;
  }

  finish(entry: ExpressionRef[], body: ExpressionRef): ExpressionRef {
    return this.module.block(null, [...entry, body], binaryen.auto);
  }

  renumber(): void {}
}
