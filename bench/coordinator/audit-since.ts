// What a tenant-wide `GET /v1/audit?since=` page costs on each store with a long trail, before
// and after the read starts at the bisected id (src/store/audit-since.ts): ms a page, medians.
// "Before" runs the page query from the caller's cursor as the store did (auditQuery as is);
// "after" is the store's `entries`, the bisection's probes included. Prints the plans too.
//
//   npx tsx bench/coordinator/audit-since.ts [--tasks N] [--back S] [--limit L] [--tenant big|t1|t3]
//     [--pg-only|--sqlite-only]
//
// Defaults: 60,000 tasks of three audit rows each (tenant `big` 90% of them: 162,000 rows; t1
// and t3 the rest), one row every 200 ms (a 10-hour trail, so the 5-minute margin is 1,500
// rows of all tenants), `since` 600 s before the last row, pages of 100. PostgreSQL: the private server of
// scripts/postgres.sh (or FLOCK_TEST_PG_URL).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AuditProbe, auditStart } from '../../apps/coordinator/src/store/audit-since.ts';
import { type AuditFilter, auditQuery } from '../../apps/coordinator/src/store/audit-store.ts';
import { PgAuditStore, pgAuditProbe } from '../../apps/coordinator/src/store/pg-audit.ts';
import { PostgresStore } from '../../apps/coordinator/src/store/postgres-store.ts';
import { SqliteAuditStore, sqliteAuditProbe } from '../../apps/coordinator/src/store/sqlite-audit.ts';
import { openSqlite } from '../../apps/coordinator/src/store/sqlite-schema.ts';
import { countedStart, writeAuditTrail } from '../../apps/coordinator/test/support/audit-trail.ts';
import { acquirePostgres } from '../../apps/coordinator/test/support/postgres.ts';

const arg = (name: string, fallback: number): number => {
  const k = process.argv.indexOf(name);
  return k >= 0 ? Number(process.argv[k + 1]) : fallback;
};
const TASKS = arg('--tasks', 60_000);
const BACK_S = arg('--back', 600);
const LIMIT = arg('--limit', 100);
const t = process.argv.indexOf('--tenant');
/** `big` (90% of the tasks), t1 or t3 (5% each). */
const TENANT = t >= 0 ? process.argv[t + 1]! : 'big';
const ROW_MS = 200;
const T0 = 1_700_000_000_000;
const tenantOf = (i: number): string => (i % 10 === 1 ? `t${i % 4}` : 'big');
const tsOf = (row: number): number => T0 + row * ROW_MS;
const ROWS = TASKS * 3;
const SINCE = tsOf(ROWS - 1) - BACK_S * 1000;
const FILTER: AuditFilter = { tenant: TENANT, sinceMs: SINCE, afterId: 0, limit: LIMIT };

async function medianMs(runs: number, fn: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let k = 0; k < runs; k++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  times.sort((x, y) => x - y);
  return times[Math.floor(runs / 2)]!;
}

/** Times before and after; checks they answer the same rows. */
async function compare(
  name: string,
  before: () => Promise<number[]>,
  after: () => Promise<number[]>,
  probe: AuditProbe,
): Promise<void> {
  const [old, now] = [await before(), await after()];
  if (JSON.stringify(old) !== JSON.stringify(now)) throw new Error(`${name}: the answers differ`);
  const { start, reads } = await countedStart(probe, SINCE);
  const beforeMs = await medianMs(5, before);
  const afterMs = await medianMs(21, after);
  const bisectMs = await medianMs(21, () => auditStart(0, SINCE, probe));
  console.log(
    `${name}: ${now.length} rows from id ${now[0]}; bisected start ${start} in ${reads} calls of ${probe.width} points; ` +
      `page ${beforeMs.toFixed(2)} ms before, ${afterMs.toFixed(2)} ms after (of which the bisection ${bisectMs.toFixed(2)} ms)`,
  );
}

async function sqlite(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flock-audit-since-bench-'));
  const db = openSqlite(join(dir, 'flock.db'), undefined);
  try {
    writeAuditTrail(db, TASKS, tenantOf, tsOf);
    const args: unknown[] = [];
    const sql = auditQuery('sqlite', FILTER, (v) => {
      args.push(v);
      return '?';
    });
    const page = db.prepare<unknown[], { id: number }>(sql);
    const audit = new SqliteAuditStore(
      db,
      async (fn) => fn(),
      () => undefined,
    );
    const probe = sqliteAuditProbe(db, TENANT);
    await compare(
      'SQLite',
      async () => page.all(...args).map((r) => r.id),
      async () => (await audit.entries(FILTER)).map((e) => e.id),
      probe,
    );
    const start = await auditStart(0, SINCE, probe);
    const startArgs = [...args];
    startArgs[0] = start;
    for (const [label, text, a] of [
      ['page', sql, startArgs],
      // sqliteAuditProbe's statement for a tenant.
      [
        'probe',
        'SELECT id, ts_ms FROM audit INDEXED BY audit_tenant WHERE tenant = ? AND id >= ? ORDER BY id LIMIT 1',
        [TENANT, 1],
      ],
    ] as const) {
      const plan = db.prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${text}`).all(...a);
      console.log(`SQLite ${label}: ${plan.map((p) => p.detail).join(' | ')}`);
    }
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function postgres(): Promise<void> {
  const harness = await acquirePostgres();
  const store = new PostgresStore(await harness.createSchema(), { maxConnections: 2 });
  try {
    await store.migrate();
    const pool = store.pool;
    await pool.query(
      `INSERT INTO tasks (tenant, task_id, op, module_kind, state, content_hash, envelope, priority,
         max_retries, created_at_ms, updated_at_ms)
       SELECT CASE WHEN i % 10 = 1 THEN 't' || (i % 4) ELSE 'big' END, 'k' || i, 'sum', 'builtin',
         'queued', 'h', '\\x00', 0, 2, 1, 1
       FROM generate_series(0, $1 - 1) AS i ORDER BY i`,
      [TASKS],
    );
    await pool.query(
      `INSERT INTO audit (task_uid, tenant, ts_ms, to_state, topic)
       SELECT uid, tenant, $1::bigint + ((uid - 1) * 3 + j - 1) * $2::bigint, 'queued', 'x'
       FROM tasks, generate_series(1, 3) AS j ORDER BY uid, j`,
      [T0, ROW_MS],
    );
    await pool.query('ANALYZE tasks; ANALYZE audit');
    const args: unknown[] = [];
    const sql = auditQuery('pg', FILTER, (v) => {
      args.push(v);
      return `$${args.length}`;
    });
    const audit = new PgAuditStore(pool);
    const probe = pgAuditProbe(pool, TENANT);
    await compare(
      'PostgreSQL',
      async () => (await pool.query<{ id: string }>(sql, args)).rows.map((r) => Number(r.id)),
      async () => (await audit.entries(FILTER)).map((e) => e.id),
      probe,
    );
    const start = await auditStart(0, SINCE, probe);
    const startArgs = [...args];
    startArgs[0] = start;
    for (const [label, a] of [
      ['before', args],
      ['after', startArgs],
    ] as const) {
      const { rows } = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, [
        ...a,
      ]);
      console.log(`PostgreSQL ${label}:\n${rows.map((r) => `  ${r['QUERY PLAN']}`).join('\n')}`);
    }
    // pgAuditProbe's statement for a tenant, 15 points.
    const points = Array.from({ length: 15 }, (_, j) => Math.floor(((j + 1) * ROWS) / 16));
    const { rows } = await pool.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN (ANALYZE, BUFFERS) SELECT p.n, a.id, a.ts_ms FROM unnest($1::bigint[]) WITH ORDINALITY AS p(id, n)
         CROSS JOIN LATERAL (SELECT id, ts_ms FROM audit WHERE tenant = $2 AND id >= p.id ORDER BY id LIMIT 1) a`,
      [points, TENANT],
    );
    console.log(`PostgreSQL probe:\n${rows.map((r) => `  ${r['QUERY PLAN']}`).join('\n')}`);
  } finally {
    await store.close();
    await harness.release();
  }
}

console.log(
  `${ROWS} audit rows (${TASKS} tasks), one every ${ROW_MS} ms; since = the last row's time − ${BACK_S} s; pages of ${LIMIT}`,
);
if (!process.argv.includes('--pg-only')) await sqlite();
if (!process.argv.includes('--sqlite-only')) await postgres();
