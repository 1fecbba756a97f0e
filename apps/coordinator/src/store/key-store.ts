// API keys made through `POST /v1/keys`, as the store keeps them: only the SHA-256 of the secret,
// the tenant, the scopes and when it was made and revoked (edge/api-keys.ts reads them).

export interface NewApiKey {
  /** Public id (`k-…`): what lists show and `DELETE /v1/keys/:id` names. */
  keyId: string;
  tenant: string;
  /** sha256 hex of the secret; the secret itself is never stored. */
  hash: string;
  /** Scope strings (edge/scopes.ts), as given at creation. */
  scopes: string[];
  /** A label for people; optional. */
  name: string | undefined;
  createdAtMs: number;
  /**
   * The key's signing secret (made with `"signing": true`): its tasks must carry an HMAC under it.
   * Kept as it is, not hashed: the coordinator recomputes each task's HMAC (see Access).
   */
  signingSecret?: string | undefined;
}

export interface ApiKeyRecord extends NewApiKey {
  revokedAtMs: number | undefined;
}

/** The api_keys table of a store (`Store.keyStore()`); test/store-contract.ts covers both stores. */
export interface KeyStore {
  insert(key: NewApiKey): Promise<void>;
  /** The key whose secret hashes to `hash`, revoked or not; undefined when none. */
  byHash(hash: string): Promise<ApiKeyRecord | undefined>;
  /** The keys of `tenant` (every tenant's when undefined), oldest first, revoked ones included. */
  list(tenant: string | undefined): Promise<ApiKeyRecord[]>;
  /**
   * Revokes `keyId` (of `tenant`; any tenant's when undefined) at `nowMs`; a second revoke keeps the
   * first time. Undefined when there is no such key (for that tenant).
   */
  revoke(keyId: string, tenant: string | undefined, nowMs: number): Promise<ApiKeyRecord | undefined>;
}

/** A row of the `api_keys` table (the same columns in SQLite and PostgreSQL). */
export interface ApiKeyRow {
  key_id: string;
  tenant: string;
  hash: string;
  scopes: string;
  name: string | null;
  created_at_ms: number | string;
  revoked_at_ms: number | string | null;
  signing_secret?: string | null;
}

export function toApiKey(row: ApiKeyRow): ApiKeyRecord {
  return {
    keyId: row.key_id,
    tenant: row.tenant,
    hash: row.hash,
    scopes: JSON.parse(row.scopes) as string[],
    name: row.name ?? undefined,
    createdAtMs: Number(row.created_at_ms),
    revokedAtMs: row.revoked_at_ms === null ? undefined : Number(row.revoked_at_ms),
    signingSecret: row.signing_secret ?? undefined,
  };
}

/** The same table in both stores (times: SQLite's INTEGER, PostgreSQL's BIGINT). */
export function apiKeysTableSql(dialect: 'sqlite' | 'pg'): string {
  const int = dialect === 'sqlite' ? 'INTEGER' : 'BIGINT';
  return `CREATE TABLE api_keys (
     key_id TEXT PRIMARY KEY,
     tenant TEXT NOT NULL,
     hash TEXT NOT NULL UNIQUE,
     scopes TEXT NOT NULL,
     name TEXT,
     created_at_ms ${int} NOT NULL,
     revoked_at_ms ${int}
   );
   CREATE INDEX api_keys_tenant ON api_keys (tenant, created_at_ms);`;
}
