import type pg from 'pg';
import { PgNotifier } from '../cluster/notify.ts';
import { CoordinatorError } from '../errors.ts';
import type { AuditStore } from './audit-store.ts';
import type { KeyStore } from './key-store.ts';
import { PgAuditStore } from './pg-audit.ts';
import { createPool, type PostgresStoreOptions } from './pg-connection.ts';
import * as ids from './pg-coordinator-ids.ts';
import { IdClaim, type IdHolder } from './pg-coordinator-ids.ts';
import * as housekeeping from './pg-housekeeping.ts';
import { PgKeyStore } from './pg-keys.ts';
import type { ClaimedTask, ClaimRequest, OrphanedLease } from './pg-leases.ts';
import * as leases from './pg-leases.ts';
import { migratePostgres, QUEUED_CHANNEL } from './pg-migrations.ts';
import * as records from './pg-records.ts';
import * as reads from './pg-task-reads.ts';
import * as writes from './pg-task-writes.ts';
import { PgWebhookStore } from './pg-webhooks.ts';
import { PgWorkflowStore } from './pg-workflows.ts';
import type {
  AttemptRecord,
  AuditRecord,
  BlobKind,
  CompleteTask,
  EndAttempt,
  InsertOutcome,
  NewLease,
  NewTask,
  Store,
  TaskFilter,
  TaskRecord,
  TaskState,
  WorkerRecord,
} from './store.ts';
import { storeUnavailable } from './store-unavailable.ts';
import type { WebhookStore } from './webhook-store.ts';
import type { WorkflowStore } from './workflow-store.ts';

export type { PostgresStoreOptions } from './pg-connection.ts';
export type { IdHolder } from './pg-coordinator-ids.ts';
export type { ClaimedTask, ClaimRequest, OrphanedLease } from './pg-leases.ts';

/**
 * The store for several coordinators: PostgreSQL through a `pg` pool. Same tables and the same
 * guarded transitions as `SqliteStore`, so fencing holds across processes: every change names
 * the state (and lease) it expects in its WHERE clause, and the row lock makes the first writer
 * win. Each transition is one statement (data-modifying CTEs) and so one round trip and one
 * implicit transaction. `claimQueued` hands out queued tasks with FOR UPDATE SKIP LOCKED, and
 * `notifier` carries LISTEN/NOTIFY wake-ups (`flock_task_queued` fires on every insert/requeue).
 * The statements live in files by role: pg-task-reads, pg-task-writes, pg-leases, pg-records
 * (attempts, audit, workers) and pg-housekeeping (blobs, purge).
 */
export class PostgresStore implements Store {
  readonly pool: pg.Pool;
  readonly notifier: PgNotifier;
  readonly coordinatorId: string | undefined;

  constructor(
    readonly url: string,
    options: PostgresStoreOptions = {},
  ) {
    if (!/^postgres(ql)?:\/\//.test(url)) {
      throw new CoordinatorError(
        'CONFIG_INVALID',
        'the PostgreSQL store needs a postgres:// URL',
        'FLOCK_STORE',
      );
    }
    const id = options.coordinatorId;
    if (id !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(id)) {
      throw new CoordinatorError(
        'CONFIG_INVALID',
        'coordinatorId must match [A-Za-z0-9_.-]{1,64}',
        'coordinatorId',
      );
    }
    this.coordinatorId = id;
    this.pool = createPool(url, options);
    this.notifier = new PgNotifier(url, this.pool, options.notifier);
  }

  async migrate(): Promise<void> {
    await migratePostgres(this.pool);
  }

  /** The workflows table (pg-workflows.ts). */
  workflowStore(): WorkflowStore {
    this.workflows ??= new PgWorkflowStore(this.pool);
    return this.workflows;
  }

  private workflows: PgWorkflowStore | undefined;

  /** The api_keys table (pg-keys.ts). */
  keyStore(): KeyStore {
    this.keys ??= new PgKeyStore(this.pool);
    return this.keys;
  }

  private keys: PgKeyStore | undefined;

  /** The audit rows, worker fingerprints and replays (pg-audit.ts). */
  auditStore(): AuditStore {
    this.audit ??= new PgAuditStore(this.pool);
    return this.audit;
  }

  private audit: PgAuditStore | undefined;

  /** The webhook_deliveries table (pg-webhooks.ts). */
  webhookStore(): WebhookStore {
    this.webhooks ??= new PgWebhookStore(this.pool);
    return this.webhooks;
  }

  private webhooks: PgWebhookStore | undefined;

  async close(): Promise<void> {
    await this.notifier.close();
    if (!this.pool.ended) await this.pool.end();
  }

  /** Calls `onQueued` (at most once per committing transaction) whenever tasks become queued. */
  onQueued(onQueued: () => void): Promise<() => Promise<void>> {
    return this.notifier.listen(QUEUED_CHANNEL, () => onQueued());
  }

  async getMeta(key: string): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ value: string }>('SELECT value FROM meta WHERE key = $1', [key]);
    return rows[0]?.value;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.pool.query(
      'INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      [key, value],
    );
  }

  /** Sets `key` unless it is set; returns the value stored (the first writer's, under races). */
  async initMeta(key: string, value: string): Promise<string> {
    await this.pool.query('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [
      key,
      value,
    ]);
    return (await this.getMeta(key)) ?? value;
  }

  insertTasks(tasks: NewTask[]): Promise<InsertOutcome[]> {
    return writes.insertTasks(this.pool, tasks);
  }

  getTask(tenant: string, taskId: string): Promise<TaskRecord | undefined> {
    return reads.getTask(this.pool, tenant, taskId);
  }

  getTaskByUid(uid: number): Promise<TaskRecord | undefined> {
    return reads.getTaskByUid(this.pool, uid);
  }

  listTasks(tenant: string, filter: TaskFilter): Promise<TaskRecord[]> {
    return reads.listTasks(this.pool, tenant, filter);
  }

  countByState(tenant: string, campaignId: string | undefined): Promise<Record<TaskState, number>> {
    return reads.countByState(this.pool, tenant, campaignId);
  }

  /** Queued and running tasks; with a `coordinatorId`, only the running tasks it leased. */
  openTasks(afterUid = 0, limit = Number.MAX_SAFE_INTEGER): Promise<TaskRecord[]> {
    return reads.openTasks(this.pool, this.coordinatorId, afterUid, limit);
  }

  runningTasks(afterUid: number, limit: number): Promise<TaskRecord[]> {
    return reads.openTasks(this.pool, this.coordinatorId, afterUid, limit, 'running');
  }

  /** Queued tasks last queued (inserted or requeued) at or after `sinceMs`, oldest first. */
  queuedSince(sinceMs: number): Promise<TaskRecord[]> {
    return reads.queuedSince(this.pool, sinceMs);
  }

  /** uid and queue time of tasks queued (inserted or requeued) in [fromMs, toMs]: a cheap scan. */
  queuedKeys(fromMs: number, toMs: number): Promise<Array<{ uid: number; updatedAtMs: number }>> {
    return reads.queuedKeys(this.pool, fromMs, toMs);
  }

  /** The tasks with these uids that are still queued, oldest first. */
  queuedByUid(uids: readonly number[]): Promise<TaskRecord[]> {
    return reads.queuedByUid(this.pool, uids);
  }

  /**
   * Claims `coordinatorId` for this process (pg-coordinator-ids.ts): undefined when it holds the
   * id now (it was free, or its holder's last beat is older than `aliveMs` on the server's clock),
   * else the live process that holds it.
   */
  claimId(nowMs: number, aliveMs: number): Promise<IdHolder | undefined> {
    return ids.claimId(this.pool, this.idClaim(), nowMs, aliveMs);
  }

  /**
   * Records that this coordinator is alive (needs `coordinatorId`). False when another process
   * has claimed the id since this one last beat: this one must stop.
   */
  async beat(nowMs: number): Promise<boolean> {
    let held: boolean;
    try {
      held = await ids.beat(this.pool, this.idClaim(), nowMs);
    } catch (err) {
      if (storeUnavailable(err)) this.reachable = false;
      throw err;
    }
    this.reachable = true;
    return held;
  }

  /** False from a beat that could not reach the server until one that does (`/healthz`). */
  reachable = true;

  /** Removes this coordinator from `coordinators`: its open leases become orphans at once. */
  async leave(): Promise<void> {
    await ids.leave(this.pool, this.idClaim());
  }

  private claim: IdClaim | undefined;

  private idClaim(): IdClaim {
    this.claim ??= new IdClaim(this.requireId());
    return this.claim;
  }

  /**
   * Current leases of running tasks granted by a coordinator that has not beaten for
   * `deadAfterMs` (or is unknown). Whoever finds them requeues them with `endAttempt`, which is
   * fenced, so two sweepers cannot requeue one lease twice.
   */
  orphanedLeases(nowMs: number, deadAfterMs: number, limit = 500): Promise<OrphanedLease[]> {
    return leases.orphanedLeases(this.pool, nowMs - deadAfterMs, limit);
  }

  private requireId(): string {
    if (this.coordinatorId === undefined) {
      throw new CoordinatorError(
        'CONFIG_INVALID',
        'this needs a PostgresStore with a coordinatorId',
        'coordinatorId',
      );
    }
    return this.coordinatorId;
  }

  stateCounts(): Promise<Record<TaskState, number>> {
    return reads.stateCounts(this.pool);
  }

  /** Starts the leases of one batch in one statement; a task named twice starts once. */
  startLeases(batch: NewLease[]): Promise<boolean[]> {
    return leases.startLeases(this.pool, batch);
  }

  /**
   * Claims up to `limit` claimable queued tasks (not_before passed) for one worker, highest
   * priority first, then earliest deadline, then oldest, and starts a lease on each (attempt row,
   * `accepted` audit row) in one statement. Rows that another coordinator is claiming at the same
   * moment are skipped (FOR UPDATE SKIP LOCKED), so concurrent claimers never wait on each other
   * and never get the same task.
   */
  claimQueued(req: ClaimRequest): Promise<ClaimedTask[]> {
    return leases.claimQueued(this.pool, req);
  }

  async completeTask(change: CompleteTask): Promise<boolean> {
    return (await this.completeTasks([change]))[0] === true;
  }

  /**
   * Group commit: every completion of the batch in one statement (one round trip, one commit),
   * each fenced by its lease; a success is counted for `workerId` when set.
   */
  completeTasks(changes: CompleteTask[]): Promise<boolean[]> {
    return leases.completeTasks(this.pool, changes);
  }

  endAttempt(change: EndAttempt): Promise<boolean> {
    return leases.endAttempt(this.pool, change);
  }

  reopenTask(taskUid: number, code: string, nowMs: number): Promise<TaskRecord | undefined> {
    return writes.reopenTask(this.pool, taskUid, code, nowMs);
  }

  failQueued(taskUid: number, code: string, message: string, nowMs: number): Promise<boolean> {
    return writes.failQueued(this.pool, taskUid, code, message, nowMs);
  }

  cancelTask(taskUid: number, reason: string, nowMs: number): Promise<TaskState | undefined> {
    return writes.cancelTask(this.pool, taskUid, reason, nowMs);
  }

  setProgress(taskUid: number, leaseId: string, pct: number, metrics: Record<string, string>): Promise<void> {
    return writes.setProgress(this.pool, taskUid, leaseId, pct, metrics);
  }

  getAttempt(leaseId: string): Promise<AttemptRecord | undefined> {
    return records.getAttempt(this.pool, leaseId);
  }

  listAttempts(taskUid: number): Promise<AttemptRecord[]> {
    return records.listAttempts(this.pool, taskUid);
  }

  auditTrail(taskUid: number): Promise<AuditRecord[]> {
    return records.auditTrail(this.pool, taskUid);
  }

  upsertWorker(worker: WorkerRecord): Promise<void> {
    return records.upsertWorker(this.pool, worker);
  }

  findWorkerBySession(sessionHash: string): Promise<WorkerRecord | undefined> {
    return records.findWorkerBySession(this.pool, sessionHash);
  }

  forgetIdleWorker(workerId: string): Promise<void> {
    return records.forgetIdleWorker(this.pool, workerId);
  }

  countWorkerOutcome(workerId: string, succeeded: boolean): Promise<void> {
    return records.countWorkerOutcome(this.pool, workerId, succeeded);
  }

  recordBlob(hash: string, tenant: string, kind: BlobKind, size: number, nowMs: number): Promise<void> {
    return housekeeping.recordBlob(this.pool, hash, tenant, kind, size, nowMs);
  }

  blobVisible(hash: string, tenant: string): Promise<boolean> {
    return housekeeping.blobVisible(this.pool, hash, tenant);
  }

  blobsInUse(sinceMs: number): Promise<Set<string>> {
    return housekeeping.blobsInUse(this.pool, sinceMs);
  }

  purgeFinished(beforeMs: number, limit: number): Promise<number[]> {
    return housekeeping.purgeFinished(this.pool, beforeMs, limit);
  }

  forgetOutputBlobs(names: string[]): Promise<void> {
    return housekeeping.forgetOutputBlobs(this.pool, names);
  }

  isModule(hash: string): Promise<boolean> {
    return housekeeping.isModule(this.pool, hash);
  }

  async storedBytes(tenant: string): Promise<number> {
    const { rows } = await this.pool.query<{ n: string | null }>(
      'SELECT SUM(size) AS n FROM blobs WHERE tenant = $1',
      [tenant],
    );
    return Number(rows[0]?.n ?? 0);
  }

  isModel(hash: string): Promise<boolean> {
    return housekeeping.isModel(this.pool, hash);
  }
}
