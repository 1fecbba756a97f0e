// The PostgreSQL store's workflow table (workflow-store.ts): one statement per call.
import type pg from 'pg';
import {
  type CircuitRecord,
  type CircuitRow,
  type NewWorkflow,
  toCircuit,
  toWorkflow,
  type WorkflowEnd,
  type WorkflowFilter,
  type WorkflowInsert,
  type WorkflowRecord,
  type WorkflowRow,
  type WorkflowStore,
} from './workflow-store.ts';

export class PgWorkflowStore implements WorkflowStore {
  constructor(private readonly pool: pg.Pool) {}

  async insert(w: NewWorkflow): Promise<WorkflowInsert> {
    const { rows } = await this.pool.query<WorkflowRow>(
      `INSERT INTO workflows (tenant, workflow_id, definition, content_hash, state, created_at_ms)
       VALUES ($1, $2, $3, $4, 'running', $5) ON CONFLICT (tenant, workflow_id) DO NOTHING RETURNING *`,
      [w.tenant, w.workflowId, w.definition, w.contentHash, w.createdAtMs],
    );
    if (rows[0]) return { kind: 'created', workflow: toWorkflow(rows[0]) };
    const workflow = await this.get(w.tenant, w.workflowId);
    if (workflow?.contentHash === w.contentHash) return { kind: 'existing', workflow };
    return { kind: 'conflict' };
  }

  async get(tenant: string, workflowId: string): Promise<WorkflowRecord | undefined> {
    const { rows } = await this.pool.query<WorkflowRow>(
      'SELECT * FROM workflows WHERE tenant = $1 AND workflow_id = $2',
      [tenant, workflowId],
    );
    return rows[0] ? toWorkflow(rows[0]) : undefined;
  }

  async list(tenant: string, filter: WorkflowFilter): Promise<WorkflowRecord[]> {
    const args: Array<string | number> = [tenant, filter.afterUid ?? 0];
    let state = '';
    if (filter.state !== undefined) {
      args.push(filter.state);
      state = `AND state = $${args.length}`;
    }
    args.push(filter.limit);
    const { rows } = await this.pool.query<WorkflowRow>(
      `SELECT * FROM workflows WHERE tenant = $1 AND uid > $2 ${state} ORDER BY uid LIMIT $${args.length}`,
      args,
    );
    return rows.map(toWorkflow);
  }

  async putCircuit(c: CircuitRecord): Promise<'created' | 'existing' | 'conflict'> {
    const { rowCount } = await this.pool.query(
      `INSERT INTO circuits (tenant, name, definition, content_hash, created_at_ms)
       VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, name) DO NOTHING`,
      [c.tenant, c.name, c.definition, c.contentHash, c.createdAtMs],
    );
    if (rowCount === 1) return 'created';
    const known = await this.getCircuit(c.tenant, c.name);
    return known?.contentHash === c.contentHash ? 'existing' : 'conflict';
  }

  async getCircuit(tenant: string, name: string): Promise<CircuitRecord | undefined> {
    const { rows } = await this.pool.query<CircuitRow>(
      'SELECT * FROM circuits WHERE tenant = $1 AND name = $2',
      [tenant, name],
    );
    return rows[0] ? toCircuit(rows[0]) : undefined;
  }

  async listCircuits(tenant: string): Promise<CircuitRecord[]> {
    const { rows } = await this.pool.query<CircuitRow>(
      'SELECT * FROM circuits WHERE tenant = $1 ORDER BY name LIMIT 1000',
      [tenant],
    );
    return rows.map(toCircuit);
  }

  async unfinished(): Promise<WorkflowRecord[]> {
    const { rows } = await this.pool.query<WorkflowRow>(
      `SELECT * FROM workflows WHERE state = 'running' ORDER BY uid`,
    );
    return rows.map(toWorkflow);
  }

  async stalled(beforeMs: number, limit: number): Promise<WorkflowRecord[]> {
    const { rows } = await this.pool.query<WorkflowRow>(
      `SELECT * FROM workflows w WHERE w.state = 'running' AND w.created_at_ms < $1
         AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.tenant = w.tenant AND t.campaign_id = w.workflow_id
                         AND t.state IN ('queued', 'running'))
       ORDER BY w.uid LIMIT $2`,
      [beforeMs, limit],
    );
    return rows.map(toWorkflow);
  }

  async finish(end: WorkflowEnd): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE workflows SET state = $1, finished_at_ms = $2, code = $3, message = $4
       WHERE tenant = $5 AND workflow_id = $6 AND state = 'running'`,
      [end.state, end.nowMs, end.code ?? null, end.message ?? null, end.tenant, end.workflowId],
    );
    return rowCount === 1;
  }
}
