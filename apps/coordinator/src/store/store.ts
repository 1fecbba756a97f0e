/**
 * The coordinator's durable memory, as an interface. `SqliteStore` implements it; a PostgreSQL
 * store must pass the same contract tests (test/store-contract.ts takes a store factory).
 *
 * Every method that changes a task is one transaction and is guarded: it names the state (and,
 * for running tasks, the lease) it expects, and returns false when the task has moved on. That
 * guard is the fencing that keeps a task from succeeding twice.
 */

import type { TrustStore } from '../trust/trust-store.ts';
import type { AuditStore } from './audit-store.ts';
import type { KeyStore } from './key-store.ts';
import type { WebhookStore } from './webhook-store.ts';
import type { WorkflowStore } from './workflow-store.ts';

export type TaskState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export const TASK_STATES: readonly TaskState[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

/** What an attempt ended with. */
export type AttemptOutcome = 'succeeded' | 'failed' | 'lease_expired' | 'cancelled' | 'deadline_exceeded';

export interface NewTask {
  tenant: string;
  taskId: string;
  campaignId: string | undefined;
  op: string;
  moduleKind: string;
  /** sha256 hex of the canonical encoding: same id + same hash is the same task. */
  contentHash: string;
  /** The envelope's canonical JSON view (UTF-8), as `toJson('ComputeEnvelope', …)` writes it. */
  envelope: Uint8Array;
  priority: number;
  deadlineAtMs: number | undefined;
  maxRetries: number;
  createdAtMs: number;
}

export interface TaskRecord extends NewTask {
  /** Internal id, unique across tenants, increasing with creation. */
  uid: number;
  state: TaskState;
  attempts: number;
  failures: number;
  notBeforeMs: number;
  updatedAtMs: number;
  currentLeaseId: string | undefined;
  progress: { pct: number; metrics: Record<string, string> } | undefined;
  failureCode: string | undefined;
  failureMessage: string | undefined;
  /** The ComputeResult's JSON view (UTF-8), once succeeded; served as is by the API. */
  result: Uint8Array | undefined;
  executor: string | undefined;
  durationMs: number | undefined;
}

export interface AttemptRecord {
  leaseId: string;
  taskUid: number;
  attempt: number;
  workerId: string;
  startedAtMs: number;
  expiresAtMs: number;
  endedAtMs: number | undefined;
  outcome: AttemptOutcome | undefined;
  code: string | undefined;
}

export interface AuditRecord {
  taskUid: number;
  tsMs: number;
  fromState: TaskState | undefined;
  toState: TaskState;
  topic: string;
  leaseId: string | undefined;
  workerId: string | undefined;
  code: string | undefined;
}

export interface WorkerRecord {
  workerId: string;
  sessionHash: string;
  createdAtMs: number;
  lastSeenMs: number;
  tasksSucceeded: number;
  tasksFailed: number;
}

export type InsertOutcome =
  | { kind: 'created'; task: TaskRecord }
  | { kind: 'existing'; task: TaskRecord }
  | { kind: 'conflict'; taskId: string }
  /** Not inserted because another task of the same batch conflicted. */
  | { kind: 'skipped'; taskId: string };

export interface TaskFilter {
  state?: TaskState | undefined;
  campaignId?: string | undefined;
  /** Return tasks with uid greater than this (cursor). */
  afterUid?: number | undefined;
  limit: number;
}

export interface NewLease {
  taskUid: number;
  /**
   * The task's tenant, written on its audit row (`audit_tenant`): the store does not look it up
   * but checks it in the UPDATE that starts the lease, so a lease whose tenant is not the task's
   * is refused (`false`, nothing written) like one that lost a race. The engine's
   * `OpenTask.tenant`, which came from the task's own record.
   */
  tenant: string;
  leaseId: string;
  attempt: number;
  workerId: string;
  startedAtMs: number;
  expiresAtMs: number;
}

export interface CompleteTask {
  taskUid: number;
  /** The task's tenant, for its audit row; checked as in `NewLease` (another: refused, `false`). */
  tenant: string;
  leaseId: string;
  result: Uint8Array;
  executor: string | undefined;
  durationMs: number | undefined;
  nowMs: number;
  /** When set, also counts a success for this worker in the same transaction. */
  workerId?: string | undefined;
  /** The result's output hash (engine/audit-hashes.ts), kept on its `succeeded` audit row. */
  outputHash?: string | undefined;
}

export interface EndAttempt {
  taskUid: number;
  leaseId: string;
  outcome: AttemptOutcome;
  code: string | undefined;
  message: string | undefined;
  /** The task's failure code when it fails (default `code`), e.g. RETRIES_EXHAUSTED. */
  taskCode?: string | undefined;
  taskMessage?: string | undefined;
  /** Set: back to queued, not before this time. Unset: the task fails with code/message. */
  requeueAtMs: number | undefined;
  /** Whether this attempt counts as a failure towards qos.retries. */
  countsAsFailure: boolean;
  nowMs: number;
}

export interface Store {
  /** Creates or upgrades the schema. */
  migrate(): Promise<void>;
  close(): Promise<void>;
  /**
   * False while a shared store's server cannot be reached (PostgreSQL: this coordinator's latest
   * beat failed), for `/healthz`; absent on a store in the process (SQLite).
   */
  readonly reachable?: boolean;

  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;

  /**
   * Inserts tasks in one transaction (queued, with a `requested` audit row each). An existing
   * (tenant, task_id) with the same content hash is `existing`; with another hash `conflict`.
   * When any is a conflict nothing is inserted.
   */
  insertTasks(tasks: NewTask[]): Promise<InsertOutcome[]>;
  getTask(tenant: string, taskId: string): Promise<TaskRecord | undefined>;
  getTaskByUid(uid: number): Promise<TaskRecord | undefined>;
  listTasks(tenant: string, filter: TaskFilter): Promise<TaskRecord[]>;
  countByState(tenant: string, campaignId: string | undefined): Promise<Record<TaskState, number>>;
  /**
   * Queued and running tasks, oldest first: what a restarted coordinator must pick up. A page:
   * those with a uid above `afterUid` (default 0), at most `limit` (default all).
   */
  openTasks(afterUid?: number, limit?: number): Promise<TaskRecord[]>;
  /**
   * Running tasks only, as `openTasks` returns them (a page above `afterUid`, at most `limit`):
   * a restart past its memory budget reads the rest of the open tasks this way, without the
   * queued ones it leaves in the store (about 0.2 µs a row skipped against 9 a row read).
   */
  runningTasks(afterUid: number, limit: number): Promise<TaskRecord[]>;
  /** Tasks in each state, over all tenants (for metrics). */
  stateCounts(): Promise<Record<TaskState, number>>;

  /**
   * queued → running for each lease, with an attempt row and an `accepted` audit row; false for
   * a task no longer queued or not of the lease's tenant.
   */
  startLeases(leases: NewLease[]): Promise<boolean[]>;
  /**
   * running (under this lease) → succeeded; false when the lease is no longer current or the
   * change's tenant is not the task's.
   */
  completeTask(change: CompleteTask): Promise<boolean>;
  /**
   * Optional group commit: `completeTask` for many in one transaction (results that arrive
   * together share one commit). The coordinator uses it when present.
   */
  completeTasks?(changes: CompleteTask[]): Promise<boolean[]>;
  /**
   * Optional, for a store with a group commit: commits this turn's writes so far now rather than
   * at the turn's end; their promises settle as usual. The dispatcher asks for it after leasing
   * tasks just accepted (their assignments then leave in the same turn).
   */
  flush?(): void;
  /** Ends the current attempt of a running task: requeue or fail. False when the lease moved on. */
  endAttempt(change: EndAttempt): Promise<boolean>;
  /** queued → failed (deadline, exhausted retries while queued). */
  failQueued(taskUid: number, code: string, message: string, nowMs: number): Promise<boolean>;
  /** queued|running → cancelled; returns the state it left, or undefined when already finished. */
  cancelTask(taskUid: number, reason: string, nowMs: number): Promise<TaskState | undefined>;
  /**
   * A succeeded task back to queued (its result withdrawn, `code` in the audit trail): verification
   * found that the worker it was believed from lied. Undefined when the task is not succeeded.
   */
  reopenTask(taskUid: number, code: string, nowMs: number): Promise<TaskRecord | undefined>;
  setProgress(taskUid: number, leaseId: string, pct: number, metrics: Record<string, string>): Promise<void>;

  getAttempt(leaseId: string): Promise<AttemptRecord | undefined>;
  listAttempts(taskUid: number): Promise<AttemptRecord[]>;
  auditTrail(taskUid: number): Promise<AuditRecord[]>;

  upsertWorker(worker: WorkerRecord): Promise<void>;
  findWorkerBySession(sessionHash: string): Promise<WorkerRecord | undefined>;
  countWorkerOutcome(workerId: string, succeeded: boolean): Promise<void>;
  /** Deletes a worker's row if it has no outcomes counted (an identity that did nothing). */
  forgetIdleWorker(workerId: string): Promise<void>;

  /** Records that `tenant` may read blob `hash` (modules, uploaded inputs, outputs). */
  recordBlob(hash: string, tenant: string, kind: BlobKind, size: number, nowMs: number): Promise<void>;
  blobVisible(hash: string, tenant: string): Promise<boolean>;
  /** The bytes of every blob recorded for `tenant` (uploads and outputs; one blob once per kind). */
  storedBytes(tenant: string): Promise<number>;
  /** Whether any tenant uploaded this module or model (they are then public by hash). */
  isModule(hash: string): Promise<boolean>;
  /** Whether any tenant uploaded this ONNX model (`POST /v1/modules`, `application/onnx`). */
  isModel(hash: string): Promise<boolean>;
  /**
   * Blob GC, mark: the blob names (`sha256:<hex>`) named by any task's result or envelope, every
   * module and model, and every blob recorded at or after `sinceMs` (its task may not have committed yet).
   */
  blobsInUse(sinceMs: number): Promise<Set<string>>;
  /** Blob GC, sweep: drops the output and input records of these blobs (their files are gone). */
  forgetOutputBlobs(names: string[]): Promise<void>;
  /**
   * Retention: deletes up to `limit` finished tasks (succeeded, failed, cancelled) last changed
   * before `beforeMs`, with their attempts and audit rows; returns their uids. A workflow's step
   * tasks (those of the campaign named by its id) stay while its row does, since its view is derived
   * from them: first up to `limit` workflows that finished before `beforeMs` with no open task are
   * deleted, then their tasks go like any other. A workflow is shown whole or not at all (404).
   */
  purgeFinished(beforeMs: number, limit: number): Promise<number[]>;
  /** Durable trust state beside the tasks; without it the coordinator keeps trust in memory. */
  trustStore?(): TrustStore;
  /** The workflows table (WORKFLOWS.md). */
  workflowStore(): WorkflowStore;
  /** The API keys made through `POST /v1/keys` (key-store.ts). */
  keyStore(): KeyStore;
  /** The audit log's reads, worker fingerprints and replays (audit-store.ts). */
  auditStore(): AuditStore;
  /** Webhook deliveries of return_channel URLs, and their log (webhook-store.ts). */
  webhookStore(): WebhookStore;
}

/** What a blob is to the tenant that recorded it; modules and models are public by hash, the rest are not. */
export type BlobKind = 'module' | 'model' | 'input' | 'output';

export function emptyCounts(): Record<TaskState, number> {
  return { queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 };
}
