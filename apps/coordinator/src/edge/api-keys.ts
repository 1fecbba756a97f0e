import crypto, { randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApiKeyRecord, KeyStore } from '../store/key-store.ts';
import { Scopes } from './scopes.ts';

/** SHA-256 of a key, once per request: Node's one-shot `crypto.hash` where it has one (20.12+). */
const digest = (key: string): Buffer =>
  typeof crypto.hash === 'function'
    ? crypto.hash('sha256', key, 'buffer')
    : crypto.createHash('sha256').update(key).digest();

/** Who a key is: its tenant, what it may do there, and whether it is an operator's key. */
export interface KeyIdentity {
  tenant: string;
  /**
   * An operator's key (FLOCK_ADMIN_KEYS, the dev key): also sees what concerns no single tenant
   * (volunteers' capability events) and manages every tenant's keys.
   */
  admin: boolean;
  /** What the key may do in its tenant (scopes.ts); `Scopes.ALL` for keys configured without scopes. */
  scopes: Scopes;
  /** The id of a key made through `POST /v1/keys`; undefined for configured keys. */
  keyId: string | undefined;
  /** The key's signing secret (`|sign:`): its tasks must be signed (task-signatures.ts). */
  signingSecret?: string;
}

/** How long a stored key's lookup is believed, ms: a revocation on another coordinator takes this long. */
export const KEY_CACHE_MS = 5_000;
const CACHE_MAX = 10_000;

/**
 * Requester API keys, held only as SHA-256 digests: the configured ones (the plaintext is never
 * kept after start; lookups compare digests in constant time) and the ones made through
 * `/v1/keys`, looked up in the store by digest and believed for KEY_CACHE_MS. A revocation through
 * this coordinator takes effect at once, and `onRevoke` listeners (open event streams) hear of it.
 */
export class ApiKeys {
  private readonly entries: Array<{ hash: Buffer; identity: KeyIdentity }> = [];
  private readonly cache = new Map<string, { identity: KeyIdentity | undefined; atMs: number }>();
  private readonly revokeListeners: Array<(keyId: string) => void> = [];
  /** The generated development key, when no keys were configured (printed once at start). */
  readonly devKey: string | undefined;

  /**
   * `keys` and `adminKeys` map keys to tenants (`FLOCK_API_KEYS`, `FLOCK_ADMIN_KEYS`); `scopes`
   * gives some of them scope lists (the others may do everything in their tenant). Without any
   * key, one development key of tenant `dev` is made (`devKey`, default a new one); it is the local
   * operator's, so it is an admin key. `store` holds the keys made through `/v1/keys`.
   */
  constructor(
    keys: Map<string, string>,
    devKey?: string,
    adminKeys: Map<string, string> = new Map(),
    options: {
      scopes?: Map<string, string[]>;
      signingSecrets?: Map<string, string>;
      store?: KeyStore;
    } = {},
  ) {
    const configured = (key: string, tenant: string, admin: boolean): KeyIdentity => {
      const list = options.scopes?.get(key);
      const scopes = list === undefined ? Scopes.ALL : Scopes.of(list);
      const identity: KeyIdentity = { tenant, admin, scopes, keyId: undefined };
      const secret = options.signingSecrets?.get(key);
      if (secret !== undefined) identity.signingSecret = secret;
      return identity;
    };
    for (const [key, tenant] of keys)
      this.entries.push({ hash: digest(key), identity: configured(key, tenant, false) });
    for (const [key, tenant] of adminKeys)
      this.entries.push({ hash: digest(key), identity: configured(key, tenant, true) });
    if (this.entries.length === 0) {
      this.devKey = devKey ?? ApiKeys.newDevKey();
      this.entries.push({
        hash: digest(this.devKey),
        identity: { tenant: 'dev', admin: true, scopes: Scopes.ALL, keyId: undefined },
      });
    }
    this.store = options.store;
  }

  private readonly store: KeyStore | undefined;

  static newDevKey(): string {
    return `flock_dev_${randomBytes(18).toString('base64url')}`;
  }

  /** A new secret for a stored key (`flock_<base64url>`, 192 bits). */
  static newSecret(): string {
    return `flock_${randomBytes(24).toString('base64url')}`;
  }

  /** The digest a stored key is kept and found by (sha256 hex of the secret). */
  static hashOf(key: string): string {
    return digest(key).toString('hex');
  }

  /** The identity of a configured key, or undefined (stored keys are not looked at). */
  identifyConfigured(key: string | undefined): KeyIdentity | undefined {
    if (!key) return undefined;
    const hash = digest(key);
    let found: KeyIdentity | undefined;
    for (const entry of this.entries) if (timingSafeEqual(entry.hash, hash)) found = entry.identity;
    return found;
  }

  /** The identity of a key, configured or stored (not revoked), or undefined for an unknown key. */
  async identify(key: string | undefined): Promise<KeyIdentity | undefined> {
    if (!key) return undefined;
    const configured = this.identifyConfigured(key);
    if (configured || !this.store) return configured;
    const hash = ApiKeys.hashOf(key);
    const cached = this.cache.get(hash);
    const now = Date.now();
    if (cached && now - cached.atMs < KEY_CACHE_MS) return cached.identity;
    const record = await this.store.byHash(hash);
    const identity = record && record.revokedAtMs === undefined ? storedIdentity(record) : undefined;
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(hash, { identity, atMs: now });
    return identity;
  }

  /** Forgets a revoked key at once and tells the listeners (event streams opened with it close). */
  revoked(record: ApiKeyRecord): void {
    this.cache.set(record.hash, { identity: undefined, atMs: Date.now() });
    for (const listener of this.revokeListeners) listener(record.keyId);
  }

  /**
   * Looks a stored key up again in the store: a revocation made through another coordinator is
   * then acted on here as if made here (cache, `onRevoke` listeners).
   */
  async recheck(hash: string): Promise<void> {
    const record = await this.store?.byHash(hash);
    if (record?.revokedAtMs !== undefined) this.revoked(record);
  }

  /** Calls `listener(keyId)` for each key revoked through this coordinator (or found revoked by `recheck`). */
  onRevoke(listener: (keyId: string) => void): void {
    this.revokeListeners.push(listener);
  }
}

function storedIdentity(record: ApiKeyRecord): KeyIdentity {
  const identity: KeyIdentity = {
    tenant: record.tenant,
    admin: false,
    scopes: Scopes.of(record.scopes),
    keyId: record.keyId,
  };
  // A key made with "signing": true must sign its tasks, as a configured `|sign:` key.
  if (record.signingSecret !== undefined) identity.signingSecret = record.signingSecret;
  return identity;
}
