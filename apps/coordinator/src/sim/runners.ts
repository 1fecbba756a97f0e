// Job runners of a simulated volunteer (sum, echo, built-in ops by their CPU reference, library
// methods by their Node reference), and the lie a dishonest one tells about its outputs.
import type { ModelSource } from '@flock/libraries/reference';
import type { ComputeAssignment, DataRef } from '@flock/protocol';
import type { ReferenceOp } from '../trust/known-answers.ts';
import { libraryInputOf } from '../trust/library-known-answers.ts';
import { loadReferenceOps } from '../trust/reference-ops.ts';

/** A job handed to the runner: the assignment, an abort signal (cancel, lease lost), progress. */
export interface SimJob {
  assignment: ComputeAssignment;
  signal: AbortSignal;
  progress(pct: number, metrics?: Record<string, string>): void;
  /** ml.* models' bytes by hash (`sha256:<hex>`): the simulated volunteer fetches them as a tab does. */
  models?: ModelSource;
}

/** What a runner returns: outputs for a result, or a failure. */
export type SimOutcome =
  | { outputs: DataRef[]; summary?: Record<string, string>; executor?: string }
  | { failure: { code: string; message: string; retryable: boolean } };

export type SimRunner = (job: SimJob) => SimOutcome | Promise<SimOutcome>;

function inputBytes(ref: DataRef): Uint8Array {
  if (ref.inline_bytes) return ref.inline_bytes;
  if (ref.inline_json !== undefined) return new TextEncoder().encode(ref.inline_json);
  return new Uint8Array(0);
}

/** Sums every input byte: output `sum` (JSON number), summary `{ sum, bytes }`. */
export const sumRunner: SimRunner = ({ assignment }) => {
  let sum = 0;
  let bytes = 0;
  for (const input of assignment.envelope?.inputs ?? []) {
    const data = inputBytes(input);
    bytes += data.length;
    for (const b of data) sum += b;
  }
  return {
    outputs: [{ name: 'sum', content_type: 'application/json', inline_json: String(sum) }],
    summary: { sum: String(sum), bytes: String(bytes) },
    executor: 'sim',
  };
};

/**
 * Built-in ops with a CPU reference (`@flock/shaders`: saxpy, matmul, ...) computed by that
 * reference, outputs named as the op names them; other ops (such as the tests' `sum`) by `sumRunner`.
 */
export const referenceRunner: SimRunner = async (job) => {
  const env = job.assignment.envelope ?? {};
  if (env.module?.kind === 'library') return libraryRunner(job);
  if (env.module?.kind !== 'builtin') return sumRunner(job);
  const op = await referenceOp(env.op ?? '');
  if (!op) return sumRunner(job);
  const inputs: Record<string, Uint8Array> = {};
  for (const input of env.inputs ?? []) inputs[input.name ?? ''] = inputBytes(input);
  const outputs = await op.prepare(inputs, env.params ?? {}).reference();
  return {
    outputs: Object.entries(outputs).map(([name, bytes]) => ({
      name,
      content_type: 'application/octet-stream',
      inline_bytes: bytes,
    })),
    executor: 'sim-reference',
  };
};

/**
 * Library methods (`module.kind = "library"`) by their Node reference (@flock/libraries/reference:
 * the same WASM library, or its native twin), as an honest tab would run them; a library's typed
 * failure (INVALID_INPUT, FORBIDDEN...) as the tab reports it. Inline inputs only.
 */
export const libraryRunner: SimRunner = async ({ assignment, models }) => {
  const env = assignment.envelope ?? {};
  // Loaded on first use: the references bring native libraries (sharp, DuckDB) with them.
  const { runReference } = await import('@flock/libraries/reference');
  const { LibraryError } = await import('@flock/libraries');
  const inputs = (env.inputs ?? []).map((ref) => libraryInputOf(ref, inputBytes(ref)));
  try {
    const result = await runReference(env.op ?? '', env.params ?? {}, inputs, models ? { models } : {});
    return {
      outputs: result.outputs.map((o) => ({
        name: o.name,
        content_type: o.contentType,
        inline_bytes: o.bytes,
        ...(o.tensor ? { tensor: { dtype: o.tensor.dtype, shape: o.tensor.shape } } : {}),
      })),
      summary: result.summary ?? {},
      executor: `sim-library:${(env.op ?? '').split('.')[0]}`,
    };
  } catch (error) {
    if (!(error instanceof LibraryError)) throw error;
    return { failure: { code: error.code, message: error.message, retryable: error.retryable } };
  }
};

/** Built-in ops by name (null: no reference), looked up once: benchmarks run many jobs. */
const referenceOps = new Map<string, ReferenceOp | null>();

async function referenceOp(name: string): Promise<ReferenceOp | null> {
  let op = referenceOps.get(name);
  if (op === undefined) {
    const ops = await loadReferenceOps();
    try {
      op = ops.getOp(name);
    } catch {
      op = null; // not a built-in op with a reference
    }
    referenceOps.set(name, op);
  }
  return op;
}

/** Echoes the first input as output `echo` (bytes), for large-output (stream) tests. */
export const echoRunner: SimRunner = ({ assignment }) => {
  const first = assignment.envelope?.inputs?.[0];
  const data = first ? inputBytes(first) : new Uint8Array(0);
  return {
    outputs: [{ name: 'echo', content_type: 'application/octet-stream', inline_bytes: data }],
    executor: 'sim',
  };
};

/** A wrong answer: an integer JSON output plus one, bytes corrupted far outside any error bound. */
export function lieAbout(out: DataRef): DataRef {
  if (out.inline_json !== undefined && /^-?\d+$/.test(out.inline_json)) {
    return { ...out, inline_json: String(Number(out.inline_json) + 1) };
  }
  if (out.inline_bytes) {
    const copy = new Uint8Array(out.inline_bytes);
    if (copy.length > 0) copy[0] = (copy[0]! + 1) & 0xff;
    // And the exponent of the first f32: a lie far outside any op's error bound.
    if (copy.length >= 4) copy[3] = copy[3]! ^ 0x40;
    return { ...out, inline_bytes: copy };
  }
  return out;
}
