// The port between FunctionMeter (which charges regions) and the way a function's fuel meets the
// functions it calls and the function that called it.
import type { ExpressionRef } from './binaryen-raw.ts';
import type { FuelPlace } from './fuel-code.ts';

/**
 * How one function's fuel crosses calls and returns:
 * - `GlobalLinkage`: charged on the global, nothing to hand over;
 * - `SyncLinkage`: a local loaded from the global on entry and after calls, stored before calls
 *   and on exit;
 * - `PassingLinkage`: an extra i64 parameter and result, so that fuel stays in registers across
 *   calls to the module's own functions (the global is used only around imports and entries).
 */
export interface Linkage {
  /** Where the function's regions charge. */
  readonly place: FuelPlace;
  /** Instructions run on entry before the entry region's charge. */
  prologue(): ExpressionRef[];
  /** Rewrites a walked `call`/`call_indirect`; `childrenTouch`: its operands change the fuel local. */
  call(expr: ExpressionRef, id: number, childrenTouch: boolean): ExpressionRef;
  /** Rewrites a walked `return`; `valueTouches`: its value changes the fuel local. */
  ret(expr: ExpressionRef, valueTouches: boolean): ExpressionRef;
  /** The new function body: `entry` (prologue and entry charge), then the walked body, then the exit. */
  finish(entry: ExpressionRef[], body: ExpressionRef): ExpressionRef;
  /** Renumbers a `local.get`/`local.set` of the original code if locals moved. */
  renumber(expr: ExpressionRef, id: number): void;
}
