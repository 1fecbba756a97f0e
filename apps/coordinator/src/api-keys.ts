import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const digest = (key: string): Buffer => createHash('sha256').update(key).digest();

/**
 * Requester API keys, held only as SHA-256 digests: the plaintext of a configured key is never
 * kept after start. `tenantOf` compares digests in constant time.
 */
export class ApiKeys {
  private readonly entries: Array<{ hash: Buffer; tenant: string }> = [];
  /** The generated development key, when no keys were configured (printed once at start). */
  readonly devKey: string | undefined;

  /** `devKey`: the development key to use when `keys` is empty (default: a new one). */
  constructor(keys: Map<string, string>, devKey?: string) {
    for (const [key, tenant] of keys) this.entries.push({ hash: digest(key), tenant });
    if (this.entries.length === 0) {
      this.devKey = devKey ?? ApiKeys.newDevKey();
      this.entries.push({ hash: digest(this.devKey), tenant: 'dev' });
    }
  }

  static newDevKey(): string {
    return `flock_dev_${randomBytes(18).toString('base64url')}`;
  }

  /** The tenant of a key, or undefined for an unknown key. */
  tenantOf(key: string | undefined): string | undefined {
    if (!key) return undefined;
    const hash = digest(key);
    let tenant: string | undefined;
    for (const entry of this.entries) if (timingSafeEqual(entry.hash, hash)) tenant = entry.tenant;
    return tenant;
  }
}
