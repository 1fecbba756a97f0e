// The SQLite store's prepared statements, by role. The hot statements bind positionally
// (cheaper than named parameters), and write what is the same for every row (a transition's
// states and topic) as SQL literals: each bound string is converted to UTF-8 on every run.
import { EVENTS } from '@flock/protocol';
import type Database from 'better-sqlite3';
import { MultiInsert } from './sqlite-multi-insert.ts';
import type { TaskRecord, TaskState } from './store.ts';
import {
  type AttemptRow,
  type AuditRow,
  rowToTask,
  type TaskRow as SharedTaskRow,
  type TaskProgress,
  type WorkerRow,
} from './store-rows.ts';

export type TaskRow = SharedTaskRow<string>;

/** Progress is stored as JSON text in SQLite. */
export const toTask = (row: TaskRow): TaskRecord =>
  rowToTask(row, (text) => JSON.parse(text) as TaskProgress);

type StateCount = { state: TaskState; n: number };

/** A constant as an SQL string literal. */
const text = (value: string): string => `'${value.replaceAll("'", "''")}'`;

/** The tenant of the task whose uid is the parameter `uid`, as an SQL expression. */
const tenantOf = (uid: string): string => `(SELECT tenant FROM tasks WHERE uid = ${uid})`;

function metaStatements(db: Database.Database) {
  return {
    getMeta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
    setMeta: db.prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    ),
  };
}

/** Reading tasks, inserting them, and the audit trail every transition appends to. */
function taskStatements(db: Database.Database) {
  return {
    byId: db.prepare<[string, string], TaskRow>('SELECT * FROM tasks WHERE tenant = ? AND task_id = ?'),
    byUid: db.prepare<[number], TaskRow>('SELECT * FROM tasks WHERE uid = ?'),
    insertTask: db.prepare<
      [
        string,
        string,
        string | null,
        string,
        string,
        string,
        Uint8Array,
        number,
        number | null,
        number,
        number,
        number,
      ]
    >(
      `INSERT INTO tasks (tenant, task_id, campaign_id, op, module_kind, state, content_hash, envelope, priority,
         deadline_at_ms, max_retries, created_at_ms, updated_at_ms)
       VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant, task_id) DO NOTHING`,
    ),
    /**
     * A transition's audit row: task_uid, task_uid again, ts_ms, from_state, to_state, topic,
     * lease_id, worker_id, code. Its tenant (audit_tenant, audit-store.ts) is read from the task
     * row the transition has just written, by the uid bound a second time (better-sqlite3 binds
     * no `?NNN`): the transitions that write it (a failure, a requeue, a cancel, a reopen) are
     * not given the tenant, and run for few tasks. A new task's, a lease's and a success's rows,
     * one each a task, bind the tenant their caller carries (`NewTask`, `NewLease`, `CompleteTask`;
     * the last two only after their UPDATE matched it: `startLease`, `complete`).
     */
    audit: db.prepare(
      `INSERT INTO audit (task_uid, tenant, ts_ms, from_state, to_state, topic, lease_id, worker_id, code)
       VALUES (?, ${tenantOf('?')}, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    /** A new task's audit row: task_uid, tenant, ts_ms. */
    auditQueued: db.prepare<[number, string, number]>(
      `INSERT INTO audit (task_uid, tenant, ts_ms, from_state, to_state, topic)
       VALUES (?, ?, ?, NULL, 'queued', ${text(EVENTS.requested)})`,
    ),
    /**
     * A success's audit row, with the result's output hash (audit-store.ts): task_uid, tenant,
     * ts_ms, lease_id, worker_id, output_hash.
     */
    auditSucceeded: db.prepare<[number, string, number, string, string | null, string | null]>(
      `INSERT INTO audit (task_uid, tenant, ts_ms, from_state, to_state, topic, lease_id, worker_id, output_hash)
       VALUES (?, ?, ?, 'running', 'succeeded', ${text(EVENTS.success)}, ?, ?, ?)`,
    ),
    auditTrail: db.prepare<[number], AuditRow>('SELECT * FROM audit WHERE task_uid = ? ORDER BY id'),
    // An open task has no result (only a success writes one): the term lets the planner read
    // tasks_unfinished, the index of tasks without one (sqlite-schema.ts).
    open: db.prepare<[number, number], TaskRow>(
      "SELECT * FROM tasks WHERE result IS NULL AND state IN ('queued', 'running') AND uid > ? ORDER BY uid LIMIT ?",
    ),
    running: db.prepare<[number, number], TaskRow>(
      "SELECT * FROM tasks WHERE result IS NULL AND state = 'running' AND uid > ? ORDER BY uid LIMIT ?",
    ),
    stateCounts: db.prepare<[], StateCount>('SELECT state, COUNT(*) AS n FROM tasks GROUP BY state'),
    countTenant: db.prepare<[string], StateCount>(
      'SELECT state, COUNT(*) AS n FROM tasks WHERE tenant = ? GROUP BY state',
    ),
    countCampaign: db.prepare<[string, string], StateCount>(
      'SELECT state, COUNT(*) AS n FROM tasks WHERE tenant = ? AND campaign_id = ? GROUP BY state',
    ),
  };
}

/** Leases and attempts: starting, completing and ending them. */
function leaseStatements(db: Database.Database) {
  return {
    /**
     * current_lease_id, updated_at_ms, uid, tenant. The tenant is matched as well as the state:
     * the lease's audit row is filed under the tenant its caller gave (`NewLease.tenant`), so a
     * lease whose tenant is not the task's changes nothing, like one that lost a race.
     */
    startLease: db.prepare<[string, number, number, string]>(
      `UPDATE tasks SET state = 'running', attempts = attempts + 1, current_lease_id = ?,
         updated_at_ms = ?, progress = NULL
       WHERE uid = ? AND state = 'queued' AND tenant = ?`,
    ),
    /**
     * result, executor, duration_ms, updated_at_ms, uid, lease_id, tenant; the tenant matched
     * as in `startLease` (`CompleteTask.tenant` files the success's audit row).
     */
    complete: db.prepare<[Uint8Array, string | null, number | null, number, number, string, string]>(
      `UPDATE tasks SET state = 'succeeded', result = ?, executor = ?, duration_ms = ?,
         current_lease_id = NULL, updated_at_ms = ?, failure_code = NULL, failure_message = NULL
       WHERE uid = ? AND state = 'running' AND current_lease_id = ? AND tenant = ?`,
    ),
    endAttemptRow: db.prepare(
      'UPDATE attempts SET ended_at_ms = ?, outcome = ?, code = ? WHERE lease_id = ? AND ended_at_ms IS NULL',
    ),
    /** `endAttemptRow` of a success: ended_at_ms, lease_id. */
    endAttemptSucceeded: db.prepare<[number, string]>(
      `UPDATE attempts SET ended_at_ms = ?, outcome = 'succeeded', code = NULL
       WHERE lease_id = ? AND ended_at_ms IS NULL`,
    ),
    requeue: db.prepare(
      `UPDATE tasks SET state = 'queued', current_lease_id = NULL, not_before_ms = @requeueAtMs,
         failures = failures + @failureInc, updated_at_ms = @nowMs, progress = NULL
       WHERE uid = @taskUid AND state = 'running' AND current_lease_id = @leaseId`,
    ),
    failRunning: db.prepare(
      `UPDATE tasks SET state = 'failed', current_lease_id = NULL, failure_code = @code, failure_message = @message,
         failures = failures + @failureInc, updated_at_ms = @nowMs
       WHERE uid = @taskUid AND state = 'running' AND current_lease_id = @leaseId`,
    ),
    setProgress: db.prepare(
      "UPDATE tasks SET progress = ? WHERE uid = ? AND state = 'running' AND current_lease_id = ?",
    ),
    getAttempt: db.prepare<[string], AttemptRow>('SELECT * FROM attempts WHERE lease_id = ?'),
    listAttempts: db.prepare<[number], AttemptRow>(
      'SELECT * FROM attempts WHERE task_uid = ? ORDER BY attempt',
    ),
  };
}

/** Transitions that need no lease: failing a queued task, cancelling, reopening a success. */
function transitionStatements(db: Database.Database) {
  return {
    failQueued: db.prepare(
      `UPDATE tasks SET state = 'failed', failure_code = ?, failure_message = ?, updated_at_ms = ?
       WHERE uid = ? AND state = 'queued'`,
    ),
    cancel: db.prepare(
      `UPDATE tasks SET state = 'cancelled', current_lease_id = NULL, failure_code = 'CANCELLED',
         failure_message = ?, updated_at_ms = ?
       WHERE uid = ? AND state IN ('queued', 'running')`,
    ),
    reopen: db.prepare(
      `UPDATE tasks SET state = 'queued', result = NULL, executor = NULL, duration_ms = NULL,
         current_lease_id = NULL, progress = NULL, not_before_ms = ?, updated_at_ms = ?
       WHERE uid = ? AND state = 'succeeded'`,
    ),
  };
}

function workerStatements(db: Database.Database) {
  return {
    upsertWorker: db.prepare(
      `INSERT INTO workers (worker_id, session_hash, created_at_ms, last_seen_ms, tasks_succeeded, tasks_failed)
       VALUES (@workerId, @sessionHash, @createdAtMs, @lastSeenMs, @tasksSucceeded, @tasksFailed)
       ON CONFLICT (worker_id) DO UPDATE SET last_seen_ms = excluded.last_seen_ms`,
    ),
    workerBySession: db.prepare<[string], WorkerRow>('SELECT * FROM workers WHERE session_hash = ?'),
    workerSucceeded: db.prepare(
      'UPDATE workers SET tasks_succeeded = tasks_succeeded + 1 WHERE worker_id = ?',
    ),
    workerSucceededBy: db.prepare<[number, string]>(
      'UPDATE workers SET tasks_succeeded = tasks_succeeded + ? WHERE worker_id = ?',
    ),
    workerFailed: db.prepare('UPDATE workers SET tasks_failed = tasks_failed + 1 WHERE worker_id = ?'),
    forgetIdleWorker: db.prepare(
      'DELETE FROM workers WHERE worker_id = ? AND tasks_succeeded = 0 AND tasks_failed = 0',
    ),
  };
}

/** The appends a batch of transitions makes, as multi-row INSERTs (sqlite-multi-insert.ts). */
function batchStatements(db: Database.Database) {
  return {
    /** The audit rows of started leases: task_uid, tenant, ts_ms, lease_id, worker_id. */
    auditStarted: new MultiInsert(
      db,
      'INSERT INTO audit (task_uid, tenant, ts_ms, from_state, to_state, topic, lease_id, worker_id)',
      `(?, ?, ?, 'queued', 'running', ${text(EVENTS.accepted)}, ?, ?)`,
      5,
    ),
    /** `endAttemptSucceeded` of a batch's successes: lease_id, ended_at_ms. */
    endAttemptsSucceeded: new MultiInsert(
      db,
      "UPDATE attempts SET ended_at_ms = v.column2, outcome = 'succeeded', code = NULL FROM (",
      '(?, ?)',
      2,
      ') AS v WHERE attempts.lease_id = v.column1 AND attempts.ended_at_ms IS NULL',
    ),
    /** Success counters of a batch's workers: worker_id, successes (each worker once). */
    workersSucceededBy: new MultiInsert(
      db,
      'UPDATE workers SET tasks_succeeded = tasks_succeeded + v.column2 FROM (',
      '(?, ?)',
      2,
      ') AS v WHERE workers.worker_id = v.column1',
    ),
    /** Attempt rows: lease_id, task_uid, attempt, worker_id, started_at_ms, expires_at_ms. */
    attemptRows: new MultiInsert(
      db,
      'INSERT INTO attempts (lease_id, task_uid, attempt, worker_id, started_at_ms, expires_at_ms)',
      '(?, ?, ?, ?, ?, ?)',
      6,
    ),
  };
}

function blobStatements(db: Database.Database) {
  return {
    recordBlob: db.prepare(
      'INSERT OR IGNORE INTO blobs (hash, tenant, kind, size, created_at_ms) VALUES (?, ?, ?, ?, ?)',
    ),
    blobVisible: db.prepare<[string, string], { n: number }>(
      'SELECT COUNT(*) AS n FROM blobs WHERE hash = ? AND tenant = ?',
    ),
    isModule: db.prepare<[string], { n: number }>(
      "SELECT COUNT(*) AS n FROM blobs WHERE hash = ? AND kind IN ('module', 'model')",
    ),
    isModel: db.prepare<[string], { n: number }>(
      "SELECT COUNT(*) AS n FROM blobs WHERE hash = ? AND kind = 'model'",
    ),
  };
}

/** Every statement the store runs often, prepared once. */
export function prepareStatements(db: Database.Database) {
  return {
    ...metaStatements(db),
    ...taskStatements(db),
    ...leaseStatements(db),
    ...transitionStatements(db),
    ...workerStatements(db),
    ...blobStatements(db),
    ...batchStatements(db),
  };
}

export type SqliteStatements = ReturnType<typeof prepareStatements>;
