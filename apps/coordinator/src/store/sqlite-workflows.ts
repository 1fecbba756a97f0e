// The SQLite store's workflow table (workflow-store.ts), written through the store's group commit.
import type Database from 'better-sqlite3';
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

type Write = <T>(fn: () => T) => Promise<T>;

export class SqliteWorkflowStore implements WorkflowStore {
  constructor(
    private readonly db: Database.Database,
    private readonly write: Write,
    private readonly committed: () => Promise<void> | undefined,
  ) {}

  insert(w: NewWorkflow): Promise<WorkflowInsert> {
    return this.write(() => {
      const run = this.db
        .prepare(
          `INSERT INTO workflows (tenant, workflow_id, definition, content_hash, state, created_at_ms)
           VALUES (?, ?, ?, ?, 'running', ?) ON CONFLICT (tenant, workflow_id) DO NOTHING`,
        )
        .run(w.tenant, w.workflowId, w.definition, w.contentHash, w.createdAtMs);
      const workflow = this.read(w.tenant, w.workflowId)!;
      if (run.changes === 1) return { kind: 'created', workflow };
      return workflow.contentHash === w.contentHash ? { kind: 'existing', workflow } : { kind: 'conflict' };
    });
  }

  async get(tenant: string, workflowId: string): Promise<WorkflowRecord | undefined> {
    await this.committed();
    return this.read(tenant, workflowId);
  }

  async list(tenant: string, filter: WorkflowFilter): Promise<WorkflowRecord[]> {
    await this.committed();
    const state = filter.state === undefined ? '' : 'AND state = ?';
    const args: Array<string | number> = [tenant, filter.afterUid ?? 0];
    if (filter.state !== undefined) args.push(filter.state);
    args.push(filter.limit);
    return this.db
      .prepare<Array<string | number>, WorkflowRow>(
        `SELECT * FROM workflows WHERE tenant = ? AND uid > ? ${state} ORDER BY uid LIMIT ?`,
      )
      .all(...args)
      .map(toWorkflow);
  }

  async unfinished(): Promise<WorkflowRecord[]> {
    await this.committed();
    return this.db
      .prepare<[], WorkflowRow>(`SELECT * FROM workflows WHERE state = 'running' ORDER BY uid`)
      .all()
      .map(toWorkflow);
  }

  async stalled(beforeMs: number, limit: number): Promise<WorkflowRecord[]> {
    await this.committed();
    return this.db
      .prepare<[number, number], WorkflowRow>(
        `SELECT * FROM workflows w WHERE w.state = 'running' AND w.created_at_ms < ?
         AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.tenant = w.tenant AND t.campaign_id = w.workflow_id
                         AND t.state IN ('queued', 'running'))
       ORDER BY w.uid LIMIT ?`,
      )
      .all(beforeMs, limit)
      .map(toWorkflow);
  }

  finish(end: WorkflowEnd): Promise<boolean> {
    return this.write(
      () =>
        this.db
          .prepare(
            `UPDATE workflows SET state = ?, finished_at_ms = ?, code = ?, message = ?
             WHERE tenant = ? AND workflow_id = ? AND state = 'running'`,
          )
          .run(end.state, end.nowMs, end.code ?? null, end.message ?? null, end.tenant, end.workflowId)
          .changes === 1,
    );
  }

  putCircuit(c: CircuitRecord): Promise<'created' | 'existing' | 'conflict'> {
    return this.write(() => {
      const run = this.db
        .prepare(
          `INSERT INTO circuits (tenant, name, definition, content_hash, created_at_ms)
           VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, name) DO NOTHING`,
        )
        .run(c.tenant, c.name, c.definition, c.contentHash, c.createdAtMs);
      if (run.changes === 1) return 'created';
      const known = this.db
        .prepare<[string, string], { content_hash: string }>(
          'SELECT content_hash FROM circuits WHERE tenant = ? AND name = ?',
        )
        .get(c.tenant, c.name);
      return known?.content_hash === c.contentHash ? 'existing' : 'conflict';
    });
  }

  async getCircuit(tenant: string, name: string): Promise<CircuitRecord | undefined> {
    await this.committed();
    const row = this.db
      .prepare<[string, string], CircuitRow>('SELECT * FROM circuits WHERE tenant = ? AND name = ?')
      .get(tenant, name);
    return row ? toCircuit(row) : undefined;
  }

  async listCircuits(tenant: string): Promise<CircuitRecord[]> {
    await this.committed();
    return this.db
      .prepare<[string], CircuitRow>('SELECT * FROM circuits WHERE tenant = ? ORDER BY name LIMIT 1000')
      .all(tenant)
      .map(toCircuit);
  }

  private read(tenant: string, workflowId: string): WorkflowRecord | undefined {
    const row = this.db
      .prepare<[string, string], WorkflowRow>('SELECT * FROM workflows WHERE tenant = ? AND workflow_id = ?')
      .get(tenant, workflowId);
    return row ? toWorkflow(row) : undefined;
  }
}
