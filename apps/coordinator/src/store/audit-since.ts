// Where a `since=` read of the audit log starts: a bisection by row id over the rows it reads (a
// tenant's, or every tenant's), so a time near the end of a long trail skips the older rows
// instead of walking them through audit_tenant. Both stores call `auditStart` with their own
// probes (sqlite-audit.ts, pg-audit.ts). There is no index on ts_ms on purpose: every audit index
// is written with each of a task's three audit rows on the hot path.
import type { AuditFilter } from './audit-store.ts';

/**
 * How far a later audit row's `ts_ms` may lie before an earlier row's (5 minutes). Ids grow in
 * the order rows are written (SQLite's AUTOINCREMENT, PostgreSQL's identity sequence) and ts_ms
 * is the writer's clock when it made the transition, so ts_ms follows id up to this disorder:
 * clocks of coordinators sharing one PostgreSQL store that disagree, a transition stamped well
 * before its INSERT took its id (a group commit's batch, a transaction waiting on a lock), a
 * clock stepped back. Larger disorder can drop rows from a `since=` answer; none of its cost is
 * on the write path, but a read walks about this much time's rows before the first it returns.
 */
export const AUDIT_SINCE_MARGIN_MS = 5 * 60_000;

/** An audit row's id and time, as a probe reads it. */
export interface AuditMark {
  id: number;
  tsMs: number;
}

/** Indexed point reads over the rows a read covers (the tenant's through audit_tenant, or all). */
export interface AuditProbe {
  /** How many points one `atOrAfter` call reads for about the cost of one (1: one at a time). */
  readonly width: number;
  /** For each id, the row with the smallest id at or above it, if any. */
  atOrAfter(ids: number[]): Promise<Array<AuditMark | undefined>>;
  /** The row with the largest id, if any. */
  last(): Promise<AuditMark | undefined>;
}

/**
 * The cursor a `since=` read may start from: a row id such that every row with
 * `ts_ms >= sinceMs` has a larger one, at or after `afterId` (the caller's cursor). The read keeps
 * its exact `ts_ms >= sinceMs` filter, so it returns the same rows as from `afterId`.
 *
 * Why it is safe: the start only ever moves to a row r0 with ts(r0) < since − MARGIN. The margin
 * assumes ts(r2) >= ts(r1) − MARGIN whenever id(r1) < id(r2), so every row r1 before r0 has
 * ts(r1) <= ts(r0) + MARGIN < since: no row at or before r0 is in the answer.
 *
 * Cost: each call of `probe.atOrAfter` with k points cuts the id range still open k + 1 ways, so
 * about log2(ids) point reads one at a time, or log(ids) / log(k + 1) calls of k.
 */
export async function auditStart(
  afterId: number,
  sinceMs: number,
  probe: AuditProbe,
  marginMs = AUDIT_SINCE_MARGIN_MS,
): Promise<number> {
  const floor = sinceMs - marginMs;
  const last = await probe.last();
  if (last === undefined || last.id <= afterId) return afterId;
  if (last.tsMs < floor) return last.id;
  // lo: a safe start (the cursor, or a row older than the floor); hi: where the search stops.
  let lo = afterId;
  let hi = last.id;
  while (hi - lo > 1) {
    // k points spread over (lo, hi), strictly increasing (the step is at least 1).
    const k = Math.min(probe.width, hi - lo - 1);
    const points = Array.from({ length: k }, (_, j) => lo + Math.ceil(((j + 1) * (hi - lo)) / (k + 1)));
    const rows = await probe.atOrAfter(points);
    const older = (j: number): boolean => {
      const row = rows[j];
      return row !== undefined && row.id < hi && row.tsMs < floor;
    };
    let j = k - 1;
    while (j >= 0 && !older(j)) j--;
    // The row found from points[j] lies before points[j + 1] (else that point would find it too,
    // and j was the last): the open range shrinks to (rows[j], points[j + 1]).
    if (j >= 0) lo = rows[j]!.id;
    if (j + 1 < k) hi = points[j + 1]!;
  }
  return lo;
}

/**
 * The filter with its cursor moved to where its `since=` read may start (`auditStart`); as it is
 * without `since` or with a task (whose rows audit_task finds directly). `probe` is made only when
 * a search runs (SQLite's prepares its statements).
 */
export async function sinceStartFilter(filter: AuditFilter, probe: () => AuditProbe): Promise<AuditFilter> {
  if (filter.sinceMs === undefined || filter.taskId !== undefined) return filter;
  return { ...filter, afterId: await auditStart(filter.afterId, filter.sinceMs, probe()) };
}

/** A probe's row (ids and times are BIGINT strings from PostgreSQL). */
export interface AuditMarkRow {
  id: number | string;
  ts_ms: number | string;
}

export const toAuditMark = (row: AuditMarkRow | undefined): AuditMark | undefined =>
  row === undefined ? undefined : { id: Number(row.id), tsMs: Number(row.ts_ms) };
