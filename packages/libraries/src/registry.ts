// Looking up and checking a library call: the one gate the coordinator (at submit) and the tab
// (before running) both go through.

import { isLibraryName, LIBRARIES } from './libraries.ts';
import { LibraryError } from './library-error.ts';
import { type LibraryDefinition, type MethodDefinition, opOf } from './method.ts';
import { ALL_METHODS } from './methods/index.ts';
import { checkParams, type Params } from './params.ts';

export const METHODS: ReadonlyMap<string, MethodDefinition> = new Map(ALL_METHODS.map((m) => [opOf(m), m]));

/** The method of an op `<library>.<method>`; throws UNKNOWN_LIBRARY or UNKNOWN_METHOD (field `op`). */
export function getMethod(op: string): MethodDefinition {
  const dot = op.indexOf('.');
  const library = dot > 0 ? op.slice(0, dot) : op;
  if (!isLibraryName(library)) {
    throw new LibraryError(
      'UNKNOWN_LIBRARY',
      `"${library}" is not a library (known: ${Object.keys(LIBRARIES).join(', ')})`,
      'op',
    );
  }
  const method = METHODS.get(op);
  if (!method) {
    const known = ALL_METHODS.filter((m) => m.library === library).map((m) => m.method);
    throw new LibraryError(
      'UNKNOWN_METHOD',
      `"${op.slice(dot + 1)}" is not a method of ${library} (known: ${known.join(', ') || 'none yet'})`,
      'op',
    );
  }
  return method;
}

export interface CheckedCall {
  method: MethodDefinition;
  library: LibraryDefinition;
  /** The params with defaults filled in. */
  params: Params;
}

/**
 * Checks an op, its params and how many inputs it has; returns the method and the params with
 * their defaults. Throws LibraryError (UNKNOWN_LIBRARY, UNKNOWN_METHOD, INVALID_PARAMS, INPUT_COUNT)
 * naming the field.
 */
export function checkLibraryCall(op: string, params: unknown, inputCount: number): CheckedCall {
  const method = getMethod(op);
  const checked = checkParams(params, method.params);
  method.check?.(checked);
  const { min, max } = method.inputs;
  if (inputCount < min || inputCount > max) {
    const want = min === max ? `${min}` : `${min} to ${max}`;
    throw new LibraryError('INPUT_COUNT', `${op} takes ${want} inputs, got ${inputCount}`, 'inputs');
  }
  return { method, library: LIBRARIES[method.library], params: checked };
}
