// The SQLite store's audit side (audit-store.ts), written through the store's group commit.
import type Database from 'better-sqlite3';
import { type AuditMarkRow, type AuditProbe, sinceStartFilter, toAuditMark } from './audit-since.ts';
import {
  type AuditEntry,
  type AuditEntryRow,
  type AuditFilter,
  type AuditStore,
  auditQuery,
  type ReplayRecord,
  type ReplayRow,
  toAuditEntry,
  toReplay,
} from './audit-store.ts';

/**
 * `since=`'s point reads (audit-since.ts) over the tenant's rows, or every row: one at a time
 * (each a few µs). `INDEXED BY`: statistics from an ANALYZE could otherwise make SQLite walk the
 * primary key and skip other tenants' rows.
 */
export function sqliteAuditProbe(db: Database.Database, tenant: string | undefined): AuditProbe {
  const from = tenant === undefined ? 'audit' : 'audit INDEXED BY audit_tenant';
  const byTenant = tenant === undefined ? [] : ['tenant = ?'];
  const where = (more: string[]) => (more.length > 0 ? ` WHERE ${more.join(' AND ')}` : '');
  const tenantArg = tenant === undefined ? [] : [tenant];
  const atOrAfter = db.prepare<unknown[], AuditMarkRow>(
    `SELECT id, ts_ms FROM ${from}${where([...byTenant, 'id >= ?'])} ORDER BY id LIMIT 1`,
  );
  const last = db.prepare<unknown[], AuditMarkRow>(
    `SELECT id, ts_ms FROM ${from}${where(byTenant)} ORDER BY id DESC LIMIT 1`,
  );
  return {
    width: 1,
    atOrAfter: async (ids) => ids.map((id) => toAuditMark(atOrAfter.get(...tenantArg, id))),
    last: async () => toAuditMark(last.get(...tenantArg)),
  };
}

type Write = <T>(fn: () => T) => Promise<T>;

export class SqliteAuditStore implements AuditStore {
  constructor(
    private readonly db: Database.Database,
    private readonly write: Write,
    private readonly committed: () => Promise<void> | undefined,
  ) {}

  async entries(filter: AuditFilter): Promise<AuditEntry[]> {
    await this.committed();
    const from = await sinceStartFilter(filter, () => sqliteAuditProbe(this.db, filter.tenant));
    const args: unknown[] = [];
    const sql = auditQuery('sqlite', from, (value) => {
      args.push(value);
      return '?';
    });
    return this.db
      .prepare<unknown[], AuditEntryRow>(sql)
      .all(...args)
      .map(toAuditEntry);
  }

  async setFingerprint(workerId: string, fingerprint: string): Promise<void> {
    await this.write(() =>
      this.db.prepare('UPDATE workers SET fingerprint = ? WHERE worker_id = ?').run(fingerprint, workerId),
    );
  }

  async insertReplay(r: ReplayRecord): Promise<boolean> {
    const info = await this.write(() =>
      this.db
        .prepare(
          `INSERT INTO replays (tenant, replay_id, source_kind, source_id, created_at_ms, pairs)
           VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, replay_id) DO NOTHING`,
        )
        .run(r.tenant, r.replayId, r.sourceKind, r.sourceId, r.createdAtMs, JSON.stringify(r.pairs)),
    );
    return info.changes === 1;
  }

  async getReplay(tenant: string, replayId: string): Promise<ReplayRecord | undefined> {
    await this.committed();
    const row = this.db
      .prepare<[string, string], ReplayRow>('SELECT * FROM replays WHERE tenant = ? AND replay_id = ?')
      .get(tenant, replayId);
    return row ? toReplay(row) : undefined;
  }

  async countReplays(
    tenant: string,
    sourceKind: ReplayRecord['sourceKind'],
    sourceId: string,
  ): Promise<number> {
    await this.committed();
    const row = this.db
      .prepare<[string, string, string], { n: number }>(
        'SELECT COUNT(*) AS n FROM replays WHERE tenant = ? AND source_kind = ? AND source_id = ?',
      )
      .get(tenant, sourceKind, sourceId);
    return row?.n ?? 0;
  }
}
