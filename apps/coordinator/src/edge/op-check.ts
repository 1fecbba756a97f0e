// The op of a submitted task, checked before it is accepted: a built-in op must exist (a misspelt
// one would otherwise fail on a volunteer; FLOCK_EXTRA_OPS names more), and a library call must
// name a method whose schema accepts its params and input count (@flock/libraries, the same check
// the tab runs). A library whose WASM build needs SharedArrayBuffer adds
// `requirements.min.cross_origin_isolated`, and a method that uses WebCrypto (which a page on an
// insecure origin lacks) `requirements.min.secure_context`, so the scheduler offers it only to tabs
// that can run it. A WASI program's mounts and collect paths are
// checked as the tab checks them (@flock/protocol checkWasiParams), so a bad path or a mount naming
// no input is a 400 here rather than a failed task. An ml.* call asking for `execution: "webgpu"`
// adds `requirements.min.webgpu` the same way, so only WebGPU tabs get it.
import { checkLibraryCall, LibraryError } from '@flock/libraries';
import { type ComputeEnvelope, checkWasiParams, ProtocolError } from '@flock/protocol';
import { CoordinatorError } from '../errors.ts';
import type { ReferenceOps } from '../trust/known-answers.ts';
import { loadReferenceOps } from '../trust/reference-ops.ts';

/** The reference ops, once `checkOp` has loaded them: a built-in op is then checked at once. */
let referenceOps: ReferenceOps | undefined;

/** A built-in op that FLOCK_EXTRA_OPS does not name is looked up in the reference ops. */
function needsReferenceOps(envelope: ComputeEnvelope, extraOps: readonly string[]): boolean {
  return envelope.module?.kind === 'builtin' && !extraOps.includes(envelope.op ?? '');
}

/** Checks `envelope.op` against its module kind; `prefix` locates the task (`tasks[3].`). */
export async function checkOp(
  envelope: ComputeEnvelope,
  prefix: string,
  extraOps: readonly string[],
): Promise<void> {
  if (needsReferenceOps(envelope, extraOps)) referenceOps ??= await loadReferenceOps();
  checkOpNow(envelope, prefix, extraOps);
}

/** Whether `checkOpNow` can check `envelope` (the reference ops it may need are loaded). */
export function canCheckOpNow(envelope: ComputeEnvelope, extraOps: readonly string[]): boolean {
  return referenceOps !== undefined || !needsReferenceOps(envelope, extraOps);
}

/** `checkOp` without waiting, where `canCheckOpNow` says it can. */
export function checkOpNow(envelope: ComputeEnvelope, prefix: string, extraOps: readonly string[]): void {
  const kind = envelope.module?.kind;
  const op = envelope.op ?? '';
  if (needsReferenceOps(envelope, extraOps)) {
    try {
      referenceOps!.getOp(op);
    } catch (error) {
      throw new CoordinatorError('UNKNOWN_OP', (error as Error).message, `${prefix}op`);
    }
  }
  if (kind === 'wasm' && (envelope.module?.abi || 'wasi') === 'wasi') checkWasi(envelope, prefix);
  if (kind !== 'library') return;
  let needs: { cross_origin_isolated?: true; secure_context?: true };
  try {
    const call = checkLibraryCall(op, envelope.params, envelope.inputs?.length ?? 0);
    // Shared memory is had only by isolated tabs; WebCrypto by tabs in a secure context.
    needs = {
      ...(call.library.needsSharedMemory ? { cross_origin_isolated: true } : {}),
      ...(call.method.needsWebCrypto === true ? { secure_context: true } : {}),
    };
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
  if (needs.cross_origin_isolated || needs.secure_context) {
    envelope.requirements ??= {};
    envelope.requirements.min = { ...envelope.requirements.min, ...needs };
  }
  if (op.startsWith('ml.') && envelope.params?.['execution'] === 'webgpu') {
    envelope.requirements ??= {};
    envelope.requirements.min = { ...envelope.requirements.min, webgpu: true };
  }
}

/**
 * The model an ml.* library call names (`params.model = "flock:sha256:<hex>"`, as `sha256:<hex>`),
 * or undefined for any other call. The method schema has checked its form already.
 */
export function modelOf(envelope: ComputeEnvelope): string | undefined {
  if (envelope.module?.kind !== 'library' || !envelope.op?.startsWith('ml.')) return undefined;
  const model = envelope.params?.['model'];
  return typeof model === 'string' && model.startsWith('flock:') ? model.slice('flock:'.length) : undefined;
}

/** `params.mounts`, `collect` and the mount limits of a WASI task: INVALID_PARAMS naming the field. */
function checkWasi(envelope: ComputeEnvelope, prefix: string): void {
  try {
    checkWasiParams(
      envelope.params,
      (envelope.inputs ?? []).map((input) => input.name ?? ''),
      envelope.module?.permissions?.wasi_fs === true,
    );
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    throw new CoordinatorError('INVALID_PARAMS', error.message, `${prefix}${error.field ?? 'params'}`);
  }
}
