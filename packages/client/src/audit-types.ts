// The audit log and replays as the coordinator answers them (`GET /v1/audit`, `/v1/replay`).

/** Which audit rows `FlockClient.audit` reads (one page). */
export interface AuditQuery {
  task_id?: string;
  campaign_id?: string;
  /** Rows at or after this time: ISO 8601 or epoch milliseconds. */
  since?: string | number;
  /** Rows per page, 1..1000 (default 100). */
  limit?: number;
  /** The previous page's `next`. */
  after?: string;
  /** An operator key: this tenant only (default: every tenant). */
  tenant?: string;
}

/** The environment of the volunteer that ran an attempt, from its latest hello. */
export interface WorkerFingerprint {
  id: string;
  user_agent: string | null;
  browser: string | null;
  os: string | null;
  adapter: { vendor: string; architecture: string; device: string; description: string } | null;
  driver: string | null;
  network: string | null;
  labels: Record<string, string>;
}

/** One transition of a task. */
export interface AuditEntry {
  tenant: string;
  task_id: string;
  campaign_id: string | null;
  trace_id: string | null;
  from: string | null;
  to: string;
  topic: string;
  code: string | null;
  /** ISO 8601. */
  ts: string;
  lease_id: string | null;
  attempt: number | null;
  /** `sha256:` of the task's canonical envelope. */
  input_hash: string;
  /** `sha256:` over the outputs' names and hashes; on `succeeded` rows. */
  output_hash: string | null;
  worker: WorkerFingerprint | null;
}

export interface AuditPage {
  entries: AuditEntry[];
  /** The cursor of the next page, absent on the last. */
  next?: string;
}

/** What `POST /v1/replay` replays: one task, a campaign's tasks, or a workflow's step tasks. */
export type ReplaySource = { task_id: string } | { campaign_id: string } | { workflow_id: string };

/** A replay as made: each recorded task beside its replay (`<task id>@replay-<n>`). */
export interface ReplayView {
  replay_id: string;
  source: { kind: 'task' | 'campaign' | 'workflow'; id: string };
  created_at: string;
  pairs: Array<{ original: string; replay: string }>;
}

/** One side of a replay's pair. */
export interface ReplaySide {
  task_id: string;
  state: string;
  output_hash: string | null;
}

/** `GET /v1/replay/:id`: both output hashes per pair; `equal` null until both succeeded. */
export interface ReplayStatus extends Omit<ReplayView, 'pairs'> {
  pairs: Array<{ original: ReplaySide; replay: ReplaySide; equal: boolean | null }>;
  /** Every replayed task finished. */
  done: boolean;
  /** Every pair is equal. */
  equal: boolean;
}
