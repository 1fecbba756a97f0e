// The SQLite store's housekeeping: which blobs are still named, and purging finished tasks.
// These run rarely, so their statements are prepared per call.
import type Database from 'better-sqlite3';
import { blobNamesIn } from './store-rows.ts';

/** Blob names that tasks still name, plus modules and blobs recorded at or after `sinceMs`. */
export function sqliteBlobsInUse(db: Database.Database, sinceMs: number): Set<string> {
  const names = new Set<string>();
  const rows = db
    .prepare<[], { body: Buffer }>(
      `SELECT result AS body FROM tasks WHERE result IS NOT NULL AND instr(result, 'sha256:') > 0
       UNION ALL SELECT envelope FROM tasks WHERE instr(envelope, 'sha256:') > 0`,
    )
    .iterate();
  for (const row of rows) for (const name of blobNamesIn(row.body)) names.add(name);
  const kept = db.prepare<[number], { hash: string }>(
    "SELECT DISTINCT hash FROM blobs WHERE kind IN ('module', 'model') OR created_at_ms >= ?",
  );
  for (const row of kept.iterate(sinceMs)) names.add(row.hash);
  return names;
}

/**
 * Prepares the purge of finished tasks; the returned function deletes up to `limit` of those last
 * changed before `beforeMs` (with their attempts and audit rows) and returns their uids. A
 * workflow's step tasks go only with the workflow (`Store.purgeFinished`).
 */
export function preparePurge(db: Database.Database): (beforeMs: number, limit: number) => number[] {
  const dropWorkflows = db.prepare<[number, number]>(
    `DELETE FROM workflows WHERE uid IN (
       SELECT uid FROM workflows w WHERE w.state <> 'running' AND w.finished_at_ms < ?
         AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.tenant = w.tenant AND t.campaign_id = w.workflow_id
                                                 AND t.state IN ('queued', 'running'))
       ORDER BY uid LIMIT ?)`,
  );
  const pick = db.prepare<[number, number], { uid: number }>(
    `SELECT uid FROM tasks WHERE state IN ('succeeded', 'failed', 'cancelled') AND updated_at_ms < ?
       AND NOT EXISTS (SELECT 1 FROM workflows w WHERE w.tenant = tasks.tenant AND w.workflow_id = tasks.campaign_id)
     ORDER BY uid LIMIT ?`,
  );
  const dropAttempts = db.prepare('DELETE FROM attempts WHERE task_uid = ?');
  const dropAudit = db.prepare('DELETE FROM audit WHERE task_uid = ?');
  const dropTask = db.prepare(
    "DELETE FROM tasks WHERE uid = ? AND state IN ('succeeded', 'failed', 'cancelled')",
  );
  return (beforeMs, limit) => {
    dropWorkflows.run(beforeMs, limit);
    const uids = pick.all(beforeMs, limit).map((r) => r.uid);
    for (const uid of uids) {
      dropAttempts.run(uid);
      dropAudit.run(uid);
      dropTask.run(uid);
    }
    return uids;
  };
}

/** Prepares forgetting the records of output blobs (modules stay). */
export function prepareForgetOutputBlobs(db: Database.Database): (names: string[]) => void {
  const drop = db.prepare("DELETE FROM blobs WHERE hash = ? AND kind NOT IN ('module', 'model')");
  return (names) => {
    for (const name of names) drop.run(name);
  };
}
