// The SQLite store's api_keys table (key-store.ts), written through the store's group commit.
import type Database from 'better-sqlite3';
import { type ApiKeyRecord, type ApiKeyRow, type KeyStore, type NewApiKey, toApiKey } from './key-store.ts';

type Write = <T>(fn: () => T) => Promise<T>;

export class SqliteKeyStore implements KeyStore {
  constructor(
    private readonly db: Database.Database,
    private readonly write: Write,
    private readonly committed: () => Promise<void> | undefined,
  ) {}

  async insert(key: NewApiKey): Promise<void> {
    await this.write(() =>
      this.db
        .prepare(
          `INSERT INTO api_keys (key_id, tenant, hash, scopes, name, created_at_ms, signing_secret)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          key.keyId,
          key.tenant,
          key.hash,
          JSON.stringify(key.scopes),
          key.name ?? null,
          key.createdAtMs,
          key.signingSecret ?? null,
        ),
    );
  }

  async byHash(hash: string): Promise<ApiKeyRecord | undefined> {
    await this.committed();
    const row = this.db.prepare<[string], ApiKeyRow>('SELECT * FROM api_keys WHERE hash = ?').get(hash);
    return row ? toApiKey(row) : undefined;
  }

  async list(tenant: string | undefined): Promise<ApiKeyRecord[]> {
    await this.committed();
    const rows =
      tenant === undefined
        ? this.db.prepare<[], ApiKeyRow>('SELECT * FROM api_keys ORDER BY created_at_ms, key_id').all()
        : this.db
            .prepare<[string], ApiKeyRow>(
              'SELECT * FROM api_keys WHERE tenant = ? ORDER BY created_at_ms, key_id',
            )
            .all(tenant);
    return rows.map(toApiKey);
  }

  revoke(keyId: string, tenant: string | undefined, nowMs: number): Promise<ApiKeyRecord | undefined> {
    return this.write(() => {
      this.db
        .prepare(
          `UPDATE api_keys SET revoked_at_ms = ? WHERE key_id = ? AND revoked_at_ms IS NULL
           AND (? IS NULL OR tenant = ?)`,
        )
        .run(nowMs, keyId, tenant ?? null, tenant ?? null);
      const row = this.db.prepare<[string], ApiKeyRow>('SELECT * FROM api_keys WHERE key_id = ?').get(keyId);
      return row && (tenant === undefined || row.tenant === tenant) ? toApiKey(row) : undefined;
    });
  }
}
