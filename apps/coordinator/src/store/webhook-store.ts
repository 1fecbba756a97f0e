// Webhook deliveries as the stores keep them: one row per (task event, return_channel URL), which
// is both the durable queue of edge/webhooks.ts and the delivery log of GET /v1/webhooks/deliveries.

/** `pending`: an attempt is due at `nextAttemptAtMs`; `delivered`: a 2xx came back; `failed`: given up. */
export type DeliveryState = 'pending' | 'delivered' | 'failed';

/** One POST of a delivery and how it ended. */
export interface DeliveryAttempt {
  /** When it was sent, epoch ms. */
  atMs: number;
  /** The receiver's HTTP status; absent when no answer came (network error, timeout, refusal). */
  status: number | undefined;
  /** Why it did not count as delivered; absent for a 2xx. */
  error: string | undefined;
}

export interface NewDelivery {
  tenant: string;
  taskId: string;
  /** The event's topic (`compute:dispatch:v1:success`, ...). */
  event: string;
  url: string;
  /** The exact body posted, the text `/v1/events?channel=` subscribers receive. */
  body: string;
  createdAtMs: number;
}

export interface DeliveryRecord extends NewDelivery {
  id: number;
  state: DeliveryState;
  attempts: DeliveryAttempt[];
  /** When the next attempt is due (pending only). */
  nextAttemptAtMs: number | undefined;
}

/** How an attempt leaves its delivery. */
export type DeliveryNext =
  | { state: 'pending'; nextAttemptAtMs: number }
  | { state: 'delivered' }
  | { state: 'failed' };

/** `listByState`'s question: ids above `afterId`, created at or after `sinceMs`, at most `limit`. */
export interface StateQuery {
  tenant: string;
  state: DeliveryState;
  sinceMs: number;
  afterId: number;
  limit: number;
}

/** What an outbox row stands for: a task's terminal event, or a workflow's own. */
export type OutboxKind = 'task' | 'workflow';

/**
 * An outbox row: a task or workflow with a URL return_channel, stored before it is, so that a
 * terminal event whose delivery was never written (a coordinator killed in between) is found and
 * delivered when a coordinator starts (edge/webhook-outbox.ts).
 */
export interface ArmedWebhook {
  tenant: string;
  /** The task id, or the workflow id. */
  taskId: string;
  kind: OutboxKind;
  armedAtMs: number;
}

/** An outbox row whose task or workflow ended (or was never stored) before a given time. */
export interface SettledArm extends ArmedWebhook {
  /** False when no such task or workflow is stored: its insert never happened, or retention took it. */
  stored: boolean;
}

/** The webhook_deliveries table (`Store.webhookStore()`); test/webhook-store-contract.ts covers both stores. */
export interface WebhookStore {
  /**
   * Stores a pending delivery due at once; returns its id. `settles`: the outbox row of the
   * delivery's task (or workflow) is deleted in the same write.
   */
  insert(delivery: NewDelivery, settles?: OutboxKind): Promise<number>;
  /** Stores outbox rows (one already there stays as it is). */
  arm(rows: ArmedWebhook[]): Promise<void>;
  /**
   * Up to `limit` outbox rows armed before `beforeMs` whose task or workflow ended before
   * `beforeMs` (or is not stored), oldest first.
   */
  settledArms(beforeMs: number, limit: number): Promise<SettledArm[]>;
  /**
   * Deletes the outbox row and, when `delivery` is given and the row was there, stores the
   * delivery in the same write; returns its id (undefined when nothing was stored).
   */
  settle(arm: ArmedWebhook, delivery: NewDelivery | undefined): Promise<number | undefined>;
  /**
   * Claims up to `limit` pending deliveries due by `nowMs` that nobody holds, for `owner` until
   * `untilMs`: no other claim returns them meanwhile (across coordinators: SKIP LOCKED).
   */
  claimDue(owner: string, nowMs: number, untilMs: number, limit: number): Promise<DeliveryRecord[]>;
  /**
   * Appends `attempt` to a delivery `owner` holds and moves it to `next`, releasing the claim.
   * False when the claim was lost (it expired and another owner took the delivery).
   */
  recordAttempt(id: number, owner: string, attempt: DeliveryAttempt, next: DeliveryNext): Promise<boolean>;
  /** Gives up `owner`'s claims on pending deliveries (a coordinator stopping mid-attempt): due again at once. */
  release(owner: string): Promise<void>;
  /** The tenant's deliveries of `taskId`, oldest first. */
  list(tenant: string, taskId: string, limit: number): Promise<DeliveryRecord[]>;
  /** The tenant's deliveries in `query.state`, by id (the cursor), made at or after `sinceMs`. */
  listByState(query: StateQuery): Promise<DeliveryRecord[]>;
  /**
   * Puts the tenant's failed delivery `id` back to pending, due at `nowMs`, with no attempts and
   * `created_at_ms` = `nowMs` (its give-up window and retention start again). Returns the state it
   * was in: `failed` (now pending), `pending` or `delivered` (left as it was), or undefined when
   * the tenant has no such delivery.
   */
  redeliver(tenant: string, id: number, nowMs: number): Promise<DeliveryState | undefined>;
  /**
   * Deletes up to `limit` finished deliveries (delivered or failed) made before `beforeMs`, oldest
   * first (retention); returns how many. Pending ones stay whatever their age.
   */
  purge(beforeMs: number, limit: number): Promise<number>;
  /** The deployment's webhook master secret: `generated` unless one is stored (the first writer's wins). */
  masterSecret(generated: string): Promise<string>;
}

/** A row of `webhook_outbox`. */
export interface OutboxRow {
  tenant: string;
  task_id: string;
  kind: OutboxKind;
  armed_at_ms: number | string;
  stored: number | boolean;
}

export function toSettledArm(row: OutboxRow): SettledArm {
  return {
    tenant: row.tenant,
    taskId: row.task_id,
    kind: row.kind,
    armedAtMs: Number(row.armed_at_ms),
    stored: row.stored === true || row.stored === 1,
  };
}

/**
 * The outbox: keyed by tenant, task (or workflow) id and kind, so that a row is found, and
 * deleted with the delivery, by the primary key alone.
 */
export function webhookOutboxTableSql(dialect: 'sqlite' | 'pg'): string {
  const int = dialect === 'sqlite' ? 'INTEGER' : 'BIGINT';
  return `CREATE TABLE webhook_outbox (
     tenant TEXT NOT NULL,
     task_id TEXT NOT NULL,
     kind TEXT NOT NULL,
     armed_at_ms ${int} NOT NULL,
     PRIMARY KEY (tenant, task_id, kind)
   );`;
}

/**
 * The outbox rows armed before `before` whose task or workflow ended before it or is not stored,
 * up to `limit` (SQLite: `@before`, `@limit`; PostgreSQL: `$1`, `$2`). The rows of open tasks are
 * skipped through the tables' unique keys.
 */
export function settledArmsSql(dialect: 'sqlite' | 'pg'): string {
  const [before, limit] = dialect === 'sqlite' ? ['@before', '@limit'] : ['$1', '$2'];
  return `SELECT o.tenant, o.task_id, o.kind, o.armed_at_ms,
     (t.uid IS NOT NULL OR w.uid IS NOT NULL) AS stored
   FROM webhook_outbox o
   LEFT JOIN tasks t ON o.kind = 'task' AND t.tenant = o.tenant AND t.task_id = o.task_id
   LEFT JOIN workflows w ON o.kind = 'workflow' AND w.tenant = o.tenant AND w.workflow_id = o.task_id
   WHERE o.armed_at_ms < ${before}
     AND (t.uid IS NULL OR (t.state IN ('succeeded', 'failed', 'cancelled') AND t.updated_at_ms < ${before}))
     AND (w.uid IS NULL OR (w.state <> 'running' AND w.finished_at_ms < ${before}))
   ORDER BY o.armed_at_ms, o.tenant, o.task_id
   LIMIT ${limit}`;
}

/** A row of `webhook_deliveries` (the same columns in SQLite and PostgreSQL). */
export interface DeliveryRow {
  id: number | string;
  tenant: string;
  task_id: string;
  event: string;
  url: string;
  body: string;
  state: DeliveryState;
  attempts: string;
  created_at_ms: number | string;
  next_attempt_at_ms: number | string | null;
}

interface StoredAttempt {
  at_ms: number;
  status?: number;
  error?: string;
}

/** The JSON one attempt is appended to `attempts` as. */
export function attemptJson(attempt: DeliveryAttempt): string {
  const out: StoredAttempt = { at_ms: attempt.atMs };
  if (attempt.status !== undefined) out.status = attempt.status;
  if (attempt.error !== undefined) out.error = attempt.error;
  return JSON.stringify(out);
}

export function toDelivery(row: DeliveryRow): DeliveryRecord {
  const attempts = (JSON.parse(row.attempts) as StoredAttempt[]).map((a) => ({
    atMs: a.at_ms,
    status: a.status,
    error: a.error,
  }));
  return {
    id: Number(row.id),
    tenant: row.tenant,
    taskId: row.task_id,
    event: row.event,
    url: row.url,
    body: row.body,
    createdAtMs: Number(row.created_at_ms),
    state: row.state,
    attempts,
    nextAttemptAtMs: row.next_attempt_at_ms === null ? undefined : Number(row.next_attempt_at_ms),
  };
}

/** The same table in both stores (times: SQLite's INTEGER, PostgreSQL's BIGINT). */
export function webhookDeliveriesTableSql(dialect: 'sqlite' | 'pg'): string {
  const int = dialect === 'sqlite' ? 'INTEGER' : 'BIGINT';
  const id = dialect === 'sqlite' ? 'INTEGER PRIMARY KEY AUTOINCREMENT' : 'BIGSERIAL PRIMARY KEY';
  return `CREATE TABLE webhook_deliveries (
     id ${id},
     tenant TEXT NOT NULL,
     task_id TEXT NOT NULL,
     event TEXT NOT NULL,
     url TEXT NOT NULL,
     body TEXT NOT NULL,
     state TEXT NOT NULL,
     attempts TEXT NOT NULL DEFAULT '[]',
     created_at_ms ${int} NOT NULL,
     next_attempt_at_ms ${int},
     claimed_by TEXT,
     claimed_until_ms ${int} NOT NULL DEFAULT 0
   );
   CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at_ms) WHERE state = 'pending';
   CREATE INDEX webhook_deliveries_task ON webhook_deliveries (tenant, task_id, id);`;
}
