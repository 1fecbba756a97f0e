// The PostgreSQL store's api_keys table (key-store.ts): one statement per call.
import type pg from 'pg';
import { type ApiKeyRecord, type ApiKeyRow, type KeyStore, type NewApiKey, toApiKey } from './key-store.ts';

export class PgKeyStore implements KeyStore {
  constructor(private readonly pool: pg.Pool) {}

  async insert(key: NewApiKey): Promise<void> {
    await this.pool.query(
      `INSERT INTO api_keys (key_id, tenant, hash, scopes, name, created_at_ms, signing_secret)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        key.keyId,
        key.tenant,
        key.hash,
        JSON.stringify(key.scopes),
        key.name ?? null,
        key.createdAtMs,
        key.signingSecret ?? null,
      ],
    );
  }

  async byHash(hash: string): Promise<ApiKeyRecord | undefined> {
    const { rows } = await this.pool.query<ApiKeyRow>('SELECT * FROM api_keys WHERE hash = $1', [hash]);
    return rows[0] ? toApiKey(rows[0]) : undefined;
  }

  async list(tenant: string | undefined): Promise<ApiKeyRecord[]> {
    const { rows } =
      tenant === undefined
        ? await this.pool.query<ApiKeyRow>('SELECT * FROM api_keys ORDER BY created_at_ms, key_id')
        : await this.pool.query<ApiKeyRow>(
            'SELECT * FROM api_keys WHERE tenant = $1 ORDER BY created_at_ms, key_id',
            [tenant],
          );
    return rows.map(toApiKey);
  }

  async revoke(keyId: string, tenant: string | undefined, nowMs: number): Promise<ApiKeyRecord | undefined> {
    // COALESCE keeps the first revocation time; the WHERE scopes it to the tenant.
    const { rows } = await this.pool.query<ApiKeyRow>(
      `UPDATE api_keys SET revoked_at_ms = COALESCE(revoked_at_ms, $1)
       WHERE key_id = $2 AND ($3::text IS NULL OR tenant = $3) RETURNING *`,
      [nowMs, keyId, tenant ?? null],
    );
    return rows[0] ? toApiKey(rows[0]) : undefined;
  }
}
