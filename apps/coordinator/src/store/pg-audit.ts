// The PostgreSQL store's audit side (audit-store.ts): one statement per call.
import type pg from 'pg';
import {
  type AuditMark,
  type AuditMarkRow,
  type AuditProbe,
  sinceStartFilter,
  toAuditMark,
} from './audit-since.ts';
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

/** How many points one round trip of `since=`'s bisection reads (`AuditProbe.width`). */
const PROBE_WIDTH = 15;

/**
 * `since=`'s point reads (audit-since.ts) over the tenant's rows, or every row: PROBE_WIDTH
 * points a query (a round trip costs far more than an index lookup).
 */
export function pgAuditProbe(pool: pg.Pool, tenant: string | undefined): AuditProbe {
  const byTenant = tenant === undefined ? '' : 'tenant = $2 AND ';
  const tenantArg = tenant === undefined ? [] : [tenant];
  const atOrAfter = `SELECT p.n, a.id, a.ts_ms FROM unnest($1::bigint[]) WITH ORDINALITY AS p(id, n)
       CROSS JOIN LATERAL (SELECT id, ts_ms FROM audit WHERE ${byTenant}id >= p.id ORDER BY id LIMIT 1) a`;
  const last = `SELECT id, ts_ms FROM audit${tenant === undefined ? '' : ' WHERE tenant = $1'}
       ORDER BY id DESC LIMIT 1`;
  return {
    width: PROBE_WIDTH,
    atOrAfter: async (ids) => {
      const { rows } = await pool.query<AuditMarkRow & { n: string }>(atOrAfter, [ids, ...tenantArg]);
      const found: Array<AuditMark | undefined> = ids.map(() => undefined);
      for (const row of rows) found[Number(row.n) - 1] = toAuditMark(row);
      return found;
    },
    last: async () => toAuditMark((await pool.query<AuditMarkRow>(last, tenantArg)).rows[0]),
  };
}

export class PgAuditStore implements AuditStore {
  constructor(private readonly pool: pg.Pool) {}

  async entries(filter: AuditFilter): Promise<AuditEntry[]> {
    const from = await sinceStartFilter(filter, () => pgAuditProbe(this.pool, filter.tenant));
    const args: unknown[] = [];
    const sql = auditQuery('pg', from, (value) => {
      args.push(value);
      return `$${args.length}`;
    });
    const { rows } = await this.pool.query<AuditEntryRow>(sql, args);
    return rows.map(toAuditEntry);
  }

  async setFingerprint(workerId: string, fingerprint: string): Promise<void> {
    await this.pool.query('UPDATE workers SET fingerprint = $1 WHERE worker_id = $2', [
      fingerprint,
      workerId,
    ]);
  }

  async insertReplay(r: ReplayRecord): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `INSERT INTO replays (tenant, replay_id, source_kind, source_id, created_at_ms, pairs)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant, replay_id) DO NOTHING`,
      [r.tenant, r.replayId, r.sourceKind, r.sourceId, r.createdAtMs, JSON.stringify(r.pairs)],
    );
    return rowCount === 1;
  }

  async getReplay(tenant: string, replayId: string): Promise<ReplayRecord | undefined> {
    const { rows } = await this.pool.query<ReplayRow>(
      'SELECT * FROM replays WHERE tenant = $1 AND replay_id = $2',
      [tenant, replayId],
    );
    return rows[0] ? toReplay(rows[0]) : undefined;
  }

  async countReplays(
    tenant: string,
    sourceKind: ReplayRecord['sourceKind'],
    sourceId: string,
  ): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>(
      'SELECT COUNT(*)::int AS n FROM replays WHERE tenant = $1 AND source_kind = $2 AND source_id = $3',
      [tenant, sourceKind, sourceId],
    );
    return rows[0]?.n ?? 0;
  }
}
