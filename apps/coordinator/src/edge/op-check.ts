// The op of a submitted task, checked before it is accepted: a built-in op must exist (a misspelt
// one would otherwise fail on a volunteer; FLOCK_EXTRA_OPS names more), and a library call must
// name a method whose schema accepts its params and input count (@flock/libraries, the same check
// the tab runs). A library
// whose WASM build needs SharedArrayBuffer adds `requirements.min.cross_origin_isolated`, so the
// scheduler offers it only to tabs that can run it.
import { checkLibraryCall, LibraryError } from '@flock/libraries';
import type { ComputeEnvelope } from '@flock/protocol';
import { CoordinatorError } from '../errors.ts';
import { loadReferenceOps } from '../trust/reference-ops.ts';

/** Checks `envelope.op` against its module kind; `prefix` locates the task (`tasks[3].`). */
export async function checkOp(
  envelope: ComputeEnvelope,
  prefix: string,
  extraOps: readonly string[],
): Promise<void> {
  const kind = envelope.module?.kind;
  const op = envelope.op ?? '';
  if (kind === 'builtin' && !extraOps.includes(op)) {
    const { getOp } = await loadReferenceOps();
    try {
      getOp(op);
    } catch (error) {
      throw new CoordinatorError('UNKNOWN_OP', (error as Error).message, `${prefix}op`);
    }
  }
  if (kind !== 'library') return;
  let needsSharedMemory: boolean;
  try {
    needsSharedMemory = checkLibraryCall(op, envelope.params, envelope.inputs?.length ?? 0).library
      .needsSharedMemory;
  } catch (error) {
    if (!(error instanceof LibraryError)) throw error;
    const code =
      error.code === 'UNKNOWN_LIBRARY' || error.code === 'UNKNOWN_METHOD'
        ? 'UNKNOWN_OP'
        : error.code === 'INVALID_PARAMS'
          ? 'INVALID_PARAMS'
          : 'INVALID_ARGUMENT';
    throw new CoordinatorError(code, error.message, `${prefix}${error.field ?? 'op'}`);
  }
  if (needsSharedMemory) {
    envelope.requirements ??= {};
    envelope.requirements.min = { ...envelope.requirements.min, cross_origin_isolated: true };
  }
}
