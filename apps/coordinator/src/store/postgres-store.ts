import pg from 'pg';
import { PgNotifier, type PgNotifierOptions } from '../cluster/notify.ts';
import { CoordinatorError } from '../errors.ts';
import { migratePostgres, QUEUED_CHANNEL } from './pg-migrations.ts';
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

const TOPIC = {
  requested: 'compute:dispatch:v1:requested',
  accepted: 'compute:dispatch:v1:accepted',
  success: 'compute:dispatch:v1:success',
  failed: 'compute:dispatch:v1:failed',
  cancelled: 'compute:dispatch:v1:cancelled',
} as const;

export interface PostgresStoreOptions {
  /** Connections in the pool. Default 10. */
  maxConnections?: number;
  /** `application_name` the server shows in pg_stat_activity. Default `flock-coordinator`. */
  applicationName?: string;
  /** Passed to the LISTEN connection of `notifier`. */
  notifier?: PgNotifierOptions;
  /**
   * This coordinator's id when several share the database ([A-Za-z0-9_.-], up to 64). Attempts
   * record it; `openTasks` then returns queued tasks and only this coordinator's running ones.
   * Unset: one coordinator owns everything (as with SQLite).
   */
  coordinatorId?: string;
  /**
   * PostgreSQL `synchronous_commit` for this pool. `on` (default): a commit returns once its WAL
   * is on disk. `off`: once it is in the server's memory; a coordinator crash loses nothing, a
   * database server crash may lose the last few hundred milliseconds of commits (never corrupts).
   */
  synchronousCommit?: 'on' | 'off';
}

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

interface AuditRow {
  task_uid: number;
  ts_ms: number;
  from_state: TaskState | null;
  to_state: TaskState;
  topic: string;
  lease_id: string | null;
  worker_id: string | null;
  code: string | null;
}

interface WorkerRow {
  worker_id: string;
  session_hash: string;
  created_at_ms: number;
  last_seen_ms: number;
  tasks_succeeded: number;
  tasks_failed: number;
}

/**
 * Splits the URL's own `options` (server settings) off, so that settings can be added to them:
 * pg lets parameters in the connection string override the config object's.
 */
function splitOptions(url: string): { connectionString: string; options: string | undefined } {
  const u = new URL(url);
  const options = u.searchParams.get('options') ?? undefined;
  u.searchParams.delete('options');
  return { connectionString: u.toString(), options };
}

type TaskRow = SharedTaskRow<TaskProgress>;

/** pg parses the jsonb progress column itself. */
const toTask = (row: TaskRow): TaskRecord => rowToTask(row, (progress) => progress);

const buf = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

// BIGINT (uids, millisecond times, counts) as JS numbers: every value Flock stores is far below
// 2^53. Set per pool, so other users of `pg` in the process keep the default (string).
const INT8_AS_NUMBER: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8
      ? (text: string) => Number(text)
      : pg.types.getTypeParser(oid, format ?? 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

/**
 * The store for several coordinators: PostgreSQL through a `pg` pool. Same tables and the same
 * guarded transitions as `SqliteStore`, so fencing holds across processes: every change names
 * the state (and lease) it expects in its WHERE clause, and the row lock makes the first writer
 * win. Each transition is one statement (data-modifying CTEs) and so one round trip and one
 * implicit transaction. `claimQueued` hands out queued tasks with FOR UPDATE SKIP LOCKED, and
 * `notifier` carries LISTEN/NOTIFY wake-ups (`flock_task_queued` fires on every insert/requeue).
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
    const parts = splitOptions(url);
    // flock.coordinator_id is read by the DEFAULT of attempts.coordinator_id (migration 3).
    const settings = [
      parts.options,
      id !== undefined ? `-c flock.coordinator_id=${id}` : undefined,
      options.synchronousCommit !== undefined
        ? `-c synchronous_commit=${options.synchronousCommit}`
        : undefined,
    ]
      .filter((o) => o !== undefined)
      .join(' ');
    this.pool = new pg.Pool({
      connectionString: parts.connectionString,
      max: options.maxConnections ?? 10,
      application_name: options.applicationName ?? 'flock-coordinator',
      types: INT8_AS_NUMBER,
      ...(settings !== '' ? { options: settings } : {}),
    });
    // An idle client that loses its server emits here; the pool drops it and the next query
    // connects afresh. Without a listener the process would crash.
    this.pool.on('error', () => undefined);
    this.notifier = new PgNotifier(url, this.pool, options.notifier);
  }

  async migrate(): Promise<void> {
    await migratePostgres(this.pool);
  }

  async close(): Promise<void> {
    await this.notifier.close();
    if (!this.pool.ended) await this.pool.end();
  }

  /** Calls `onQueued` (at most once per committing transaction) whenever tasks become queued. */
  onQueued(onQueued: () => void): Promise<() => Promise<void>> {
    return this.notifier.listen(QUEUED_CHANNEL, () => onQueued());
  }

  private async tx<T>(body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const out = await body(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
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

  async insertTasks(tasks: NewTask[]): Promise<InsertOutcome[]> {
    const key = (tenant: string, taskId: string): string => JSON.stringify([tenant, taskId]);
    const outcomes = await this.tx(async (client) => {
      // One statement for the whole batch (arrays unnested in input order, so uids follow it).
      // ON CONFLICT DO NOTHING waits for a concurrent insert of the same id to commit, so two
      // coordinators given the same task agree on one row.
      const inserted = await client.query<TaskRow>(
        `WITH input AS (
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
             $7::bytea[], $8::int[], $9::bigint[], $10::int[], $11::bigint[]) WITH ORDINALITY
             AS i (tenant, task_id, campaign_id, op, module_kind, content_hash, envelope, priority,
               deadline_at_ms, max_retries, created_at_ms, ord)
         ), t AS (
           INSERT INTO tasks (tenant, task_id, campaign_id, op, module_kind, state, content_hash, envelope,
             priority, deadline_at_ms, max_retries, created_at_ms, updated_at_ms)
           SELECT tenant, task_id, campaign_id, op, module_kind, 'queued', content_hash, envelope, priority,
             deadline_at_ms, max_retries, created_at_ms, created_at_ms
           FROM input ORDER BY ord
           ON CONFLICT (tenant, task_id) DO NOTHING
           RETURNING *
         ), a AS (
           INSERT INTO audit (task_uid, ts_ms, to_state, topic) SELECT uid, created_at_ms, 'queued', $12 FROM t
         )
         SELECT * FROM t ORDER BY uid`,
        [
          tasks.map((t) => t.tenant),
          tasks.map((t) => t.taskId),
          tasks.map((t) => t.campaignId ?? null),
          tasks.map((t) => t.op),
          tasks.map((t) => t.moduleKind),
          tasks.map((t) => t.contentHash),
          tasks.map((t) => buf(t.envelope)),
          tasks.map((t) => t.priority),
          tasks.map((t) => t.deadlineAtMs ?? null),
          tasks.map((t) => t.maxRetries),
          tasks.map((t) => t.createdAtMs),
          TOPIC.requested,
        ],
      );
      const created = new Map(inserted.rows.map((row) => [key(row.tenant, row.task_id), row]));
      // Ids that were there before (or twice in this batch): compare with the stored row.
      const others = tasks.filter((t) => !created.has(key(t.tenant, t.taskId)));
      const existing = new Map<string, TaskRow>();
      if (others.length > 0) {
        const found = await client.query<TaskRow>(
          `SELECT t.* FROM tasks t JOIN unnest($1::text[], $2::text[]) AS k (tenant, task_id)
             ON t.tenant = k.tenant AND t.task_id = k.task_id`,
          [others.map((t) => t.tenant), others.map((t) => t.taskId)],
        );
        for (const row of found.rows) existing.set(key(row.tenant, row.task_id), row);
      }
      const out: InsertOutcome[] = [];
      for (const task of tasks) {
        const k = key(task.tenant, task.taskId);
        const row = created.get(k);
        if (row !== undefined) {
          out.push({ kind: 'created', task: toTask(row) });
          // A second copy of this id later in the batch is compared with this row.
          created.delete(k);
          existing.set(k, row);
          continue;
        }
        const found = existing.get(k);
        if (found === undefined || found.content_hash !== task.contentHash) {
          out.push({ kind: 'conflict', taskId: task.taskId });
        } else {
          out.push({ kind: 'existing', task: toTask(found) });
        }
      }
      if (out.some((o) => o.kind === 'conflict')) throw new ConflictRollback(out);
      return out;
    }).catch((err: unknown) => {
      if (err instanceof ConflictRollback) return err.outcomes;
      throw err;
    });
    // After a rollback what had been created was not: report it as skipped.
    if (!outcomes.some((o) => o.kind === 'conflict')) return outcomes;
    return outcomes.map((o) => (o.kind === 'created' ? { kind: 'skipped', taskId: o.task.taskId } : o));
  }

  async getTask(tenant: string, taskId: string): Promise<TaskRecord | undefined> {
    const { rows } = await this.pool.query<TaskRow>(
      'SELECT * FROM tasks WHERE tenant = $1 AND task_id = $2',
      [tenant, taskId],
    );
    return rows[0] ? toTask(rows[0]) : undefined;
  }

  async getTaskByUid(uid: number): Promise<TaskRecord | undefined> {
    const { rows } = await this.pool.query<TaskRow>('SELECT * FROM tasks WHERE uid = $1', [uid]);
    return rows[0] ? toTask(rows[0]) : undefined;
  }

  async listTasks(tenant: string, filter: TaskFilter): Promise<TaskRecord[]> {
    const args: Array<string | number> = [tenant, filter.afterUid ?? 0];
    const where = ['tenant = $1', 'uid > $2'];
    if (filter.state !== undefined) {
      args.push(filter.state);
      where.push(`state = $${args.length}`);
    }
    if (filter.campaignId !== undefined) {
      args.push(filter.campaignId);
      where.push(`campaign_id = $${args.length}`);
    }
    args.push(filter.limit);
    const { rows } = await this.pool.query<TaskRow>(
      `SELECT * FROM tasks WHERE ${where.join(' AND ')} ORDER BY uid LIMIT $${args.length}`,
      args,
    );
    return rows.map(toTask);
  }

  async countByState(tenant: string, campaignId: string | undefined): Promise<Record<TaskState, number>> {
    const { rows } =
      campaignId === undefined
        ? await this.pool.query<{ state: TaskState; n: number }>(
            'SELECT state, COUNT(*) AS n FROM tasks WHERE tenant = $1 GROUP BY state',
            [tenant],
          )
        : await this.pool.query<{ state: TaskState; n: number }>(
            'SELECT state, COUNT(*) AS n FROM tasks WHERE tenant = $1 AND campaign_id = $2 GROUP BY state',
            [tenant, campaignId],
          );
    const counts = emptyCounts();
    for (const row of rows) counts[row.state] = row.n;
    return counts;
  }

  async openTasks(): Promise<TaskRecord[]> {
    if (this.coordinatorId === undefined) {
      const { rows } = await this.pool.query<TaskRow>(
        "SELECT * FROM tasks WHERE state IN ('queued', 'running') ORDER BY uid",
      );
      return rows.map(toTask);
    }
    // Running tasks of other coordinators are theirs (or, once they stop beating, swept back
    // to the queue by `orphanedLeases`), never taken over by a starting coordinator.
    const { rows } = await this.pool.query<TaskRow>(
      `SELECT * FROM tasks WHERE state = 'queued'
         OR (state = 'running' AND EXISTS (
           SELECT 1 FROM attempts a WHERE a.lease_id = tasks.current_lease_id AND a.coordinator_id = $1))
       ORDER BY uid`,
      [this.coordinatorId],
    );
    return rows.map(toTask);
  }

  /** Queued tasks last queued (inserted or requeued) at or after `sinceMs`, oldest first. */
  async queuedSince(sinceMs: number): Promise<TaskRecord[]> {
    const { rows } = await this.pool.query<TaskRow>(
      "SELECT * FROM tasks WHERE state = 'queued' AND updated_at_ms >= $1 ORDER BY uid",
      [sinceMs],
    );
    return rows.map(toTask);
  }

  /** uid and queue time of tasks queued (inserted or requeued) in [fromMs, toMs]: a cheap scan. */
  async queuedKeys(fromMs: number, toMs: number): Promise<Array<{ uid: number; updatedAtMs: number }>> {
    const { rows } = await this.pool.query<{ uid: number; updated_at_ms: number }>(
      "SELECT uid, updated_at_ms FROM tasks WHERE state = 'queued' AND updated_at_ms BETWEEN $1 AND $2 ORDER BY uid",
      [fromMs, toMs],
    );
    return rows.map((r) => ({ uid: r.uid, updatedAtMs: r.updated_at_ms }));
  }

  /** The tasks with these uids that are still queued, oldest first. */
  async queuedByUid(uids: readonly number[]): Promise<TaskRecord[]> {
    if (uids.length === 0) return [];
    const { rows } = await this.pool.query<TaskRow>(
      "SELECT * FROM tasks WHERE uid = ANY ($1::bigint[]) AND state = 'queued' ORDER BY uid",
      [uids],
    );
    return rows.map(toTask);
  }

  /** Records that this coordinator is alive (needs `coordinatorId`). */
  async beat(nowMs: number): Promise<void> {
    await this.pool.query(
      `INSERT INTO coordinators (id, started_at_ms, last_seen_ms) VALUES ($1, $2, $2)
       ON CONFLICT (id) DO UPDATE SET last_seen_ms = excluded.last_seen_ms`,
      [this.requireId(), nowMs],
    );
  }

  /** Removes this coordinator from `coordinators`: its open leases become orphans at once. */
  async leave(): Promise<void> {
    await this.pool.query('DELETE FROM coordinators WHERE id = $1', [this.requireId()]);
  }

  /**
   * Current leases of running tasks granted by a coordinator that has not beaten for
   * `deadAfterMs` (or is unknown). Whoever finds them requeues them with `endAttempt`, which is
   * fenced, so two sweepers cannot requeue one lease twice.
   */
  async orphanedLeases(nowMs: number, deadAfterMs: number, limit = 500): Promise<OrphanedLease[]> {
    const { rows } = await this.pool.query<{
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
      [nowMs - deadAfterMs, limit],
    );
    return rows.map((r) => ({
      taskUid: r.task_uid,
      leaseId: r.lease_id,
      coordinatorId: r.coordinator_id ?? undefined,
    }));
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

  async stateCounts(): Promise<Record<TaskState, number>> {
    const { rows } = await this.pool.query<{ state: TaskState; n: number }>(
      'SELECT state, COUNT(*) AS n FROM tasks GROUP BY state',
    );
    const counts = emptyCounts();
    for (const row of rows) counts[row.state] = row.n;
    return counts;
  }

  async startLeases(leases: NewLease[]): Promise<boolean[]> {
    // A task named twice in one call: only its first lease can start (as on SQLite).
    const seen = new Set<number>();
    const firsts = leases.filter((l) => !seen.has(l.taskUid) && seen.add(l.taskUid));
    if (firsts.length === 0) return [];
    // One statement for the batch, atomic on its own: no BEGIN/COMMIT round trips.
    const { rows } = await this.pool.query<{ lease_id: string }>(
      `WITH input AS (
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[], $5::bigint[], $6::bigint[])
           AS i (task_uid, lease_id, attempt, worker_id, started_at_ms, expires_at_ms)
       ), t AS (
         UPDATE tasks SET state = 'running', attempts = tasks.attempts + 1, current_lease_id = i.lease_id,
           updated_at_ms = i.started_at_ms, progress = NULL
         FROM input i
         WHERE tasks.uid = i.task_uid AND tasks.state = 'queued'
         RETURNING i.*
       ), a AS (
         INSERT INTO attempts (lease_id, task_uid, attempt, worker_id, started_at_ms, expires_at_ms)
         SELECT lease_id, task_uid, attempt, worker_id, started_at_ms, expires_at_ms FROM t
       ), au AS (
         INSERT INTO audit (task_uid, ts_ms, from_state, to_state, topic, lease_id, worker_id)
         SELECT task_uid, started_at_ms, 'queued', 'running', $7, lease_id, worker_id FROM t
       )
       SELECT lease_id FROM t`,
      [
        firsts.map((l) => l.taskUid),
        firsts.map((l) => l.leaseId),
        firsts.map((l) => l.attempt),
        firsts.map((l) => l.workerId),
        firsts.map((l) => l.startedAtMs),
        firsts.map((l) => l.expiresAtMs),
        TOPIC.accepted,
      ],
    );
    const started = new Set(rows.map((r) => r.lease_id));
    return leases.map((l) => started.has(l.leaseId));
  }

  /**
   * Claims up to `limit` claimable queued tasks (not_before passed) for one worker, highest
   * priority first, then earliest deadline, then oldest, and starts a lease on each (attempt row,
   * `accepted` audit row) in one statement. Rows that another coordinator is claiming at the same
   * moment are skipped (FOR UPDATE SKIP LOCKED), so concurrent claimers never wait on each other
   * and never get the same task.
   */
  async claimQueued(req: ClaimRequest): Promise<ClaimedTask[]> {
    const { rows } = await this.pool.query<TaskRow>(
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
         INSERT INTO audit (task_uid, ts_ms, from_state, to_state, topic, lease_id, worker_id)
         SELECT uid, $2, 'queued', 'running', $6, current_lease_id, $1 FROM t
       )
       SELECT * FROM t ORDER BY priority DESC, deadline_at_ms ASC NULLS LAST, uid`,
      [req.workerId, req.nowMs, req.limit, req.moduleKinds ?? null, req.leaseMs, TOPIC.accepted],
    );
    return rows.map((row) => ({
      task: toTask(row),
      lease: {
        taskUid: row.uid,
        leaseId: row.current_lease_id!,
        attempt: row.attempts,
        workerId: req.workerId,
        startedAtMs: req.nowMs,
        expiresAtMs: req.nowMs + req.leaseMs,
      },
    }));
  }

  async completeTask(change: CompleteTask): Promise<boolean> {
    return (await this.completeTasks([change]))[0] === true;
  }

  /**
   * Group commit: every completion of the batch in one statement (one round trip, one commit),
   * each fenced by its lease; a success is counted for `workerId` when set.
   */
  async completeTasks(changes: CompleteTask[]): Promise<boolean[]> {
    // A task named twice in one call: only the first can complete (as on SQLite).
    const seen = new Set<number>();
    const firsts = changes.filter((c) => !seen.has(c.taskUid) && seen.add(c.taskUid));
    if (firsts.length === 0) return [];
    const { rows } = await this.pool.query<{ lease_id: string }>(
      `WITH input AS (
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::bytea[], $4::text[], $5::float8[], $6::bigint[],
           $7::text[]) AS i (task_uid, lease_id, result, executor, duration_ms, now_ms, worker_id)
       ), t AS (
         UPDATE tasks SET state = 'succeeded', result = i.result, executor = i.executor,
           duration_ms = i.duration_ms, current_lease_id = NULL, updated_at_ms = i.now_ms,
           failure_code = NULL, failure_message = NULL
         FROM input i
         WHERE tasks.uid = i.task_uid AND tasks.state = 'running' AND tasks.current_lease_id = i.lease_id
         RETURNING i.task_uid, i.lease_id, i.now_ms, i.worker_id
       ), a AS (
         UPDATE attempts SET ended_at_ms = t.now_ms, outcome = 'succeeded', code = NULL
         FROM t WHERE attempts.lease_id = t.lease_id AND attempts.ended_at_ms IS NULL
       ), au AS (
         INSERT INTO audit (task_uid, ts_ms, from_state, to_state, topic, lease_id, worker_id)
         SELECT t.task_uid, t.now_ms, 'running', 'succeeded', $8, t.lease_id,
           COALESCE(t.worker_id, (SELECT x.worker_id FROM attempts x WHERE x.lease_id = t.lease_id))
         FROM t
       ), w AS (
         UPDATE workers SET tasks_succeeded = tasks_succeeded + c.n
         FROM (SELECT worker_id, COUNT(*) AS n FROM t WHERE worker_id IS NOT NULL GROUP BY worker_id) c
         WHERE workers.worker_id = c.worker_id
       )
       SELECT lease_id FROM t`,
      [
        firsts.map((c) => c.taskUid),
        firsts.map((c) => c.leaseId),
        firsts.map((c) => buf(c.result)),
        firsts.map((c) => c.executor ?? null),
        firsts.map((c) => c.durationMs ?? null),
        firsts.map((c) => c.nowMs),
        firsts.map((c) => c.workerId ?? null),
        TOPIC.success,
      ],
    );
    const done = new Set(rows.map((r) => r.lease_id));
    const counted = new Set<number>();
    return changes.map((c) => {
      if (counted.has(c.taskUid) || !done.has(c.leaseId)) return false;
      counted.add(c.taskUid);
      return true;
    });
  }

  async endAttempt(change: EndAttempt): Promise<boolean> {
    const requeue = change.requeueAtMs !== undefined;
    const taskCode = change.taskCode ?? change.code ?? null;
    // $1 uid, $2 lease, $3 now, $4 failure increment, $5 outcome, $6 attempt code, $7 audit code,
    // $8 topic, then $9 requeue time or $9/$10 the task's failure code and message.
    const transition = requeue
      ? `UPDATE tasks SET state = 'queued', current_lease_id = NULL, not_before_ms = $9,
           failures = failures + $4, updated_at_ms = $3, progress = NULL
         WHERE uid = $1 AND state = 'running' AND current_lease_id = $2
         RETURNING uid, state`
      : `UPDATE tasks SET state = 'failed', current_lease_id = NULL, failure_code = $9, failure_message = $10,
           failures = failures + $4, updated_at_ms = $3
         WHERE uid = $1 AND state = 'running' AND current_lease_id = $2
         RETURNING uid, state`;
    const args: unknown[] = [
      change.taskUid,
      change.leaseId,
      change.nowMs,
      change.countsAsFailure ? 1 : 0,
      change.outcome,
      change.code ?? null,
      taskCode,
      requeue ? TOPIC.requested : TOPIC.failed,
      ...(requeue ? [change.requeueAtMs] : [taskCode, change.taskMessage ?? change.message ?? null]),
    ];
    const { rowCount } = await this.pool.query(
      `WITH t AS (${transition}), a AS (
         UPDATE attempts SET ended_at_ms = $3, outcome = $5, code = $6
         WHERE lease_id = $2 AND ended_at_ms IS NULL AND EXISTS (SELECT 1 FROM t)
       )
       INSERT INTO audit (task_uid, ts_ms, from_state, to_state, topic, lease_id, worker_id, code)
       SELECT uid, $3, 'running', state, $8, $2, (SELECT worker_id FROM attempts WHERE lease_id = $2), $7 FROM t`,
      args,
    );
    return rowCount === 1;
  }

  async reopenTask(taskUid: number, code: string, nowMs: number): Promise<TaskRecord | undefined> {
    const { rows } = await this.pool.query<TaskRow>(
      `WITH t AS (
         UPDATE tasks SET state = 'queued', result = NULL, executor = NULL, duration_ms = NULL,
           current_lease_id = NULL, progress = NULL, not_before_ms = $2, updated_at_ms = $2
         WHERE uid = $1 AND state = 'succeeded'
         RETURNING *
       ), a AS (
         INSERT INTO audit (task_uid, ts_ms, from_state, to_state, topic, code)
         SELECT uid, $2, 'succeeded', 'queued', $3, $4 FROM t
       )
       SELECT * FROM t`,
      [taskUid, nowMs, TOPIC.requested, code],
    );
    return rows[0] ? toTask(rows[0]) : undefined;
  }

  async failQueued(taskUid: number, code: string, message: string, nowMs: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `WITH t AS (
         UPDATE tasks SET state = 'failed', failure_code = $2, failure_message = $3, updated_at_ms = $4
         WHERE uid = $1 AND state = 'queued'
         RETURNING uid
       )
       INSERT INTO audit (task_uid, ts_ms, from_state, to_state, topic, code)
       SELECT uid, $4, 'queued', 'failed', $5, $2 FROM t`,
      [taskUid, code, message, nowMs, TOPIC.failed],
    );
    return rowCount === 1;
  }

  async cancelTask(taskUid: number, reason: string, nowMs: number): Promise<TaskState | undefined> {
    // `old` locks the row and keeps the state and lease it leaves (RETURNING shows new values).
    const { rows } = await this.pool.query<{ from_state: TaskState }>(
      `WITH old AS (
         SELECT uid, state, current_lease_id FROM tasks
         WHERE uid = $1 AND state IN ('queued', 'running')
         FOR UPDATE
       ), t AS (
         UPDATE tasks SET state = 'cancelled', current_lease_id = NULL, failure_code = 'CANCELLED',
           failure_message = $2, updated_at_ms = $3
         FROM old WHERE tasks.uid = old.uid AND tasks.state IN ('queued', 'running')
         RETURNING old.uid, old.state AS from_state, old.current_lease_id AS lease_id
       ), a AS (
         UPDATE attempts SET ended_at_ms = $3, outcome = 'cancelled', code = 'CANCELLED'
         FROM t WHERE attempts.lease_id = t.lease_id AND attempts.ended_at_ms IS NULL
       ), au AS (
         INSERT INTO audit (task_uid, ts_ms, from_state, to_state, topic, lease_id)
         SELECT uid, $3, from_state, 'cancelled', $4, lease_id FROM t
       )
       SELECT from_state FROM t`,
      [taskUid, reason, nowMs, TOPIC.cancelled],
    );
    return rows[0]?.from_state;
  }

  async setProgress(
    taskUid: number,
    leaseId: string,
    pct: number,
    metrics: Record<string, string>,
  ): Promise<void> {
    await this.pool.query(
      "UPDATE tasks SET progress = $1 WHERE uid = $2 AND state = 'running' AND current_lease_id = $3",
      [JSON.stringify({ pct, metrics }), taskUid, leaseId],
    );
  }

  async getAttempt(leaseId: string): Promise<AttemptRecord | undefined> {
    const { rows } = await this.pool.query<AttemptRow>('SELECT * FROM attempts WHERE lease_id = $1', [
      leaseId,
    ]);
    return rows[0] ? toAttempt(rows[0]) : undefined;
  }

  async listAttempts(taskUid: number): Promise<AttemptRecord[]> {
    const { rows } = await this.pool.query<AttemptRow>(
      'SELECT * FROM attempts WHERE task_uid = $1 ORDER BY attempt',
      [taskUid],
    );
    return rows.map(toAttempt);
  }

  async auditTrail(taskUid: number): Promise<AuditRecord[]> {
    const { rows } = await this.pool.query<AuditRow>('SELECT * FROM audit WHERE task_uid = $1 ORDER BY id', [
      taskUid,
    ]);
    return rows.map((row) => ({
      taskUid: row.task_uid,
      tsMs: row.ts_ms,
      fromState: row.from_state ?? undefined,
      toState: row.to_state,
      topic: row.topic,
      leaseId: row.lease_id ?? undefined,
      workerId: row.worker_id ?? undefined,
      code: row.code ?? undefined,
    }));
  }

  async upsertWorker(worker: WorkerRecord): Promise<void> {
    await this.pool.query(
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

  async findWorkerBySession(sessionHash: string): Promise<WorkerRecord | undefined> {
    const { rows } = await this.pool.query<WorkerRow>('SELECT * FROM workers WHERE session_hash = $1', [
      sessionHash,
    ]);
    const row = rows[0];
    if (!row) return undefined;
    return {
      workerId: row.worker_id,
      sessionHash: row.session_hash,
      createdAtMs: row.created_at_ms,
      lastSeenMs: row.last_seen_ms,
      tasksSucceeded: row.tasks_succeeded,
      tasksFailed: row.tasks_failed,
    };
  }

  async forgetIdleWorker(workerId: string): Promise<void> {
    await this.pool.query(
      'DELETE FROM workers WHERE worker_id = $1 AND tasks_succeeded = 0 AND tasks_failed = 0',
      [workerId],
    );
  }

  async countWorkerOutcome(workerId: string, succeeded: boolean): Promise<void> {
    await this.pool.query(
      succeeded
        ? 'UPDATE workers SET tasks_succeeded = tasks_succeeded + 1 WHERE worker_id = $1'
        : 'UPDATE workers SET tasks_failed = tasks_failed + 1 WHERE worker_id = $1',
      [workerId],
    );
  }

  async recordBlob(hash: string, tenant: string, kind: BlobKind, size: number, nowMs: number): Promise<void> {
    await this.pool.query(
      `INSERT INTO blobs (hash, tenant, kind, size, created_at_ms) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT DO NOTHING`,
      [hash, tenant, kind, size, nowMs],
    );
  }

  async blobVisible(hash: string, tenant: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      'SELECT 1 FROM blobs WHERE hash = $1 AND tenant = $2 LIMIT 1',
      [hash, tenant],
    );
    return rowCount === 1;
  }

  async blobsInUse(sinceMs: number): Promise<Set<string>> {
    const names = new Set<string>();
    const { rows } = await this.pool.query<{ body: Buffer }>(
      `SELECT result AS body FROM tasks WHERE result IS NOT NULL AND position('sha256:'::bytea IN result) > 0
       UNION ALL SELECT envelope FROM tasks WHERE position('sha256:'::bytea IN envelope) > 0`,
    );
    for (const row of rows) for (const name of blobNamesIn(row.body)) names.add(name);
    const kept = await this.pool.query<{ hash: string }>(
      "SELECT DISTINCT hash FROM blobs WHERE kind = 'module' OR created_at_ms >= $1",
      [sinceMs],
    );
    for (const row of kept.rows) names.add(row.hash);
    return names;
  }

  async purgeFinished(beforeMs: number, limit: number): Promise<number[]> {
    const { rows } = await this.pool.query<{ uid: string }>(
      `WITH t AS (
         SELECT uid FROM tasks WHERE state IN ('succeeded', 'failed', 'cancelled') AND updated_at_ms < $1
         ORDER BY uid LIMIT $2 FOR UPDATE SKIP LOCKED
       ), a AS (
         DELETE FROM attempts WHERE task_uid IN (SELECT uid FROM t)
       ), au AS (
         DELETE FROM audit WHERE task_uid IN (SELECT uid FROM t)
       )
       DELETE FROM tasks WHERE uid IN (SELECT uid FROM t) RETURNING uid`,
      [beforeMs, limit],
    );
    return rows.map((r) => Number(r.uid)).sort((x, y) => x - y);
  }

  async forgetOutputBlobs(names: string[]): Promise<void> {
    if (names.length === 0) return;
    await this.pool.query("DELETE FROM blobs WHERE kind <> 'module' AND hash = ANY($1::text[])", [names]);
  }

  async isModule(hash: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      "SELECT 1 FROM blobs WHERE hash = $1 AND kind = 'module' LIMIT 1",
      [hash],
    );
    return rowCount === 1;
  }
}

class ConflictRollback extends Error {
  constructor(readonly outcomes: InsertOutcome[]) {
    super('conflict');
  }
}
