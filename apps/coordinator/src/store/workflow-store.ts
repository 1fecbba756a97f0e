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

/** A circuit: a named workflow template of a tenant (`POST /v1/circuits`). */
export interface CircuitRecord {
  tenant: string;
  name: string;
  /** The template's JSON (a definition without workflow_id, with `${input.*}`/`${param.*}` slots). */
  definition: string;
  contentHash: string;
  createdAtMs: number;
}

/** The workflow tables of a store (`Store.workflowStore()`); test/store-contract.ts covers both stores. */
export interface WorkflowStore {
  /** Stores a circuit; the same name with the same hash is `existing`, another hash `conflict`. */
  putCircuit(circuit: CircuitRecord): Promise<'created' | 'existing' | 'conflict'>;
  getCircuit(tenant: string, name: string): Promise<CircuitRecord | undefined>;
  /** The tenant's circuits by name (at most 1,000). */
  listCircuits(tenant: string): Promise<CircuitRecord[]>;
  /** Inserts a running workflow; the same id with the same hash is `existing`, another hash `conflict`. */
  insert(workflow: NewWorkflow): Promise<WorkflowInsert>;
  get(tenant: string, workflowId: string): Promise<WorkflowRecord | undefined>;
  /** The tenant's workflows by uid (oldest first), after the cursor. */
  list(tenant: string, filter: WorkflowFilter): Promise<WorkflowRecord[]>;
  /** Every running workflow, oldest first: what a restarted coordinator advances. */
  unfinished(): Promise<WorkflowRecord[]>;
  /**
   * Running workflows created before `beforeMs` none of whose tasks is queued or running (at most
   * `limit`, oldest first): stalled, if the coordinator advancing them is gone.
   */
  stalled(beforeMs: number, limit: number): Promise<WorkflowRecord[]>;
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

export interface CircuitRow {
  tenant: string;
  name: string;
  definition: string;
  content_hash: string;
  created_at_ms: number;
}

export function toCircuit(row: CircuitRow): CircuitRecord {
  return {
    tenant: row.tenant,
    name: row.name,
    definition: row.definition,
    contentHash: row.content_hash,
    createdAtMs: Number(row.created_at_ms),
  };
}

/** Circuits, the same in both stores. */
export function circuitsTableSql(dialect: 'sqlite' | 'pg'): string {
  return `CREATE TABLE circuits (
     tenant TEXT NOT NULL,
     name TEXT NOT NULL,
     definition TEXT NOT NULL,
     content_hash TEXT NOT NULL,
     created_at_ms ${dialect === 'sqlite' ? 'INTEGER' : 'BIGINT'} NOT NULL,
     PRIMARY KEY (tenant, name)
   );`;
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
