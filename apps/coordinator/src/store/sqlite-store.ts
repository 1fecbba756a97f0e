import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import type { SqliteSync } from '../config.ts';
import { SqliteTrustStore } from '../trust/sqlite-trust-store.ts';
import type { TrustStore } from '../trust/trust-store.ts';
import type { AuditStore } from './audit-store.ts';
import { insertOrRollBack } from './insert-conflict.ts';
import type { KeyStore } from './key-store.ts';
import { SqliteAuditStore } from './sqlite-audit.ts';
import { WalCheckpointer } from './sqlite-checkpointer.ts';
import { GroupCommit } from './sqlite-group-commit.ts';
import { prepareForgetOutputBlobs, preparePurge, sqliteBlobsInUse } from './sqlite-housekeeping.ts';
import { SqliteKeyStore } from './sqlite-keys.ts';
import { migrateSqlite, openSqlite } from './sqlite-schema.ts';
import { prepareStatements, type SqliteStatements, type TaskRow, toTask } from './sqlite-statements.ts';
import {
  cancelNow,
  completeBatch,
  completeOne,
  endAttemptNow,
  failQueuedNow,
  insertTasksNow,
  reopenNow,
  startLeasesNow,
} from './sqlite-transitions.ts';
import { SqliteWebhookStore } from './sqlite-webhooks.ts';
import { SqliteWorkflowStore } from './sqlite-workflows.ts';
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
import { tallyStates, toAttempt, toAudit, toWorker } from './store-rows.ts';
import type { WebhookStore } from './webhook-store.ts';
import type { WorkflowStore } from './workflow-store.ts';

/**
 * The default store: one SQLite file (`<dataDir>/flock.db`) in WAL mode through better-sqlite3.
 * better-sqlite3 is synchronous; the methods return settled promises so that the coordinator
 * code is the same for an asynchronous (PostgreSQL) store. Writes go through a group commit
 * (`GroupCommit`): one transaction per event-loop turn, acknowledged once committed.
 */
export class SqliteStore implements Store {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly stmts: SqliteStatements;
  private readonly group: GroupCommit;
  /** WAL checkpoints on a thread of their own, started once the WAL has grown (sqlite-checkpointer.ts). */
  private readonly checkpointer: WalCheckpointer;
  private trust: SqliteTrustStore | undefined;
  private workflows: SqliteWorkflowStore | undefined;
  private keys: SqliteKeyStore | undefined;
  private webhooks: SqliteWebhookStore | undefined;

  /** `warn`: where the store's warnings go (the coordinator's log; default console.warn). */
  constructor(dataDir: string, options: { sync?: SqliteSync; warn?: (message: string) => void } = {}) {
    mkdirSync(dataDir, { recursive: true });
    this.path = join(dataDir, 'flock.db');
    this.db = openSqlite(this.path, options.sync);
    this.stmts = prepareStatements(this.db);
    this.checkpointer = new WalCheckpointer(this.db, this.path, options.warn ? { warn: options.warn } : {});
    this.group = new GroupCommit(this.db, () => this.checkpointer.committed());
  }

  async migrate(): Promise<void> {
    migrateSqlite(this.db);
  }

  /** Trust state (reputations, standings, verifications) in tables of its own in the same file. */
  trustStore(): TrustStore {
    this.trust ??= new SqliteTrustStore(this.db);
    return this.trust;
  }

  /** The workflows table, written through the same group commit. */
  workflowStore(): WorkflowStore {
    this.workflows ??= new SqliteWorkflowStore(
      this.db,
      (fn) => this.write(fn),
      () => this.committed(),
    );
    return this.workflows;
  }

  /** The api_keys table, written through the same group commit. */
  keyStore(): KeyStore {
    this.keys ??= new SqliteKeyStore(
      this.db,
      (fn) => this.write(fn),
      () => this.committed(),
    );
    return this.keys;
  }

  /** The audit rows, worker fingerprints and replays, written through the same group commit. */
  auditStore(): AuditStore {
    this.audit ??= new SqliteAuditStore(
      this.db,
      (fn) => this.write(fn),
      () => this.committed(),
    );
    return this.audit;
  }

  private audit: SqliteAuditStore | undefined;

  /** The webhook_deliveries table, written through the same group commit. */
  webhookStore(): WebhookStore {
    this.webhooks ??= new SqliteWebhookStore(
      this.db,
      (fn) => this.write(fn),
      () => this.committed(),
    );
    return this.webhooks;
  }

  /** The checkpoint thread stops first; the connection's close then checkpoints and removes the WAL. */
  async close(): Promise<void> {
    this.group.commit();
    await this.checkpointer.close();
    this.group.commit();
    if (this.db.open) this.db.close();
  }

  flush(): void {
    this.group.commit();
  }

  private write<T>(fn: () => T): Promise<T> {
    return this.group.write(fn);
  }

  private committed(): Promise<void> | undefined {
    return this.group.committed();
  }

  async getMeta(key: string): Promise<string | undefined> {
    await this.committed();
    return this.stmts.getMeta.get(key)?.value;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.write(() => this.stmts.setMeta.run(key, value));
  }

  async insertTasks(tasks: NewTask[]): Promise<InsertOutcome[]> {
    return insertOrRollBack(() => this.write(() => insertTasksNow(this.stmts, tasks)));
  }

  async getTask(tenant: string, taskId: string): Promise<TaskRecord | undefined> {
    await this.committed();
    const row = this.stmts.byId.get(tenant, taskId);
    return row ? toTask(row) : undefined;
  }

  async getTaskByUid(uid: number): Promise<TaskRecord | undefined> {
    await this.committed();
    const row = this.stmts.byUid.get(uid);
    return row ? toTask(row) : undefined;
  }

  async listTasks(tenant: string, filter: TaskFilter): Promise<TaskRecord[]> {
    await this.committed();
    const where = ['tenant = ?', 'uid > ?'];
    const args: Array<string | number> = [tenant, filter.afterUid ?? 0];
    if (filter.state !== undefined) {
      where.push('state = ?');
      args.push(filter.state);
    }
    if (filter.campaignId !== undefined) {
      where.push('campaign_id = ?');
      args.push(filter.campaignId);
    }
    args.push(filter.limit);
    const rows = this.db
      .prepare<Array<string | number>, TaskRow>(
        `SELECT * FROM tasks WHERE ${where.join(' AND ')} ORDER BY uid LIMIT ?`,
      )
      .all(...args);
    return rows.map(toTask);
  }

  async countByState(tenant: string, campaignId: string | undefined): Promise<Record<TaskState, number>> {
    await this.committed();
    return tallyStates(
      campaignId === undefined
        ? this.stmts.countTenant.all(tenant)
        : this.stmts.countCampaign.all(tenant, campaignId),
    );
  }

  async openTasks(afterUid = 0, limit = Number.MAX_SAFE_INTEGER): Promise<TaskRecord[]> {
    await this.committed();
    return this.stmts.open.all(afterUid, limit).map(toTask);
  }

  async runningTasks(afterUid: number, limit: number): Promise<TaskRecord[]> {
    await this.committed();
    return this.stmts.running.all(afterUid, limit).map(toTask);
  }

  async stateCounts(): Promise<Record<TaskState, number>> {
    await this.committed();
    return tallyStates(this.stmts.stateCounts.all());
  }

  async startLeases(leases: NewLease[]): Promise<boolean[]> {
    return this.write(() => startLeasesNow(this.stmts, leases));
  }

  async completeTask(change: CompleteTask): Promise<boolean> {
    return this.write(() => completeOne(this.stmts, change));
  }

  async completeTasks(changes: CompleteTask[]): Promise<boolean[]> {
    return this.write(() => completeBatch(this.stmts, changes));
  }

  async endAttempt(change: EndAttempt): Promise<boolean> {
    return this.write(() => endAttemptNow(this.stmts, change));
  }

  async failQueued(taskUid: number, code: string, message: string, nowMs: number): Promise<boolean> {
    return this.write(() => failQueuedNow(this.stmts, taskUid, code, message, nowMs));
  }

  async reopenTask(taskUid: number, code: string, nowMs: number): Promise<TaskRecord | undefined> {
    return this.write(() => reopenNow(this.stmts, taskUid, code, nowMs));
  }

  async cancelTask(taskUid: number, reason: string, nowMs: number): Promise<TaskState | undefined> {
    return this.write(() => cancelNow(this.stmts, taskUid, reason, nowMs));
  }

  async setProgress(
    taskUid: number,
    leaseId: string,
    pct: number,
    metrics: Record<string, string>,
  ): Promise<void> {
    await this.write(() => this.stmts.setProgress.run(JSON.stringify({ pct, metrics }), taskUid, leaseId));
  }

  async getAttempt(leaseId: string): Promise<AttemptRecord | undefined> {
    await this.committed();
    const row = this.stmts.getAttempt.get(leaseId);
    return row ? toAttempt(row) : undefined;
  }

  async listAttempts(taskUid: number): Promise<AttemptRecord[]> {
    await this.committed();
    return this.stmts.listAttempts.all(taskUid).map(toAttempt);
  }

  async auditTrail(taskUid: number): Promise<AuditRecord[]> {
    await this.committed();
    return this.stmts.auditTrail.all(taskUid).map(toAudit);
  }

  async upsertWorker(worker: WorkerRecord): Promise<void> {
    await this.write(() => this.stmts.upsertWorker.run(worker));
  }

  async findWorkerBySession(sessionHash: string): Promise<WorkerRecord | undefined> {
    await this.committed();
    const row = this.stmts.workerBySession.get(sessionHash);
    return row ? toWorker(row) : undefined;
  }

  async countWorkerOutcome(workerId: string, succeeded: boolean): Promise<void> {
    await this.write(() => (succeeded ? this.stmts.workerSucceeded : this.stmts.workerFailed).run(workerId));
  }

  async forgetIdleWorker(workerId: string): Promise<void> {
    await this.write(() => this.stmts.forgetIdleWorker.run(workerId));
  }

  async recordBlob(hash: string, tenant: string, kind: BlobKind, size: number, nowMs: number): Promise<void> {
    await this.write(() => this.stmts.recordBlob.run(hash, tenant, kind, size, nowMs));
  }

  async blobVisible(hash: string, tenant: string): Promise<boolean> {
    await this.committed();
    return (this.stmts.blobVisible.get(hash, tenant)?.n ?? 0) > 0;
  }

  async storedBytes(tenant: string): Promise<number> {
    await this.committed();
    const row = this.db
      .prepare<[string], { n: number | null }>('SELECT SUM(size) AS n FROM blobs WHERE tenant = ?')
      .get(tenant);
    return row?.n ?? 0;
  }

  async isModule(hash: string): Promise<boolean> {
    await this.committed();
    return (this.stmts.isModule.get(hash)?.n ?? 0) > 0;
  }

  async isModel(hash: string): Promise<boolean> {
    await this.committed();
    return (this.stmts.isModel.get(hash)?.n ?? 0) > 0;
  }

  async blobsInUse(sinceMs: number): Promise<Set<string>> {
    await this.committed();
    return sqliteBlobsInUse(this.db, sinceMs);
  }

  async purgeFinished(beforeMs: number, limit: number): Promise<number[]> {
    const purge = preparePurge(this.db);
    return this.write(() => purge(beforeMs, limit));
  }

  async forgetOutputBlobs(names: string[]): Promise<void> {
    const forget = prepareForgetOutputBlobs(this.db);
    await this.write(() => forget(names));
  }
}
