import type { ComputeEnvelope, DataRef, JsonObject } from '@flock/protocol';
import type { ReplicaOutput } from './result-digest.ts';
import { TrustError } from './trust-error.ts';

/** A spot check: a task whose correct outputs the coordinator knows without trusting anyone. */
export interface KnownAnswer {
  /** The task as the worker sees it, shaped like a real one. */
  envelope: ComputeEnvelope;
  /** Reputation key of the module it exercises (see `moduleKeyOf`). */
  moduleHash: string;
  op: string;
  inputs: Record<string, Uint8Array>;
  expected: Record<string, Uint8Array>;
  /** Outputs agree within these f32 bounds (replayed tolerance tasks); unset: the source's own rule. */
  tolerance?: { abs: number; rel: number } | undefined;
  /** Which source of a `FirstKnownAnswers` made it. */
  source?: number | undefined;
}

export interface KnownAnswerRequest {
  workerId: string;
  adapterClass: string;
  /** A real task to imitate (same op, params, input sizes, id shape), when there is one. */
  template: ComputeEnvelope | undefined;
  random: () => number;
}

/** Makes known-answer tasks and judges a worker's outputs against them. */
export interface KnownAnswerSource {
  /** A new check, or undefined when this source has none for the request. */
  make(request: KnownAnswerRequest): Promise<KnownAnswer | undefined>;
  /** Whether `outputs` are a correct answer to `answer`. */
  check(answer: KnownAnswer, outputs: readonly ReplicaOutput[]): boolean | Promise<boolean>;
}

/** The part of a built-in op definition (`@flock/shaders` OpDefinition) a known answer needs. */
export interface ReferenceOp {
  readonly inputs: readonly { readonly name: string; readonly dtype: string }[];
  prepare(
    inputs: Record<string, Uint8Array>,
    params: Readonly<Record<string, unknown>>,
  ): {
    reference(): Promise<Record<string, Uint8Array>>;
  };
}

/**
 * The built-in ops with CPU references, as `@flock/shaders` exports them: pass
 * `{ getOp, measureError }` from that package.
 */
export interface ReferenceOps {
  getOp(op: string): ReferenceOp;
  measureError(
    op: string,
    inputs: Record<string, Uint8Array>,
    actual: Record<string, Uint8Array>,
    expected: Record<string, Uint8Array>,
  ): { readonly ok: boolean };
}

/** A check to make when no real task is there to imitate: op, params, elements per input. */
export interface DefaultCheck {
  op: string;
  params: JsonObject;
  elements: Record<string, number>;
}

export const DEFAULT_CHECKS: readonly DefaultCheck[] = [
  { op: 'saxpy', params: { a: 2.5 }, elements: { x: 4096, y: 4096 } },
  { op: 'reduce_sum', params: {}, elements: { x: 16384 } },
  { op: 'matmul', params: { m: 32, n: 32, k: 32 }, elements: { a: 1024, b: 1024 } },
];

/** The reputation key of a task's module: its content hash, or `builtin:<op>` for built-in ops. */
export function moduleKeyOf(envelope: ComputeEnvelope): string {
  if (envelope.module?.hash) return envelope.module.hash;
  return `${envelope.module?.kind ?? 'unknown'}:${envelope.op ?? ''}`;
}

const HEX = '0123456789abcdef';
const DIGITS = '0123456789';

/**
 * A fresh id shaped like `like`, so a worker cannot tell a check from a real task by the form of
 * its id: split at separators (`-_.:/`), tokens of decimal or hex digits are redrawn with the same
 * length and alphabet, a word keeps its letters but redraws a trailing run of digits
 * (`job-7f3a9c21` → `job-0c5e1b97`, `t-123` → `t-804`). Without `like`, a random UUID v4.
 */
export function mimicTaskId(like: string | undefined, random: () => number): string {
  const pick = (set: string) => set[Math.floor(random() * set.length)]!;
  const draw = (set: string, n: number) => Array.from({ length: n }, () => pick(set)).join('');
  if (like === undefined || like.length === 0) {
    return `${draw(HEX, 8)}-${draw(HEX, 4)}-4${draw(HEX, 3)}-${pick('89ab')}${draw(HEX, 3)}-${draw(HEX, 12)}`;
  }
  return like
    .split(/([-_.:/])/)
    .map((token) => {
      if (/^[0-9]+$/.test(token)) return draw(DIGITS, token.length);
      if (/^[0-9a-f]+$/.test(token) && /[0-9]/.test(token)) return draw(HEX, token.length);
      if (/^[0-9A-F]+$/.test(token) && /[0-9]/.test(token)) return draw(HEX, token.length).toUpperCase();
      return token.replace(/[0-9]+$/, (digits) => draw(DIGITS, digits.length));
    })
    .join('');
}

function randomTensor(dtype: string, bytes: number, random: () => number): Uint8Array {
  const out = new Uint8Array(bytes);
  if (dtype === 'f32' || dtype === 'c64') {
    const view = new DataView(out.buffer);
    for (let i = 0; i + 4 <= bytes; i += 4) view.setFloat32(i, random() * 2 - 1, true);
  } else {
    for (let i = 0; i < bytes; i++) out[i] = Math.floor(random() * 256);
  }
  return out;
}

function elementBytes(dtype: string): number {
  return dtype === 'u8' ? 1 : dtype === 'c64' ? 8 : 4;
}

/**
 * Known answers from the built-in ops' CPU references. Given a real built-in task as template,
 * the check has the same op, params, input names and sizes with fresh random inputs, and an id of
 * the same shape; otherwise one of `defaults`. Outputs are judged by the op's own error bound.
 */
export class BuiltinKnownAnswers implements KnownAnswerSource {
  constructor(
    private readonly ops: ReferenceOps,
    private readonly defaults: readonly DefaultCheck[] = DEFAULT_CHECKS,
  ) {}

  async make(request: KnownAnswerRequest): Promise<KnownAnswer | undefined> {
    const t = request.template;
    if (
      t?.module?.kind === 'builtin' &&
      t.op &&
      (t.inputs ?? []).every((i) => i.inline_bytes !== undefined)
    ) {
      const sizes: Record<string, number> = {};
      for (const input of t.inputs ?? []) sizes[input.name ?? ''] = input.inline_bytes!.byteLength;
      const answer = await this.build(t.op, t.params ?? {}, sizes, t, request.random).catch(() => undefined);
      if (answer) return answer;
    }
    if (this.defaults.length === 0) return undefined;
    const d = this.defaults[Math.floor(request.random() * this.defaults.length)]!;
    const op = this.ops.getOp(d.op);
    const sizes: Record<string, number> = {};
    for (const c of op.inputs) sizes[c.name] = (d.elements[c.name] ?? 0) * elementBytes(c.dtype);
    // Not shaped like the template's op, but its id is: same form, fresh digits.
    return this.build(d.op, d.params, sizes, undefined, request.random, t?.task_id);
  }

  check(answer: KnownAnswer, outputs: readonly ReplicaOutput[]): boolean {
    const actual: Record<string, Uint8Array> = {};
    for (const out of outputs) {
      if (out.bytes === undefined) return false;
      actual[out.name] = out.bytes;
    }
    if (Object.keys(actual).length !== Object.keys(answer.expected).length) return false;
    return this.ops.measureError(answer.op, answer.inputs, actual, answer.expected).ok;
  }

  private async build(
    opName: string,
    params: JsonObject,
    sizes: Record<string, number>,
    template: ComputeEnvelope | undefined,
    random: () => number,
    idLike: string | undefined = template?.task_id,
  ): Promise<KnownAnswer> {
    let op: ReferenceOp;
    try {
      op = this.ops.getOp(opName);
    } catch {
      throw new TrustError('UNKNOWN_OP', `no CPU reference for op "${opName}"`, 'op');
    }
    const inputs: Record<string, Uint8Array> = {};
    const refs: DataRef[] = [];
    for (const c of op.inputs) {
      inputs[c.name] = randomTensor(c.dtype, sizes[c.name] ?? 0, random);
      refs.push({ name: c.name, content_type: 'application/octet-stream', inline_bytes: inputs[c.name]! });
    }
    const expected = await op.prepare(inputs, params).reference();
    const envelope: ComputeEnvelope = template ? structuredClone(template) : { module: { kind: 'builtin' } };
    envelope.task_id = mimicTaskId(idLike, random);
    envelope.op = opName;
    envelope.inputs = refs;
    envelope.params = structuredClone(params);
    envelope.requirements ??= { min: {} };
    // The requester's signature belongs to the real task; workers see the coordinator's lease token.
    delete envelope.security;
    if (envelope.correlation_id) envelope.correlation_id = mimicTaskId(envelope.correlation_id, random);
    return { envelope, moduleHash: moduleKeyOf(envelope), op: opName, inputs, expected };
  }
}
