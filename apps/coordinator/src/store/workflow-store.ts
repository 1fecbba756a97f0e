// Workflows as the store keeps them: one row each (definition, tenant, state, times). Step state is
// not stored: it is derived from the step tasks' rows (WORKFLOWS.md), so the only write after the
// insert is the final state.

export type WorkflowState = 'running' | 'succeeded' | 'failed' | 'cancelled';

export const WORKFLOW_STATES: readonly WorkflowState[] = ['running', 'succeeded', 'failed', 'cancelled'];

export interface NewWorkflow {
  tenant: string;
  workflowId: string;
  /** The definition's stored JSON (explicit depends_on and policies, metered modules). */
  definition: string;
  /** sha256 hex of `definition`: same id + same hash is the same workflow. */
  contentHash: string;
  createdAtMs: number;
}

export interface WorkflowRecord extends NewWorkflow {
  /** Internal id, increasing with creation (the list cursor). */
  uid: number;
  state: WorkflowState;
  finishedAtMs: number | undefined;
  /** Why it failed or was cancelled (`STEP_FAILED`, `CANCELLED`…). */
  code: string | undefined;
  message: string | undefined;
}

export type WorkflowInsert =
  | { kind: 'created'; workflow: WorkflowRecord }
  | { kind: 'existing'; workflow: WorkflowRecord }
  | { kind: 'conflict' };

export interface WorkflowFilter {
  state?: WorkflowState | undefined;
  afterUid?: number | undefined;
  limit: number;
}

export interface WorkflowEnd {
  tenant: string;
  workflowId: string;
  state: Exclude<WorkflowState, 'running'>;
  code: string | undefined;
  message: string | undefined;
  nowMs: number;
}

/** The workflow tables of a store (`Store.workflowStore()`); test/store-contract.ts covers both stores. */
export interface WorkflowStore {
  /** Inserts a running workflow; the same id with the same hash is `existing`, another hash `conflict`. */
  insert(workflow: NewWorkflow): Promise<WorkflowInsert>;
  get(tenant: string, workflowId: string): Promise<WorkflowRecord | undefined>;
  /** The tenant's workflows by uid (oldest first), after the cursor. */
  list(tenant: string, filter: WorkflowFilter): Promise<WorkflowRecord[]>;
  /** Every running workflow, oldest first: what a restarted coordinator advances. */
  unfinished(): Promise<WorkflowRecord[]>;
  /** running → a final state; false when it had already finished (the first writer wins). */
  finish(end: WorkflowEnd): Promise<boolean>;
}

/** A row of the `workflows` table (the same columns in SQLite and PostgreSQL). */
export interface WorkflowRow {
  uid: number;
  tenant: string;
  workflow_id: string;
  definition: string;
  content_hash: string;
  state: WorkflowState;
  created_at_ms: number;
  finished_at_ms: number | null;
  code: string | null;
  message: string | null;
}

export function toWorkflow(row: WorkflowRow): WorkflowRecord {
  return {
    uid: Number(row.uid),
    tenant: row.tenant,
    workflowId: row.workflow_id,
    definition: row.definition,
    contentHash: row.content_hash,
    createdAtMs: Number(row.created_at_ms),
    state: row.state,
    finishedAtMs: row.finished_at_ms === null ? undefined : Number(row.finished_at_ms),
    code: row.code ?? undefined,
    message: row.message ?? undefined,
  };
}

/** The same table in both stores (types: SQLite's INTEGER, PostgreSQL's BIGINT). */
export function workflowsTableSql(dialect: 'sqlite' | 'pg'): string {
  const uid =
    dialect === 'sqlite'
      ? 'INTEGER PRIMARY KEY AUTOINCREMENT'
      : 'BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY';
  const int = dialect === 'sqlite' ? 'INTEGER' : 'BIGINT';
  return `CREATE TABLE workflows (
     uid ${uid},
     tenant TEXT NOT NULL,
     workflow_id TEXT NOT NULL,
     definition TEXT NOT NULL,
     content_hash TEXT NOT NULL,
     state TEXT NOT NULL,
     created_at_ms ${int} NOT NULL,
     finished_at_ms ${int},
     code TEXT,
     message TEXT,
     UNIQUE (tenant, workflow_id)
   );
   CREATE INDEX workflows_running ON workflows (uid) WHERE state = 'running';`;
}
