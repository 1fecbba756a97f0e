// `/v1/keys`: API keys made, listed and revoked by admin keys. A tenant's admin manages its own
// tenant's keys; an operator's key (FLOCK_ADMIN_KEYS, the dev key) any tenant's. The secret is
// returned once, at creation; the store keeps only its SHA-256. A key made with `"signing": true`
// also gets a signing secret, returned once too and kept as it is (HMACs are recomputed with it).
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeUtf8Strict, parseJsonText } from '@flock/protocol';
import { CoordinatorError } from '../errors.ts';
import type { ApiKeyRecord } from '../store/key-store.ts';
import { ApiKeys, type KeyIdentity } from './api-keys.ts';
import { type ApiContext, json, mediaType, readBody } from './http-util.ts';
import { checkScope } from './scopes.ts';

/** Most scopes one key may carry. */
const MAX_SCOPES = 32;
const TENANT = /^[A-Za-z0-9_.-]{1,64}$/;

/** The JSON view of a stored key (never its secret or hash). */
function keyView(record: ApiKeyRecord): Record<string, unknown> {
  return {
    key_id: record.keyId,
    tenant: record.tenant,
    scopes: record.scopes,
    ...(record.name === undefined ? {} : { name: record.name }),
    created_at_ms: record.createdAtMs,
    ...(record.revokedAtMs === undefined ? {} : { revoked_at_ms: record.revokedAtMs }),
    ...(record.signingSecret === undefined ? {} : { signing: true }),
  };
}

/** The tenant a call acts on: the caller's own, or (operators only) the one it names. */
function targetTenant(identity: KeyIdentity, named: unknown, field: string): string {
  if (named === undefined || named === identity.tenant) return identity.tenant;
  if (typeof named !== 'string' || !TENANT.test(named))
    throw new CoordinatorError('INVALID_ARGUMENT', 'tenant must match [A-Za-z0-9_.-]{1,64}', field);
  if (!identity.admin)
    throw new CoordinatorError(
      'FORBIDDEN',
      'only an operator key (FLOCK_ADMIN_KEYS) manages other tenants',
      field,
    );
  return named;
}

async function readKeyRequest(req: IncomingMessage): Promise<Record<string, unknown>> {
  if (mediaType(req) !== 'application/json')
    throw new CoordinatorError('UNSUPPORTED_MEDIA_TYPE', 'use application/json');
  const body = await readBody(req, 64 << 10);
  const value = parseJsonText(decodeUtf8Strict(body, '$'), { maxBytes: 64 << 10, maxDepth: 8 }, '$');
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new CoordinatorError('INVALID_ARGUMENT', 'body must be an object', '$');
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (key !== 'scopes' && key !== 'name' && key !== 'tenant' && key !== 'signing')
      throw new CoordinatorError('INVALID_ARGUMENT', `unknown field "${key}"`, key);
  }
  return obj;
}

/** The scopes of a create request: 1..32 valid scopes (the caller is an admin: it holds them all). */
function requestedScopes(raw: unknown): string[] {
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_SCOPES)
    throw new CoordinatorError(
      'INVALID_ARGUMENT',
      `scopes must be a list of 1..${MAX_SCOPES} scopes`,
      'scopes',
    );
  const scopes = raw.map((s, i) => {
    if (typeof s !== 'string')
      throw new CoordinatorError('INVALID_ARGUMENT', 'a scope is a string', `scopes[${i}]`);
    return checkScope(s, `scopes[${i}]`);
  });
  return [...new Set(scopes)];
}

/**
 * `POST /v1/keys { scopes, name?, tenant?, signing? }` → 201 with the secret (shown this once) and,
 * with `signing: true`, the signing secret its tasks must be signed with (shown this once too).
 */
async function createKey(ctx: ApiContext, req: IncomingMessage, res: ServerResponse, identity: KeyIdentity) {
  const body = await readKeyRequest(req);
  const tenant = targetTenant(identity, body.tenant, 'tenant');
  const scopes = requestedScopes(body.scopes);
  const name = body.name;
  if (name !== undefined && (typeof name !== 'string' || name.length > 64))
    throw new CoordinatorError('INVALID_ARGUMENT', 'name must be a string of at most 64 characters', 'name');
  if (body.signing !== undefined && typeof body.signing !== 'boolean')
    throw new CoordinatorError('INVALID_ARGUMENT', 'signing must be true or false', 'signing');
  // 192 bits, base64url: printable, no `,` or `|` (it could be written into FLOCK_API_KEYS too).
  const signingSecret = body.signing === true ? `sign_${randomBytes(24).toString('base64url')}` : undefined;
  const secret = ApiKeys.newSecret();
  const record: ApiKeyRecord = {
    keyId: `k-${randomBytes(9).toString('base64url')}`,
    tenant,
    hash: ApiKeys.hashOf(secret),
    scopes,
    name,
    createdAtMs: Date.now(),
    revokedAtMs: undefined,
    signingSecret,
  };
  await ctx.coordinator.store.keyStore().insert(record);
  json(res, 201, {
    ...keyView(record),
    key: secret,
    ...(signingSecret === undefined ? {} : { signing_secret: signingSecret }),
  });
}

/** `GET /v1/keys[?tenant=]` → `{ keys }`: the tenant's keys, revoked ones included (operators: `?tenant=` or all). */
async function listKeys(ctx: ApiContext, req: IncomingMessage, res: ServerResponse, identity: KeyIdentity) {
  const named = new URL(req.url ?? '/', 'http://localhost').searchParams.get('tenant') ?? undefined;
  const tenant = identity.admin && named === undefined ? undefined : targetTenant(identity, named, 'tenant');
  const keys = await ctx.coordinator.store.keyStore().list(tenant);
  json(res, 200, { keys: keys.map(keyView) });
}

/** `DELETE /v1/keys/:id` → 200 with `revoked_at_ms`; 404 for a key of another tenant or none. */
async function revokeKey(
  ctx: ApiContext,
  res: ServerResponse,
  identity: KeyIdentity,
  keys: ApiKeys,
  keyId: string,
) {
  const record = await ctx.coordinator.store
    .keyStore()
    .revoke(keyId, identity.admin ? undefined : identity.tenant, Date.now());
  if (!record) throw new CoordinatorError('NOT_FOUND', `no key "${keyId}"`);
  keys.revoked(record);
  json(res, 200, keyView(record));
}

/** Routes `/v1/keys` calls (the caller holds the `admin` scope: http-api.ts checked it). */
export function handleKeys(
  ctx: ApiContext,
  req: IncomingMessage,
  res: ServerResponse,
  identity: KeyIdentity,
  keys: ApiKeys,
  parts: string[],
): Promise<void> {
  const method = req.method ?? 'GET';
  if (parts.length === 1 && method === 'POST') return createKey(ctx, req, res, identity);
  if (parts.length === 1 && method === 'GET') return listKeys(ctx, req, res, identity);
  if (parts.length === 2 && method === 'DELETE') return revokeKey(ctx, res, identity, keys, parts[1]!);
  throw new CoordinatorError(parts.length <= 2 ? 'METHOD_NOT_ALLOWED' : 'NOT_FOUND', `${method} /v1/keys`);
}
