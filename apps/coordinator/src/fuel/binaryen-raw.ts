// binaryen.js ships typings for its module builder but not for the expression accessors it exposes
// as raw C API functions (`_BinaryenLoopGetBody`, ...). This file is the one typed door to them:
// every accessor the instrumentation uses is looked up by name when the module loads, so a
// binaryen upgrade that renames one fails at start, not halfway through a module.
import binaryen from 'binaryen';

/** A binaryen expression pointer (0 where an optional child is absent). */
export type ExpressionRef = number;

/** A binaryen C API function: takes and returns pointers, indices and enum values. */
export type RawFunction = (...args: number[]) => number;

const exportsByName = binaryen as unknown as Record<string, unknown>;

/** The C API function `_Binaryen<name>`; throws when this binaryen build lacks it. */
export function rawFunction(name: string): RawFunction {
  const fn = exportsByName[`_Binaryen${name}`];
  if (typeof fn !== 'function') throw new Error(`binaryen.js has no _Binaryen${name}`);
  return fn as RawFunction;
}

/** The expression id of a node kind, e.g. `expressionId('Loop')`. */
export function expressionId(kind: string): number {
  return rawFunction(`${kind}Id`)();
}

export const addVar = rawFunction('FunctionAddVar');
export const getFunctionBody = rawFunction('FunctionGetBody');
export const setFunctionBody = rawFunction('FunctionSetBody');
export const getLoopBody = rawFunction('LoopGetBody');
export const setLoopBody = rawFunction('LoopSetBody');
export const getIfCondition = rawFunction('IfGetCondition');
export const setIfCondition = rawFunction('IfSetCondition');
export const getIfTrue = rawFunction('IfGetIfTrue');
export const setIfTrue = rawFunction('IfSetIfTrue');
export const getIfFalse = rawFunction('IfGetIfFalse');
export const setIfFalse = rawFunction('IfSetIfFalse');
export const getReturnValue = rawFunction('ReturnGetValue');
export const setReturnValue = rawFunction('ReturnSetValue');
export const getLocalGetIndex = rawFunction('LocalGetGetIndex');
export const setLocalGetIndex = rawFunction('LocalGetSetIndex');
export const getLocalSetIndex = rawFunction('LocalSetGetIndex');
export const setLocalSetIndex = rawFunction('LocalSetSetIndex');

/** What a `call` or `return_call` names and passes. */
export interface CallInfo {
  target: string;
  operands: ExpressionRef[];
  isReturn: boolean;
}

/** What a `call_indirect` or `return_call_indirect` passes, through which table, at which type. */
export interface CallIndirectInfo {
  table: string;
  target: ExpressionRef;
  operands: ExpressionRef[];
  isReturn: boolean;
  params: binaryen.Type;
  results: binaryen.Type;
}

/** The fields of a `call` node (binaryen.js reads every getter of the node's kind). */
export function callInfo(expr: ExpressionRef): CallInfo {
  return binaryen.getExpressionInfo(expr) as unknown as CallInfo;
}

/** The fields of a `call_indirect` node. */
export function callIndirectInfo(expr: ExpressionRef): CallIndirectInfo {
  return binaryen.getExpressionInfo(expr) as unknown as CallIndirectInfo;
}

/**
 * Reads a binary with the given features enabled. (binaryen.js 132 takes the features as a second
 * argument of `readBinary`; its typings list a `readBinaryWithFeatures` that it does not export.)
 */
export const readBinary = binaryen.readBinary as (
  bytes: Uint8Array,
  features: binaryen.Features,
) => binaryen.Module;

/**
 * Every feature except "compact imports": binaryen 132 writes imports in that new encoding when
 * it is on, which engines of today reject (V8 11 in Node 20: "unknown import kind 0x7e"); other
 * features change nothing where a module does not use them. (The typings lack the flag.)
 */
export const WRITE_FEATURES =
  binaryen.Features.All &
  ~((binaryen.Features as unknown as Record<string, number | undefined>)['CompactImports'] ?? 0);
