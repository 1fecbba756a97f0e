// The requester keys the environment configures (FLOCK_API_KEYS, FLOCK_ADMIN_KEYS): each key's
// tenant, its scopes and its signing secret. Keys made through POST /v1/keys live in the store
// instead (edge/api-keys.ts).
import { checkScope } from './edge/scopes.ts';
import { parseSigningSecrets, SIGN_PREFIX } from './edge/task-signatures.ts';
import { CoordinatorError } from './errors.ts';

/** The keys part of `CoordinatorConfig`. */
export interface KeyConfig {
  /** API keys to tenants. Env FLOCK_API_KEYS="key:tenant,...". Empty: a dev key is generated. */
  apiKeys: Map<string, string>;
  /**
   * Operators' keys to tenants: requester keys that also see what concerns no single tenant
   * (volunteers' capability events). Env FLOCK_ADMIN_KEYS, the same format. The dev key is one.
   */
  adminKeys: Map<string, string>;
  /**
   * Scope lists of configured keys (FLOCK_API_KEYS/FLOCK_ADMIN_KEYS entries `key:tenant|scope|...`);
   * a key not in it may do everything in its tenant (edge/scopes.ts).
   */
  keyScopes: Map<string, string[]>;
  /**
   * Signing secrets of configured keys (entries `key:tenant|sign:<secret>`): such a key's tasks
   * must carry `security.task_token`, the HMAC of their canonical form (edge/task-signatures.ts).
   */
  signingSecrets: Map<string, string>;
}

/**
 * The key settings FLOCK_API_KEYS and FLOCK_ADMIN_KEYS give; those they leave empty are absent.
 * Throws `CoordinatorError('CONFIG_INVALID')` naming the variable on a bad entry.
 */
export function loadKeyConfig(env: NodeJS.ProcessEnv): Partial<KeyConfig> {
  const keys: Partial<KeyConfig> = {};
  if (env.FLOCK_API_KEYS) keys.apiKeys = parseApiKeys(env.FLOCK_API_KEYS);
  if (env.FLOCK_ADMIN_KEYS) keys.adminKeys = parseApiKeys(env.FLOCK_ADMIN_KEYS, 'FLOCK_ADMIN_KEYS');
  // A key in both lists would silently be the operator's (the later entry wins the lookup).
  for (const [key, tenant] of keys.adminKeys ?? []) {
    if (keys.apiKeys?.has(key)) {
      throw new CoordinatorError(
        'CONFIG_INVALID',
        `FLOCK_ADMIN_KEYS lists the key of its tenant "${tenant}" that FLOCK_API_KEYS lists too (tenant "${keys.apiKeys.get(key)}")`,
        'FLOCK_ADMIN_KEYS',
      );
    }
  }
  const keyScopes = new Map([
    ...parseKeyScopes(env.FLOCK_API_KEYS ?? '', 'FLOCK_API_KEYS'),
    ...parseKeyScopes(env.FLOCK_ADMIN_KEYS ?? '', 'FLOCK_ADMIN_KEYS'),
  ]);
  if (keyScopes.size > 0) keys.keyScopes = keyScopes;
  const signingSecrets = new Map([
    ...parseSigningSecrets(env.FLOCK_API_KEYS ?? '', 'FLOCK_API_KEYS'),
    ...parseSigningSecrets(env.FLOCK_ADMIN_KEYS ?? '', 'FLOCK_ADMIN_KEYS'),
  ]);
  if (signingSecrets.size > 0) keys.signingSecrets = signingSecrets;
  return keys;
}

/**
 * Parses `key:tenant,key2:tenant2|read|can_submit:image.*`; keys must be at least 16 characters.
 * What follows a `|` is the key's scope list (parseKeyScopes), not part of the key.
 */
export function parseApiKeys(text: string, variable = 'FLOCK_API_KEYS'): Map<string, string> {
  const keys = new Map<string, string>();
  for (const part of text.split(',')) {
    const item = part.split('|')[0]!.trim();
    if (item === '') continue;
    const colon = item.lastIndexOf(':');
    const key = colon > 0 ? item.slice(0, colon) : '';
    const tenant = colon > 0 ? item.slice(colon + 1) : '';
    if (key.length < 16 || !/^[A-Za-z0-9_.-]{1,64}$/.test(tenant)) {
      throw new CoordinatorError(
        'CONFIG_INVALID',
        `${variable} entries must be "<key of 16+ chars>:<tenant [A-Za-z0-9_.-]>"`,
        variable,
      );
    }
    // A key listed twice would silently belong to its last tenant; the message leaves the key out.
    if (keys.has(key)) {
      throw new CoordinatorError(
        'CONFIG_INVALID',
        `${variable} lists the key of its tenant "${tenant}" twice`,
        variable,
      );
    }
    keys.set(key, tenant);
  }
  return keys;
}

/**
 * The scope lists of `key:tenant|scope|scope` entries (entries without scopes have none: every
 * scope). A `sign:<secret>` item is the key's signing secret (parseSigningSecrets), no scope.
 */
export function parseKeyScopes(text: string, variable: string): Map<string, string[]> {
  const scopes = new Map<string, string[]>();
  for (const part of text.split(',')) {
    const [head, ...items] = part.split('|').map((s) => s.trim());
    const list = items.filter((s) => !s.startsWith(SIGN_PREFIX));
    if (list.length === 0) continue;
    const key = head!.slice(0, head!.lastIndexOf(':'));
    try {
      scopes.set(key, [...new Set(list.map((s) => checkScope(s, variable)))]);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new CoordinatorError('CONFIG_INVALID', `${variable}: ${message}`, variable);
    }
  }
  return scopes;
}
