import type { Pool } from 'pg';
import { auditTablesSql, auditTenantSql } from './audit-store.ts';
import { apiKeysTableSql } from './key-store.ts';
import { webhookDeliveriesTableSql, webhookOutboxTableSql } from './webhook-store.ts';
import { circuitsTableSql, workflowsTableSql } from './workflow-store.ts';

/**
 * PostgreSQL schema migrations, numbered from 1 and applied in order; `schema_migrations`
 * records which ran. Only ever append. The tables mirror the SQLite store's (same names and
 * columns) so that the two stores can be read the same way; times are BIGINT milliseconds.
 */
export const PG_MIGRATIONS: readonly string[] = [
  // 1: the initial schema.
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE tasks (
     uid BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     tenant TEXT NOT NULL,
     task_id TEXT NOT NULL,
     campaign_id TEXT,
     op TEXT NOT NULL,
     module_kind TEXT NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
     content_hash TEXT NOT NULL,
     envelope BYTEA NOT NULL,
     priority INTEGER NOT NULL,
     deadline_at_ms BIGINT,
     max_retries INTEGER NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     failures INTEGER NOT NULL DEFAULT 0,
     not_before_ms BIGINT NOT NULL DEFAULT 0,
     created_at_ms BIGINT NOT NULL,
     updated_at_ms BIGINT NOT NULL,
     current_lease_id TEXT,
     progress JSONB,
     failure_code TEXT,
     failure_message TEXT,
     result BYTEA,
     executor TEXT,
     duration_ms DOUBLE PRECISION,
     UNIQUE (tenant, task_id)
   );
   CREATE INDEX tasks_open ON tasks (uid) WHERE state IN ('queued', 'running');
   -- The claim order of claimQueued: highest priority, earliest deadline, oldest.
   CREATE INDEX tasks_claim ON tasks (priority DESC, deadline_at_ms ASC NULLS LAST, uid) WHERE state = 'queued';
   CREATE INDEX tasks_tenant_state ON tasks (tenant, state, uid);
   CREATE INDEX tasks_tenant_campaign ON tasks (tenant, campaign_id, uid);
   CREATE TABLE attempts (
     lease_id TEXT PRIMARY KEY,
     task_uid BIGINT NOT NULL REFERENCES tasks (uid),
     attempt INTEGER NOT NULL,
     worker_id TEXT NOT NULL,
     started_at_ms BIGINT NOT NULL,
     expires_at_ms BIGINT NOT NULL,
     ended_at_ms BIGINT,
     outcome TEXT,
     code TEXT
   );
   CREATE INDEX attempts_task ON attempts (task_uid, attempt);
   CREATE TABLE audit (
     id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     task_uid BIGINT NOT NULL,
     ts_ms BIGINT NOT NULL,
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
     created_at_ms BIGINT NOT NULL,
     last_seen_ms BIGINT NOT NULL,
     tasks_succeeded INTEGER NOT NULL DEFAULT 0,
     tasks_failed INTEGER NOT NULL DEFAULT 0
   );
   CREATE TABLE blobs (
     hash TEXT NOT NULL,
     tenant TEXT NOT NULL,
     kind TEXT NOT NULL,
     size BIGINT NOT NULL,
     created_at_ms BIGINT NOT NULL,
     PRIMARY KEY (hash, tenant, kind)
   );`,
  // 2: wake other coordinators when a task becomes claimable. NOTIFY is transactional (sent at
  // commit, dropped on rollback) and identical payloads within one transaction collapse into
  // one, so a batch of a thousand inserts wakes each listener once.
  `CREATE FUNCTION flock_notify_queued() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     PERFORM pg_notify('flock_task_queued', '');
     RETURN NULL;
   END $$;
   CREATE TRIGGER tasks_queued_notify
     AFTER INSERT OR UPDATE OF state ON tasks
     FOR EACH ROW WHEN (NEW.state = 'queued')
     EXECUTE FUNCTION flock_notify_queued();`,
  // 3: several coordinators. Each attempt records the coordinator that granted it (from the
  // session setting `flock.coordinator_id`, which PostgresStore sets per connection, so the
  // Store interface need not carry it); live coordinators beat in `coordinators`; the leases of
  // one that stopped beating are found by `orphanedLeases`. Queued tasks are scanned by
  // `updated_at_ms` when a wake-up arrives.
  `CREATE TABLE coordinators (
     id TEXT PRIMARY KEY,
     started_at_ms BIGINT NOT NULL,
     last_seen_ms BIGINT NOT NULL
   );
   ALTER TABLE attempts ADD COLUMN coordinator_id TEXT DEFAULT current_setting('flock.coordinator_id', true);
   CREATE INDEX attempts_open ON attempts (coordinator_id) WHERE ended_at_ms IS NULL;
   CREATE INDEX tasks_queued_since ON tasks (updated_at_ms) WHERE state = 'queued';`,
  // Workflows (WORKFLOWS.md); their steps are tasks of the campaign named by the workflow id.
  workflowsTableSql('pg'),
  // API keys made through POST /v1/keys: hashes, scopes, revocation (edge/api-keys.ts).
  apiKeysTableSql('pg'),
  // A tenant's stored bytes (FLOCK_TENANT_MAX_STORED_BYTES) are summed over its blob rows.
  'CREATE INDEX blobs_tenant ON blobs (tenant);',
  // Circuits: named workflow templates (WORKFLOWS.md).
  circuitsTableSql('pg'),
  // Webhook deliveries of return_channel URLs: the durable queue and its log (edge/webhooks.ts).
  webhookDeliveriesTableSql('pg'),
  // The audit API (#19): output hashes on audit rows, worker fingerprints, replays.
  auditTablesSql('pg'),
  // Signing secrets of keys made through POST /v1/keys with "signing": true (edge/http-keys.ts).
  'ALTER TABLE api_keys ADD COLUMN signing_secret TEXT;',
  // The webhook outbox: tasks and workflows with a URL return_channel whose delivery is not
  // stored yet, so that one lost to a crash is made at the next start (edge/webhook-outbox.ts).
  webhookOutboxTableSql('pg'),
  // A tenant's webhook deliveries by state, by id: GET /v1/webhooks/deliveries?state= (http-webhooks.ts).
  'CREATE INDEX webhook_deliveries_state ON webhook_deliveries (tenant, state, id);',
  // A tenant's whole audit trail by id: GET /v1/audit without task_id or campaign_id (#19).
  auditTenantSql(),
  // One process per coordinator id (pg-coordinator-ids.ts): the nonce of the process that holds
  // it, how that process names itself, and its last beat on the server's clock.
  `ALTER TABLE coordinators ADD COLUMN nonce TEXT;
   ALTER TABLE coordinators ADD COLUMN holder TEXT;
   ALTER TABLE coordinators ADD COLUMN beat_at TIMESTAMPTZ;`,
];

/** The NOTIFY channel of migration 2: a task was inserted or requeued. */
export const QUEUED_CHANNEL = 'flock_task_queued';

// Any constant works; it only has to be the same in every coordinator.
const MIGRATION_LOCK = 0x666c6f636b;

/**
 * Applies the migrations that have not run yet, each in its own transaction. Coordinators that
 * start together serialise on a transaction-scoped advisory lock, so each migration runs once.
 * Returns the schema version reached.
 */
export async function migratePostgres(pool: Pool): Promise<number> {
  const client = await pool.connect();
  try {
    for (;;) {
      await client.query('BEGIN');
      try {
        await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
        // Under the lock: two first starts racing on CREATE TABLE IF NOT EXISTS can both fail.
        await client.query(
          'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())',
        );
        const { rows } = await client.query<{ v: number }>(
          'SELECT COALESCE(MAX(version), 0)::int AS v FROM schema_migrations',
        );
        const version = rows[0]?.v ?? 0;
        const next = PG_MIGRATIONS[version];
        if (next === undefined) {
          await client.query('COMMIT');
          return version;
        }
        await client.query(next);
        await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [version + 1]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    }
  } finally {
    client.release();
  }
}
