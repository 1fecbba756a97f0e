// Meters one function. Its code is cut into regions (fuel-regions.ts), basic blocks in all but
// name: the function body, each loop body, each `if` arm, the code after each block that a branch
// can end (a join) and the code after each `br_if` (a fall-through), each without the regions
// nested in it. Each region is charged its static cost (instructionCost summed over its nodes)
// where it starts: at function entry, at every loop iteration (a branch back to a loop runs its
// header), on entering an arm, on passing a join or a `br_if` not taken. Control inside a region
// only moves forward and leaves it early only by a trap, a call that does not return (WASI exit)
// or a branch out of the middle of an expression, so fuel is the count of instructions run, never
// less for a run that completes (measured: 1.0001x the exact count on fuel-work). How the fuel
// meets calls and returns is the Linkage's business.
import binaryen from 'binaryen';
import {
  type ExpressionRef,
  expressionId,
  getFunctionBody,
  getIfCondition,
  getIfFalse,
  getIfTrue,
  getLoopBody,
  rawFunction,
  setFunctionBody,
  setIfCondition,
  setIfFalse,
  setIfTrue,
  setLoopBody,
} from './binaryen-raw.ts';
import { idOf, mapChildren } from './expression-children.ts';
import type { FuelCode } from './fuel-code.ts';
import { type Region, type RegionKind, RegionPlan } from './fuel-regions.ts';
import { instructionCost } from './instruction-cost.ts';
import type { Linkage } from './linkage.ts';

const ID = {
  block: expressionId('Block'),
  break: expressionId('Break'),
  loop: expressionId('Loop'),
  if: expressionId('If'),
  try: expressionId('Try'),
  return: expressionId('Return'),
  localGet: expressionId('LocalGet'),
  localSet: expressionId('LocalSet'),
} as const;
const CALLS = new Set(['Call', 'CallIndirect', 'CallRef'].map(expressionId));
const blockName = rawFunction('BlockGetName');
const blockSize = rawFunction('BlockGetNumChildren');
const blockChild = rawFunction('BlockGetChildAt');
const setBlockChild = rawFunction('BlockSetChildAt');
const insertBlockChild = rawFunction('BlockInsertChildAt');
const breakCondition = rawFunction('BreakGetCondition');

/** Whether control can reach the end of `expr` by a branch (so code after it is a join). */
function endsAtJoin(expr: ExpressionRef): boolean {
  if (idOf(expr) !== ID.block || binaryen.getExpressionType(expr) === binaryen.unreachable) return false;
  if (blockName(expr) !== 0) return true;
  const size = blockSize(expr);
  return size > 0 && endsAtJoin(blockChild(expr, size - 1));
}

/** Whether `expr` is a statement `br_if`: the code after it runs only when it does not branch. */
function isConditionalExit(expr: ExpressionRef): boolean {
  return (
    idOf(expr) === ID.break &&
    breakCondition(expr) !== 0 &&
    binaryen.getExpressionType(expr) === binaryen.none
  );
}

/** Rewrites one function (not an import) in place. */
export class FunctionMeter {
  private readonly plan: RegionPlan;
  private current: Region;
  /** Bumped whenever emitted code may change the fuel local: calls with such operands hoist them. */
  private touches = 0;

  constructor(
    private readonly module: binaryen.Module,
    private readonly code: FuelCode,
    private readonly func: binaryen.FunctionRef,
    private readonly linkage: Linkage,
  ) {
    this.plan = new RegionPlan(module);
    this.current = this.plan.open('entry');
  }

  instrument(): void {
    const entry = this.current;
    const body = this.walk(getFunctionBody(this.func));
    this.plan.close(this.code, this.linkage.place);
    setFunctionBody(this.func, this.linkage.finish([...this.linkage.prologue(), entry.placeholder], body));
  }

  private open(kind: Exclude<RegionKind, 'entry'>): Region {
    this.touches++;
    this.current = this.plan.open(kind);
    return this.current;
  }

  private walk(expr: ExpressionRef): ExpressionRef {
    const id = idOf(expr);
    this.current.cost += instructionCost(id);
    if (id === ID.block) return this.walkBlock(expr);
    if (id === ID.loop) return this.walkLoop(expr);
    if (id === ID.if) return this.walkIf(expr);
    if (id === ID.try) return this.walkTry(expr);
    if (id === ID.localGet || id === ID.localSet) this.linkage.renumber(expr, id);
    const before = this.touches;
    mapChildren(expr, (child) => this.walkOperand(child));
    const childrenTouch = this.touches !== before;
    if (CALLS.has(id)) {
      this.touches++;
      return this.linkage.call(expr, id, childrenTouch);
    }
    if (id === ID.return) {
      this.touches++;
      return this.linkage.ret(expr, childrenTouch);
    }
    return expr;
  }

  /**
   * A child outside a block's list: after a join in it, the code that follows goes back to the
   * region the child started in (charged on every path to it: sound, if less precise).
   */
  private walkOperand(expr: ExpressionRef): ExpressionRef {
    const start = this.current;
    const walked = this.walk(expr);
    if (endsAtJoin(walked)) this.current = start;
    return walked;
  }

  /** A block's list: after a child whose end is a join, or after a `br_if`, the rest is a new region. */
  private walkBlock(block: ExpressionRef): ExpressionRef {
    for (let i = 0; i < blockSize(block); i++) {
      const child = blockChild(block, i);
      const walked = this.walk(child);
      if (walked !== child) setBlockChild(block, i, walked);
      if (i === blockSize(block) - 1) break;
      const kind = endsAtJoin(walked) ? 'join' : isConditionalExit(walked) ? 'fallthrough' : undefined;
      if (kind) {
        insertBlockChild(block, i + 1, this.open(kind).placeholder);
        i++;
      }
    }
    return block;
  }

  private walkLoop(loop: ExpressionRef): ExpressionRef {
    const start = this.current;
    const region = this.open('loop');
    const body = this.walk(getLoopBody(loop));
    setLoopBody(loop, this.module.block(null, [region.placeholder, body], binaryen.auto));
    this.current = start;
    return loop;
  }

  private walkIf(node: ExpressionRef): ExpressionRef {
    setIfCondition(node, this.walkOperand(getIfCondition(node)));
    const start = this.current;
    const arm = (expr: ExpressionRef): ExpressionRef => {
      const region = this.open('arm');
      const walked = this.walk(expr);
      this.current = start;
      return this.module.block(null, [region.placeholder, walked], binaryen.auto);
    };
    setIfTrue(node, arm(getIfTrue(node)));
    const ifFalse = getIfFalse(node);
    if (ifFalse !== 0) setIfFalse(node, arm(ifFalse));
    return node;
  }

  /** A catch starts after any part of the body: it is charged with the region the `try` is in. */
  private walkTry(node: ExpressionRef): ExpressionRef {
    const start = this.current;
    mapChildren(node, (child) => {
      this.current = start;
      return this.walk(child);
    });
    this.current = start;
    return node;
  }
}
