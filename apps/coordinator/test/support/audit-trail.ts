// Long audit trails written straight into a fresh SQLite file, and a probe that counts its calls:
// shared by the audit plan tests (audit-tenant, audit-since) and bench/coordinator/audit-since.ts.
import type Database from 'better-sqlite3';
import { type AuditProbe, auditStart } from '../../src/store/audit-since.ts';

/**
 * `tasks` queued tasks (`k0`, `k1`, …) of `tenantOf(i)`, three audit rows each stamped
 * `tsOf(row)` (row = 3i, 3i + 1, 3i + 2), in one transaction: ids follow the rows.
 */
export function writeAuditTrail(
  db: Database.Database,
  tasks: number,
  tenantOf: (task: number) => string,
  tsOf: (row: number) => number,
): void {
  const task = db.prepare(
    `INSERT INTO tasks (tenant, task_id, op, module_kind, state, content_hash, envelope, priority,
       max_retries, created_at_ms, updated_at_ms) VALUES (?, ?, 'sum', 'builtin', 'queued', 'h', x'00', 0, 2, 1, 1)`,
  );
  const row = db.prepare(
    "INSERT INTO audit (task_uid, tenant, ts_ms, to_state, topic) VALUES (?, ?, ?, 'queued', 'x')",
  );
  db.transaction(() => {
    for (let i = 0; i < tasks; i++) {
      const uid = task.run(tenantOf(i), `k${i}`).lastInsertRowid;
      for (let j = 0; j < 3; j++) row.run(uid, tenantOf(i), tsOf(i * 3 + j));
    }
  })();
}

/** `auditStart` from cursor 0, and how many calls of the probe it made (round trips on PostgreSQL). */
export async function countedStart(
  probe: AuditProbe,
  sinceMs: number,
  marginMs?: number,
): Promise<{ start: number; reads: number }> {
  let reads = 0;
  const counted: AuditProbe = {
    width: probe.width,
    atOrAfter: (ids) => {
      reads++;
      return probe.atOrAfter(ids);
    },
    last: () => {
      reads++;
      return probe.last();
    },
  };
  return { start: await auditStart(0, sinceMs, counted, marginMs), reads };
}
