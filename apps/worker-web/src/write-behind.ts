// IndexedDB off the hot path. What makes reloads safe (the assignments in flight, the outcomes
// not yet acknowledged) is kept in memory and written to IndexedDB only when it is still there a
// window after it appeared, all of one flush in one transaction. Most jobs are finished and
// acknowledged well within the window, so they never touch IndexedDB.
//
// The guarantee (README "Resume"): after a reload a result is never lost and never delivered
// twice. A job whose assignment had not been written yet runs again: the coordinator requeues a
// lease the tab no longer lists, and it accepts one result per task (a resent result of a lease it
// already has is acknowledged DUPLICATE and not counted).
import type { ComputeAssignment } from '@flock/protocol';
import { countCopy } from './copy-meter.ts';
import type { PendingOutcome, TabStore } from './tab-store.ts';

/** How long an entry may live only in memory, ms. */
export const WRITE_BEHIND_MS = 250;
/**
 * An outcome's window also covers its upload: its bytes at this rate (bytes/ms, 16 MiB/s), so a
 * large result still streaming to the coordinator is not copied into IndexedDB meanwhile.
 */
const UPLOAD_BYTES_PER_MS = (16 << 20) / 1000;

interface Held<T> {
  value: T;
  /** When it is due for IndexedDB if still held (epoch ms, before the window is added). */
  sinceMs: number;
  /** Written to IndexedDB: forgetting it then needs a delete there too. */
  persisted: boolean;
}

export class WriteBehind {
  private readonly assignments = new Map<string, Held<ComputeAssignment>>();
  private readonly outcomes = new Map<string, Held<PendingOutcome>>();
  private readonly deletes = { assignments: new Set<string>(), outcomes: new Set<string>() };
  private timer: ReturnType<typeof setTimeout> | undefined;
  private flushing: Promise<void> | undefined;
  /** IndexedDB transactions written (tests and the bench count them). */
  flushes = 0;

  /** @param windowMs how long an entry may live only in memory (tests lengthen it) */
  constructor(
    private readonly store: TabStore,
    public windowMs = WRITE_BEHIND_MS,
  ) {}

  saveAssignment(assignment: ComputeAssignment): void {
    const leaseId = assignment.lease_id ?? '';
    this.deletes.assignments.delete(leaseId);
    this.assignments.set(leaseId, { value: assignment, sinceMs: Date.now(), persisted: false });
    this.schedule();
  }

  /** The job's outcome replaces its assignment (in one transaction, if both reach IndexedDB). */
  finish(outcome: PendingOutcome): void {
    this.forget(this.assignments, this.deletes.assignments, outcome.leaseId);
    this.deletes.outcomes.delete(outcome.leaseId);
    const bytes =
      'result' in outcome
        ? (outcome.result.outputs ?? []).reduce((sum, o) => sum + (o.inline_bytes?.byteLength ?? 0), 0)
        : 0;
    const sinceMs = Date.now() + bytes / UPLOAD_BYTES_PER_MS;
    this.outcomes.set(outcome.leaseId, { value: outcome, sinceMs, persisted: false });
    this.schedule();
  }

  /** The job stopped without an outcome to keep (cancelled, lease lost). */
  deleteAssignment(leaseId: string): void {
    this.forget(this.assignments, this.deletes.assignments, leaseId);
    this.schedule();
  }

  /** Its result_ack came: the outcome is delivered. */
  deleteOutcome(leaseId: string): void {
    this.forget(this.outcomes, this.deletes.outcomes, leaseId);
    this.schedule();
  }

  /** Outcomes not yet acknowledged: in memory, and in IndexedDB from before a reload. */
  async pendingOutcomes(): Promise<PendingOutcome[]> {
    const stored = (await this.store.outcomes()).filter(
      (o) => !this.outcomes.has(o.leaseId) && !this.deletes.outcomes.has(o.leaseId),
    );
    return [...stored, ...[...this.outcomes.values()].map((h) => h.value)];
  }

  /** Assignments in flight: in memory, and in IndexedDB from before a reload. */
  async pendingAssignments(): Promise<ComputeAssignment[]> {
    const stored = (await this.store.assignments()).filter(
      (a) => !this.assignments.has(a.lease_id ?? '') && !this.deletes.assignments.has(a.lease_id ?? ''),
    );
    return [...stored, ...[...this.assignments.values()].map((h) => h.value)];
  }

  /** Writes everything held now (the page is going away), then resolves. */
  async flush(all = true): Promise<void> {
    await this.flushing?.catch(() => undefined);
    this.flushing = this.write(all ? Number.POSITIVE_INFINITY : Date.now() - this.windowMs);
    await this.flushing;
    this.flushing = undefined;
  }

  private forget<T>(held: Map<string, Held<T>>, deletes: Set<string>, leaseId: string): void {
    const entry = held.get(leaseId);
    held.delete(leaseId);
    if (entry?.persisted) deletes.add(leaseId);
    else if (!entry) deletes.add(leaseId); // it may be in IndexedDB from before a reload
  }

  private schedule(): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush(false).then(() => {
        if (this.dirty()) this.schedule();
      });
    }, this.windowMs);
  }

  private dirty(): boolean {
    const unwritten = (held: Map<string, Held<unknown>>) => [...held.values()].some((h) => !h.persisted);
    return (
      unwritten(this.assignments) ||
      unwritten(this.outcomes) ||
      this.deletes.assignments.size > 0 ||
      this.deletes.outcomes.size > 0
    );
  }

  /** One transaction: entries held since `olderThanMs` (or all), and the deletes due. */
  private async write(olderThanMs: number): Promise<void> {
    const due = <T>(held: Map<string, Held<T>>) =>
      [...held.values()].filter(
        (h) => !h.persisted && (olderThanMs === Number.POSITIVE_INFINITY || h.sinceMs <= olderThanMs),
      );
    const assignments = due(this.assignments);
    const outcomes = due(this.outcomes);
    const deletes = { assignments: [...this.deletes.assignments], outcomes: [...this.deletes.outcomes] };
    if (assignments.length + outcomes.length + deletes.assignments.length + deletes.outcomes.length === 0)
      return;
    for (const id of deletes.assignments) this.deletes.assignments.delete(id);
    for (const id of deletes.outcomes) this.deletes.outcomes.delete(id);
    for (const h of [...assignments, ...outcomes]) h.persisted = true;
    try {
      await this.store.write({
        assignments: assignments.map((h) => h.value),
        outcomes: outcomes.map((h) => storable(h.value)),
        deleteAssignments: deletes.assignments,
        deleteOutcomes: deletes.outcomes,
      });
      this.flushes++;
    } catch (error) {
      // Kept in memory and tried again at the next flush.
      console.warn('flock: could not write to IndexedDB', error);
      for (const h of [...assignments, ...outcomes]) h.persisted = false;
      for (const id of deletes.assignments) this.deletes.assignments.add(id);
      for (const id of deletes.outcomes) this.deletes.outcomes.add(id);
    }
  }
}

/**
 * An outcome IndexedDB can hold: outputs that are views of an executor's shared arena are copied
 * out (IndexedDB cannot store shared memory). Only outcomes still unacknowledged after the window
 * get here, so this copy is off the hot path.
 */
function storable(outcome: PendingOutcome): PendingOutcome {
  if (!('result' in outcome)) return outcome;
  const outputs = outcome.result.outputs?.map((o) => {
    const bytes = o.inline_bytes;
    if (!bytes || bytes.buffer instanceof ArrayBuffer) return o;
    countCopy('persist:outcome', bytes.byteLength);
    return { ...o, inline_bytes: bytes.slice() };
  });
  return outputs ? { ...outcome, result: { ...outcome.result, outputs } } : outcome;
}
