// The PostgreSQL store's reads of attempts and the audit trail, and its worker records.
import type pg from 'pg';
import type { AttemptRecord, AuditRecord, WorkerRecord } from './store.ts';
import {
  type AttemptRow,
  type AuditRow,
  toAttempt,
  toAudit,
  toWorker,
  type WorkerRow,
} from './store-rows.ts';

export async function getAttempt(pool: pg.Pool, leaseId: string): Promise<AttemptRecord | undefined> {
  const { rows } = await pool.query<AttemptRow>('SELECT * FROM attempts WHERE lease_id = $1', [leaseId]);
  return rows[0] ? toAttempt(rows[0]) : undefined;
}

export async function listAttempts(pool: pg.Pool, taskUid: number): Promise<AttemptRecord[]> {
  const { rows } = await pool.query<AttemptRow>(
    'SELECT * FROM attempts WHERE task_uid = $1 ORDER BY attempt',
    [taskUid],
  );
  return rows.map(toAttempt);
}

export async function auditTrail(pool: pg.Pool, taskUid: number): Promise<AuditRecord[]> {
  const { rows } = await pool.query<AuditRow>('SELECT * FROM audit WHERE task_uid = $1 ORDER BY id', [
    taskUid,
  ]);
  return rows.map(toAudit);
}

export async function upsertWorker(pool: pg.Pool, worker: WorkerRecord): Promise<void> {
  await pool.query(
    `INSERT INTO workers (worker_id, session_hash, created_at_ms, last_seen_ms, tasks_succeeded, tasks_failed)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (worker_id) DO UPDATE SET last_seen_ms = excluded.last_seen_ms`,
    [
      worker.workerId,
      worker.sessionHash,
      worker.createdAtMs,
      worker.lastSeenMs,
      worker.tasksSucceeded,
      worker.tasksFailed,
    ],
  );
}

export async function findWorkerBySession(
  pool: pg.Pool,
  sessionHash: string,
): Promise<WorkerRecord | undefined> {
  const { rows } = await pool.query<WorkerRow>('SELECT * FROM workers WHERE session_hash = $1', [
    sessionHash,
  ]);
  return rows[0] ? toWorker(rows[0]) : undefined;
}

export async function forgetIdleWorker(pool: pg.Pool, workerId: string): Promise<void> {
  await pool.query('DELETE FROM workers WHERE worker_id = $1 AND tasks_succeeded = 0 AND tasks_failed = 0', [
    workerId,
  ]);
}

export async function countWorkerOutcome(pool: pg.Pool, workerId: string, succeeded: boolean): Promise<void> {
  await pool.query(
    succeeded
      ? 'UPDATE workers SET tasks_succeeded = tasks_succeeded + 1 WHERE worker_id = $1'
      : 'UPDATE workers SET tasks_failed = tasks_failed + 1 WHERE worker_id = $1',
    [workerId],
  );
}
