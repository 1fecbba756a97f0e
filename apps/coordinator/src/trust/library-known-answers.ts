// Known answers for library methods (`module.kind = "library"`): the check has the real task's
// op and params, and its expected outputs come from the method's Node reference (the same WASM
// library, or its native twin) computed here. A volunteer's outputs pass when they agree under the
// method's own rule: byte for byte, or decoded pixels/samples within its measured tolerance.
// Inputs: crypto methods get fresh random bytes of the real inputs' sizes (any bytes are valid);
// the others carry the real task's inputs (random bytes are no image or Parquet file), so a
// volunteer that later gets the real task sees its inputs twice, as a replica would. ml.* calls
// get their model's bytes from the blob store (`models`) and their inputs' tensor specs.
import type { TensorDtype } from '@flock/libraries/models';
import type { LibraryInput, ModelSource } from '@flock/libraries/reference';
import type { ComputeEnvelope, DataRef } from '@flock/protocol';
import {
  type KnownAnswer,
  type KnownAnswerRequest,
  type KnownAnswerSource,
  mimicTaskId,
  moduleKeyOf,
} from './known-answers.ts';
import type { ReplicaOutput } from './result-digest.ts';

/**
 * Checks are computed here, on the coordinator, by the native library: templates with more input
 * than this make no check (the next source's check is used), so one big video cannot stall it.
 */
export const MAX_CHECK_INPUT_BYTES = 8 * 1024 * 1024;

/** Fresh bytes for a check whose method reads any bytes (crypto.*). */
function randomBytes(length: number, random: () => number): Uint8Array {
  return Uint8Array.from({ length }, () => Math.floor(random() * 256));
}

/** A task input as a library input: its bytes, and its TensorSpec when it is a tensor (ml.*). */
export function libraryInputOf(ref: DataRef, bytes: Uint8Array): LibraryInput {
  const input: LibraryInput = { name: ref.name ?? '', contentType: ref.content_type ?? '', bytes };
  const { dtype, shape } = ref.tensor ?? {};
  // The ml job refuses a dtype it does not take (TENSOR_MISMATCH), as the tab does.
  if (dtype && shape) input.tensor = { dtype: dtype as TensorDtype, shape: [...shape] };
  return input;
}

export class LibraryKnownAnswers implements KnownAnswerSource {
  /** `models`: ml.* models' bytes by hash (`sha256:<hex>`), from the coordinator's blob store. */
  constructor(private readonly models: ModelSource = () => undefined) {}

  async make(request: KnownAnswerRequest): Promise<KnownAnswer | undefined> {
    const t = request.template;
    if (t?.module?.kind !== 'library' || !t.op) return undefined;
    if (!(t.inputs ?? []).every((i) => i.inline_bytes !== undefined)) return undefined;
    const size = (t.inputs ?? []).reduce((sum, i) => sum + i.inline_bytes!.byteLength, 0);
    if (size > MAX_CHECK_INPUT_BYTES) return undefined;
    const fresh = t.op.startsWith('crypto.');
    const refs: DataRef[] = (t.inputs ?? []).map((ref) => ({
      ...ref,
      inline_bytes: fresh ? randomBytes(ref.inline_bytes!.byteLength, request.random) : ref.inline_bytes!,
    }));
    const { runReference } = await import('@flock/libraries/reference');
    let expected: Record<string, Uint8Array>;
    try {
      const result = await runReference(
        t.op,
        t.params ?? {},
        refs.map((r) => libraryInputOf(r, r.inline_bytes!)),
        { models: this.models },
      );
      expected = Object.fromEntries(result.outputs.map((o) => [o.name, o.bytes]));
    } catch {
      return undefined; // the reference refuses these inputs: no check to make from them
    }
    const envelope: ComputeEnvelope = structuredClone(t);
    envelope.task_id = mimicTaskId(t.task_id, request.random);
    envelope.inputs = refs;
    delete envelope.security;
    if (envelope.correlation_id)
      envelope.correlation_id = mimicTaskId(envelope.correlation_id, request.random);
    const inputs = Object.fromEntries(refs.map((r) => [r.name ?? '', r.inline_bytes!]));
    return { envelope, moduleHash: moduleKeyOf(envelope), op: t.op, inputs, expected };
  }

  async check(answer: KnownAnswer, outputs: readonly ReplicaOutput[]): Promise<boolean> {
    if (outputs.some((o) => o.bytes === undefined)) return false;
    const { outputsAgree } = await import('@flock/libraries/reference');
    const expected = Object.entries(answer.expected).map(([name, bytes]) => ({ name, bytes }));
    return outputsAgree(
      answer.op,
      outputs.map((o) => ({ name: o.name, bytes: o.bytes! })),
      expected,
    );
  }
}
