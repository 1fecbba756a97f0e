// Known answers for library methods (`module.kind = "library"`): the check has the real task's
// op and params, and its expected outputs come from the method's Node reference (the same WASM
// library, or its native twin) computed here. A volunteer's outputs pass when they agree under the
// method's own rule: byte for byte, or decoded pixels/samples within its measured tolerance.
// Inputs: crypto methods get fresh random bytes of the real inputs' sizes (any bytes are valid);
// the others carry the real task's inputs (random bytes are no image or Parquet file), so a
// volunteer that later gets the real task sees its inputs twice, as a replica would; inputs it
// names by uri are read from the blob store, as are ml.* calls' models (their inputs keep their
// tensor specs).
import type { TensorDtype } from '@flock/libraries/models';
import type { LibraryInput } from '@flock/libraries/reference';
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

/**
 * The time a check's reference may take. It is computed while the dispatch pass that screens the
 * task waits, so past this a template makes no check (the next source's is used) instead of
 * holding every tenant's dispatch: a query that runs for hours natively, a long transcode. Its
 * reference is told to stop (data.query interrupts DuckDB) and the template is skipped at once
 * from then on.
 */
export const CHECK_REFERENCE_BUDGET_MS = 5_000;

/**
 * The most argon2id work (KiB of memory times passes, over every input) a crypto check may ask of
 * the reference: hash-wasm computes on the coordinator's event loop, where no budget can stop it.
 * One 64 MiB pass (about half a second); the method's defaults (3 passes) make no check.
 */
export const MAX_CHECK_ARGON2_KIB_PASSES = 64 * 1024;

/** Templates whose reference ran past the budget, remembered (oldest forgotten) so none waits twice. */
const SLOW_KEPT = 1024;

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

/** A blob's bytes by name (`sha256:<hex>`): ml models and uploaded inputs, from the blob store. */
export type BlobReader = (name: string) => Uint8Array | undefined | Promise<Uint8Array | undefined>;

/** KiB of memory times passes a crypto.hash template's argon2id asks for, over all its inputs. */
function argon2Work(t: ComputeEnvelope): number {
  const params = t.params as {
    algorithms?: unknown;
    argon2?: { memory_kib?: unknown; iterations?: unknown };
  };
  if (t.op !== 'crypto.hash' || !Array.isArray(params?.algorithms) || !params.algorithms.includes('argon2id'))
    return 0;
  // The method's defaults (65,536 KiB, 3 passes) where the template leaves them out.
  const memory = Number(params.argon2?.memory_kib ?? 65_536);
  const passes = Number(params.argon2?.iterations ?? 3);
  return (t.inputs?.length ?? 0) * memory * passes;
}

export class LibraryKnownAnswers implements KnownAnswerSource {
  /**
   * `blobs`: the coordinator's blob store, for ml.* models (by the hash in `params.model`) and for
   * inputs the real task names by `flock:sha256:<hex>` uri (the check names the same blob, which
   * its lease may then fetch, as a replica would).
   */
  private readonly slow = new Set<string>();

  /** `budgetMs`: CHECK_REFERENCE_BUDGET_MS (tests shorten it). */
  constructor(
    private readonly blobs: BlobReader = () => undefined,
    private readonly budgetMs = CHECK_REFERENCE_BUDGET_MS,
  ) {}

  async make(request: KnownAnswerRequest): Promise<KnownAnswer | undefined> {
    const t = request.template;
    if (t?.module?.kind !== 'library' || !t.op) return undefined;
    if (this.slow.has(t.task_id ?? '') || argon2Work(t) > MAX_CHECK_ARGON2_KIB_PASSES) return undefined;
    const fresh = t.op.startsWith('crypto.');
    const real = await this.inputBytes(t.inputs ?? [], fresh);
    if (!real) return undefined;
    const refs: DataRef[] = (t.inputs ?? []).map((ref, i) =>
      fresh ? { ...ref, inline_bytes: randomBytes(real[i]!.byteLength, request.random) } : ref,
    );
    const bytes = refs.map((ref, i) => ref.inline_bytes ?? real[i]!);
    const expected = await this.reference(
      t,
      refs.map((r, i) => libraryInputOf(r, bytes[i]!)),
    );
    if (!expected) return undefined;
    const envelope: ComputeEnvelope = structuredClone(t);
    envelope.task_id = mimicTaskId(t.task_id, request.random);
    envelope.inputs = refs;
    delete envelope.security;
    if (envelope.correlation_id)
      envelope.correlation_id = mimicTaskId(envelope.correlation_id, request.random);
    const inputs = Object.fromEntries(refs.map((r, i) => [r.name ?? '', bytes[i]!]));
    return { envelope, moduleHash: moduleKeyOf(envelope), op: t.op, inputs, expected };
  }

  /** The reference's outputs by name; undefined when it refuses the call or runs past the budget. */
  private async reference(
    t: ComputeEnvelope,
    inputs: LibraryInput[],
  ): Promise<Record<string, Uint8Array> | undefined> {
    const { runReference } = await import('@flock/libraries/reference');
    const stop = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const pastBudget = new Promise<'slow'>((resolve) => {
      timer = setTimeout(() => resolve('slow'), this.budgetMs);
    });
    const computing = runReference(t.op!, t.params ?? {}, inputs, {
      models: this.blobs,
      signal: stop.signal,
    });
    // The reference may settle after the race is decided: its rejection then goes nowhere.
    computing.catch(() => undefined);
    try {
      const result = await Promise.race([computing, pastBudget]);
      if (result === 'slow') {
        stop.abort();
        this.slow.add(t.task_id ?? '');
        if (this.slow.size > SLOW_KEPT) this.slow.delete(this.slow.values().next().value!);
        return undefined;
      }
      return Object.fromEntries(result.outputs.map((o) => [o.name, o.bytes]));
    } catch {
      return undefined; // the reference refuses these inputs: no check to make from them
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Each input's bytes, at most MAX_CHECK_INPUT_BYTES in all: inline, or an uploaded blob named by
   * `flock:` uri whose declared `size` fits (not for crypto, whose checks get fresh inline bytes).
   * Undefined: no check from this template.
   */
  private async inputBytes(refs: readonly DataRef[], fresh: boolean): Promise<Uint8Array[] | undefined> {
    const out: Uint8Array[] = [];
    let size = 0;
    for (const ref of refs) {
      let bytes = ref.inline_bytes;
      if (bytes === undefined) {
        const declared = ref.size ?? Number.POSITIVE_INFINITY;
        if (fresh || !ref.uri?.startsWith('flock:') || size + declared > MAX_CHECK_INPUT_BYTES)
          return undefined;
        bytes = await this.blobs(ref.uri.slice('flock:'.length));
        if (bytes === undefined) return undefined;
      }
      size += bytes.byteLength;
      if (size > MAX_CHECK_INPUT_BYTES) return undefined;
      out.push(bytes);
    }
    return out;
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
