// The PostgreSQL store's task writes outside leases: inserting batches, failing queued tasks,
// cancelling, reopening and progress. Each transition is one statement (data-modifying CTEs)
// that names the state it expects and appends its audit row.
import { EVENTS } from '@flock/protocol';
import type pg from 'pg';
import { insertOrRollBack, rollBackOnConflict } from './insert-conflict.ts';
import { inTransaction } from './pg-connection.ts';
import { numberArray, packBytes, textArray } from './pg-params.ts';
import { type TaskRow, toTask } from './pg-task-reads.ts';
import type { InsertOutcome, NewTask, TaskRecord, TaskState } from './store.ts';
import { newRecord } from './store-rows.ts';

const key = (tenant: string, taskId: string): string => JSON.stringify([tenant, taskId]);

/** The ids of a row `insertNew` created. */
type CreatedRow = Pick<TaskRow, 'uid' | 'tenant' | 'task_id'>;

/**
 * Inserts the batch in one statement (arrays unnested in input order, so uids follow it) and
 * returns the uids of the rows created, ascending. ON CONFLICT DO NOTHING waits for a concurrent
 * insert of the same id to commit, so two coordinators given the same task agree on one row.
 * Only the uids come back, in one row: the rest of a created row is the input (`newRecord`);
 * reading rows back had pg parse every column (the envelope from hex) and a row a task.
 */
async function insertNew(client: pg.PoolClient, tasks: NewTask[]): Promise<number[]> {
  // Envelopes go as one binary parameter (see pg-params.ts), numbers as prebuilt literals.
  const envelopes = packBytes(tasks, (t) => t.envelope);
  // Named: parsed and planned once a connection (see startLeases).
  const { rows } = await client.query<{ uids: string | null }>({
    name: 'flock_insert_tasks',
    text: `WITH input AS (
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
         $7::int[], $13::int[], $8::int[], $9::bigint[], $10::int[], $11::bigint[]) WITH ORDINALITY
         AS i (tenant, task_id, campaign_id, op, module_kind, content_hash, envelope_start, envelope_length,
           priority, deadline_at_ms, max_retries, created_at_ms, ord)
     ), t AS (
       INSERT INTO tasks (tenant, task_id, campaign_id, op, module_kind, state, content_hash, envelope,
         priority, deadline_at_ms, max_retries, created_at_ms, updated_at_ms)
       SELECT tenant, task_id, campaign_id, op, module_kind, 'queued', content_hash,
         substring($14::bytea FROM envelope_start FOR envelope_length), priority,
         deadline_at_ms, max_retries, created_at_ms, created_at_ms
       FROM input ORDER BY ord
       ON CONFLICT (tenant, task_id) DO NOTHING
       RETURNING uid, tenant, task_id, created_at_ms
     ), a AS (
       INSERT INTO audit (task_uid, tenant, ts_ms, to_state, topic)
       SELECT uid, tenant, created_at_ms, 'queued', $12 FROM t
     )
     SELECT array_agg(uid ORDER BY uid)::text AS uids FROM t`,
    values: [
      textArray(tasks, (t) => t.tenant),
      textArray(tasks, (t) => t.taskId),
      textArray(tasks, (t) => t.campaignId ?? null),
      textArray(tasks, (t) => t.op),
      textArray(tasks, (t) => t.moduleKind),
      textArray(tasks, (t) => t.contentHash),
      envelopes.starts,
      numberArray(tasks, (t) => t.priority),
      numberArray(tasks, (t) => t.deadlineAtMs),
      numberArray(tasks, (t) => t.maxRetries),
      numberArray(tasks, (t) => t.createdAtMs),
      EVENTS.requested,
      envelopes.lengths,
      envelopes.blob,
    ],
  });
  const uids = rows[0]?.uids; // `{1,2,3}`, or null when none was created
  return uids == null ? [] : uids.slice(1, -1).split(',').map(Number);
}

/** The ids of the rows of these uids, by uid. */
async function createdRows(client: pg.PoolClient, uids: number[]): Promise<CreatedRow[]> {
  const { rows } = await client.query<CreatedRow>(
    'SELECT uid, tenant, task_id FROM tasks WHERE uid = ANY ($1::bigint[]) ORDER BY uid',
    [numberArray(uids, (uid) => uid)],
  );
  return rows;
}

/** The stored tasks of these ids, by `key`. */
async function findExisting(client: pg.PoolClient, tasks: NewTask[]): Promise<Map<string, TaskRecord>> {
  const existing = new Map<string, TaskRecord>();
  const found = await client.query<TaskRow>(
    `SELECT t.* FROM tasks t JOIN unnest($1::text[], $2::text[]) AS k (tenant, task_id)
       ON t.tenant = k.tenant AND t.task_id = k.task_id`,
    [tasks.map((t) => t.tenant), tasks.map((t) => t.taskId)],
  );
  for (const row of found.rows) existing.set(key(row.tenant, row.task_id), toTask(row));
  return existing;
}

/**
 * Each task's outcome in input order: `created` (by uid, so in input order) pairs with the
 * tasks it names in one walk; the others (ids there before, or a second copy in this batch)
 * are compared with the stored row or the copy created here.
 */
async function outcomesOf(
  client: pg.PoolClient,
  tasks: NewTask[],
  created: CreatedRow[],
): Promise<InsertOutcome[]> {
  const out: InsertOutcome[] = new Array(tasks.length);
  const others: NewTask[] = [];
  let next = 0;
  for (let k = 0; k < tasks.length; k++) {
    const task = tasks[k]!;
    const row = created[next];
    if (row !== undefined && row.task_id === task.taskId && row.tenant === task.tenant) {
      out[k] = { kind: 'created', task: newRecord(row.uid, task) };
      next++;
    } else {
      others.push(task);
    }
  }
  if (others.length === 0) return out;
  const existing = await findExisting(client, others);
  for (let k = 0; k < tasks.length; k++) {
    const done = out[k];
    if (done !== undefined) {
      // A second copy of this id later in the batch is compared with this record.
      if (done.kind === 'created') existing.set(key(done.task.tenant, done.task.taskId), done.task);
      continue;
    }
    const task = tasks[k]!;
    const found = existing.get(key(task.tenant, task.taskId));
    out[k] =
      found === undefined || found.contentHash !== task.contentHash
        ? { kind: 'conflict', taskId: task.taskId }
        : { kind: 'existing', task: found };
  }
  return out;
}

export function insertTasks(pool: pg.Pool, tasks: NewTask[]): Promise<InsertOutcome[]> {
  return insertOrRollBack(() =>
    inTransaction(pool, async (client) => {
      const uids = await insertNew(client, tasks);
      // Every task created (the usual batch): their uids are in input order.
      if (uids.length === tasks.length) {
        return tasks.map((task, k): InsertOutcome => ({ kind: 'created', task: newRecord(uids[k]!, task) }));
      }
      const created = await createdRows(client, uids);
      return rollBackOnConflict(await outcomesOf(client, tasks, created));
    }),
  );
}

export async function reopenTask(
  pool: pg.Pool,
  taskUid: number,
  code: string,
  nowMs: number,
): Promise<TaskRecord | undefined> {
  const { rows } = await pool.query<TaskRow>(
    `WITH t AS (
       UPDATE tasks SET state = 'queued', result = NULL, executor = NULL, duration_ms = NULL,
         current_lease_id = NULL, progress = NULL, not_before_ms = $2, updated_at_ms = $2
       WHERE uid = $1 AND state = 'succeeded'
       RETURNING *
     ), a AS (
       INSERT INTO audit (task_uid, tenant, ts_ms, from_state, to_state, topic, code)
       SELECT uid, tenant, $2, 'succeeded', 'queued', $3, $4 FROM t
     )
     SELECT * FROM t`,
    [taskUid, nowMs, EVENTS.requested, code],
  );
  return rows[0] ? toTask(rows[0]) : undefined;
}

export async function failQueued(
  pool: pg.Pool,
  taskUid: number,
  code: string,
  message: string,
  nowMs: number,
): Promise<boolean> {
  const { rowCount } = await pool.query(
    `WITH t AS (
       UPDATE tasks SET state = 'failed', failure_code = $2, failure_message = $3, updated_at_ms = $4
       WHERE uid = $1 AND state = 'queued'
       RETURNING uid, tenant
     )
     INSERT INTO audit (task_uid, tenant, ts_ms, from_state, to_state, topic, code)
     SELECT uid, tenant, $4, 'queued', 'failed', $5, $2 FROM t`,
    [taskUid, code, message, nowMs, EVENTS.failed],
  );
  return rowCount === 1;
}

export async function cancelTask(
  pool: pg.Pool,
  taskUid: number,
  reason: string,
  nowMs: number,
): Promise<TaskState | undefined> {
  // `old` locks the row and keeps the state and lease it leaves (RETURNING shows new values).
  const { rows } = await pool.query<{ from_state: TaskState }>(
    `WITH old AS (
       SELECT uid, state, current_lease_id FROM tasks
       WHERE uid = $1 AND state IN ('queued', 'running')
       FOR UPDATE
     ), t AS (
       UPDATE tasks SET state = 'cancelled', current_lease_id = NULL, failure_code = 'CANCELLED',
         failure_message = $2, updated_at_ms = $3
       FROM old WHERE tasks.uid = old.uid AND tasks.state IN ('queued', 'running')
       RETURNING old.uid, tasks.tenant, old.state AS from_state, old.current_lease_id AS lease_id
     ), a AS (
       UPDATE attempts SET ended_at_ms = $3, outcome = 'cancelled', code = 'CANCELLED'
       FROM t WHERE attempts.lease_id = t.lease_id AND attempts.ended_at_ms IS NULL
     ), au AS (
       INSERT INTO audit (task_uid, tenant, ts_ms, from_state, to_state, topic, lease_id)
       SELECT uid, tenant, $3, from_state, 'cancelled', $4, lease_id FROM t
     )
     SELECT from_state FROM t`,
    [taskUid, reason, nowMs, EVENTS.cancelled],
  );
  return rows[0]?.from_state;
}

export async function setProgress(
  pool: pg.Pool,
  taskUid: number,
  leaseId: string,
  pct: number,
  metrics: Record<string, string>,
): Promise<void> {
  await pool.query(
    "UPDATE tasks SET progress = $1 WHERE uid = $2 AND state = 'running' AND current_lease_id = $3",
    [JSON.stringify({ pct, metrics }), taskUid, leaseId],
  );
}
