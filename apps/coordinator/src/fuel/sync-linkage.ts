// Fuel in a local, kept in step with the global: loaded on entry and after every call, stored
// (and checked) before every call, tail call and return, and on falling off the end.
import binaryen from 'binaryen';
import { type ExpressionRef, getReturnValue, rawFunction, setReturnValue } from './binaryen-raw.ts';
import { idOf } from './expression-children.ts';
import type { FuelCode, FuelPlace } from './fuel-code.ts';
import type { FunctionTemps } from './function-temps.ts';
import type { Linkage } from './linkage.ts';

const IS_RETURN = new Map<number, (expr: ExpressionRef) => number>(
  (['Call', 'CallIndirect', 'CallRef'] as const).map((kind) => [
    rawFunction(`${kind}Id`)(),
    rawFunction(`${kind}IsReturn`),
  ]),
);

/**
 * Wraps a call so that the global holds the local's fuel while it runs: stored before it (after
 * its operands: when they change the local, they are first evaluated into fresh locals), reloaded
 * after it unless it is a tail call.
 */
export function syncAround(
  module: binaryen.Module,
  code: FuelCode,
  temps: FunctionTemps,
  local: number,
  call: ExpressionRef,
  childrenTouch: boolean,
): ExpressionRef {
  const before = childrenTouch ? temps.hoistChildren(call) : [];
  if (before === undefined) return call;
  const isReturn = IS_RETURN.get(idOf(call));
  if (isReturn?.(call)) return module.block(null, [...before, ...code.store(local), call], binaryen.auto);
  const type = binaryen.getExpressionType(call);
  if (type === binaryen.unreachable) return call;
  const store = code.store(local);
  if (type === binaryen.none)
    return module.block(null, [...before, ...store, call, code.load(local)], binaryen.auto);
  const temp = temps.scratch(type);
  return module.block(
    null,
    [...before, ...store, module.local.set(temp, call), code.load(local), module.local.get(temp, type)],
    binaryen.auto,
  );
}

/** A local synced with the global at calls and exits. */
export class SyncLinkage implements Linkage {
  readonly place: FuelPlace;
  private readonly local: number;

  constructor(
    private readonly module: binaryen.Module,
    private readonly code: FuelCode,
    private readonly temps: FunctionTemps,
  ) {
    this.local = temps.fresh(code.i64);
    this.place = { kind: 'local', index: this.local };
  }

  prologue(): ExpressionRef[] {
    return [this.code.load(this.local)];
  }

  call(expr: ExpressionRef, _id: number, childrenTouch: boolean): ExpressionRef {
    return syncAround(this.module, this.code, this.temps, this.local, expr, childrenTouch);
  }

  ret(node: ExpressionRef, valueTouches: boolean): ExpressionRef {
    const store = this.code.store(this.local);
    const value = getReturnValue(node);
    if (value === 0 || !valueTouches) return this.module.block(null, [...store, node], binaryen.auto);
    const type = binaryen.getExpressionType(value);
    if (type === binaryen.unreachable) return node;
    const temp = this.temps.scratch(type);
    setReturnValue(node, this.module.local.get(temp, type));
    return this.module.block(null, [this.module.local.set(temp, value), ...store, node], binaryen.auto);
  }

  finish(entry: ExpressionRef[], body: ExpressionRef): ExpressionRef {
    const m = this.module;
    const type = binaryen.getExpressionType(body);
    if (type === binaryen.unreachable) return m.block(null, [...entry, body], binaryen.auto);
    const store = this.code.store(this.local);
    if (type === binaryen.none) return m.block(null, [...entry, body, ...store], binaryen.auto);
    const temp = this.temps.scratch(type);
    return m.block(
      null,
      [...entry, m.local.set(temp, body), ...store, m.local.get(temp, type)],
      binaryen.auto,
    );
  }

  renumber(): void {}
}
