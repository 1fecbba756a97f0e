import type { ComputeEnvelope } from './generated/model.ts';
import { toJson } from './json-view.ts';

/**
 * The canonical form a requester-signed task's `security.task_token` is an HMAC over: the
 * envelope's JSON view (`toJson`) without `security`, every object's keys sorted by UTF-16 code
 * units (JavaScript's default sort) at every depth, arrays in order, no whitespace, strings and
 * numbers as `JSON.stringify` writes them. The HMAC is taken over its UTF-8 bytes.
 */
export function canonicalEnvelope(envelope: ComputeEnvelope): string {
  const view = toJson('ComputeEnvelope', envelope) as Record<string, unknown>;
  const { security: _s, ...unsigned } = view;
  return canonicalJson(unsigned);
}

/** `value` as JSON with sorted keys at every depth and no whitespace. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
