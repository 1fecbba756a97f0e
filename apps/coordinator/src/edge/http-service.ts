import { toJson } from '@flock/protocol';
import type { WorkerState } from '../engine/coordinator.ts';
import { WORKER_ID } from '../engine/worker-sessions.ts';
import { CoordinatorError } from '../errors.ts';
import { type ApiContext, type Handler, json, listLimit } from './http-util.ts';
import { badCursor } from './page-cursor.ts';

/** One volunteer of `GET /v1/workers`, with its credit (#9): device-weighted compute seconds of validated results. */
async function workerView(ctx: ApiContext, w: WorkerState): Promise<Record<string, unknown>> {
  const standing = await ctx.coordinator.trust.standing(w.workerId);
  return {
    worker_id: w.workerId,
    connected: w.link !== undefined,
    capability: toJson('Capability', w.capability),
    running: w.runningCpu + w.runningGpu,
    tasks_succeeded: w.succeeded,
    tasks_failed: w.failed,
    connected_at_ms: w.connectedAtMs,
    last_seen_ms: w.lastSeenMs,
    credit: standing.credit,
    pending_credit: standing.pendingCredit,
    valid_results: standing.validResults,
    invalid_results: standing.invalidResults,
    checks_passed: standing.checksPassed,
    checks_failed: standing.checksFailed,
    vetted: standing.vetted,
    quarantined: standing.quarantined,
    // FLOCK_SPOT_CHECKS=off: no worker is ever checked, so "not vetted" does not mean "new".
    unchecked: !ctx.config.spotChecks,
  };
}

/**
 * Known volunteers by worker id, a page at a time: `?limit=` (1..1000, default 100), `?after=<id>`
 * (the previous page's `next`, its last worker id; one since forgotten still pages on from there).
 * An `after` that is no worker id is 400 `INVALID_ARGUMENT` on `after`, as the other lists answer.
 */
export const listWorkers: Handler = async (ctx, req, res) => {
  const q = new URL(req.url ?? '/', 'http://localhost').searchParams;
  const limit = listLimit(q);
  const after = q.get('after') ?? '';
  if (q.has('after') && !WORKER_ID.test(after)) throw badCursor();
  const page = [...ctx.coordinator.workers.values()]
    .filter((w) => w.workerId > after)
    .sort((a, b) => (a.workerId < b.workerId ? -1 : 1))
    .slice(0, limit);
  const workers = await Promise.all(page.map((w) => workerView(ctx, w)));
  const body: Record<string, unknown> = { workers };
  if (page.length === limit) body.next = page[page.length - 1]!.workerId;
  json(res, 200, body);
};

/**
 * `GET /v1/stats`: queue depth (and how much of it waits in the store past the memory budget),
 * running tasks, connected volunteers, recent throughput and latency, and each op's service level
 * over the SLO window against the targets.
 */
export const stats: Handler = async (ctx, _req, res) => {
  const c = ctx.coordinator;
  const recent = c.recentStats();
  json(res, 200, {
    queue_depth: c.queueDepth(),
    queued_in_store: c.leftInStore(),
    running: c.runningCount(),
    workers: c.connectedWorkers().length,
    throughput_per_min: recent.throughputPerMin,
    latency_ms: { p50: recent.p50, p95: recent.p95, p99: recent.p99 },
    slo: { p95_ms: ctx.config.sloP95Ms, success: ctx.config.sloSuccess, window_ms: ctx.config.sloWindowMs },
    ops: c.opLevels().map((l) => ({
      op: l.op,
      count: l.count,
      succeeded: l.succeeded,
      failed: l.failed,
      success_rate: l.successRate,
      p50_ms: l.p50Ms,
      p95_ms: l.p95Ms,
      violations: l.violations,
    })),
  });
};

/** `GET /v1/breakers`: the tenant's circuit breakers that are open or counting failures. */
export const listBreakers: Handler = async (ctx, _req, res, tenant) => {
  json(res, 200, { breakers: ctx.coordinator.breakers(tenant) });
};

/** `POST /v1/breakers/:op/reset`: closes the breaker and queues its held tasks. */
export const resetBreaker: Handler = async (ctx, _req, res, tenant, parts) => {
  const op = parts[1]!;
  if (!ctx.coordinator.resetBreaker(tenant, op)) {
    throw new CoordinatorError('NOT_FOUND', `no open breaker for op "${op}"`);
  }
  json(res, 200, { op, state: 'closed' });
};
