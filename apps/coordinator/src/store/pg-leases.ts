// The PostgreSQL store's leases and attempts: starting them (given or claimed), completing and
// ending them, and finding those whose coordinator stopped beating. Every change is fenced by
// the task's state and current lease, so the first writer wins across processes.
import { EVENTS } from '@flock/protocol';
import type pg from 'pg';
import { numberArray, packBytes, textArray } from './pg-params.ts';
import { type TaskRow, toTask } from './pg-task-reads.ts';
import type { CompleteTask, EndAttempt, NewLease, TaskRecord } from './store.ts';

/** A running task whose lease was granted by a coordinator that stopped beating. */
export interface OrphanedLease {
  taskUid: number;
  leaseId: string;
  coordinatorId: string | undefined;
}

/** What `claimQueued` takes. */
export interface ClaimRequest {
  workerId: string;
  /** Most tasks to claim. */
  limit: number;
  nowMs: number;
  /** Lease length, ms: the attempt expires at nowMs + leaseMs. */
  leaseMs: number;
  /** Only tasks of these module kinds (the worker's executors). Unset: any. */
  moduleKinds?: readonly string[] | undefined;
}

/** One task claimed by `claimQueued`, with the lease it now runs under. */
export interface ClaimedTask {
  task: TaskRecord;
  lease: NewLease;
}

/** The first item for each task uid: a task named twice in one call changes once (as on SQLite). */
function firstPerTask<T extends { taskUid: number }>(items: T[]): T[] {
  const seen = new Set<number>();
  return items.filter((i) => !seen.has(i.taskUid) && seen.add(i.taskUid));
}

/**
 * The lease ids whose change the statement made: those of `firsts` less the `refused` rows it
 * returned — or undefined when every item was a first and none was refused (the usual batch:
 * no row came back to parse, no set to build). The batch statements return the refused leases
 * rather than the made ones so that, usually, pg parses nothing.
 */
function madeLeases<T extends { leaseId: string }>(
  items: T[],
  firsts: T[],
  refused: Array<{ lease_id: string }>,
): Set<string> | undefined {
  if (refused.length === 0 && firsts.length === items.length) return undefined;
  const made = new Set(firsts.map((f) => f.leaseId));
  for (const r of refused) made.delete(r.lease_id);
  return made;
}

const allTrue = (n: number): boolean[] => new Array<boolean>(n).fill(true);

export async function startLeases(pool: pg.Pool, leases: NewLease[]): Promise<boolean[]> {
  const firsts = firstPerTask(leases);
  if (firsts.length === 0) return [];
  // One statement for the batch, atomic on its own: no BEGIN/COMMIT round trips. The tasks are
  // found by `uid = ANY` and the state they must be in comes from the MATERIALIZED input, not
  // as a literal: `state = 'queued'` let the planner read every queued task through a partial
  // index and hash-join them with the batch (a fresh table has no statistics, so it guesses
  // 0.5 % are queued): work that grew with the queue, not with the batch.
  // Named: each connection parses it once and, after five runs, may keep a generic plan (the
  // tasks are found through tasks_pkey either way); its text names its columns, so a column
  // added by a later migration cannot change the result a prepared statement was planned for.
  // The lease's tenant is matched too (its audit row is filed under it): another tenant's lease
  // is refused like a lost race.
  const { rows } = await pool.query<{ lease_id: string }>({
    name: 'flock_start_leases',
    text: `WITH input AS MATERIALIZED (
       SELECT *, 'queued'::text AS from_state
       FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[], $5::bigint[], $6::bigint[], $8::text[])
         AS i (task_uid, lease_id, attempt, worker_id, started_at_ms, expires_at_ms, tenant)
     ), t AS (
       UPDATE tasks SET state = 'running', attempts = tasks.attempts + 1, current_lease_id = i.lease_id,
         updated_at_ms = i.started_at_ms, progress = NULL
       FROM input i
       WHERE tasks.uid = ANY ($1::bigint[]) AND tasks.uid = i.task_uid AND tasks.state = i.from_state
         AND tasks.tenant = i.tenant
       RETURNING i.*
     ), a AS (
       INSERT INTO attempts (lease_id, task_uid, attempt, worker_id, started_at_ms, expires_at_ms)
       SELECT lease_id, task_uid, attempt, worker_id, started_at_ms, expires_at_ms FROM t
     ), au AS (
       INSERT INTO audit (task_uid, tenant, ts_ms, from_state, to_state, topic, lease_id, worker_id)
       SELECT task_uid, tenant, started_at_ms, 'queued', 'running', $7, lease_id, worker_id FROM t
     )
     SELECT i.lease_id FROM input i WHERE NOT EXISTS (SELECT 1 FROM t WHERE t.lease_id = i.lease_id)`,
    values: [
      numberArray(firsts, (l) => l.taskUid),
      textArray(firsts, (l) => l.leaseId),
      numberArray(firsts, (l) => l.attempt),
      textArray(firsts, (l) => l.workerId),
      numberArray(firsts, (l) => l.startedAtMs),
      numberArray(firsts, (l) => l.expiresAtMs),
      EVENTS.accepted,
      textArray(firsts, (l) => l.tenant),
    ],
  });
  const started = madeLeases(leases, firsts, rows);
  return started === undefined ? allTrue(leases.length) : leases.map((l) => started.has(l.leaseId));
}

export async function claimQueued(pool: pg.Pool, req: ClaimRequest): Promise<ClaimedTask[]> {
  const { rows } = await pool.query<TaskRow>(
    `WITH picked AS (
       SELECT uid FROM tasks
       WHERE state = 'queued' AND not_before_ms <= $2 AND ($4::text[] IS NULL OR module_kind = ANY ($4))
       ORDER BY priority DESC, deadline_at_ms ASC NULLS LAST, uid
       LIMIT $3
       FOR UPDATE SKIP LOCKED
     ), t AS (
       UPDATE tasks SET state = 'running', attempts = tasks.attempts + 1,
         current_lease_id = 'l-' || replace(gen_random_uuid()::text, '-', ''), updated_at_ms = $2, progress = NULL
       FROM picked WHERE tasks.uid = picked.uid
       RETURNING tasks.*
     ), a AS (
       INSERT INTO attempts (lease_id, task_uid, attempt, worker_id, started_at_ms, expires_at_ms)
       SELECT current_lease_id, uid, attempts, $1, $2, $2 + $5 FROM t
     ), au AS (
       INSERT INTO audit (task_uid, tenant, ts_ms, from_state, to_state, topic, lease_id, worker_id)
       SELECT uid, tenant, $2, 'queued', 'running', $6, current_lease_id, $1 FROM t
     )
     SELECT * FROM t ORDER BY priority DESC, deadline_at_ms ASC NULLS LAST, uid`,
    [req.workerId, req.nowMs, req.limit, req.moduleKinds ?? null, req.leaseMs, EVENTS.accepted],
  );
  return rows.map((row) => ({
    task: toTask(row),
    lease: {
      taskUid: row.uid,
      tenant: row.tenant,
      leaseId: row.current_lease_id!,
      attempt: row.attempts,
      workerId: req.workerId,
      startedAtMs: req.nowMs,
      expiresAtMs: req.nowMs + req.leaseMs,
    },
  }));
}

export async function completeTasks(pool: pg.Pool, changes: CompleteTask[]): Promise<boolean[]> {
  const firsts = firstPerTask(changes);
  if (firsts.length === 0) return [];
  // Results go as one binary parameter (see pg-params.ts). Tasks found by `uid = ANY`, their
  // state and tenant compared with the input's; named (as in startLeases).
  const results = packBytes(firsts, (c) => c.result);
  const { rows } = await pool.query<{ lease_id: string }>({
    name: 'flock_complete_tasks',
    text: `WITH input AS MATERIALIZED (
       SELECT *, 'running'::text AS from_state
       FROM unnest($1::bigint[], $2::text[], $3::int[], $10::int[], $4::text[], $5::float8[], $6::bigint[],
         $7::text[], $9::text[], $12::text[]) AS i (task_uid, lease_id, result_start, result_length, executor,
         duration_ms, now_ms, worker_id, output_hash, tenant)
     ), t AS (
       UPDATE tasks SET state = 'succeeded', result = substring($11::bytea FROM i.result_start FOR i.result_length),
         executor = i.executor,
         duration_ms = i.duration_ms, current_lease_id = NULL, updated_at_ms = i.now_ms,
         failure_code = NULL, failure_message = NULL
       FROM input i
       WHERE tasks.uid = ANY ($1::bigint[]) AND tasks.uid = i.task_uid AND tasks.state = i.from_state
         AND tasks.current_lease_id = i.lease_id AND tasks.tenant = i.tenant
       RETURNING i.task_uid, i.tenant, i.lease_id, i.now_ms, i.worker_id, i.output_hash
     ), a AS (
       UPDATE attempts SET ended_at_ms = t.now_ms, outcome = 'succeeded', code = NULL
       FROM t WHERE attempts.lease_id = t.lease_id AND attempts.ended_at_ms IS NULL
     ), au AS (
       INSERT INTO audit (task_uid, tenant, ts_ms, from_state, to_state, topic, lease_id, worker_id, output_hash)
       SELECT t.task_uid, t.tenant, t.now_ms, 'running', 'succeeded', $8, t.lease_id,
         COALESCE(t.worker_id, (SELECT x.worker_id FROM attempts x WHERE x.lease_id = t.lease_id)),
         t.output_hash
       FROM t
     ), w AS (
       UPDATE workers SET tasks_succeeded = tasks_succeeded + c.n
       FROM (SELECT worker_id, COUNT(*) AS n FROM t WHERE worker_id IS NOT NULL GROUP BY worker_id) c
       WHERE workers.worker_id = c.worker_id
     )
     SELECT i.lease_id FROM input i WHERE NOT EXISTS (SELECT 1 FROM t WHERE t.lease_id = i.lease_id)`,
    values: [
      numberArray(firsts, (c) => c.taskUid),
      textArray(firsts, (c) => c.leaseId),
      results.starts,
      textArray(firsts, (c) => c.executor ?? null),
      numberArray(firsts, (c) => c.durationMs),
      numberArray(firsts, (c) => c.nowMs),
      textArray(firsts, (c) => c.workerId ?? null),
      EVENTS.success,
      textArray(firsts, (c) => c.outputHash ?? null),
      results.lengths,
      results.blob,
      textArray(firsts, (c) => c.tenant),
    ],
  });
  const done = madeLeases(changes, firsts, rows);
  if (done === undefined) return allTrue(changes.length);
  const counted = new Set<number>();
  return changes.map((c) => {
    if (counted.has(c.taskUid) || !done.has(c.leaseId)) return false;
    counted.add(c.taskUid);
    return true;
  });
}

export async function endAttempt(pool: pg.Pool, change: EndAttempt): Promise<boolean> {
  const requeue = change.requeueAtMs !== undefined;
  const taskCode = change.taskCode ?? change.code ?? null;
  // $1 uid, $2 lease, $3 now, $4 failure increment, $5 outcome, $6 attempt code, $7 audit code,
  // $8 topic, then $9 requeue time or $9/$10 the task's failure code and message.
  const transition = requeue
    ? `UPDATE tasks SET state = 'queued', current_lease_id = NULL, not_before_ms = $9,
         failures = failures + $4, updated_at_ms = $3, progress = NULL
       WHERE uid = $1 AND state = 'running' AND current_lease_id = $2
       RETURNING uid, tenant, state`
    : `UPDATE tasks SET state = 'failed', current_lease_id = NULL, failure_code = $9, failure_message = $10,
         failures = failures + $4, updated_at_ms = $3
       WHERE uid = $1 AND state = 'running' AND current_lease_id = $2
       RETURNING uid, tenant, state`;
  const args: unknown[] = [
    change.taskUid,
    change.leaseId,
    change.nowMs,
    change.countsAsFailure ? 1 : 0,
    change.outcome,
    change.code ?? null,
    taskCode,
    requeue ? EVENTS.requested : EVENTS.failed,
    ...(requeue ? [change.requeueAtMs] : [taskCode, change.taskMessage ?? change.message ?? null]),
  ];
  const { rowCount } = await pool.query(
    `WITH t AS (${transition}), a AS (
       UPDATE attempts SET ended_at_ms = $3, outcome = $5, code = $6
       WHERE lease_id = $2 AND ended_at_ms IS NULL AND EXISTS (SELECT 1 FROM t)
     )
     INSERT INTO audit (task_uid, tenant, ts_ms, from_state, to_state, topic, lease_id, worker_id, code)
     SELECT uid, tenant, $3, 'running', state, $8, $2, (SELECT worker_id FROM attempts WHERE lease_id = $2), $7 FROM t`,
    args,
  );
  return rowCount === 1;
}

/** Open leases of running tasks whose coordinator last beat before `deadBeforeMs` (or is unknown). */
export async function orphanedLeases(
  pool: pg.Pool,
  deadBeforeMs: number,
  limit: number,
): Promise<OrphanedLease[]> {
  const { rows } = await pool.query<{
    task_uid: number;
    lease_id: string;
    coordinator_id: string | null;
  }>(
    `SELECT a.task_uid, a.lease_id, a.coordinator_id
     FROM attempts a
     JOIN tasks t ON t.uid = a.task_uid AND t.state = 'running' AND t.current_lease_id = a.lease_id
     LEFT JOIN coordinators c ON c.id = a.coordinator_id
     WHERE a.ended_at_ms IS NULL AND (c.id IS NULL OR c.last_seen_ms < $1)
     ORDER BY a.task_uid
     LIMIT $2`,
    [deadBeforeMs, limit],
  );
  return rows.map((r) => ({
    taskUid: r.task_uid,
    leaseId: r.lease_id,
    coordinatorId: r.coordinator_id ?? undefined,
  }));
}
