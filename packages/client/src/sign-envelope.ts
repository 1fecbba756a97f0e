import { type ComputeEnvelope, canonicalEnvelope, canonicalJson } from '@flock/protocol';

const hex = (bytes: ArrayBuffer): string =>
  Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');

/**
 * The `security.task_token` of `envelope` for a key with signing secret `secret`:
 * `hmac:` and the lowercase hex HMAC-SHA256, keyed by the secret's UTF-8 bytes, of the envelope's
 * canonical form (`canonicalEnvelope` of @flock/protocol: its JSON view without `security`, keys
 * sorted at every depth, no whitespace, UTF-8). Web Crypto: browsers and Node 20+.
 */
export function taskToken(envelope: ComputeEnvelope, secret: string): Promise<string> {
  return hmacToken(canonicalEnvelope(envelope), secret);
}

async function hmacToken(canonical: string, secret: string): Promise<string> {
  const utf8 = new TextEncoder();
  const key = await crypto.subtle.importKey(
    'raw',
    utf8.encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  return `hmac:${hex(await crypto.subtle.sign('HMAC', key, utf8.encode(canonical)))}`;
}

/** A copy of `envelope` signed with `secret` (its `security.task_token` set; see `taskToken`). */
export async function signEnvelope(envelope: ComputeEnvelope, secret: string): Promise<ComputeEnvelope> {
  return { ...envelope, security: { ...envelope.security, task_token: await taskToken(envelope, secret) } };
}

/**
 * A copy of a request body that is not an envelope — a workflow definition, a circuit, a
 * circuit's run — signed with `secret`: its top-level `security.task_token` is `hmac:` and the hex
 * HMAC-SHA256 of `canonicalJson` of the body without `security`.
 */
export async function signBody<T extends Record<string, unknown>>(body: T, secret: string): Promise<T> {
  const { security: _s, ...unsigned } = body;
  return { ...body, security: { task_token: await hmacToken(canonicalJson(unsigned), secret) } };
}
