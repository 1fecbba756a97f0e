// biome-ignore-all lint/suspicious/noTemplateCurlyInString: workflow references are `${…}` in plain strings
// A step's envelope with its references resolved against the results of earlier steps: an output
// becomes an input by blob reference (`flock:sha256:<hex>`, the bytes the coordinator already
// holds; an inline output is stored as a blob first), summaries are substituted into params.
// Deterministic: the same results give the same envelope, so a resubmitted step is the same task.
import { createHash } from 'node:crypto';
import { type ComputeEnvelope, fromJson, ProtocolError, validateEnvelope } from '@flock/protocol';
import { type StepRef, substitute, wholeRef } from './workflow-refs.ts';

/** An output as a step's stored result holds it (the ComputeResult JSON view's DataRef). */
export interface StoredOutput {
  name?: string;
  content_type?: string;
  inline_json?: string;
  inline_bytes?: string;
  uri?: string;
  hash?: string;
  size?: number;
}

/** What later steps may read of a finished step: its outputs (all branches', in order) and summary. */
export interface StepOutputs {
  outputs: StoredOutput[];
  summary: Record<string, string>;
  /** For a for_each step: each branch's outputs, by branch. */
  branches?: StoredOutput[][];
}

/**
 * A step that cannot be submitted: a reference that cannot be resolved (`REFERENCE_UNRESOLVED`),
 * or an envelope that breaks the envelope rules once resolved (`STEP_INVALID`). The step fails
 * with this code.
 */
export class ResolveError extends Error {
  constructor(
    message: string,
    readonly code: 'REFERENCE_UNRESOLVED' | 'STEP_INVALID' = 'REFERENCE_UNRESOLVED',
  ) {
    super(message);
  }
}

/** A blob the resolved envelope names that must be stored before the task is submitted. */
export interface PendingBlob {
  hex: string;
  bytes: Uint8Array;
}

export interface Resolved {
  envelope: Record<string, unknown>;
  blobs: PendingBlob[];
}

/** The branch a for_each step's task runs: an output of the source step, or a JSON list element. */
export type Item = { output: StoredOutput } | { value: unknown };

export interface ResolveContext {
  results: (stepId: string) => StepOutputs | undefined;
  item: Item | undefined;
}

const BLOB_URI = /sha256:([0-9a-f]{64})$/;

/** An output as an input's body: `flock:sha256:<hex>`, storing inline bytes as a blob. */
export function outputAsInput(out: StoredOutput, blobs: PendingBlob[]): { uri: string; size?: number } {
  const hex = out.uri ? BLOB_URI.exec(out.uri)?.[1] : undefined;
  if (hex) return { uri: `flock:sha256:${hex}`, ...(out.size !== undefined ? { size: out.size } : {}) };
  let bytes: Uint8Array;
  if (out.inline_bytes !== undefined) bytes = Buffer.from(out.inline_bytes, 'base64');
  else if (out.inline_json !== undefined) bytes = Buffer.from(out.inline_json, 'utf8');
  else throw new ResolveError(`output "${out.name ?? ''}" has no body to pass on`);
  const stored = createHash('sha256').update(bytes).digest('hex');
  if (!blobs.some((b) => b.hex === stored)) blobs.push({ hex: stored, bytes });
  return { uri: `flock:sha256:${stored}`, size: bytes.length };
}

/** Resolves a template (a step's or a compensation's envelope JSON). */
export function resolveEnvelope(template: Record<string, unknown>, ctx: ResolveContext): Resolved {
  const blobs: PendingBlob[] = [];
  const envelope: Record<string, unknown> = { ...template };
  if (Array.isArray(template.inputs))
    envelope.inputs = template.inputs.flatMap((i) => resolveInput(i, ctx, blobs));
  if (template.params !== undefined) envelope.params = resolveParams(template.params, ctx);
  const { qos, ...rest } = envelope;
  if (qos !== undefined) {
    const requirements = (rest.requirements ?? {}) as Record<string, unknown>;
    rest.requirements = { ...requirements, qos: { ...(requirements.qos as object), ...(qos as object) } };
  }
  return { envelope: rest, blobs };
}

/**
 * The resolved envelope as the task `taskId` of the workflow's campaign, checked by the envelope
 * rules; ResolveError `STEP_INVALID` naming the field when it breaks them (a fan-in input named
 * like another input, say).
 */
export function stepTask(resolved: Resolved, taskId: string, workflowId: string): ComputeEnvelope {
  try {
    const envelope = fromJson('ComputeEnvelope', {
      ...resolved.envelope,
      task_id: taskId,
      campaign_id: workflowId,
    });
    validateEnvelope(envelope);
    return envelope;
  } catch (err) {
    if (err instanceof ProtocolError)
      throw new ResolveError(`${err.field ? `${err.field}: ` : ''}${err.message}`, 'STEP_INVALID');
    throw err;
  }
}

/** One input, or one per branch when it names an output of a for_each step (fan-in). */
function resolveInput(raw: unknown, ctx: ResolveContext, blobs: PendingBlob[]): unknown[] {
  const input = raw as Record<string, unknown>;
  const ref = typeof input.uri === 'string' ? wholeRef(input.uri) : undefined;
  if (!ref) return [input];
  if (ref.kind === 'item') return [{ ...input, ...itemAsInput(ctx.item, blobs) }];
  if (ref.kind !== 'output') throw new ResolveError(`bad input reference ${String(input.uri)}`);
  const source = ctx.results(ref.step);
  if (!source) throw new ResolveError(`step "${ref.step}" has no result`);
  if (source.branches) {
    return source.branches.map((outs, i) => ({
      ...input,
      name: `${String(input.name)}.${i}`,
      ...outputAsInput(named(outs, ref, `${ref.step}[${i}]`), blobs),
    }));
  }
  return [{ ...input, ...outputAsInput(named(source.outputs, ref, ref.step), blobs) }];
}

function named(outs: StoredOutput[], ref: StepRef & { kind: 'output' }, where: string): StoredOutput {
  const out = outs.find((o) => o.name === ref.name);
  if (!out) throw new ResolveError(`step ${where} has no output "${ref.name}"`);
  return out;
}

function itemAsInput(item: Item | undefined, blobs: PendingBlob[]): { uri: string; size?: number } {
  if (!item) throw new ResolveError('${item} outside a for_each branch');
  if ('output' in item) return outputAsInput(item.output, blobs);
  return outputAsInput({ inline_json: JSON.stringify(item.value) }, blobs);
}

/**
 * Params: a string that is exactly one reference becomes its value (a number when the summary
 * entry is one, an item's JSON value); references inside longer strings are substituted as text.
 */
function resolveParams(value: unknown, ctx: ResolveContext): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value;
    const whole = wholeRef(value);
    if (whole) return refValue(whole, ctx);
    return substitute(value, (ref) => {
      const v = refValue(ref, ctx);
      return typeof v === 'string' ? v : JSON.stringify(v);
    });
  }
  if (Array.isArray(value)) return value.map((v) => resolveParams(v, ctx));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveParams(v, ctx)]));
  }
  return value;
}

function refValue(ref: StepRef, ctx: ResolveContext): unknown {
  if (ref.kind === 'item') {
    if (!ctx.item) throw new ResolveError('${item} outside a for_each branch');
    return 'output' in ctx.item ? (ctx.item.output.name ?? '') : ctx.item.value;
  }
  if (ref.kind !== 'summary') throw new ResolveError('params reference summaries');
  const text = summaryValue(ref, ctx);
  const n = Number(text);
  return text.trim() !== '' && Number.isFinite(n) ? n : text;
}

/** A summary entry as text, or ResolveError when the step or the key is missing. */
export function summaryValue(
  ref: StepRef & { kind: 'summary' },
  ctx: Pick<ResolveContext, 'results'>,
): string {
  const value = ctx.results(ref.step)?.summary[ref.key];
  if (value === undefined) throw new ResolveError(`step "${ref.step}" has no summary "${ref.key}"`);
  return value;
}

/**
 * The branches of a for_each step: the source's outputs, or the elements of its JSON list output.
 * Over a for_each source, every branch's outputs (or every branch's list, in branch order).
 */
export function forEachItems(
  ref: StepRef & { kind: 'outputs' | 'output' },
  source: StepOutputs,
  readBlob: (hex: string) => Uint8Array | undefined,
): Item[] {
  if (ref.kind === 'outputs') return source.outputs.map((output) => ({ output }));
  if (!source.branches) return jsonList(source.outputs, ref, ref.step, readBlob);
  return source.branches.flatMap((outs, i) => jsonList(outs, ref, `${ref.step}[${i}]`, readBlob));
}

/** The elements of the named JSON list output among `outs` (`where` names the step, or branch). */
function jsonList(
  outs: StoredOutput[],
  ref: StepRef & { kind: 'output' },
  where: string,
  readBlob: (hex: string) => Uint8Array | undefined,
): Item[] {
  const out = outs.find((o) => o.name === ref.name);
  if (!out) throw new ResolveError(`step "${where}" has no output "${ref.name}"`);
  let text: string | undefined = out.inline_json;
  if (text === undefined && out.inline_bytes !== undefined)
    text = Buffer.from(out.inline_bytes, 'base64').toString('utf8');
  const hex = out.uri ? BLOB_URI.exec(out.uri)?.[1] : undefined;
  if (text === undefined && hex) {
    const bytes = readBlob(hex);
    if (bytes) text = Buffer.from(bytes).toString('utf8');
  }
  let list: unknown;
  try {
    list = text === undefined ? undefined : JSON.parse(text);
  } catch {
    list = undefined;
  }
  if (!Array.isArray(list)) throw new ResolveError(`output "${ref.name}" of step "${where}" is no JSON list`);
  return list.map((value) => ({ value }));
}
