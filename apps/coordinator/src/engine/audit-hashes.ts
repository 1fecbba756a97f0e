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
