// Scratch locals that the instrumentation adds to a function.
import binaryen from 'binaryen';
import { addVar, type ExpressionRef } from './binaryen-raw.ts';
import { mapChildren } from './expression-children.ts';

/** Adds locals to one function: fresh ones, or one shared per type for values held an instant. */
export class FunctionTemps {
  private readonly shared = new Map<binaryen.Type, number>();

  constructor(
    private readonly module: binaryen.Module,
    private readonly func: binaryen.FunctionRef,
  ) {}

  /** A new local of `type`. */
  fresh(type: binaryen.Type): number {
    return addVar(this.func, type);
  }

  /**
   * The function's one scratch local of `type`, for a value set and read back with only fuel
   * bookkeeping in between (never across code that could use it again).
   */
  scratch(type: binaryen.Type): number {
    let index = this.shared.get(type);
    if (index === undefined) {
      index = addVar(this.func, type);
      this.shared.set(type, index);
    }
    return index;
  }

  /**
   * Moves each child of a call (operands, then target) into a fresh local, set in evaluation
   * order, and returns the sets; undefined when a child never completes (the call never runs).
   */
  hoistChildren(call: ExpressionRef): ExpressionRef[] | undefined {
    let unreachable = false;
    mapChildren(call, (child) => {
      if (binaryen.getExpressionType(child) === binaryen.unreachable) unreachable = true;
      return child;
    });
    if (unreachable) return undefined;
    const sets: ExpressionRef[] = [];
    mapChildren(call, (child) => {
      const type = binaryen.getExpressionType(child);
      const temp = this.fresh(type);
      sets.push(this.module.local.set(temp, child));
      return this.module.local.get(temp, type);
    });
    return sets;
  }
}
