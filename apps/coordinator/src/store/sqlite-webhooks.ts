// The SQLite store's webhook_deliveries table (webhook-store.ts), written through the store's
// group commit. One process owns the file, so a claim is a plain update inside the write.
import type Database from 'better-sqlite3';
import {
  type ArmedWebhook,
  attemptJson,
  type DeliveryAttempt,
  type DeliveryNext,
  type DeliveryRecord,
  type DeliveryRow,
  type DeliveryState,
  type NewDelivery,
  type OutboxKind,
  type OutboxRow,
  type SettledArm,
  type StateQuery,
  settledArmsSql,
  toDelivery,
  toSettledArm,
  type WebhookStore,
} from './webhook-store.ts';

type Write = <T>(fn: () => T) => Promise<T>;

const MASTER_KEY = 'webhook_master_secret';

export class SqliteWebhookStore implements WebhookStore {
  constructor(
    private readonly db: Database.Database,
    private readonly write: Write,
    private readonly committed: () => Promise<void> | undefined,
  ) {}

  insert(d: NewDelivery, settles?: OutboxKind): Promise<number> {
    return this.write(() => {
      if (settles !== undefined) this.disarm(d.tenant, d.taskId, settles);
      return this.insertNow(d);
    });
  }

  private insertNow(d: NewDelivery): number {
    const run = this.db
      .prepare(
        `INSERT INTO webhook_deliveries (tenant, task_id, event, url, body, state, created_at_ms, next_attempt_at_ms)
         VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)`,
      )
      .run(d.tenant, d.taskId, d.event, d.url, d.body, d.createdAtMs, d.createdAtMs);
    return Number(run.lastInsertRowid);
  }

  /** Deletes an outbox row; true when it was there. */
  private disarm(tenant: string, taskId: string, kind: OutboxKind): boolean {
    return (
      this.db
        .prepare('DELETE FROM webhook_outbox WHERE tenant = ? AND task_id = ? AND kind = ?')
        .run(tenant, taskId, kind).changes === 1
    );
  }

  async arm(rows: ArmedWebhook[]): Promise<void> {
    await this.write(() => {
      const arm = this.db.prepare(
        `INSERT INTO webhook_outbox (tenant, task_id, kind, armed_at_ms) VALUES (?, ?, ?, ?)
         ON CONFLICT DO NOTHING`,
      );
      for (const r of rows) arm.run(r.tenant, r.taskId, r.kind, r.armedAtMs);
    });
  }

  async settledArms(beforeMs: number, limit: number): Promise<SettledArm[]> {
    await this.committed();
    return this.db
      .prepare<{ before: number; limit: number }, OutboxRow>(settledArmsSql('sqlite'))
      .all({ before: beforeMs, limit })
      .map(toSettledArm);
  }

  settle(arm: ArmedWebhook, delivery: NewDelivery | undefined): Promise<number | undefined> {
    return this.write(() => {
      const armed = this.disarm(arm.tenant, arm.taskId, arm.kind);
      return armed && delivery ? this.insertNow(delivery) : undefined;
    });
  }

  async claimDue(owner: string, nowMs: number, untilMs: number, limit: number): Promise<DeliveryRecord[]> {
    // Looked for outside a write first: the poll runs every second, and mostly finds nothing.
    await this.committed();
    if (this.due(nowMs, 1).length === 0) return [];
    return this.write(() => {
      const rows = this.due(nowMs, limit);
      const claim = this.db.prepare(
        'UPDATE webhook_deliveries SET claimed_by = ?, claimed_until_ms = ? WHERE id = ?',
      );
      for (const row of rows) claim.run(owner, untilMs, row.id);
      return rows.map(toDelivery);
    });
  }

  private due(nowMs: number, limit: number): DeliveryRow[] {
    this.dueStatement ??= this.db.prepare<[number, number, number], DeliveryRow>(
      `SELECT * FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at_ms <= ?
       AND claimed_until_ms <= ? ORDER BY next_attempt_at_ms, id LIMIT ?`,
    );
    return this.dueStatement.all(nowMs, nowMs, limit);
  }

  private dueStatement: Database.Statement<[number, number, number], DeliveryRow> | undefined;

  recordAttempt(id: number, owner: string, attempt: DeliveryAttempt, next: DeliveryNext): Promise<boolean> {
    const due = next.state === 'pending' ? next.nextAttemptAtMs : null;
    return this.write(() => {
      const run = this.db
        .prepare(
          `UPDATE webhook_deliveries SET attempts = json_insert(attempts, '$[#]', json(?)), state = ?,
           next_attempt_at_ms = ?, claimed_by = NULL, claimed_until_ms = 0
           WHERE id = ? AND claimed_by = ? AND state = 'pending'`,
        )
        .run(attemptJson(attempt), next.state, due, id, owner);
      return run.changes === 1;
    });
  }

  async release(owner: string): Promise<void> {
    await this.write(() =>
      this.db
        .prepare(
          `UPDATE webhook_deliveries SET claimed_by = NULL, claimed_until_ms = 0
           WHERE claimed_by = ? AND state = 'pending'`,
        )
        .run(owner),
    );
  }

  async list(tenant: string, taskId: string, limit: number): Promise<DeliveryRecord[]> {
    await this.committed();
    return this.db
      .prepare<[string, string, number], DeliveryRow>(
        'SELECT * FROM webhook_deliveries WHERE tenant = ? AND task_id = ? ORDER BY id LIMIT ?',
      )
      .all(tenant, taskId, limit)
      .map(toDelivery);
  }

  async listByState(q: StateQuery): Promise<DeliveryRecord[]> {
    await this.committed();
    return this.db
      .prepare<[string, string, number, number, number], DeliveryRow>(
        `SELECT * FROM webhook_deliveries WHERE tenant = ? AND state = ? AND created_at_ms >= ? AND id > ?
         ORDER BY id LIMIT ?`,
      )
      .all(q.tenant, q.state, q.sinceMs, q.afterId, q.limit)
      .map(toDelivery);
  }

  redeliver(tenant: string, id: number, nowMs: number): Promise<DeliveryState | undefined> {
    return this.write(() => {
      const row = this.db
        .prepare<[number, string], { state: DeliveryState }>(
          'SELECT state FROM webhook_deliveries WHERE id = ? AND tenant = ?',
        )
        .get(id, tenant);
      if (row?.state === 'failed')
        this.db
          .prepare(
            `UPDATE webhook_deliveries SET state = 'pending', attempts = '[]', created_at_ms = ?,
             next_attempt_at_ms = ?, claimed_by = NULL, claimed_until_ms = 0 WHERE id = ?`,
          )
          .run(nowMs, nowMs, id);
      return row?.state;
    });
  }

  purge(beforeMs: number, limit: number): Promise<number> {
    return this.write(
      () =>
        this.db
          .prepare(
            `DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries
             WHERE state <> 'pending' AND created_at_ms < ? ORDER BY id LIMIT ?)`,
          )
          .run(beforeMs, limit).changes,
    );
  }

  masterSecret(generated: string): Promise<string> {
    return this.write(() => {
      this.db
        .prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING')
        .run(MASTER_KEY, generated);
      return this.db
        .prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?')
        .get(MASTER_KEY)!.value;
    });
  }
}
