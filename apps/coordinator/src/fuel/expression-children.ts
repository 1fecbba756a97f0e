// The children of every binaryen expression kind the instrumentation can walk, in evaluation order
// (the order the engine runs them: operands left to right, a call's target after its operands,
// `select`'s condition last). Kinds missing here (GC, strings, stack switching, try_table,
// table.fill/copy/init, which binaryen.js gives no accessors for) make the module UNSUPPORTED.
import { type ExpressionRef, expressionId, type RawFunction, rawFunction } from './binaryen-raw.ts';
import { FuelError } from './fuel-error.ts';

interface OneChild {
  kind: 'one';
  get: RawFunction;
  set: RawFunction;
}

interface ChildList {
  kind: 'list';
  count: RawFunction;
  getAt: RawFunction;
  setAt: RawFunction;
}

type Slot = OneChild | ChildList;

function one(node: string, field: string): Slot {
  return { kind: 'one', get: rawFunction(`${node}Get${field}`), set: rawFunction(`${node}Set${field}`) };
}

function list(node: string, item: string, plural: string): Slot {
  return {
    kind: 'list',
    count: rawFunction(`${node}GetNum${plural}`),
    getAt: rawFunction(`${node}Get${item}At`),
    setAt: rawFunction(`${node}Set${item}At`),
  };
}

// One line; the long stretch after it is the KINDS table (a row per expression kind): data, not logic.
const fields = (node: string, ...names: string[]): [string, Slot[]] => [node, names.map((n) => one(node, n))];

const KINDS: [string, Slot[]][] = [
  ['Nop', []],
  ['Block', [list('Block', 'Child', 'Children')]],
  fields('If', 'Condition', 'IfTrue', 'IfFalse'),
  fields('Loop', 'Body'),
  fields('Break', 'Value', 'Condition'),
  fields('Switch', 'Value', 'Condition'),
  ['Call', [list('Call', 'Operand', 'Operands')]],
  ['CallIndirect', [list('CallIndirect', 'Operand', 'Operands'), one('CallIndirect', 'Target')]],
  ['CallRef', [list('CallRef', 'Operand', 'Operands'), one('CallRef', 'Target')]],
  ['LocalGet', []],
  fields('LocalSet', 'Value'),
  ['GlobalGet', []],
  fields('GlobalSet', 'Value'),
  fields('Load', 'Ptr'),
  fields('Store', 'Ptr', 'Value'),
  fields('AtomicRMW', 'Ptr', 'Value'),
  fields('AtomicCmpxchg', 'Ptr', 'Expected', 'Replacement'),
  fields('AtomicWait', 'Ptr', 'Expected', 'Timeout'),
  fields('AtomicNotify', 'Ptr', 'NotifyCount'),
  ['AtomicFence', []],
  fields('SIMDExtract', 'Vec'),
  fields('SIMDReplace', 'Vec', 'Value'),
  fields('SIMDShuffle', 'Left', 'Right'),
  fields('SIMDTernary', 'A', 'B', 'C'),
  fields('SIMDShift', 'Vec', 'Shift'),
  fields('SIMDLoad', 'Ptr'),
  fields('SIMDLoadStoreLane', 'Ptr', 'Vec'),
  fields('MemoryInit', 'Dest', 'Offset', 'Size'),
  ['DataDrop', []],
  fields('MemoryCopy', 'Dest', 'Source', 'Size'),
  fields('MemoryFill', 'Dest', 'Value', 'Size'),
  ['Const', []],
  fields('Unary', 'Value'),
  fields('Binary', 'Left', 'Right'),
  fields('Select', 'IfTrue', 'IfFalse', 'Condition'),
  fields('Drop', 'Value'),
  fields('Return', 'Value'),
  ['MemorySize', []],
  fields('MemoryGrow', 'Delta'),
  ['Unreachable', []],
  ['Pop', []],
  ['RefNull', []],
  fields('RefIsNull', 'Value'),
  ['RefFunc', []],
  fields('RefEq', 'Left', 'Right'),
  fields('RefAs', 'Value'),
  fields('TableGet', 'Index'),
  fields('TableSet', 'Index', 'Value'),
  ['TableSize', []],
  fields('TableGrow', 'Value', 'Delta'),
  ['Try', [one('Try', 'Body'), list('Try', 'CatchBody', 'CatchBodies')]],
  ['Throw', [list('Throw', 'Operand', 'Operands')]],
  ['Rethrow', []],
  ['TupleMake', [list('TupleMake', 'Operand', 'Operands')]],
  fields('TupleExtract', 'Tuple'),
  fields('RefI31', 'Value'),
  fields('I31Get', 'I31'),
];

const SLOTS = new Map<number, { kind: string; slots: Slot[] }>(
  KINDS.map(([kind, slots]) => [expressionId(kind), { kind, slots }]),
);

const getId = rawFunction('ExpressionGetId');

/** The expression id of a node. */
export function idOf(expr: ExpressionRef): number {
  return getId(expr);
}

/** The kind name of an expression id ('Loop', 'Call', ...), or undefined for a kind not walked. */
export function kindOf(id: number): string | undefined {
  return SLOTS.get(id)?.kind;
}

/**
 * Calls `visit` on each present child of `expr`, in evaluation order, and puts what it returns in
 * the child's place. Throws FuelError UNSUPPORTED for a kind of expression this table lacks.
 */
export function mapChildren(expr: ExpressionRef, visit: (child: ExpressionRef) => ExpressionRef): void {
  const entry = SLOTS.get(getId(expr));
  if (!entry) {
    throw new FuelError('UNSUPPORTED', `expression kind ${getId(expr)} cannot be instrumented`);
  }
  for (const slot of entry.slots) {
    if (slot.kind === 'one') {
      const child = slot.get(expr);
      if (child === 0) continue;
      const next = visit(child);
      if (next !== child) slot.set(expr, next);
    } else {
      const count = slot.count(expr);
      for (let i = 0; i < count; i++) {
        const child = slot.getAt(expr, i);
        const next = visit(child);
        if (next !== child) slot.setAt(expr, i, next);
      }
    }
  }
}
