import { createHmac, timingSafeEqual } from 'node:crypto';
import { type ComputeEnvelope, canonicalEnvelope, canonicalJson } from '@flock/protocol';
import { CoordinatorError } from '../errors.ts';

/** The `security.task_token` of `envelope` under `secret`: `hmac:` + hex HMAC-SHA256 of its canonical form. */
export function taskTokenOf(envelope: ComputeEnvelope, secret: string): string {
  return `hmac:${createHmac('sha256', secret).update(canonicalEnvelope(envelope), 'utf8').digest('hex')}`;
}

/**
 * Checks a requester-signed task as submitted (before the coordinator fills anything in): for a
 * key with a signing secret, its `security.task_token` must be `taskTokenOf(envelope, secret)`
 * (401 BAD_SIGNATURE), and an unsigned task is refused (401 SIGNATURE_REQUIRED). A key without a
 * secret has nothing to check (the token is kept and echoed in the result all the same).
 * `prefix` locates the envelope in its request (`tasks[3].`).
 */
export function checkSignature(envelope: ComputeEnvelope, secret: string | undefined, prefix: string): void {
  if (secret === undefined) return;
  const field = `${prefix}security.task_token`;
  const token = envelope.security?.task_token;
  if (!token)
    throw new CoordinatorError(
      'SIGNATURE_REQUIRED',
      'this key signs its tasks: set security.task_token',
      field,
    );
  compareToken(token, taskTokenOf(envelope, secret), 'envelope', field);
}

function compareToken(token: string, expected: string, what: string, field: string): void {
  const want = Buffer.from(expected);
  const got = Buffer.from(token);
  if (got.length !== want.length || !timingSafeEqual(got, want)) {
    throw new CoordinatorError('BAD_SIGNATURE', `security.task_token is not the HMAC of this ${what}`, field);
  }
}

/**
 * Checks a signed request body that is not an envelope — a workflow definition, a circuit, a
 * circuit's run — and returns it without its `security`. Such a body carries the token at its top:
 * `security: { task_token }`, the HMAC (as `taskTokenOf`) of `canonicalJson` of the body without
 * `security`. Without a secret the body's `security` is only shape-checked and dropped.
 */
export function checkBodySignature(
  body: Record<string, unknown>,
  secret: string | undefined,
): Record<string, unknown> {
  const { security, ...unsigned } = body;
  const field = 'security.task_token';
  if (security !== undefined) {
    const ok =
      typeof security === 'object' &&
      security !== null &&
      !Array.isArray(security) &&
      Object.keys(security).every((k) => k === 'task_token') &&
      typeof (security as { task_token?: unknown }).task_token === 'string';
    if (!ok) throw new CoordinatorError('INVALID_ARGUMENT', 'security: { task_token: string }', 'security');
  }
  if (secret === undefined) return unsigned;
  const token = (security as { task_token?: string } | undefined)?.task_token;
  if (!token)
    throw new CoordinatorError(
      'SIGNATURE_REQUIRED',
      'this key signs its requests: set security.task_token',
      field,
    );
  const hmac = createHmac('sha256', secret).update(canonicalJson(unsigned), 'utf8').digest('hex');
  compareToken(token, `hmac:${hmac}`, 'request', field);
  return unsigned;
}

/** The item of a configured key's entry that is its signing secret: `key:tenant|sign:<secret>`. */
export const SIGN_PREFIX = 'sign:';

/** The signing secrets of `key:tenant|sign:<secret>` entries; a secret is 16+ printable characters. */
export function parseSigningSecrets(text: string, variable: string): Map<string, string> {
  const secrets = new Map<string, string>();
  for (const part of text.split(',')) {
    const [head, ...items] = part.split('|').map((s) => s.trim());
    const signs = items.filter((s) => s.startsWith(SIGN_PREFIX));
    if (signs.length === 0) continue;
    const secret = signs[0]!.slice(SIGN_PREFIX.length);
    if (signs.length > 1 || !/^[\x21-\x7e]{16,}$/.test(secret)) {
      throw new CoordinatorError(
        'CONFIG_INVALID',
        `${variable}: a key has at most one "sign:<secret>", the secret 16+ printable characters`,
        variable,
      );
    }
    secrets.set(head!.slice(0, head!.lastIndexOf(':')), secret);
  }
  return secrets;
}
