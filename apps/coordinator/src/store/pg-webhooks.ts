// The PostgreSQL store's webhook_deliveries table (webhook-store.ts): one statement per call. A
// claim takes due rows with FOR UPDATE SKIP LOCKED, so coordinators sharing the store never
// claim the same delivery, and a crashed one's claims lapse at claimed_until_ms.
import type pg from 'pg';
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

const MASTER_KEY = 'webhook_master_secret';

export class PgWebhookStore implements WebhookStore {
  constructor(private readonly pool: pg.Pool) {}

  async insert(d: NewDelivery, settles?: OutboxKind): Promise<number> {
    // One statement: the outbox row goes with the delivery's insert, or neither happens.
    const { rows } = await this.pool.query<{ id: string }>(
      `WITH gone AS (DELETE FROM webhook_outbox WHERE tenant = $1 AND task_id = $2 AND kind = $7)
       INSERT INTO webhook_deliveries (tenant, task_id, event, url, body, state, created_at_ms, next_attempt_at_ms)
       VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6) RETURNING id`,
      [d.tenant, d.taskId, d.event, d.url, d.body, d.createdAtMs, settles ?? null],
    );
    return Number(rows[0]!.id);
  }

  async arm(rows: ArmedWebhook[]): Promise<void> {
    if (rows.length === 0) return;
    await this.pool.query(
      `INSERT INTO webhook_outbox (tenant, task_id, kind, armed_at_ms)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) ON CONFLICT DO NOTHING`,
      [
        rows.map((r) => r.tenant),
        rows.map((r) => r.taskId),
        rows.map((r) => r.kind),
        rows.map((r) => r.armedAtMs),
      ],
    );
  }

  async settledArms(beforeMs: number, limit: number): Promise<SettledArm[]> {
    const { rows } = await this.pool.query<OutboxRow>(settledArmsSql('pg'), [beforeMs, limit]);
    return rows.map(toSettledArm);
  }

  async settle(arm: ArmedWebhook, delivery: NewDelivery | undefined): Promise<number | undefined> {
    // The delivery is inserted only from the deleted row: of two coordinators settling the same
    // row, one stores it.
    const d = delivery;
    const { rows } = await this.pool.query<{ id: string }>(
      `WITH gone AS (DELETE FROM webhook_outbox WHERE tenant = $1 AND task_id = $2 AND kind = $3 RETURNING 1)
       INSERT INTO webhook_deliveries (tenant, task_id, event, url, body, state, created_at_ms, next_attempt_at_ms)
       SELECT $1, $2, $4::text, $5::text, $6::text, 'pending', $7::bigint, $7::bigint FROM gone WHERE $8::boolean
       RETURNING id`,
      [
        arm.tenant,
        arm.taskId,
        arm.kind,
        d?.event ?? '',
        d?.url ?? '',
        d?.body ?? '',
        d?.createdAtMs ?? 0,
        d !== undefined,
      ],
    );
    return rows[0] ? Number(rows[0].id) : undefined;
  }

  async claimDue(owner: string, nowMs: number, untilMs: number, limit: number): Promise<DeliveryRecord[]> {
    const { rows } = await this.pool.query<DeliveryRow>(
      `UPDATE webhook_deliveries SET claimed_by = $1, claimed_until_ms = $2
       WHERE id IN (
         SELECT id FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at_ms <= $3
         AND claimed_until_ms <= $3 ORDER BY next_attempt_at_ms, id LIMIT $4 FOR UPDATE SKIP LOCKED)
       RETURNING *`,
      [owner, untilMs, nowMs, limit],
    );
    // RETURNING keeps no order: oldest due first, as SQLite returns them.
    return rows
      .map(toDelivery)
      .sort((a, b) => (a.nextAttemptAtMs ?? 0) - (b.nextAttemptAtMs ?? 0) || a.id - b.id);
  }

  async recordAttempt(
    id: number,
    owner: string,
    attempt: DeliveryAttempt,
    next: DeliveryNext,
  ): Promise<boolean> {
    const due = next.state === 'pending' ? next.nextAttemptAtMs : null;
    const { rowCount } = await this.pool.query(
      `UPDATE webhook_deliveries SET attempts = (attempts::jsonb || jsonb_build_array($1::jsonb))::text,
       state = $2, next_attempt_at_ms = $3, claimed_by = NULL, claimed_until_ms = 0
       WHERE id = $4 AND claimed_by = $5 AND state = 'pending'`,
      [attemptJson(attempt), next.state, due, id, owner],
    );
    return rowCount === 1;
  }

  async release(owner: string): Promise<void> {
    await this.pool.query(
      `UPDATE webhook_deliveries SET claimed_by = NULL, claimed_until_ms = 0
       WHERE claimed_by = $1 AND state = 'pending'`,
      [owner],
    );
  }

  async list(tenant: string, taskId: string, limit: number): Promise<DeliveryRecord[]> {
    const { rows } = await this.pool.query<DeliveryRow>(
      'SELECT * FROM webhook_deliveries WHERE tenant = $1 AND task_id = $2 ORDER BY id LIMIT $3',
      [tenant, taskId, limit],
    );
    return rows.map(toDelivery);
  }

  async listByState(q: StateQuery): Promise<DeliveryRecord[]> {
    const { rows } = await this.pool.query<DeliveryRow>(
      `SELECT * FROM webhook_deliveries WHERE tenant = $1 AND state = $2 AND created_at_ms >= $3 AND id > $4
       ORDER BY id LIMIT $5`,
      [q.tenant, q.state, q.sinceMs, q.afterId, q.limit],
    );
    return rows.map(toDelivery);
  }

  async redeliver(tenant: string, id: number, nowMs: number): Promise<DeliveryState | undefined> {
    // The row is locked while it is read, so two redeliveries of one delivery reset it once.
    const { rows } = await this.pool.query<{ state: DeliveryState }>(
      `WITH d AS (SELECT id, state FROM webhook_deliveries WHERE id = $1 AND tenant = $2 FOR UPDATE),
       reset AS (UPDATE webhook_deliveries SET state = 'pending', attempts = '[]', created_at_ms = $3,
         next_attempt_at_ms = $3, claimed_by = NULL, claimed_until_ms = 0
         WHERE id IN (SELECT id FROM d WHERE state = 'failed'))
       SELECT state FROM d`,
      [id, tenant, nowMs],
    );
    return rows[0]?.state;
  }

  async purge(beforeMs: number, limit: number): Promise<number> {
    const { rowCount } = await this.pool.query(
      `DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries
       WHERE state <> 'pending' AND created_at_ms < $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      [beforeMs, limit],
    );
    return rowCount ?? 0;
  }

  async masterSecret(generated: string): Promise<string> {
    await this.pool.query('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [
      MASTER_KEY,
      generated,
    ]);
    const { rows } = await this.pool.query<{ value: string }>('SELECT value FROM meta WHERE key = $1', [
      MASTER_KEY,
    ]);
    return rows[0]!.value;
  }
}
