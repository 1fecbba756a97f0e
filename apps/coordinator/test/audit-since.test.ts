// `GET /v1/audit?since=` without a task on each store: the read starts at the id audit-since.ts
// bisects for, and answers exactly the rows with ts_ms >= since — at the boundaries, with rows
// written out of time order within the margin (a clock stepped back, two coordinators' clocks
// four minutes apart), past everything, and page by page with `after=`. The bisected start is the
// last row older than since − margin, found in about log2(ids) point reads.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AUDIT_SINCE_MARGIN_MS, type AuditProbe } from '../src/store/audit-since.ts';
import type { AuditFilter, AuditStore } from '../src/store/audit-store.ts';
import { PgAuditStore, pgAuditProbe } from '../src/store/pg-audit.ts';
import { PostgresStore } from '../src/store/postgres-store.ts';
import { SqliteAuditStore, sqliteAuditProbe } from '../src/store/sqlite-audit.ts';
import { openSqlite } from '../src/store/sqlite-schema.ts';
import { countedStart } from './support/audit-trail.ts';
import { acquirePostgres, type PostgresHarness } from './support/postgres.ts';

interface Row {
  /** 1, 2, … in the order written: both stores number a fresh table so. */
  id: number;
  tenant: 'a' | 'b';
  /** a1 is in campaign c1; a2 and b1 in none. */
  task: 'a1' | 'a2' | 'b1';
  ts: number;
}

const M = AUDIT_SINCE_MARGIN_MS;
const T = 1_700_000_000_000;
/** The row written at X_TS, after 1,000 rows a second apart; the clock then steps back 1 s. */
const X_TS = T + 1_001_000;
/** A row of the steady stretch after the step back: a second apart again from X_TS + 1 s. */
const MID_TS = X_TS + 50_000;
/** Where two coordinators start writing in turn, the second one's clock 4 minutes behind. */
const SKEW_TS = X_TS + 200_000;

/** Tenant a's rows in time order but for the two disorders, with one row of b after every two. */
function trail(): Row[] {
  const times: number[] = [];
  for (let k = 1; k <= 1000; k++) times.push(T + k * 1000);
  times.push(X_TS);
  for (let k = 1; k < 100; k++) times.push(X_TS - 1000);
  for (let k = 1; k <= 100; k++) times.push(X_TS + k * 1000);
  for (let k = 0; k < 200; k++) times.push(SKEW_TS + k * 500 - (k % 2 === 1 ? 240_000 : 0));
  const rows: Row[] = [];
  times.forEach((ts, i) => {
    rows.push({ id: rows.length + 1, tenant: 'a', task: i % 2 === 0 ? 'a1' : 'a2', ts });
    if (i % 2 === 1) rows.push({ id: rows.length + 1, tenant: 'b', task: 'b1', ts });
  });
  return rows;
}

const ROWS = trail();
const LAST_TS = Math.max(...ROWS.map((r) => r.ts));
const idOfTs = (ts: number): number => ROWS.find((r) => r.tenant === 'a' && r.ts === ts)!.id;

/** The last row (of tenant a, or of all) older than `ts`. */
const lastBefore = (ts: number, tenant: string | undefined): Row =>
  ROWS.filter((r) => (tenant === undefined || r.tenant === tenant) && r.ts < ts).at(-1)!;

/** The answer by definition: the filter applied to every row written, in id order. */
function want(f: AuditFilter): number[] {
  return ROWS.filter(
    (r) =>
      (f.tenant === undefined || r.tenant === f.tenant) &&
      (f.campaignId === undefined || r.task === 'a1') &&
      r.id > f.afterId &&
      r.ts >= (f.sinceMs ?? 0),
  )
    .slice(0, f.limit)
    .map((r) => r.id);
}

const ids = async (audit: AuditStore, f: AuditFilter): Promise<number[]> =>
  (await audit.entries(f)).map((e) => e.id);

/** Every `since` at and around the boundaries, for a tenant, every tenant and a campaign. */
async function checkAnswers(audit: AuditStore): Promise<void> {
  const times = [X_TS - 1, X_TS, X_TS + 1, MID_TS - 1, MID_TS, MID_TS + 1, SKEW_TS + 50_000, 0];
  for (const sinceMs of [...times, LAST_TS, LAST_TS + 1]) {
    for (const scope of [
      { tenant: 'a' },
      { tenant: 'b' },
      { tenant: undefined },
      { tenant: 'a', campaignId: 'c1' },
    ]) {
      const f: AuditFilter = { ...scope, sinceMs, afterId: 0, limit: 1000 };
      expect(await ids(audit, f), JSON.stringify(f)).toEqual(want(f));
    }
  }
  const at = (sinceMs: number) => ids(audit, { tenant: 'a', sinceMs, afterId: 0, limit: 1000 });
  // X, then a clock stepped back 1 s: X is still the first row at or after its time; then the
  // 100 rows after the step, the first coordinator's 100 and the late one's from its 81st row.
  expect((await at(X_TS))[0]).toBe(idOfTs(X_TS));
  expect(await at(X_TS)).toHaveLength(1 + 100 + 100 + 60);
  expect(await at(X_TS + 1)).not.toContain(idOfTs(X_TS));
  // The row of exactly MID_TS and the one before it.
  expect((await at(MID_TS))[0]).toBe(idOfTs(MID_TS));
  expect((await at(MID_TS + 1))[0]).toBe(idOfTs(MID_TS + 1000));
  expect((await at(MID_TS - 1))[0]).toBe(idOfTs(MID_TS));
  expect(await at(LAST_TS)).toHaveLength(1);
  expect(await at(LAST_TS + 1)).toEqual([]);
}

/** `after=` page by page from the start, from before it and from past it. */
async function checkPages(audit: AuditStore): Promise<void> {
  const f: AuditFilter = { tenant: 'a', sinceMs: MID_TS, afterId: 0, limit: 7 };
  const all = want({ ...f, limit: 1000 });
  expect(all.length).toBeGreaterThan(100);
  const read: number[] = [];
  for (let after = 0; ; ) {
    const page = await ids(audit, { ...f, afterId: after });
    read.push(...page);
    if (page.length < f.limit) break;
    after = page[page.length - 1]!;
  }
  expect(read).toEqual(all);
  // A cursor before the bisected start, and one past the since row.
  expect(await ids(audit, { ...f, afterId: 10 })).toEqual(all.slice(0, 7));
  expect(await ids(audit, { ...f, afterId: all[20]! })).toEqual(all.slice(21, 28));
}

/**
 * The read starts at the bisected id: the first row, rewritten to a time past every other (far
 * more out of order than the margin allows), is not in a tenant's or campaign's `since` answer,
 * while a task's read (which walks from the cursor) has it. Rewrites data: run last.
 */
async function checkStartUsed(audit: AuditStore, rewriteFirst: (ts: number) => Promise<void>) {
  await rewriteFirst(LAST_TS);
  const f: AuditFilter = { tenant: 'a', sinceMs: MID_TS, afterId: 0, limit: 1000 };
  expect((await ids(audit, { ...f, taskId: 'a1' }))[0]).toBe(1);
  expect(await ids(audit, f)).toEqual(want(f));
  expect(await ids(audit, { ...f, campaignId: 'c1' })).toEqual(want({ ...f, campaignId: 'c1' }));
}

/** The bisected start, and in how many calls of the probe (round trips on PostgreSQL). */
const startOf = (probe: AuditProbe, sinceMs: number, marginMs = M) => countedStart(probe, sinceMs, marginMs);

async function checkStart(probeOf: (tenant: string | undefined) => AuditProbe): Promise<void> {
  // Every row of a after the last one older than MID_TS − M is at or after that time (the step
  // back is 1 s, the skewed clock's rows come later), so the bisection lands on that row.
  for (const tenant of ['a', undefined]) {
    const older = lastBefore(MID_TS - M, tenant);
    const after = ROWS.filter((r) => (tenant === undefined || r.tenant === tenant) && r.id > older.id);
    expect(after.every((r) => r.ts >= MID_TS - M)).toBe(true);
    const { start, reads } = await startOf(probeOf(tenant), MID_TS);
    expect(start).toBe(older.id);
    const width = probeOf(tenant).width;
    expect(reads).toBeLessThanOrEqual(2 + Math.ceil(Math.log(ROWS.length) / Math.log(width + 1)));
  }
  // Without the margin the rows stepped back 1 s after X would pass for older ones and the read
  // would start past X: the margin is what keeps X.
  expect((await startOf(probeOf('a'), X_TS, 0)).start).toBeGreaterThan(idOfTs(X_TS));
  expect((await startOf(probeOf('a'), X_TS)).start).toBeLessThan(idOfTs(X_TS));
  // Past every row: the last row, read in one probe; before every row: the cursor.
  const lastA = lastBefore(LAST_TS + 1, 'a').id;
  expect(await startOf(probeOf('a'), LAST_TS + M + 1)).toEqual({ start: lastA, reads: 1 });
  expect((await startOf(probeOf('a'), 0)).start).toBe(0);
}

const TASK_SQL = `INSERT INTO tasks (tenant, task_id, campaign_id, op, module_kind, state, content_hash,
    envelope, priority, max_retries, created_at_ms, updated_at_ms)`;

function sqliteTrail(db: Database.Database): void {
  const task = db.prepare(`${TASK_SQL} VALUES (?, ?, ?, 'sum', 'builtin', 'queued', 'h', x'00', 0, 2, 1, 1)`);
  const uid = new Map<string, number | bigint>();
  for (const [tenant, id, campaign] of [
    ['a', 'a1', 'c1'],
    ['a', 'a2', null],
    ['b', 'b1', null],
  ] as const)
    uid.set(id, task.run(tenant, id, campaign).lastInsertRowid);
  const row = db.prepare(
    "INSERT INTO audit (task_uid, tenant, ts_ms, to_state, topic) VALUES (?, ?, ?, 'queued', 'x')",
  );
  db.transaction(() => {
    for (const r of ROWS) row.run(uid.get(r.task), r.tenant, r.ts);
  })();
}

let harness: PostgresHarness;
beforeAll(async () => {
  harness = await acquirePostgres();
});
afterAll(async () => {
  await harness?.release();
});

describe('since= starts at a bisected id and answers exactly', () => {
  test('SQLite', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flock-audit-since-'));
    const db = openSqlite(join(dir, 'flock.db'), undefined);
    try {
      sqliteTrail(db);
      const audit = new SqliteAuditStore(
        db,
        async (fn) => fn(),
        () => undefined,
      );
      await checkAnswers(audit);
      await checkPages(audit);
      await checkStart((tenant) => sqliteAuditProbe(db, tenant));
      await checkStartUsed(audit, async (ts) => {
        db.prepare('UPDATE audit SET ts_ms = ? WHERE id = 1').run(ts);
      });
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('PostgreSQL', async () => {
    const store = new PostgresStore(await harness.createSchema(), { maxConnections: 2 });
    try {
      await store.migrate();
      const { rows } = await store.pool.query<{ uid: string; task_id: string }>(
        `${TASK_SQL} VALUES ('a', 'a1', 'c1', 'sum', 'builtin', 'queued', 'h', '\\x00', 0, 2, 1, 1),
           ('a', 'a2', NULL, 'sum', 'builtin', 'queued', 'h', '\\x00', 0, 2, 1, 1),
           ('b', 'b1', NULL, 'sum', 'builtin', 'queued', 'h', '\\x00', 0, 2, 1, 1)
         RETURNING uid, task_id`,
      );
      const uid = new Map(rows.map((r) => [r.task_id, r.uid]));
      await store.pool.query(
        `INSERT INTO audit (task_uid, tenant, ts_ms, to_state, topic)
         SELECT u, t, ts, 'queued', 'x' FROM unnest($1::bigint[], $2::text[], $3::bigint[])
           WITH ORDINALITY AS r(u, t, ts, n) ORDER BY n`,
        [ROWS.map((r) => uid.get(r.task)), ROWS.map((r) => r.tenant), ROWS.map((r) => r.ts)],
      );
      const audit = new PgAuditStore(store.pool);
      await checkAnswers(audit);
      await checkPages(audit);
      await checkStart((tenant) => pgAuditProbe(store.pool, tenant));
      await checkStartUsed(audit, async (ts) => {
        await store.pool.query('UPDATE audit SET ts_ms = $1 WHERE id = 1', [ts]);
      });
    } finally {
      await store.close();
    }
  });
});
