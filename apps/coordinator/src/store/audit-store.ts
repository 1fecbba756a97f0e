// The audit log as the store keeps it (the `audit` rows every transition appends, joined with
// their task, attempt and worker), the volunteers' environment fingerprints, and the replays
// made from it (edge/http-audit.ts, edge/http-replay.ts read them).

/** Which audit rows to read: a tenant's (every tenant's when undefined), by task, campaign, time. */
export interface AuditFilter {
  tenant: string | undefined;
  taskId?: string | undefined;
  campaignId?: string | undefined;
  /** Rows at or after this time (ms); without a task the read starts at a bisected id (audit-since.ts). */
  sinceMs?: number | undefined;
  /** Rows after this audit row id (the cursor). */
  afterId: number;
  limit: number;
}

/** One audit row with what it concerns: its task, the attempt of its lease, its worker. */
export interface AuditEntry {
  /** Increasing with the order rows were written: the cursor. */
  id: number;
  tenant: string;
  taskId: string;
  campaignId: string | undefined;
  tsMs: number;
  fromState: string | undefined;
  toState: string;
  topic: string;
  code: string | undefined;
  leaseId: string | undefined;
  attempt: number | undefined;
  workerId: string | undefined;
  /** The succeeded transition's output hash (`sha256:` over the outputs' names and hashes). */
  outputHash: string | undefined;
  /** The task's stored envelope (its JSON view, UTF-8): the input hash and trace id come from it. */
  envelope: Uint8Array;
  /** The worker's environment fingerprint (JSON) from its latest hello. */
  fingerprint: string | undefined;
}

/** A replay: the tasks it re-submitted, each beside the task it copies. */
export interface ReplayRecord {
  tenant: string;
  /** `<source id>@replay-<n>`. */
  replayId: string;
  sourceKind: 'task' | 'campaign' | 'workflow';
  sourceId: string;
  createdAtMs: number;
  pairs: Array<{ original: string; replay: string }>;
}

/**
 * The audit side of a store (`Store.auditStore()`); test/audit-api.test.ts, audit-tenant.test.ts
 * and audit-since.test.ts cover both stores.
 */
export interface AuditStore {
  /** Audit rows matching `filter`, in the order they were written, at most `limit`. */
  entries(filter: AuditFilter): Promise<AuditEntry[]>;
  /** Records a worker's environment fingerprint (JSON), replacing the one it had. */
  setFingerprint(workerId: string, fingerprint: string): Promise<void>;
  /** Stores a replay; false when (tenant, replayId) exists already. */
  insertReplay(replay: ReplayRecord): Promise<boolean>;
  getReplay(tenant: string, replayId: string): Promise<ReplayRecord | undefined>;
  /** How many replays of this source the tenant made. */
  countReplays(tenant: string, sourceKind: ReplayRecord['sourceKind'], sourceId: string): Promise<number>;
}

/**
 * The migration both stores append: the output hash on audit rows, the fingerprint on workers,
 * and the replays table (times: SQLite's INTEGER, PostgreSQL's BIGINT).
 */
export function auditTablesSql(dialect: 'sqlite' | 'pg'): string {
  const int = dialect === 'sqlite' ? 'INTEGER' : 'BIGINT';
  return `ALTER TABLE audit ADD COLUMN output_hash TEXT;
   ALTER TABLE workers ADD COLUMN fingerprint TEXT;
   CREATE TABLE replays (
     tenant TEXT NOT NULL,
     replay_id TEXT NOT NULL,
     source_kind TEXT NOT NULL,
     source_id TEXT NOT NULL,
     created_at_ms ${int} NOT NULL,
     pairs TEXT NOT NULL,
     PRIMARY KEY (tenant, replay_id)
   );
   CREATE INDEX replays_source ON replays (tenant, source_kind, source_id);`;
}

/**
 * The migration both stores append for a tenant's whole trail (`GET /v1/audit` without a task or
 * campaign): each audit row carries its task's tenant, indexed with the row id, so a page reads
 * its rows in order from `audit_tenant` instead of walking every tenant's rows in id order and
 * dropping the others' (or, for a small tenant, reading all its rows and sorting them). Rows
 * written before it get their tenant from their task; every insert writes it since.
 */
export function auditTenantSql(): string {
  return `ALTER TABLE audit ADD COLUMN tenant TEXT;
   UPDATE audit SET tenant = (SELECT t.tenant FROM tasks t WHERE t.uid = audit.task_uid);
   CREATE INDEX audit_tenant ON audit (tenant, id);`;
}

/**
 * The audit query in either dialect: `?`/`$n` placeholders come from `param`, in order.
 *
 * PostgreSQL's query chooses the page's rows first (`p`: filtered, in id order through the
 * indexes, LIMIT applied) and joins only them to their task, attempt and worker: joined before
 * the LIMIT, a `since=` window it underestimated (58 rows planned against 2,701) had every row
 * of the window joined, then sorted for its first hundred. SQLite's nested loops already read
 * the page in id order and stop at the LIMIT (the subquery would only add a co-routine, 2-5% a
 * page), and a single task's few rows come off audit_task in id order: both join as they read.
 */
export function auditQuery(
  dialect: 'sqlite' | 'pg',
  filter: AuditFilter,
  param: (value: unknown) => string,
): string {
  const where = [`a.id > ${param(filter.afterId)}`];
  // A task's or campaign's rows are found from the task (tasks' indexes, then audit_task); a
  // tenant's whole trail from audit_tenant.
  const byTask = filter.taskId !== undefined || filter.campaignId !== undefined;
  if (filter.tenant !== undefined) where.push(`${byTask ? 't' : 'a'}.tenant = ${param(filter.tenant)}`);
  if (filter.taskId !== undefined) where.push(`t.task_id = ${param(filter.taskId)}`);
  if (filter.campaignId !== undefined) where.push(`t.campaign_id = ${param(filter.campaignId)}`);
  if (filter.sinceMs !== undefined) where.push(`a.ts_ms >= ${param(filter.sinceMs)}`);
  const page = `WHERE ${where.join(' AND ')} ORDER BY a.id LIMIT ${param(filter.limit)}`;
  const select = (r: string): string =>
    `SELECT ${r}.id, t.tenant, t.task_id, t.campaign_id, ${r}.ts_ms, ${r}.from_state, ${r}.to_state,
       ${r}.topic, ${r}.code, ${r}.lease_id, x.attempt, ${r}.worker_id, ${r}.output_hash, t.envelope,
       w.fingerprint`;
  const joins = (r: string): string => `JOIN tasks t ON t.uid = ${r}.task_uid
       LEFT JOIN attempts x ON x.lease_id = ${r}.lease_id
       LEFT JOIN workers w ON w.worker_id = ${r}.worker_id`;
  if (dialect === 'sqlite' || filter.taskId !== undefined)
    return `${select('a')} FROM audit a ${joins('a')} ${page}`;
  return `${select('p')}
     FROM (SELECT a.id, a.task_uid, a.ts_ms, a.from_state, a.to_state, a.topic, a.code, a.lease_id,
         a.worker_id, a.output_hash
       FROM audit a${byTask ? ' JOIN tasks t ON t.uid = a.task_uid' : ''} ${page}) p
     ${joins('p')}
     ORDER BY p.id`;
}

/** A row of `auditQuery` (the same columns in SQLite and PostgreSQL). */
export interface AuditEntryRow {
  id: number;
  tenant: string;
  task_id: string;
  campaign_id: string | null;
  ts_ms: number;
  from_state: string | null;
  to_state: string;
  topic: string;
  code: string | null;
  lease_id: string | null;
  attempt: number | null;
  worker_id: string | null;
  output_hash: string | null;
  envelope: Buffer;
  fingerprint: string | null;
}

export function toAuditEntry(row: AuditEntryRow): AuditEntry {
  return {
    id: Number(row.id),
    tenant: row.tenant,
    taskId: row.task_id,
    campaignId: row.campaign_id ?? undefined,
    tsMs: Number(row.ts_ms),
    fromState: row.from_state ?? undefined,
    toState: row.to_state,
    topic: row.topic,
    code: row.code ?? undefined,
    leaseId: row.lease_id ?? undefined,
    attempt: row.attempt === null ? undefined : Number(row.attempt),
    workerId: row.worker_id ?? undefined,
    outputHash: row.output_hash ?? undefined,
    envelope: new Uint8Array(row.envelope.buffer, row.envelope.byteOffset, row.envelope.byteLength),
    fingerprint: row.fingerprint ?? undefined,
  };
}

/** A row of the `replays` table. */
export interface ReplayRow {
  tenant: string;
  replay_id: string;
  source_kind: string;
  source_id: string;
  created_at_ms: number;
  pairs: string;
}

export function toReplay(row: ReplayRow): ReplayRecord {
  return {
    tenant: row.tenant,
    replayId: row.replay_id,
    sourceKind: row.source_kind as ReplayRecord['sourceKind'],
    sourceId: row.source_id,
    createdAtMs: Number(row.created_at_ms),
    pairs: JSON.parse(row.pairs) as ReplayRecord['pairs'],
  };
}
