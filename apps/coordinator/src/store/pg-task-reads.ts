// The PostgreSQL store's reads of tasks: by id, lists and counts, and the queue scans that
// coordinators sharing the database use to find work.
import type pg from 'pg';
import type { TaskFilter, TaskRecord, TaskState } from './store.ts';
import { rowToTask, type TaskRow as SharedTaskRow, type TaskProgress, tallyStates } from './store-rows.ts';

export type TaskRow = SharedTaskRow<TaskProgress>;

/** pg parses the jsonb progress column itself. */
export const toTask = (row: TaskRow): TaskRecord => rowToTask(row, (progress) => progress);

type StateCount = { state: TaskState; n: number };

export async function getTask(
  pool: pg.Pool,
  tenant: string,
  taskId: string,
): Promise<TaskRecord | undefined> {
  const { rows } = await pool.query<TaskRow>('SELECT * FROM tasks WHERE tenant = $1 AND task_id = $2', [
    tenant,
    taskId,
  ]);
  return rows[0] ? toTask(rows[0]) : undefined;
}

export async function getTaskByUid(pool: pg.Pool, uid: number): Promise<TaskRecord | undefined> {
  const { rows } = await pool.query<TaskRow>('SELECT * FROM tasks WHERE uid = $1', [uid]);
  return rows[0] ? toTask(rows[0]) : undefined;
}

export async function listTasks(pool: pg.Pool, tenant: string, filter: TaskFilter): Promise<TaskRecord[]> {
  const args: Array<string | number> = [tenant, filter.afterUid ?? 0];
  const where = ['tenant = $1', 'uid > $2'];
  if (filter.state !== undefined) {
    args.push(filter.state);
    where.push(`state = $${args.length}`);
  }
  if (filter.campaignId !== undefined) {
    args.push(filter.campaignId);
    where.push(`campaign_id = $${args.length}`);
  }
  args.push(filter.limit);
  const { rows } = await pool.query<TaskRow>(
    `SELECT * FROM tasks WHERE ${where.join(' AND ')} ORDER BY uid LIMIT $${args.length}`,
    args,
  );
  return rows.map(toTask);
}

export async function countByState(
  pool: pg.Pool,
  tenant: string,
  campaignId: string | undefined,
): Promise<Record<TaskState, number>> {
  const { rows } =
    campaignId === undefined
      ? await pool.query<StateCount>(
          'SELECT state, COUNT(*) AS n FROM tasks WHERE tenant = $1 GROUP BY state',
          [tenant],
        )
      : await pool.query<StateCount>(
          'SELECT state, COUNT(*) AS n FROM tasks WHERE tenant = $1 AND campaign_id = $2 GROUP BY state',
          [tenant, campaignId],
        );
  return tallyStates(rows);
}

export async function stateCounts(pool: pg.Pool): Promise<Record<TaskState, number>> {
  const { rows } = await pool.query<StateCount>('SELECT state, COUNT(*) AS n FROM tasks GROUP BY state');
  return tallyStates(rows);
}

/**
 * Queued and running tasks with a uid above `afterUid`, at most `limit`, by uid; with a
 * `coordinatorId`, only the running ones it leased.
 */
/** Open tasks above `afterUid` in uid order; `only`: of that state alone (running, for a restart past its budget). */
export async function openTasks(
  pool: pg.Pool,
  coordinatorId: string | undefined,
  afterUid: number,
  limit: number,
  only?: 'running',
): Promise<TaskRecord[]> {
  const states = only === undefined ? "state IN ('queued', 'running')" : "state = 'running'";
  if (coordinatorId === undefined) {
    const { rows } = await pool.query<TaskRow>(
      `SELECT * FROM tasks WHERE ${states} AND uid > $1 ORDER BY uid LIMIT $2`,
      [afterUid, limit],
    );
    return rows.map(toTask);
  }
  // Running tasks of other coordinators are theirs (or, once they stop beating, swept back
  // to the queue by `orphanedLeases`), never taken over by a starting coordinator.
  const { rows } = await pool.query<TaskRow>(
    `SELECT * FROM tasks WHERE ${states} AND uid > $2 AND (state = 'queued'
       OR EXISTS (
         SELECT 1 FROM attempts a WHERE a.lease_id = tasks.current_lease_id AND a.coordinator_id = $1))
     ORDER BY uid LIMIT $3`,
    [coordinatorId, afterUid, limit],
  );
  return rows.map(toTask);
}

export async function queuedSince(pool: pg.Pool, sinceMs: number): Promise<TaskRecord[]> {
  const { rows } = await pool.query<TaskRow>(
    "SELECT * FROM tasks WHERE state = 'queued' AND updated_at_ms >= $1 ORDER BY uid",
    [sinceMs],
  );
  return rows.map(toTask);
}

export async function queuedKeys(
  pool: pg.Pool,
  fromMs: number,
  toMs: number,
): Promise<Array<{ uid: number; updatedAtMs: number }>> {
  const { rows } = await pool.query<{ uid: number; updated_at_ms: number }>(
    "SELECT uid, updated_at_ms FROM tasks WHERE state = 'queued' AND updated_at_ms BETWEEN $1 AND $2 ORDER BY uid",
    [fromMs, toMs],
  );
  return rows.map((r) => ({ uid: r.uid, updatedAtMs: r.updated_at_ms }));
}

export async function queuedByUid(pool: pg.Pool, uids: readonly number[]): Promise<TaskRecord[]> {
  if (uids.length === 0) return [];
  const { rows } = await pool.query<TaskRow>(
    "SELECT * FROM tasks WHERE uid = ANY ($1::bigint[]) AND state = 'queued' ORDER BY uid",
    [uids],
  );
  return rows.map(toTask);
}
