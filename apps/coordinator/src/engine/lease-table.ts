/**
 * What a lease is for, which decides how it ends (lease-outcomes.ts routes on it):
 * - `task`: an attempt of a task without a verification policy, stored as an attempt row;
 * - `replica`: one replica of a verified task (the task's stored attempt is the first replica's;
 *   further replicas live in this process only), judged by the trust engine;
 * - `check`: a known-answer spot check, not a stored task (`taskUid` is negative);
 * - `copy`: a speculative copy of a straggling task at its campaign's tail (campaign-tails.ts),
 *   in this process only; whichever of it and the task's lease returns first completes the task.
 */
export type LeaseKind = 'task' | 'replica' | 'check' | 'copy';

/** One lease: a worker's right to run one attempt of one task until `expiresAtMs`. */
export interface Lease {
  kind: LeaseKind;
  leaseId: string;
  taskUid: number;
  taskId: string;
  tenant: string;
  workerId: string;
  attempt: number;
  /** Uses a GPU slot (WGSL or WebGPU-requiring task) rather than a CPU slot. */
  gpu: boolean;
  expiresAtMs: number;
  /** When it was handed out (epoch ms; for a lease recovered after a restart, when it was recovered). */
  startedAtMs: number;
  /**
   * The run-time limit (epoch ms): the task's time limit plus a grace from when the lease began.
   * Heartbeats never renew a lease past it, so a worker cannot hold a task for ever.
   */
  runUntilMs: number;
  /** A heartbeat asked to renew it past `runUntilMs`: the worker kept it beyond its time. */
  overran?: boolean | undefined;
  /** Cancel pushed to the worker; the slot stays taken until it acks or the lease runs out. */
  cancelling: boolean;
  /** The task token handed out with it (unset for leases recovered after a restart). */
  token: string | undefined;
  /** The uploaded blobs (`sha256:<hex>`) its task names as inputs, which its worker may fetch. */
  inputs?: Set<string> | undefined;
  /** The spot check it carries (kind `check`). */
  checkId?: string | undefined;
  /** Its span in the task's trace (the assignment frame's `trace.span_id`; #19). */
  spanId?: string | undefined;
}

/**
 * The active leases, in memory, indexed by lease id and by worker. The store holds the durable
 * record (attempt rows); this table decides expiry and answers heartbeats quickly.
 */
export class LeaseTable {
  private readonly byId = new Map<string, Lease>();
  private readonly byWorker = new Map<string, Set<string>>();

  get size(): number {
    return this.byId.size;
  }

  add(lease: Lease): void {
    this.byId.set(lease.leaseId, lease);
    let set = this.byWorker.get(lease.workerId);
    if (!set) {
      set = new Set();
      this.byWorker.set(lease.workerId, set);
    }
    set.add(lease.leaseId);
  }

  get(leaseId: string): Lease | undefined {
    return this.byId.get(leaseId);
  }

  delete(leaseId: string): Lease | undefined {
    const lease = this.byId.get(leaseId);
    if (!lease) return undefined;
    this.byId.delete(leaseId);
    // An emptied set stays until the next sweep (`expired`): the worker's next lease, most often
    // in the next dispatch pass, reuses it rather than make a set (and a map entry) a lease.
    this.byWorker.get(lease.workerId)?.delete(leaseId);
    return lease;
  }

  /** Leases held by a worker (a copy: safe to delete while iterating). */
  forWorker(workerId: string): Lease[] {
    const set = this.byWorker.get(workerId);
    if (!set) return [];
    return [...set].map((id) => this.byId.get(id)!);
  }

  /**
   * Extends a lease the worker still holds, never past its run-time limit; undefined when it is
   * not that worker's live lease.
   */
  renew(leaseId: string, workerId: string, expiresAtMs: number): Lease | undefined {
    const lease = this.byId.get(leaseId);
    if (!lease || lease.workerId !== workerId || lease.cancelling) return undefined;
    if (expiresAtMs > lease.runUntilMs) lease.overran = true;
    lease.expiresAtMs = Math.max(lease.expiresAtMs, Math.min(expiresAtMs, lease.runUntilMs));
    return lease;
  }

  /** Leases whose time is up at `nowMs`. The housekeeping sweep: it also drops emptied sets. */
  expired(nowMs: number): Lease[] {
    const out: Lease[] = [];
    for (const lease of this.byId.values()) if (lease.expiresAtMs <= nowMs) out.push(lease);
    for (const [workerId, set] of this.byWorker) if (set.size === 0) this.byWorker.delete(workerId);
    return out;
  }
}
