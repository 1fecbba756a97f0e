import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { SqliteSync } from '../config.ts';
import { SqliteTrustStore } from '../trust/sqlite-trust-store.ts';
import type { TrustStore } from '../trust/trust-store.ts';
import {
  type AttemptRecord,
  type AuditRecord,
  type BlobKind,
  type CompleteTask,
  type EndAttempt,
  emptyCounts,
  type InsertOutcome,
  type NewLease,
  type NewTask,
  type Store,
  type TaskFilter,
  type TaskRecord,
  type TaskState,
  type WorkerRecord,
} from './store.ts';
import {
  type AttemptRow,
  blobNamesIn,
  rowToTask,
  type TaskRow as SharedTaskRow,
  type TaskProgress,
  toAttempt,
} from './store-rows.ts';

/** Schema migrations, applied in order; `user_version` records how many ran. Only ever append. */
const MIGRATIONS: string[] = [
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE tasks (
     uid INTEGER PRIMARY KEY AUTOINCREMENT,
     tenant TEXT NOT NULL,
     task_id TEXT NOT NULL,
     campaign_id TEXT,
     op TEXT NOT NULL,
     module_kind TEXT NOT NULL,
     state TEXT NOT NULL,
     content_hash TEXT NOT NULL,
     envelope BLOB NOT NULL,
     priority INTEGER NOT NULL,
     deadline_at_ms INTEGER,
     max_retries INTEGER NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     failures INTEGER NOT NULL DEFAULT 0,
     not_before_ms INTEGER NOT NULL DEFAULT 0,
     created_at_ms INTEGER NOT NULL,
     updated_at_ms INTEGER NOT NULL,
     current_lease_id TEXT,
     progress TEXT,
     failure_code TEXT,
     failure_message TEXT,
     result BLOB,
     executor TEXT,
     duration_ms INTEGER,
     UNIQUE (tenant, task_id)
   );
   CREATE INDEX tasks_open ON tasks (state) WHERE state IN ('queued', 'running');
   CREATE INDEX tasks_tenant_state ON tasks (tenant, state, uid);
   CREATE INDEX tasks_tenant_campaign ON tasks (tenant, campaign_id, uid);
   CREATE TABLE attempts (
     lease_id TEXT PRIMARY KEY,
     task_uid INTEGER NOT NULL REFERENCES tasks (uid),
     attempt INTEGER NOT NULL,
     worker_id TEXT NOT NULL,
     started_at_ms INTEGER NOT NULL,
     expires_at_ms INTEGER NOT NULL,
     ended_at_ms INTEGER,
     outcome TEXT,
     code TEXT
   );
   CREATE INDEX attempts_task ON attempts (task_uid, attempt);
   CREATE TABLE audit (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     task_uid INTEGER NOT NULL,
     ts_ms INTEGER NOT NULL,
     from_state TEXT,
     to_state TEXT NOT NULL,
     topic TEXT NOT NULL,
     lease_id TEXT,
     worker_id TEXT,
     code TEXT
   );
   CREATE INDEX audit_task ON audit (task_uid, id);
   CREATE TABLE workers (
     worker_id TEXT PRIMARY KEY,
     session_hash TEXT NOT NULL UNIQUE,
     created_at_ms INTEGER NOT NULL,
     last_seen_ms INTEGER NOT NULL,
     tasks_succeeded INTEGER NOT NULL DEFAULT 0,
     tasks_failed INTEGER NOT NULL DEFAULT 0
   );
   CREATE TABLE blobs (
     hash TEXT NOT NULL,
     tenant TEXT NOT NULL,
     kind TEXT NOT NULL,
     size INTEGER NOT NULL,
     created_at_ms INTEGER NOT NULL,
     PRIMARY KEY (hash, tenant, kind)
   );`,
  // Listing by tenant walks (tenant, uid) and filters state: an index on state would be
  // rewritten on every transition, which is the hot path.
  `DROP INDEX tasks_tenant_state;
   CREATE INDEX tasks_tenant_uid ON tasks (tenant, uid);`,
];

const TOPIC = {
  requested: 'compute:dispatch:v1:requested',
  accepted: 'compute:dispatch:v1:accepted',
  success: 'compute:dispatch:v1:success',
  failed: 'compute:dispatch:v1:failed',
  cancelled: 'compute:dispatch:v1:cancelled',
} as const;

type TaskRow = SharedTaskRow<string>;

/** Progress is stored as JSON text in SQLite. */
const toTask = (row: TaskRow): TaskRecord => rowToTask(row, (text) => JSON.parse(text) as TaskProgress);

/** The record of a task just inserted (what a read-back would return). */
function newRecord(uid: number, task: NewTask): TaskRecord {
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

/**
 * The default store: one SQLite file (`<dataDir>/flock.db`) in WAL mode through better-sqlite3.
 * better-sqlite3 is synchronous; the methods return settled promises so that the coordinator
 * code is the same for an asynchronous (PostgreSQL) store.
 */
export class SqliteStore implements Store {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly stmts: ReturnType<SqliteStore['prepare']>;
  private txOpen = false;
  private readonly waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];

  constructor(dataDir: string, options: { sync?: SqliteSync } = {}) {
    mkdirSync(dataDir, { recursive: true });
    this.path = join(dataDir, 'flock.db');
    this.db = new Database(this.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.sync ?? 'NORMAL'}`);
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    // Keep the hot pages (open tasks, indexes) in memory; reads of older rows map the file.
    this.db.pragma('cache_size = -65536');
    this.db.pragma('mmap_size = 268435456');
    this.db.pragma('temp_store = MEMORY');
    this.migrateSync();
    this.stmts = this.prepare();
  }

  private migrateSync(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    for (let i = version; i < MIGRATIONS.length; i++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[i]!);
        this.db.pragma(`user_version = ${i + 1}`);
      })();
    }
  }

  private prepare() {
    const db = this.db;
    return {
      getMeta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ),
      byId: db.prepare<[string, string], TaskRow>('SELECT * FROM tasks WHERE tenant = ? AND task_id = ?'),
      byUid: db.prepare<[number], TaskRow>('SELECT * FROM tasks WHERE uid = ?'),
      insertTask: db.prepare(
        `INSERT INTO tasks (tenant, task_id, campaign_id, op, module_kind, state, content_hash, envelope, priority,
           deadline_at_ms, max_retries, created_at_ms, updated_at_ms)
         VALUES (@tenant, @taskId, @campaignId, @op, @moduleKind, 'queued', @contentHash, @envelope, @priority,
           @deadlineAtMs, @maxRetries, @createdAtMs, @createdAtMs)
         ON CONFLICT (tenant, task_id) DO NOTHING`,
      ),
      audit: db.prepare(
        `INSERT INTO audit (task_uid, ts_ms, from_state, to_state, topic, lease_id, worker_id, code)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      open: db.prepare<[], TaskRow>("SELECT * FROM tasks WHERE state IN ('queued', 'running') ORDER BY uid"),
      stateCounts: db.prepare<[], { state: TaskState; n: number }>(
        'SELECT state, COUNT(*) AS n FROM tasks GROUP BY state',
      ),
      countTenant: db.prepare<[string], { state: TaskState; n: number }>(
        'SELECT state, COUNT(*) AS n FROM tasks WHERE tenant = ? GROUP BY state',
      ),
      countCampaign: db.prepare<[string, string], { state: TaskState; n: number }>(
        'SELECT state, COUNT(*) AS n FROM tasks WHERE tenant = ? AND campaign_id = ? GROUP BY state',
      ),
      // The hot statements bind positionally (cheaper than named parameters).
      startLease: db.prepare<[string, number, number]>(
        `UPDATE tasks SET state = 'running', attempts = attempts + 1, current_lease_id = ?,
           updated_at_ms = ?, progress = NULL
         WHERE uid = ? AND state = 'queued'`,
      ),
      insertAttempt: db.prepare<[string, number, number, string, number, number]>(
        `INSERT INTO attempts (lease_id, task_uid, attempt, worker_id, started_at_ms, expires_at_ms)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      complete: db.prepare<[Buffer, string | null, number | null, number, number, string]>(
        `UPDATE tasks SET state = 'succeeded', result = ?, executor = ?, duration_ms = ?,
           current_lease_id = NULL, updated_at_ms = ?, failure_code = NULL, failure_message = NULL
         WHERE uid = ? AND state = 'running' AND current_lease_id = ?`,
      ),
      workerSucceededBy: db.prepare<[number, string]>(
        'UPDATE workers SET tasks_succeeded = tasks_succeeded + ? WHERE worker_id = ?',
      ),
      endAttemptRow: db.prepare(
        'UPDATE attempts SET ended_at_ms = ?, outcome = ?, code = ? WHERE lease_id = ? AND ended_at_ms IS NULL',
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
      setProgress: db.prepare(
        "UPDATE tasks SET progress = ? WHERE uid = ? AND state = 'running' AND current_lease_id = ?",
      ),
      getAttempt: db.prepare<[string], AttemptRow>('SELECT * FROM attempts WHERE lease_id = ?'),
      listAttempts: db.prepare<[number], AttemptRow>(
        'SELECT * FROM attempts WHERE task_uid = ? ORDER BY attempt',
      ),
      auditTrail: db.prepare<[number], Record<string, unknown>>(
        'SELECT * FROM audit WHERE task_uid = ? ORDER BY id',
      ),
      upsertWorker: db.prepare(
        `INSERT INTO workers (worker_id, session_hash, created_at_ms, last_seen_ms, tasks_succeeded, tasks_failed)
         VALUES (@workerId, @sessionHash, @createdAtMs, @lastSeenMs, @tasksSucceeded, @tasksFailed)
         ON CONFLICT (worker_id) DO UPDATE SET last_seen_ms = excluded.last_seen_ms`,
      ),
      workerBySession: db.prepare<[string], Record<string, number | string>>(
        'SELECT * FROM workers WHERE session_hash = ?',
      ),
      workerSucceeded: db.prepare(
        'UPDATE workers SET tasks_succeeded = tasks_succeeded + 1 WHERE worker_id = ?',
      ),
      workerFailed: db.prepare('UPDATE workers SET tasks_failed = tasks_failed + 1 WHERE worker_id = ?'),
      forgetIdleWorker: db.prepare(
        'DELETE FROM workers WHERE worker_id = ? AND tasks_succeeded = 0 AND tasks_failed = 0',
      ),
      recordBlob: db.prepare(
        'INSERT OR IGNORE INTO blobs (hash, tenant, kind, size, created_at_ms) VALUES (?, ?, ?, ?, ?)',
      ),
      blobVisible: db.prepare<[string, string], { n: number }>(
        'SELECT COUNT(*) AS n FROM blobs WHERE hash = ? AND tenant = ?',
      ),
      isModule: db.prepare<[string], { n: number }>(
        "SELECT COUNT(*) AS n FROM blobs WHERE hash = ? AND kind = 'module'",
      ),
    };
  }

  async migrate(): Promise<void> {
    this.migrateSync();
  }

  private trust: SqliteTrustStore | undefined;

  /** Trust state (reputations, standings, verifications) in tables of its own in the same file. */
  trustStore(): TrustStore {
    this.trust ??= new SqliteTrustStore(this.db);
    return this.trust;
  }

  async close(): Promise<void> {
    if (this.txOpen) this.commit();
    if (this.db.open) this.db.close();
  }

  /**
   * Runs a write inside the transaction of the current event-loop turn (group commit): the first
   * write opens it, a setImmediate commits it, and every write's promise settles only after that
   * COMMIT, so nothing is acknowledged before it is durable. Each write is a savepoint: one that
   * throws rolls back alone.
   */
  private write<T>(fn: () => T): Promise<T> {
    if (!this.txOpen) {
      this.db.exec('BEGIN IMMEDIATE');
      this.txOpen = true;
      setImmediate(() => this.commit());
    }
    let value: T;
    try {
      value = this.db.transaction(fn)();
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<T>((resolve, reject) => {
      this.waiters.push({ resolve: () => resolve(value), reject });
    });
  }

  /** Reads wait for the open group commit: nothing uncommitted is ever shown or acted on. */
  private committed(): Promise<void> | undefined {
    if (!this.txOpen) return undefined;
    return new Promise<void>((resolve) => this.waiters.push({ resolve, reject: () => resolve() }));
  }

  private commit(): void {
    if (!this.txOpen) return;
    this.txOpen = false;
    const waiters = this.waiters.splice(0);
    try {
      this.db.exec('COMMIT');
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      for (const w of waiters) w.reject(err);
      return;
    }
    for (const w of waiters) w.resolve();
  }

  async getMeta(key: string): Promise<string | undefined> {
    await this.committed();
    return this.stmts.getMeta.get(key)?.value;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.write(() => this.stmts.setMeta.run(key, value));
  }

  async insertTasks(tasks: NewTask[]): Promise<InsertOutcome[]> {
    const run = this.db.transaction((items: NewTask[]): InsertOutcome[] => {
      const out: InsertOutcome[] = [];
      for (const task of items) {
        // New ids are the common case: insert first, look the row up only on a conflict.
        const info = this.stmts.insertTask.run({
          ...task,
          campaignId: task.campaignId ?? null,
          deadlineAtMs: task.deadlineAtMs ?? null,
          envelope: Buffer.from(task.envelope.buffer, task.envelope.byteOffset, task.envelope.byteLength),
        });
        if (info.changes === 0) {
          const existing = this.stmts.byId.get(task.tenant, task.taskId)!;
          out.push(
            existing.content_hash === task.contentHash
              ? { kind: 'existing', task: toTask(existing) }
              : { kind: 'conflict', taskId: task.taskId },
          );
          continue;
        }
        const uid = Number(info.lastInsertRowid);
        this.stmts.audit.run(uid, task.createdAtMs, null, 'queued', TOPIC.requested, null, null, null);
        out.push({ kind: 'created', task: newRecord(uid, task) });
      }
      if (out.some((o) => o.kind === 'conflict')) throw new ConflictRollback(out);
      return out;
    });
    try {
      return await this.write(() => run(tasks));
    } catch (err) {
      if (err instanceof ConflictRollback) {
        // The transaction rolled back: what it had created is reported as skipped.
        return err.outcomes.map((o) =>
          o.kind === 'created' ? { kind: 'skipped', taskId: o.task.taskId } : o,
        );
      }
      throw err;
    }
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
    const rows =
      campaignId === undefined
        ? this.stmts.countTenant.all(tenant)
        : this.stmts.countCampaign.all(tenant, campaignId);
    const counts = emptyCounts();
    for (const row of rows) counts[row.state] = row.n;
    return counts;
  }

  async openTasks(): Promise<TaskRecord[]> {
    await this.committed();
    return this.stmts.open.all().map(toTask);
  }

  async stateCounts(): Promise<Record<TaskState, number>> {
    await this.committed();
    const counts = emptyCounts();
    for (const row of this.stmts.stateCounts.all()) counts[row.state] = row.n;
    return counts;
  }

  async startLeases(leases: NewLease[]): Promise<boolean[]> {
    return this.write(() => this.startLeasesNow(leases));
  }

  private startLeasesNow(leases: NewLease[]): boolean[] {
    return this.db.transaction((items: NewLease[]) =>
      items.map((lease) => {
        if (this.stmts.startLease.run(lease.leaseId, lease.startedAtMs, lease.taskUid).changes !== 1)
          return false;
        this.stmts.insertAttempt.run(
          lease.leaseId,
          lease.taskUid,
          lease.attempt,
          lease.workerId,
          lease.startedAtMs,
          lease.expiresAtMs,
        );
        this.stmts.audit.run(
          lease.taskUid,
          lease.startedAtMs,
          'queued',
          'running',
          TOPIC.accepted,
          lease.leaseId,
          lease.workerId,
          null,
        );
        return true;
      }),
    )(leases);
  }

  async completeTask(change: CompleteTask): Promise<boolean> {
    return this.write(() => this.completeOne(change));
  }

  async completeTasks(changes: CompleteTask[]): Promise<boolean[]> {
    return this.write(() => {
      // Worker success counters: one UPDATE per worker per batch, not one per result.
      const successes = new Map<string, number>();
      const done = changes.map((c) => this.completeOne(c, successes));
      for (const [workerId, n] of successes) this.stmts.workerSucceededBy.run(n, workerId);
      return done;
    });
  }

  /** One completion, inside the caller's transaction (no savepoint per item). */
  private completeOne(c: CompleteTask, successes?: Map<string, number>): boolean {
    const done = this.stmts.complete.run(
      Buffer.from(c.result.buffer, c.result.byteOffset, c.result.byteLength),
      c.executor ?? null,
      c.durationMs ?? null,
      c.nowMs,
      c.taskUid,
      c.leaseId,
    );
    if (done.changes !== 1) return false;
    this.stmts.endAttemptRow.run(c.nowMs, 'succeeded', null, c.leaseId);
    const worker = c.workerId ?? this.stmts.getAttempt.get(c.leaseId)?.worker_id ?? null;
    this.stmts.audit.run(c.taskUid, c.nowMs, 'running', 'succeeded', TOPIC.success, c.leaseId, worker, null);
    if (c.workerId !== undefined) {
      if (successes) successes.set(c.workerId, (successes.get(c.workerId) ?? 0) + 1);
      else this.stmts.workerSucceeded.run(c.workerId);
    }
    return true;
  }

  async endAttempt(change: EndAttempt): Promise<boolean> {
    return this.write(() => this.endAttemptNow(change));
  }

  private endAttemptNow(change: EndAttempt): boolean {
    return this.db.transaction((c: EndAttempt) => {
      const params = {
        taskUid: c.taskUid,
        leaseId: c.leaseId,
        nowMs: c.nowMs,
        failureInc: c.countsAsFailure ? 1 : 0,
        requeueAtMs: c.requeueAtMs ?? 0,
        code: c.taskCode ?? c.code ?? null,
        message: c.taskMessage ?? c.message ?? null,
      };
      const changed =
        c.requeueAtMs !== undefined ? this.stmts.requeue.run(params) : this.stmts.failRunning.run(params);
      if (changed.changes !== 1) return false;
      this.stmts.endAttemptRow.run(c.nowMs, c.outcome, c.code ?? null, c.leaseId);
      const worker = this.stmts.getAttempt.get(c.leaseId)?.worker_id ?? null;
      const to: TaskState = c.requeueAtMs !== undefined ? 'queued' : 'failed';
      const topic = to === 'failed' ? TOPIC.failed : TOPIC.requested;
      this.stmts.audit.run(c.taskUid, c.nowMs, 'running', to, topic, c.leaseId, worker, params.code);
      return true;
    })(change);
  }

  async failQueued(taskUid: number, code: string, message: string, nowMs: number): Promise<boolean> {
    return this.write(() => {
      if (this.stmts.failQueued.run(code, message, nowMs, taskUid).changes !== 1) return false;
      this.stmts.audit.run(taskUid, nowMs, 'queued', 'failed', TOPIC.failed, null, null, code);
      return true;
    });
  }

  async reopenTask(taskUid: number, code: string, nowMs: number): Promise<TaskRecord | undefined> {
    return this.write(() => {
      if (this.stmts.reopen.run(nowMs, nowMs, taskUid).changes !== 1) return undefined;
      this.stmts.audit.run(taskUid, nowMs, 'succeeded', 'queued', TOPIC.requested, null, null, code);
      return toTask(this.stmts.byUid.get(taskUid)!);
    });
  }

  async cancelTask(taskUid: number, reason: string, nowMs: number): Promise<TaskState | undefined> {
    return this.write((): TaskState | undefined => {
      const row = this.stmts.byUid.get(taskUid);
      if (!row || (row.state !== 'queued' && row.state !== 'running')) return undefined;
      this.stmts.cancel.run(reason, nowMs, taskUid);
      if (row.current_lease_id !== null) {
        this.stmts.endAttemptRow.run(nowMs, 'cancelled', 'CANCELLED', row.current_lease_id);
      }
      this.stmts.audit.run(
        taskUid,
        nowMs,
        row.state,
        'cancelled',
        TOPIC.cancelled,
        row.current_lease_id,
        null,
        null,
      );
      return row.state;
    });
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
    return this.stmts.auditTrail.all(taskUid).map((row) => ({
      taskUid: row.task_uid as number,
      tsMs: row.ts_ms as number,
      fromState: (row.from_state ?? undefined) as TaskState | undefined,
      toState: row.to_state as TaskState,
      topic: row.topic as string,
      leaseId: (row.lease_id ?? undefined) as string | undefined,
      workerId: (row.worker_id ?? undefined) as string | undefined,
      code: (row.code ?? undefined) as string | undefined,
    }));
  }

  async upsertWorker(worker: WorkerRecord): Promise<void> {
    await this.write(() => this.stmts.upsertWorker.run(worker));
  }

  async findWorkerBySession(sessionHash: string): Promise<WorkerRecord | undefined> {
    await this.committed();
    const row = this.stmts.workerBySession.get(sessionHash);
    if (!row) return undefined;
    return {
      workerId: row.worker_id as string,
      sessionHash: row.session_hash as string,
      createdAtMs: row.created_at_ms as number,
      lastSeenMs: row.last_seen_ms as number,
      tasksSucceeded: row.tasks_succeeded as number,
      tasksFailed: row.tasks_failed as number,
    };
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

  async isModule(hash: string): Promise<boolean> {
    await this.committed();
    return (this.stmts.isModule.get(hash)?.n ?? 0) > 0;
  }

  async blobsInUse(sinceMs: number): Promise<Set<string>> {
    await this.committed();
    const names = new Set<string>();
    const rows = this.db
      .prepare<[], { body: Buffer }>(
        `SELECT result AS body FROM tasks WHERE result IS NOT NULL AND instr(result, 'sha256:') > 0
         UNION ALL SELECT envelope FROM tasks WHERE instr(envelope, 'sha256:') > 0`,
      )
      .iterate();
    for (const row of rows) for (const name of blobNamesIn(row.body)) names.add(name);
    const kept = this.db.prepare<[number], { hash: string }>(
      "SELECT DISTINCT hash FROM blobs WHERE kind = 'module' OR created_at_ms >= ?",
    );
    for (const row of kept.iterate(sinceMs)) names.add(row.hash);
    return names;
  }

  async purgeFinished(beforeMs: number, limit: number): Promise<number[]> {
    const pick = this.db.prepare<[number, number], { uid: number }>(
      `SELECT uid FROM tasks WHERE state IN ('succeeded', 'failed', 'cancelled') AND updated_at_ms < ?
       ORDER BY uid LIMIT ?`,
    );
    const dropAttempts = this.db.prepare('DELETE FROM attempts WHERE task_uid = ?');
    const dropAudit = this.db.prepare('DELETE FROM audit WHERE task_uid = ?');
    const dropTask = this.db.prepare(
      "DELETE FROM tasks WHERE uid = ? AND state IN ('succeeded', 'failed', 'cancelled')",
    );
    return this.write(() => {
      const uids = pick.all(beforeMs, limit).map((r) => r.uid);
      for (const uid of uids) {
        dropAttempts.run(uid);
        dropAudit.run(uid);
        dropTask.run(uid);
      }
      return uids;
    });
  }

  async forgetOutputBlobs(names: string[]): Promise<void> {
    const drop = this.db.prepare("DELETE FROM blobs WHERE hash = ? AND kind <> 'module'");
    await this.write(() => {
      for (const name of names) drop.run(name);
    });
  }
}

class ConflictRollback extends Error {
  constructor(readonly outcomes: InsertOutcome[]) {
    super('conflict');
  }
}
