// The SQLite store's file: how it is opened (pragmas) and its schema migrations.
import Database from 'better-sqlite3';
import type { SqliteSync } from '../config.ts';
import { auditTablesSql, auditTenantSql } from './audit-store.ts';
import { apiKeysTableSql } from './key-store.ts';
import { webhookDeliveriesTableSql, webhookOutboxTableSql } from './webhook-store.ts';
import { circuitsTableSql, workflowsTableSql } from './workflow-store.ts';

/** Schema migrations, applied in order; `user_version` records how many ran. Only ever append. */
export const SQLITE_MIGRATIONS: readonly string[] = [
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
  // Workflows (WORKFLOWS.md); their steps are tasks of the campaign named by the workflow id.
  workflowsTableSql('sqlite'),
  // API keys made through POST /v1/keys: hashes, scopes, revocation (edge/api-keys.ts).
  apiKeysTableSql('sqlite'),
  // A tenant's stored bytes (FLOCK_TENANT_MAX_STORED_BYTES) are summed over its blob rows.
  'CREATE INDEX blobs_tenant ON blobs (tenant);',
  // Circuits: named workflow templates (WORKFLOWS.md).
  circuitsTableSql('sqlite'),
  // Webhook deliveries of return_channel URLs: the durable queue and its log (edge/webhooks.ts).
  webhookDeliveriesTableSql('sqlite'),
  // The audit API (#19): output hashes on audit rows, worker fingerprints, replays.
  auditTablesSql('sqlite'),
  // Signing secrets of keys made through POST /v1/keys with "signing": true (edge/http-keys.ts).
  'ALTER TABLE api_keys ADD COLUMN signing_secret TEXT;',
  // The webhook outbox: tasks and workflows with a URL return_channel whose delivery is not
  // stored yet, so that one lost to a crash is made at the next start (edge/webhook-outbox.ts).
  webhookOutboxTableSql('sqlite'),
  // A tenant's webhook deliveries by state, by id: GET /v1/webhooks/deliveries?state= (http-webhooks.ts).
  'CREATE INDEX webhook_deliveries_state ON webhook_deliveries (tenant, state, id);',
  // The open tasks that recovery reads, indexed without naming `state`: SQLite rewrites an
  // index whose key or WHERE names a column on every UPDATE of that column, and tasks_open (on
  // state) was rewritten by every lease (queued → running) as well as by every end. Only a
  // success writes a result, so an open task has none; failed and cancelled tasks stay in this
  // index too (recovery's query still filters by state) until retention purges them. A lease
  // now writes no index (store-costs: about 1 µs a lease less, 0.7 a completion).
  `CREATE INDEX tasks_unfinished ON tasks (uid) WHERE result IS NULL;
   DROP INDEX tasks_open;`,
  // A tenant's whole audit trail by id: GET /v1/audit without task_id or campaign_id (#19).
  auditTenantSql(),
];

/** Opens (creating) the database file in WAL mode with the store's settings, and migrates it. */
export function openSqlite(path: string, sync: SqliteSync | undefined): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${sync ?? 'NORMAL'}`);
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  // Keep the hot pages (open tasks, indexes, what the WAL holds) in memory; reads of older rows
  // map the file. Not more: each COMMIT after a B-tree balance walks the whole page cache (a
  // balance renumbers pages through the lock page's number, so the cache's truncation to the
  // database's size cannot take its short path), and its cost grows with the pages cached.
  // 16 MiB is 4,096 pages, four times the WAL's checkpoint at 1,000; 64 MiB cost ~2 µs a task
  // more at 50,000 tasks (store-costs).
  db.pragma('cache_size = -16384');
  db.pragma('mmap_size = 268435456');
  db.pragma('temp_store = MEMORY');
  migrateSqlite(db);
  return db;
}

/** Applies the migrations not yet run, each in its own transaction. */
export function migrateSqlite(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let i = version; i < SQLITE_MIGRATIONS.length; i++) {
    db.transaction(() => {
      db.exec(SQLITE_MIGRATIONS[i]!);
      db.pragma(`user_version = ${i + 1}`);
    })();
  }
}
