// The module-wide half of passing fuel as a parameter (PassingLinkage is the per-function half):
// every function the module defines gets an extra i64 parameter and result; what the host calls
// (exports, the start function) becomes a wrapper with the original signature that takes the fuel
// from the global and puts back what is left; table entries keep pointing at the retyped
// functions, which call_indirect now calls at the retyped signature.
import binaryen from 'binaryen';
import { type ExpressionRef, getFunctionBody } from './binaryen-raw.ts';
import type { FuelCode } from './fuel-code.ts';
import { type Callee, withFuelType } from './passing-linkage.ts';

/** A function given the fuel parameter: it is parameter `paramCount`. */
export interface RetypedFunction {
  func: binaryen.FunctionRef;
  paramCount: number;
}

/** Retypes a module's functions and wraps its entry points (call `retype`, then `wrapEntries`). */
export class FuelPassing {
  /** Every function of the module by name, as it was before `retype`. */
  readonly callees = new Map<string, Callee>();
  private readonly wrappers = new Map<string, string>();

  constructor(
    private readonly module: binaryen.Module,
    private readonly code: FuelCode,
  ) {
    for (let i = 0; i < module.getNumFunctions(); i++) {
      const func = module.getFunctionByIndex(i);
      const info = binaryen.getFunctionInfo(func);
      this.callees.set(info.name, { imported: getFunctionBody(func) === 0, results: info.results });
    }
  }

  /**
   * Re-creates every defined function with `(params..., i64) -> (results..., i64)` around its
   * original body (whose locals past the parameters then move up by one: PassingLinkage.renumber),
   * and the element segments, whose entries are typed by their function.
   */
  retype(): RetypedFunction[] {
    const m = this.module;
    const retyped: RetypedFunction[] = [];
    for (const [name, callee] of this.callees) {
      if (callee.imported) continue;
      const info = binaryen.getFunctionInfo(m.getFunction(name));
      const params = binaryen.expandType(info.params);
      m.removeFunction(name);
      const func = m.addFunction(
        name,
        binaryen.createType([...params, binaryen.i64]),
        withFuelType(info.results),
        info.vars,
        info.body,
      );
      retyped.push({ func, paramCount: params.length });
    }
    this.rebuildElementSegments();
    return retyped;
  }

  /** Points every function export and the start function at a wrapper with the original signature. */
  wrapEntries(): void {
    const m = this.module;
    const exports: { name: string; value: string }[] = [];
    for (let i = 0; i < m.getNumExports(); i++) {
      const info = binaryen.getExportInfo(m.getExportByIndex(i));
      if (info.kind === binaryen.ExternalFunction) exports.push(info);
    }
    for (const { name, value } of exports) {
      if (this.callees.get(value)?.imported !== false) continue;
      m.removeExport(name);
      m.addFunctionExport(this.wrapperOf(value), name);
    }
    const start = m.getStart();
    if (start !== 0) {
      const name = binaryen.getFunctionInfo(start).name;
      if (this.callees.get(name)?.imported === false) m.setStart(m.getFunction(this.wrapperOf(name)));
    }
  }

  /**
   * `name`'s entry wrapper: calls it with the global's fuel, stores what is left and traps if
   * that is below zero (the host must not see a negative budget outside a fuel trap).
   */
  private wrapperOf(name: string): string {
    const existing = this.wrappers.get(name);
    if (existing) return existing;
    const m = this.module;
    const info = binaryen.getFunctionInfo(m.getFunction(name));
    const params = binaryen.expandType(info.params).slice(0, -1);
    const results = binaryen.expandType(info.results).slice(0, -1);
    const args = [...params.map((type, i) => m.local.get(i, type)), this.code.global()];
    const call = m.call(name, args, info.results);
    const temp = params.length;
    const item = (i: number) => m.tuple.extract(m.local.get(temp, info.results), i);
    const setFuel = (value: ExpressionRef) => m.global.set(this.code.globalName, value);
    const check = m.if(m.i64.lt_s(this.code.global(), m.i64.const(0n)), m.unreachable());
    const body =
      results.length === 0
        ? m.block(null, [setFuel(call), check])
        : m.block(
            null,
            [
              m.local.set(temp, call),
              setFuel(item(results.length)),
              check,
              results.length === 1 ? item(0) : m.tuple.make(results.map((_, i) => item(i))),
            ],
            binaryen.auto,
          );
    const wrapper = this.freshName(`${name}$flock_entry`);
    const resultType = results.length === 0 ? binaryen.none : binaryen.createType(results);
    const vars = results.length === 0 ? [] : [info.results];
    m.addFunction(wrapper, binaryen.createType(params), resultType, vars, body);
    this.wrappers.set(name, wrapper);
    return wrapper;
  }

  private rebuildElementSegments(): void {
    const m = this.module;
    const segments: binaryen.ElementSegmentInfo[] = [];
    for (let i = 0; i < m.getNumElementSegments(); i++) {
      const info = binaryen.getElementSegmentInfo(m.getElementSegmentByIndex(i));
      segments.push({ ...info, offset: info.table ? m.copyExpression(info.offset) : 0 });
    }
    for (const { name } of segments) m.removeElementSegment(name);
    for (const { name, table, offset, data } of segments) {
      if (table) m.addActiveElementSegment(table, name, data, offset);
      else m.addPassiveElementSegment(name, data);
    }
  }

  private freshName(base: string): string {
    let name = base;
    for (let n = 1; this.module.getFunction(name) !== 0; n++) name = `${base}${n}`;
    return name;
  }
}
