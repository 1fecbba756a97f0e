// GET /v1/audit: the audit log (every transition of a tenant's tasks) with input and output hashes,
// the attempt, the worker and its environment fingerprint, and the task's trace id.

import { inputHashOf, traceIdOf } from '../engine/audit-hashes.ts';
import { CoordinatorError } from '../errors.ts';
import type { AuditEntry } from '../store/audit-store.ts';
import { type Handler, json, listLimit } from './http-util.ts';
import { afterCursor, nextCursor } from './page-cursor.ts';

const TENANT = /^[A-Za-z0-9_.-]{1,64}$/;
const ID = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199}$/;
const QUERY_KEYS = new Set(['task_id', 'campaign_id', 'since', 'limit', 'after', 'tenant']);

/** `?since=`: an ISO 8601 time or milliseconds since the epoch. */
export function sinceMs(text: string | null): number | undefined {
  if (text === null) return undefined;
  const ms = /^\d{1,15}$/.test(text)
    ? Number(text)
    : /^\d{4}-\d{2}-\d{2}/.test(text)
      ? Date.parse(text)
      : NaN;
  if (!Number.isFinite(ms))
    throw new CoordinatorError(
      'INVALID_ARGUMENT',
      'since must be an ISO 8601 time or epoch milliseconds',
      'since',
    );
  return ms;
}

function optionalId(q: URLSearchParams, name: string): string | undefined {
  const value = q.get(name);
  if (value === null) return undefined;
  if (!ID.test(value)) throw new CoordinatorError('INVALID_ARGUMENT', `${name} is not a valid id`, name);
  return value;
}

/** Whose rows: the key's tenant; an operator key's every tenant, or the one it names. */
function tenantOf(q: URLSearchParams, tenant: string, admin: boolean): string | undefined {
  const named = q.get('tenant');
  if (named === null) return admin ? undefined : tenant;
  if (!TENANT.test(named))
    throw new CoordinatorError('INVALID_ARGUMENT', 'tenant must match [A-Za-z0-9_.-]{1,64}', 'tenant');
  if (named !== tenant && !admin)
    throw new CoordinatorError(
      'FORBIDDEN',
      'only an operator key (FLOCK_ADMIN_KEYS) reads other tenants',
      'tenant',
    );
  return named;
}

/** One row of the answer (snake_case, times ISO 8601). */
function auditView(entry: AuditEntry, hashes: Map<string, { input: string; trace: string | null }>) {
  const key = `${entry.tenant}\n${entry.taskId}`;
  let task = hashes.get(key);
  if (task === undefined) {
    task = { input: inputHashOf(entry.envelope), trace: traceIdOf(entry.envelope) ?? null };
    hashes.set(key, task);
  }
  return {
    tenant: entry.tenant,
    task_id: entry.taskId,
    campaign_id: entry.campaignId ?? null,
    trace_id: task.trace,
    from: entry.fromState ?? null,
    to: entry.toState,
    topic: entry.topic,
    code: entry.code ?? null,
    ts: new Date(entry.tsMs).toISOString(),
    lease_id: entry.leaseId ?? null,
    attempt: entry.attempt ?? null,
    input_hash: task.input,
    output_hash: entry.outputHash ?? null,
    worker:
      entry.workerId === undefined
        ? null
        : {
            id: entry.workerId,
            ...(entry.fingerprint === undefined ? {} : (JSON.parse(entry.fingerprint) as object)),
          },
  };
}

/**
 * `GET /v1/audit?task_id=|campaign_id=|since=&limit=&after=` (and `tenant=` for operator keys):
 * audit rows in the order they were written; `next` is the cursor of the following page. A
 * `task_id` without any audit row in the tenant (every operator's tenant) is 404 `NOT_FOUND`.
 */
export const getAudit: Handler = async (ctx, req, res, tenant) => {
  const q = new URL(req.url ?? '/', 'http://localhost').searchParams;
  for (const key of q.keys()) {
    if (!QUERY_KEYS.has(key))
      throw new CoordinatorError('INVALID_ARGUMENT', `unknown parameter "${key}"`, key);
  }
  const limit = listLimit(q);
  const audit = ctx.coordinator.store.auditStore();
  const whose = tenantOf(q, tenant, ctx.admin === true);
  const taskId = optionalId(q, 'task_id');
  const entries = await audit.entries({
    tenant: whose,
    taskId,
    campaignId: optionalId(q, 'campaign_id'),
    sinceMs: sinceMs(q.get('since')),
    afterId: afterCursor(q.get('after')),
    limit,
  });
  // An empty page of a task with no audit row at all (unknown, another tenant's, or purged with
  // its rows) is 404 as GET /v1/tasks/:id answers it, not an empty trail; a page past its last row
  // or before since= is an empty list.
  if (taskId !== undefined && entries.length === 0) {
    const any = await audit.entries({ tenant: whose, taskId, afterId: 0, limit: 1 });
    if (any.length === 0) throw new CoordinatorError('NOT_FOUND', `no task "${taskId}"`);
  }
  const hashes = new Map<string, { input: string; trace: string | null }>();
  const body: Record<string, unknown> = { entries: entries.map((e) => auditView(e, hashes)) };
  if (entries.length === limit) body.next = nextCursor(entries[entries.length - 1]!.id);
  json(res, 200, body);
};
