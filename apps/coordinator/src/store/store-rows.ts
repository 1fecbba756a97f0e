// The rows the SQL stores read back and their mapping to records: one definition shared by the
// SQLite and PostgreSQL stores, which differ only in how the progress column arrives (JSON text
// in SQLite, a parsed jsonb object from pg).
import {
  type AttemptRecord,
  type AuditRecord,
  emptyCounts,
  type NewTask,
  type TaskRecord,
  type TaskState,
  type WorkerRecord,
} from './store.ts';

export type TaskProgress = NonNullable<TaskRecord['progress']>;

export interface TaskRow<Progress> {
  uid: number;
  tenant: string;
  task_id: string;
  campaign_id: string | null;
  op: string;
  module_kind: string;
  state: TaskState;
  content_hash: string;
  envelope: Buffer;
  priority: number;
  deadline_at_ms: number | null;
  max_retries: number;
  attempts: number;
  failures: number;
  not_before_ms: number;
  created_at_ms: number;
  updated_at_ms: number;
  current_lease_id: string | null;
  progress: Progress | null;
  failure_code: string | null;
  failure_message: string | null;
  result: Buffer | null;
  executor: string | null;
  duration_ms: number | null;
}

export interface AttemptRow {
  lease_id: string;
  task_uid: number;
  attempt: number;
  worker_id: string;
  started_at_ms: number;
  expires_at_ms: number;
  ended_at_ms: number | null;
  outcome: string | null;
  code: string | null;
}

export interface AuditRow {
  task_uid: number;
  ts_ms: number;
  from_state: TaskState | null;
  to_state: TaskState;
  topic: string;
  lease_id: string | null;
  worker_id: string | null;
  code: string | null;
}

export interface WorkerRow {
  worker_id: string;
  session_hash: string;
  created_at_ms: number;
  last_seen_ms: number;
  tasks_succeeded: number;
  tasks_failed: number;
}

/** A view of a driver's Buffer as a plain Uint8Array (no copy). */
export function u8(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** A view of bytes as a Buffer, as the drivers bind them (no copy). */
export function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Per-state task counts from `SELECT state, COUNT(*) AS n … GROUP BY state` rows. */
export function tallyStates(rows: Iterable<{ state: TaskState; n: number }>): Record<TaskState, number> {
  const counts = emptyCounts();
  for (const row of rows) counts[row.state] = row.n;
  return counts;
}

export function rowToTask<P>(row: TaskRow<P>, readProgress: (stored: P) => TaskProgress): TaskRecord {
  return {
    uid: row.uid,
    tenant: row.tenant,
    taskId: row.task_id,
    campaignId: row.campaign_id ?? undefined,
    op: row.op,
    moduleKind: row.module_kind,
    state: row.state,
    contentHash: row.content_hash,
    envelope: u8(row.envelope),
    priority: row.priority,
    deadlineAtMs: row.deadline_at_ms ?? undefined,
    maxRetries: row.max_retries,
    attempts: row.attempts,
    failures: row.failures,
    notBeforeMs: row.not_before_ms,
    createdAtMs: row.created_at_ms,
    updatedAtMs: row.updated_at_ms,
    currentLeaseId: row.current_lease_id ?? undefined,
    progress: row.progress === null ? undefined : readProgress(row.progress),
    failureCode: row.failure_code ?? undefined,
    failureMessage: row.failure_message ?? undefined,
    result: row.result === null ? undefined : u8(row.result),
    executor: row.executor ?? undefined,
    durationMs: row.duration_ms ?? undefined,
  };
}

export function toAttempt(row: AttemptRow): AttemptRecord {
  return {
    leaseId: row.lease_id,
    taskUid: row.task_uid,
    attempt: row.attempt,
    workerId: row.worker_id,
    startedAtMs: row.started_at_ms,
    expiresAtMs: row.expires_at_ms,
    endedAtMs: row.ended_at_ms ?? undefined,
    outcome: (row.outcome ?? undefined) as AttemptRecord['outcome'],
    code: row.code ?? undefined,
  };
}

export function toAudit(row: AuditRow): AuditRecord {
  return {
    taskUid: row.task_uid,
    tsMs: row.ts_ms,
    fromState: row.from_state ?? undefined,
    toState: row.to_state,
    topic: row.topic,
    leaseId: row.lease_id ?? undefined,
    workerId: row.worker_id ?? undefined,
    code: row.code ?? undefined,
  };
}

export function toWorker(row: WorkerRow): WorkerRecord {
  return {
    workerId: row.worker_id,
    sessionHash: row.session_hash,
    createdAtMs: row.created_at_ms,
    lastSeenMs: row.last_seen_ms,
    tasksSucceeded: row.tasks_succeeded,
    tasksFailed: row.tasks_failed,
  };
}

/** The `sha256:<hex>` names in a stored JSON document. */
export function blobNamesIn(body: Uint8Array): string[] {
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('latin1');
  return text.match(/sha256:[0-9a-f]{64}/g) ?? [];
}

/** The record of a task just inserted (what a read-back would return). */
export function newRecord(uid: number, task: NewTask): TaskRecord {
  return {
    tenant: task.tenant,
    taskId: task.taskId,
    campaignId: task.campaignId,
    op: task.op,
    moduleKind: task.moduleKind,
    contentHash: task.contentHash,
    envelope: task.envelope,
    priority: task.priority,
    deadlineAtMs: task.deadlineAtMs,
    maxRetries: task.maxRetries,
    createdAtMs: task.createdAtMs,
    uid,
    state: 'queued',
    attempts: 0,
    failures: 0,
    notBeforeMs: 0,
    updatedAtMs: task.createdAtMs,
    currentLeaseId: undefined,
    progress: undefined,
    failureCode: undefined,
    failureMessage: undefined,
    result: undefined,
    executor: undefined,
    durationMs: undefined,
  };
}
