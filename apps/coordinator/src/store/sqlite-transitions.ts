// The SQLite store's task transitions: synchronous bodies that run inside the group commit's
// transaction. Each is guarded by the state (and lease) it expects and appends its audit row; a
// lease and a success are also guarded by the tenant their audit row is filed under.
import { EVENTS } from '@flock/protocol';
import { rollBackOnConflict } from './insert-conflict.ts';
import { type SqliteStatements, toTask } from './sqlite-statements.ts';
import type {
  CompleteTask,
  EndAttempt,
  InsertOutcome,
  NewLease,
  NewTask,
  TaskRecord,
  TaskState,
} from './store.ts';
import { newRecord } from './store-rows.ts';

/**
 * Inserts a batch; a conflict throws `ConflictRollback`, and the group commit's savepoint around
 * the write (`GroupCommit.write`) undoes it all — these bodies run only inside one, so they open
 * no savepoint of their own (`db.transaction` would add one and build a wrapper per call).
 */
export function insertTasksNow(s: SqliteStatements, tasks: NewTask[]): InsertOutcome[] {
  const out: InsertOutcome[] = [];
  for (const task of tasks) {
    // New ids are the common case: insert first, look the row up only on a conflict.
    const info = s.insertTask.run(
      task.tenant,
      task.taskId,
      task.campaignId ?? null,
      task.op,
      task.moduleKind,
      task.contentHash,
      task.envelope, // better-sqlite3 binds any Uint8Array as a blob: no Buffer view a task
      task.priority,
      task.deadlineAtMs ?? null,
      task.maxRetries,
      task.createdAtMs,
      task.createdAtMs,
    );
    if (info.changes === 0) {
      const existing = s.byId.get(task.tenant, task.taskId)!;
      out.push(
        existing.content_hash === task.contentHash
          ? { kind: 'existing', task: toTask(existing) }
          : { kind: 'conflict', taskId: task.taskId },
      );
      continue;
    }
    const uid = Number(info.lastInsertRowid);
    s.auditQueued.run(uid, task.tenant, task.createdAtMs);
    out.push({ kind: 'created', task: newRecord(uid, task) });
  }
  return rollBackOnConflict(out);
}

/**
 * Starts a pass's leases (inside the group commit's savepoint, like `insertTasksNow`): each task
 * row is claimed on its own, the attempt and audit rows of those claimed go in as multi-row INSERTs.
 */
export function startLeasesNow(s: SqliteStatements, leases: NewLease[]): boolean[] {
  const attempts: unknown[] = [];
  const audit: unknown[] = [];
  const started = leases.map((lease) => {
    const { leaseId, taskUid, workerId, startedAtMs } = lease;
    if (s.startLease.run(leaseId, startedAtMs, taskUid, lease.tenant).changes !== 1) return false;
    attempts.push(leaseId, taskUid, lease.attempt, workerId, startedAtMs, lease.expiresAtMs);
    audit.push(taskUid, lease.tenant, startedAtMs, leaseId, workerId);
    return true;
  });
  s.attemptRows.run(attempts);
  s.auditStarted.run(audit);
  return started;
}

/**
 * One completion, inside the caller's transaction (no savepoint per item): the task row and its
 * audit row. The caller ends the attempt and counts the worker's success.
 */
function completeRows(s: SqliteStatements, c: CompleteTask): boolean {
  const done = s.complete.run(
    c.result,
    c.executor ?? null,
    c.durationMs ?? null,
    c.nowMs,
    c.taskUid,
    c.leaseId,
    c.tenant,
  );
  if (done.changes !== 1) return false;
  const worker = c.workerId ?? s.getAttempt.get(c.leaseId)?.worker_id ?? null;
  s.auditSucceeded.run(c.taskUid, c.tenant, c.nowMs, c.leaseId, worker, c.outputHash ?? null);
  return true;
}

/** One completion, inside the caller's transaction. */
export function completeOne(s: SqliteStatements, c: CompleteTask): boolean {
  if (!completeRows(s, c)) return false;
  s.endAttemptSucceeded.run(c.nowMs, c.leaseId);
  if (c.workerId !== undefined) s.workerSucceeded.run(c.workerId);
  return true;
}

/** Below this many rows one UPDATE a row is cheaper than an UPDATE … FROM's ephemeral table. */
const FEW_ROWS = 4;

/**
 * A batch of completions. The attempts they end and the workers' success counters (one per
 * worker) are written by one `UPDATE … FROM (VALUES …)` per 32 rows rather than one UPDATE a row
 * (about 0.5 µs a row less from 8 rows on; fewer than `FEW_ROWS` rows run one UPDATE each).
 * Each success is of a distinct lease (a second one for the same task finds it no longer
 * running), so no attempt row is matched twice.
 */
export function completeBatch(s: SqliteStatements, changes: CompleteTask[]): boolean[] {
  const successes = new Map<string, number>();
  const ended: CompleteTask[] = [];
  const done = changes.map((c) => {
    if (!completeRows(s, c)) return false;
    ended.push(c);
    if (c.workerId !== undefined) successes.set(c.workerId, (successes.get(c.workerId) ?? 0) + 1);
    return true;
  });
  endAttempts(s, ended);
  countSuccesses(s, successes);
  return done;
}

function endAttempts(s: SqliteStatements, ended: CompleteTask[]): void {
  if (ended.length < FEW_ROWS) {
    for (const c of ended) s.endAttemptSucceeded.run(c.nowMs, c.leaseId);
    return;
  }
  const values: unknown[] = [];
  for (const c of ended) values.push(c.leaseId, c.nowMs);
  s.endAttemptsSucceeded.run(values);
}

function countSuccesses(s: SqliteStatements, successes: Map<string, number>): void {
  if (successes.size < FEW_ROWS) {
    for (const [workerId, n] of successes) s.workerSucceededBy.run(n, workerId);
    return;
  }
  const values: unknown[] = [];
  for (const [workerId, n] of successes) values.push(workerId, n);
  s.workersSucceededBy.run(values);
}

/** Ends a lease that did not succeed (inside the group commit's savepoint, like `insertTasksNow`). */
export function endAttemptNow(s: SqliteStatements, c: EndAttempt): boolean {
  const params = {
    taskUid: c.taskUid,
    leaseId: c.leaseId,
    nowMs: c.nowMs,
    failureInc: c.countsAsFailure ? 1 : 0,
    requeueAtMs: c.requeueAtMs ?? 0,
    code: c.taskCode ?? c.code ?? null,
    message: c.taskMessage ?? c.message ?? null,
  };
  const changed = c.requeueAtMs !== undefined ? s.requeue.run(params) : s.failRunning.run(params);
  if (changed.changes !== 1) return false;
  s.endAttemptRow.run(c.nowMs, c.outcome, c.code ?? null, c.leaseId);
  const worker = s.getAttempt.get(c.leaseId)?.worker_id ?? null;
  const to: TaskState = c.requeueAtMs !== undefined ? 'queued' : 'failed';
  const topic = to === 'failed' ? EVENTS.failed : EVENTS.requested;
  s.audit.run(c.taskUid, c.taskUid, c.nowMs, 'running', to, topic, c.leaseId, worker, params.code);
  return true;
}

export function failQueuedNow(
  s: SqliteStatements,
  taskUid: number,
  code: string,
  message: string,
  nowMs: number,
): boolean {
  if (s.failQueued.run(code, message, nowMs, taskUid).changes !== 1) return false;
  s.audit.run(taskUid, taskUid, nowMs, 'queued', 'failed', EVENTS.failed, null, null, code);
  return true;
}

export function reopenNow(
  s: SqliteStatements,
  taskUid: number,
  code: string,
  nowMs: number,
): TaskRecord | undefined {
  if (s.reopen.run(nowMs, nowMs, taskUid).changes !== 1) return undefined;
  s.audit.run(taskUid, taskUid, nowMs, 'succeeded', 'queued', EVENTS.requested, null, null, code);
  return toTask(s.byUid.get(taskUid)!);
}

export function cancelNow(
  s: SqliteStatements,
  taskUid: number,
  reason: string,
  nowMs: number,
): TaskState | undefined {
  const row = s.byUid.get(taskUid);
  if (!row || (row.state !== 'queued' && row.state !== 'running')) return undefined;
  s.cancel.run(reason, nowMs, taskUid);
  if (row.current_lease_id !== null) {
    s.endAttemptRow.run(nowMs, 'cancelled', 'CANCELLED', row.current_lease_id);
  }
  s.audit.run(
    taskUid,
    taskUid,
    nowMs,
    row.state,
    'cancelled',
    EVENTS.cancelled,
    row.current_lease_id,
    null,
    null,
  );
  return row.state;
}
