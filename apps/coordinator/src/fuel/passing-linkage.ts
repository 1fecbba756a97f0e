// Fuel as an extra i64 parameter and result of every function the module defines (FuelPassing
// gives them the new signatures): a call passes the caller's fuel as its last operand and takes
// what is left from its last result, so fuel stays in registers across the module's own calls.
// Calls to imports still go through the global (syncAround), as do the host's calls into the
// module (FuelPassing's entry wrappers).
import binaryen from 'binaryen';
import {
  callIndirectInfo,
  callInfo,
  type ExpressionRef,
  expressionId,
  getLocalGetIndex,
  getLocalSetIndex,
  getReturnValue,
  setLocalGetIndex,
  setLocalSetIndex,
} from './binaryen-raw.ts';
import type { FuelCode, FuelPlace } from './fuel-code.ts';
import type { FunctionTemps } from './function-temps.ts';
import type { Linkage } from './linkage.ts';
import { syncAround } from './sync-linkage.ts';

const CALL = expressionId('Call');
const CALL_INDIRECT = expressionId('CallIndirect');
const LOCAL_GET = expressionId('LocalGet');
const LOCAL_SET = expressionId('LocalSet');

/** A function of the module as it was: imported or defined, and its original results. */
export interface Callee {
  imported: boolean;
  results: binaryen.Type;
}

/** `results` with the fuel i64 appended. */
export function withFuelType(results: binaryen.Type): binaryen.Type {
  if (results === binaryen.none) return binaryen.i64;
  return binaryen.createType([...binaryen.expandType(results), binaryen.i64]);
}

/** One retyped function: its fuel is parameter `paramCount` (after the original parameters). */
export class PassingLinkage implements Linkage {
  readonly place: FuelPlace;
  private readonly fuel: number;

  constructor(
    private readonly module: binaryen.Module,
    private readonly code: FuelCode,
    private readonly temps: FunctionTemps,
    private readonly paramCount: number,
    private readonly callees: ReadonlyMap<string, Callee>,
  ) {
    this.fuel = paramCount;
    this.place = { kind: 'local', index: paramCount };
  }

  prologue(): ExpressionRef[] {
    return [];
  }

  renumber(expr: ExpressionRef, id: number): void {
    if (id === LOCAL_GET) {
      const index = getLocalGetIndex(expr);
      if (index >= this.paramCount) setLocalGetIndex(expr, index + 1);
    } else if (id === LOCAL_SET) {
      const index = getLocalSetIndex(expr);
      if (index >= this.paramCount) setLocalSetIndex(expr, index + 1);
    }
  }

  call(expr: ExpressionRef, id: number, childrenTouch: boolean): ExpressionRef {
    const m = this.module;
    if (id === CALL) {
      const { target, operands, isReturn } = callInfo(expr);
      const callee = this.callees.get(target);
      if (!callee) throw new Error(`call to unknown function ${target}`);
      if (callee.imported)
        return this.callImport(expr, target, operands, isReturn, callee.results, childrenTouch);
      // The fuel operand is read last, after every other operand has charged its share.
      const args = [...operands, this.fuelValue()];
      const type = withFuelType(callee.results);
      if (isReturn) return m.return_call(target, args, type);
      return this.takeFuel(m.call(target, args, type), callee.results);
    }
    if (id !== CALL_INDIRECT) throw new Error(`fuel passing cannot rewrite expression kind ${id}`);
    const before = childrenTouch ? this.temps.hoistChildren(expr) : [];
    if (before === undefined) return expr;
    const info = callIndirectInfo(expr);
    const args = [...info.operands, this.fuelValue()];
    const params = binaryen.createType([...binaryen.expandType(info.params), binaryen.i64]);
    const results = withFuelType(info.results);
    const call = info.isReturn
      ? m.return_call_indirect(info.table, info.target, args, params, results)
      : this.takeFuel(m.call_indirect(info.table, info.target, args, params, results), info.results);
    return before.length === 0 ? call : m.block(null, [...before, call], binaryen.auto);
  }

  ret(node: ExpressionRef): ExpressionRef {
    const value = getReturnValue(node);
    return this.module.return(this.withFuel(value === 0 ? undefined : value));
  }

  finish(entry: ExpressionRef[], body: ExpressionRef): ExpressionRef {
    return this.module.block(null, [...entry, this.withFuel(body)], binaryen.auto);
  }

  private fuelValue(): ExpressionRef {
    return this.module.local.get(this.fuel, binaryen.i64);
  }

  /** `value` (or nothing) followed by the fuel left, as this function's new results. */
  private withFuel(value: ExpressionRef | undefined): ExpressionRef {
    const m = this.module;
    if (value === undefined) return this.fuelValue();
    const type = binaryen.getExpressionType(value);
    if (type === binaryen.unreachable) return value;
    if (type === binaryen.none) return m.block(null, [value, this.fuelValue()], binaryen.auto);
    const parts = binaryen.expandType(type);
    if (parts.length === 1) return m.tuple.make([value, this.fuelValue()]);
    const temp = this.temps.scratch(type);
    const items = parts.map((_, i) => m.tuple.extract(m.local.get(temp, type), i));
    return m.block(
      null,
      [m.local.set(temp, value), m.tuple.make([...items, this.fuelValue()])],
      binaryen.auto,
    );
  }

  /** Takes the fuel left from a retyped call's last result; yields its original results. */
  private takeFuel(call: ExpressionRef, results: binaryen.Type): ExpressionRef {
    const m = this.module;
    if (results === binaryen.none) return m.local.set(this.fuel, call);
    const type = withFuelType(results);
    const temp = this.temps.scratch(type);
    const parts = binaryen.expandType(results);
    const item = (i: number) => m.tuple.extract(m.local.get(temp, type), i);
    const value = parts.length === 1 ? item(0) : m.tuple.make(parts.map((_, i) => item(i)));
    return m.block(
      null,
      [m.local.set(temp, call), m.local.set(this.fuel, item(parts.length)), value],
      binaryen.auto,
    );
  }

  /** An import keeps its signature: the global carries the fuel across, and a tail call becomes call-then-return. */
  private callImport(
    expr: ExpressionRef,
    target: string,
    operands: ExpressionRef[],
    isReturn: boolean,
    results: binaryen.Type,
    childrenTouch: boolean,
  ): ExpressionRef {
    const m = this.module;
    const call = isReturn ? m.call(target, operands, results) : expr;
    const synced = syncAround(m, this.code, this.temps, this.fuel, call, childrenTouch);
    return isReturn ? m.return(this.withFuel(synced)) : synced;
  }
}
