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
  check(answer: KnownAnswer, outputs: readonly ReplicaOutput[]): boolean;
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

const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
const HEX = '0123456789abcdef';

/**
 * A fresh id shaped like `like`: every hex digit replaced by a random hex digit, every other
 * letter or digit by a random one of the same kind, separators kept. So a worker cannot tell a
 * check from a real task by the form of its id. Without `like`, a random UUID v4.
 */
export function mimicTaskId(like: string | undefined, random: () => number): string {
  const pick = (set: string) => set[Math.floor(random() * set.length)]!;
  if (like === undefined || like.length === 0) {
    const hex = (n: number) => Array.from({ length: n }, () => pick(HEX)).join('');
    return `${hex(8)}-${hex(4)}-4${hex(3)}-${pick('89ab')}${hex(3)}-${hex(12)}`;
  }
  let out = '';
  for (const ch of like) {
    if (/[0-9a-f]/.test(ch)) out += pick(HEX);
    else if (/[A-F]/.test(ch)) out += pick(HEX).toUpperCase();
    else if (/[a-z]/.test(ch)) out += pick(ALNUM.slice(0, 26));
    else if (/[A-Z]/.test(ch)) out += pick(ALNUM.slice(0, 26)).toUpperCase();
    else out += ch;
  }
  return out;
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
    return this.build(d.op, d.params, sizes, undefined, request.random);
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
    envelope.task_id = mimicTaskId(template?.task_id, random);
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
