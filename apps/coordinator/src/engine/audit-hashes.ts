// The hashes an audit row shows: the input hash (of the task's envelope) and the output hash (of
// its result's outputs), defined once for the audit API, the stores and replays.
import { type ComputeResult, canonicalEnvelope, fromJson } from '@flock/protocol';
import { sha256Hex } from '../sha256.ts';
import { digestOutputs, outputsOf } from '../trust/result-digest.ts';
import { TrustError } from '../trust/trust-error.ts';

/** Stored JSON was checked when it came in: read it back without the wire's size limits. */
const STORED = { maxFrameBytes: 2 ** 31, maxParamsBytes: 2 ** 31 };

const text = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');

/**
 * `sha256:<hex>` of the stored envelope's canonical form (`canonicalEnvelope`: the JSON view
 * without `security`, keys sorted, no whitespace): the bytes a requester-signed task's token is an
 * HMAC over, so a requester can compute it from what it submitted.
 */
export function inputHashOf(envelopeJson: Uint8Array): string {
  const envelope = fromJson('ComputeEnvelope', JSON.parse(text(envelopeJson)), STORED);
  return `sha256:${sha256Hex(canonicalEnvelope(envelope))}`;
}

/** The stored envelope's `correlation_id` (the task's trace id), or undefined. */
export function traceIdOf(envelopeJson: Uint8Array): string | undefined {
  const id = (JSON.parse(text(envelopeJson)) as { correlation_id?: unknown }).correlation_id;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/**
 * `sha256:<hex>` over the outputs' names and hashes, sorted by name (`<len>:<name>=sha256:<hex>\n`
 * each; the trust engine's exact digest): equal for equal outputs whatever the task id, worker or
 * timing. Undefined for a result with an output that has neither bytes nor a hash.
 */
export function outputHashOf(result: ComputeResult): string | undefined {
  // `digestOutputs(outputsOf(result), exact).hash` computed directly: it runs for every success
  // (the audit row's output hash), where the general digest's per-output objects, sorted copy
  // and TextEncoder cost about as much as its two SHA-256s (test/audit-hashes.test.ts: equal).
  const outs = result.outputs ?? [];
  let lines = '';
  for (const i of byName(outs)) {
    const ref = outs[i]!;
    const name = ref.name ?? `#${i}`;
    let hash: string;
    if (ref.inline_bytes !== undefined) hash = `sha256:${sha256Hex(ref.inline_bytes)}`;
    else if (ref.inline_json !== undefined) hash = `sha256:${sha256Hex(ref.inline_json)}`;
    else if (ref.hash) hash = ref.hash;
    else return undefined;
    lines += `${name.length}:${name}=${hash}\n`;
  }
  return `sha256:${sha256Hex(lines)}`;
}

/** The outputs' indexes in name order (unnamed ones are `#<index>`), as `digestOutputs` sorts. */
function byName(outs: NonNullable<ComputeResult['outputs']>): readonly number[] {
  // Most results have one output: its order is a constant, not an array and a closure a result.
  if (outs.length === 1) return ONE;
  const order = outs.map((_, i) => i);
  if (outs.length < 2) return order;
  const name = (i: number): string => outs[i]!.name ?? `#${i}`;
  return order.sort((a, b) => (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0));
}

const ONE: readonly number[] = [0];

/** The general digest's output hash, which `outputHashOf` must equal (its test compares them). */
export function digestOutputHash(result: ComputeResult): string | undefined {
  try {
    return digestOutputs(outputsOf(result), { comparator: 'exact' }).hash;
  } catch (err) {
    if (err instanceof TrustError) return undefined;
    throw err;
  }
}

/** `outputHashOf` of a stored result (its JSON view, UTF-8). */
export function storedOutputHash(resultJson: Uint8Array): string | undefined {
  return outputHashOf(fromJson('ComputeResult', JSON.parse(text(resultJson)), STORED));
}
