import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const digest = (key: string): Buffer => createHash('sha256').update(key).digest();

/** Who a key is: its tenant, and whether it is an operator's (admin) key. */
export interface KeyIdentity {
  tenant: string;
  /** Sees what concerns no single tenant, such as volunteers' capability events. */
  admin: boolean;
}

/**
 * Requester API keys, held only as SHA-256 digests: the plaintext of a configured key is never
 * kept after start. Lookups compare digests in constant time.
 */
export class ApiKeys {
  private readonly entries: Array<{ hash: Buffer; identity: KeyIdentity }> = [];
  /** The generated development key, when no keys were configured (printed once at start). */
  readonly devKey: string | undefined;

  /**
   * `keys` and `adminKeys` map keys to tenants (`FLOCK_API_KEYS`, `FLOCK_ADMIN_KEYS`). Without
   * either, one development key of tenant `dev` is made (`devKey`, default a new one); it is the
   * local operator's, so it is an admin key.
   */
  constructor(keys: Map<string, string>, devKey?: string, adminKeys: Map<string, string> = new Map()) {
    for (const [key, tenant] of keys)
      this.entries.push({ hash: digest(key), identity: { tenant, admin: false } });
    for (const [key, tenant] of adminKeys)
      this.entries.push({ hash: digest(key), identity: { tenant, admin: true } });
    if (this.entries.length === 0) {
      this.devKey = devKey ?? ApiKeys.newDevKey();
      this.entries.push({ hash: digest(this.devKey), identity: { tenant: 'dev', admin: true } });
    }
  }

  static newDevKey(): string {
    return `flock_dev_${randomBytes(18).toString('base64url')}`;
  }

  /** The identity of a key, or undefined for an unknown key. */
  identify(key: string | undefined): KeyIdentity | undefined {
    if (!key) return undefined;
    const hash = digest(key);
    let found: KeyIdentity | undefined;
    for (const entry of this.entries) if (timingSafeEqual(entry.hash, hash)) found = entry.identity;
    return found;
  }

  /** The tenant of a key, or undefined for an unknown key. */
  tenantOf(key: string | undefined): string | undefined {
    return this.identify(key)?.tenant;
  }
}
