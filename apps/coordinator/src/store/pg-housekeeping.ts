// The PostgreSQL store's blob records and housekeeping: which blobs are still named, forgetting
// outputs, and purging finished tasks.
import type pg from 'pg';
import type { BlobKind } from './store.ts';
import { blobNamesIn } from './store-rows.ts';

export async function recordBlob(
  pool: pg.Pool,
  hash: string,
  tenant: string,
  kind: BlobKind,
  size: number,
  nowMs: number,
): Promise<void> {
  await pool.query(
    `INSERT INTO blobs (hash, tenant, kind, size, created_at_ms) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT DO NOTHING`,
    [hash, tenant, kind, size, nowMs],
  );
}

export async function blobVisible(pool: pg.Pool, hash: string, tenant: string): Promise<boolean> {
  const { rowCount } = await pool.query('SELECT 1 FROM blobs WHERE hash = $1 AND tenant = $2 LIMIT 1', [
    hash,
    tenant,
  ]);
  return rowCount === 1;
}

export async function isModule(pool: pg.Pool, hash: string): Promise<boolean> {
  const { rowCount } = await pool.query(
    "SELECT 1 FROM blobs WHERE hash = $1 AND kind IN ('module', 'model') LIMIT 1",
    [hash],
  );
  return rowCount === 1;
}

export async function isModel(pool: pg.Pool, hash: string): Promise<boolean> {
  const { rowCount } = await pool.query("SELECT 1 FROM blobs WHERE hash = $1 AND kind = 'model' LIMIT 1", [
    hash,
  ]);
  return rowCount === 1;
}

/** Blob names that tasks still name, plus modules and blobs recorded at or after `sinceMs`. */
export async function blobsInUse(pool: pg.Pool, sinceMs: number): Promise<Set<string>> {
  const names = new Set<string>();
  const { rows } = await pool.query<{ body: Buffer }>(
    `SELECT result AS body FROM tasks WHERE result IS NOT NULL AND position('sha256:'::bytea IN result) > 0
     UNION ALL SELECT envelope FROM tasks WHERE position('sha256:'::bytea IN envelope) > 0`,
  );
  for (const row of rows) for (const name of blobNamesIn(row.body)) names.add(name);
  const kept = await pool.query<{ hash: string }>(
    "SELECT DISTINCT hash FROM blobs WHERE kind IN ('module', 'model') OR created_at_ms >= $1",
    [sinceMs],
  );
  for (const row of kept.rows) names.add(row.hash);
  return names;
}

export async function forgetOutputBlobs(pool: pg.Pool, names: string[]): Promise<void> {
  if (names.length === 0) return;
  await pool.query("DELETE FROM blobs WHERE kind NOT IN ('module', 'model') AND hash = ANY($1::text[])", [
    names,
  ]);
}

/**
 * Deletes up to `limit` finished tasks last changed before `beforeMs`, a workflow's only with the
 * workflow (`Store.purgeFinished`); returns their uids.
 */
export async function purgeFinished(pool: pg.Pool, beforeMs: number, limit: number): Promise<number[]> {
  // Its own statement: the tasks' WITH below sees the workflows as they were before it.
  await pool.query(
    `DELETE FROM workflows WHERE uid IN (
       SELECT uid FROM workflows w WHERE w.state <> 'running' AND w.finished_at_ms < $1
         AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.tenant = w.tenant AND t.campaign_id = w.workflow_id
                                                 AND t.state IN ('queued', 'running'))
       ORDER BY uid LIMIT $2 FOR UPDATE SKIP LOCKED)`,
    [beforeMs, limit],
  );
  const { rows } = await pool.query<{ uid: string }>(
    `WITH t AS (
       SELECT uid FROM tasks WHERE state IN ('succeeded', 'failed', 'cancelled') AND updated_at_ms < $1
         AND NOT EXISTS (SELECT 1 FROM workflows w WHERE w.tenant = tasks.tenant AND w.workflow_id = tasks.campaign_id)
       ORDER BY uid LIMIT $2 FOR UPDATE SKIP LOCKED
     ), a AS (
       DELETE FROM attempts WHERE task_uid IN (SELECT uid FROM t)
     ), au AS (
       DELETE FROM audit WHERE task_uid IN (SELECT uid FROM t)
     )
     DELETE FROM tasks WHERE uid IN (SELECT uid FROM t) RETURNING uid`,
    [beforeMs, limit],
  );
  return rows.map((r) => Number(r.uid)).sort((x, y) => x - y);
}
