// A tenant's whole audit trail (`GET /v1/audit` without task_id or campaign_id) on each store:
// every transition writes its row's tenant, so the tenant-wide read returns exactly that tenant's
// rows in write order; and with tens of thousands of rows of several tenants the read is planned
// through the audit_tenant index (SQLite's EXPLAIN QUERY PLAN, PostgreSQL's EXPLAIN after
// ANALYZE), not by walking every tenant's rows or sorting all of one tenant's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type AuditFilter, auditQuery } from '../src/store/audit-store.ts';
import { PostgresStore } from '../src/store/postgres-store.ts';
import { openSqlite } from '../src/store/sqlite-schema.ts';
import type { Store } from '../src/store/store.ts';
import { newTask } from './store-contract.ts';
import { writeAuditTrail } from './support/audit-trail.ts';
import { acquirePostgres, type PostgresHarness } from './support/postgres.ts';
import { temporarySqliteStore } from './support/sqlite.ts';

let harness: PostgresHarness;
beforeAll(async () => {
  harness = await acquirePostgres();
});
afterAll(async () => {
  await harness?.release();
});

const lease = (taskUid: number, leaseId: string, attempt = 1, tenant = 'a') => ({
  taskUid,
  tenant,
  leaseId,
  attempt,
  workerId: 'w1',
  startedAtMs: 2000,
  expiresAtMs: 9000,
});
const end = (taskUid: number, leaseId: string, requeueAtMs: number | undefined) => ({
  taskUid,
  leaseId,
  outcome: 'failed' as const,
  code: 'EXEC_FAILED',
  message: 'boom',
  requeueAtMs,
  countsAsFailure: true,
  nowMs: 3000,
});

/** Runs every kind of transition on tenant a's tasks t1–t4, with tenant b's rows between them. */
async function transitions(store: Store): Promise<number> {
  const made = await store.insertTasks(
    ['t1', 't2', 't3', 't4'].map((id) => newTask(id)).concat(newTask('t1', { tenant: 'b' })),
  );
  const [t1, t2, t3, t4, b1] = made.map((o) => (o.kind === 'created' ? o.task.uid : -1));
  expect(await store.startLeases([lease(t1!, 'l1'), lease(b1!, 'lb', 1, 'b')])).toEqual([true, true]);
  expect(await store.endAttempt(end(t1!, 'l1', 2500))).toBe(true);
  expect(await store.startLeases([lease(t1!, 'l2', 2)])).toEqual([true]);
  expect(await store.endAttempt(end(t1!, 'l2', undefined))).toBe(true);
  expect(await store.failQueued(t2!, 'BAD_INPUT', 'no', 3000)).toBe(true);
  expect(await store.cancelTask(t3!, 'stop', 3000)).toBe('queued');
  expect(await store.startLeases([lease(t4!, 'l3')])).toEqual([true]);
  const result = new Uint8Array([7]);
  const done = {
    taskUid: t4!,
    tenant: 'a',
    leaseId: 'l3',
    result,
    executor: 'x',
    durationMs: 1,
    nowMs: 4000,
  };
  expect(await store.completeTask({ ...done, workerId: 'w1', outputHash: 'sha256:00' })).toBe(true);
  expect((await store.reopenTask(t4!, 'CHECK_FAILED', 5000))?.state).toBe('queued');
  return t4!;
}

const A_ROWS = [
  't1 queued',
  't2 queued',
  't3 queued',
  't4 queued',
  't1 running',
  't1 queued',
  't1 running',
  't1 failed',
  't2 failed',
  't3 cancelled',
  't4 running',
  't4 succeeded',
  't4 queued',
];

async function tenantRows(store: Store, tenant: string | undefined): Promise<string[]> {
  const entries = await store.auditStore().entries({ tenant, afterId: 0, limit: 100 });
  return entries.map((e) => `${tenant === undefined ? `${e.tenant}/` : ''}${e.taskId} ${e.toState}`);
}

describe('every transition writes its tenant on its audit row', () => {
  test('SQLite', async () => {
    const { store, cleanup } = temporarySqliteStore();
    try {
      await store.migrate();
      await transitions(store);
      expect(await tenantRows(store, 'a')).toEqual(A_ROWS);
      expect(await tenantRows(store, 'b')).toEqual(['t1 queued', 't1 running']);
      expect(await tenantRows(store, undefined)).toHaveLength(A_ROWS.length + 2);
    } finally {
      await cleanup();
    }
  });

  test('PostgreSQL, with a claim', async () => {
    const store = new PostgresStore(await harness.createSchema(), { maxConnections: 2 });
    try {
      await store.migrate();
      const t4 = await transitions(store);
      const claimed = await store.claimQueued({ workerId: 'w2', limit: 5, nowMs: 6000, leaseMs: 1000 });
      expect(claimed.map((c) => c.task.uid)).toEqual([t4]);
      expect(await tenantRows(store, 'a')).toEqual([...A_ROWS, 't4 running']);
      expect(await tenantRows(store, 'b')).toEqual(['t1 queued', 't1 running']);
      expect(await tenantRows(store, undefined)).toHaveLength(A_ROWS.length + 3);
    } finally {
      await store.close();
    }
  });
});

// 40,000 tasks with three audit rows each: tenant `big` has 36,000 of them, `small` 400, and
// three more tenants the rest; the page asked for is small's, after a cursor.
const TASKS = 40_000;
const tenantOf = (i: number): string => (i % 100 === 0 ? 'small' : i % 10 === 1 ? `t${i % 3}` : 'big');
const PAGE: AuditFilter = { tenant: 'small', afterId: 3000, limit: 100 };

describe('the tenant-wide page is read through audit_tenant', () => {
  test('SQLite: EXPLAIN QUERY PLAN', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flock-audit-plan-'));
    const db = openSqlite(join(dir, 'flock.db'), undefined);
    try {
      writeAuditTrail(db, TASKS, tenantOf, (row) => Math.floor(row / 3));
      const args: unknown[] = [];
      const sql = auditQuery('sqlite', PAGE, (value) => {
        args.push(value);
        return '?';
      });
      const plan = db.prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`).all(...args);
      expect(plan.map((p) => p.detail)).toEqual([
        'SEARCH a USING INDEX audit_tenant (tenant=? AND id>?)',
        'SEARCH t USING INTEGER PRIMARY KEY (rowid=?)',
        'SEARCH x USING INDEX sqlite_autoindex_attempts_1 (lease_id=?) LEFT-JOIN',
        'SEARCH w USING INDEX sqlite_autoindex_workers_1 (worker_id=?) LEFT-JOIN',
      ]);
      const rows = db.prepare<unknown[], { id: number; tenant: string }>(sql).all(...args);
      expect(rows).toHaveLength(100);
      expect(rows.every((r) => r.tenant === 'small' && r.id > 3000)).toBe(true);
      expect(rows.map((r) => r.id)).toEqual(rows.map((r) => r.id).sort((x, y) => x - y));
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('PostgreSQL: EXPLAIN after ANALYZE', async () => {
    const store = new PostgresStore(await harness.createSchema(), { maxConnections: 2 });
    try {
      await store.migrate();
      await store.pool.query(
        `INSERT INTO tasks (tenant, task_id, op, module_kind, state, content_hash, envelope, priority,
           max_retries, created_at_ms, updated_at_ms)
         SELECT CASE WHEN i % 100 = 0 THEN 'small' WHEN i % 10 = 1 THEN 't' || (i % 3) ELSE 'big' END,
           'k' || i, 'sum', 'builtin', 'queued', 'h', '\\x00', 0, 2, 1, 1
         FROM generate_series(0, $1 - 1) AS i ORDER BY i`,
        [TASKS],
      );
      await store.pool.query(
        `INSERT INTO audit (task_uid, tenant, ts_ms, to_state, topic)
         SELECT uid, tenant, uid, 'queued', 'x' FROM tasks, generate_series(1, 3) ORDER BY uid`,
      );
      await store.pool.query('ANALYZE tasks; ANALYZE audit');
      const args: unknown[] = [];
      const sql = auditQuery('pg', PAGE, (value) => {
        args.push(value);
        return `$${args.length}`;
      });
      const { rows } = await store.pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, args);
      const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
      // The page's ids come straight off audit_tenant under the LIMIT; what is sorted (if
      // anything) is the page of joined rows (p.id), never the tenant's rows (a.id).
      expect(plan).toMatch(
        /Limit .*\n\s+-> {2}Index Scan using audit_tenant on audit a .*\n\s+Index Cond: \(\(tenant = 'small'::text\) AND \(id > '3000'::bigint\)\)/,
      );
      expect(plan).not.toMatch(/Seq Scan on audit|Sort Key: a\./);
      const page = await store.auditStore().entries(PAGE);
      expect(page).toHaveLength(100);
      expect(page.every((e) => e.tenant === 'small' && e.id > 3000)).toBe(true);
    } finally {
      await store.close();
    }
  });
});
