// Batch tails (BOINC's batch acceleration): once a campaign is TAIL_FRACTION done, its queued tasks
// leave out volunteers far slower than the rest, and a task still running past COPY_FACTOR times
// the campaign's median run time gets a speculative copy on another volunteer. The first result
// completes the task (on its stored attempt) and the other lease is cancelled. A task with a
// verification policy gets its copy as one more replica, granted by the trust engine (another
// worker, counted toward the quorum like any replica; what the quorum leaves running is cancelled).
// A campaign's total and done counts come from the store once when a coordinator recovers or adopts
// its tasks; run times are this process's only (after a restart the median is measured afresh).

import { TASK_STATES } from '../store/store.ts';
import type { Engine } from './engine.ts';
import type { Lease } from './lease-table.ts';
import type { OpenTask } from './open-task.ts';
import type { WorkerState } from './worker-state.ts';

/** Share of a campaign done from which its tail is accelerated. */
export const TAIL_FRACTION = 0.9;
/** Campaigns smaller than this have no tail to speak of. */
const MIN_CAMPAIGN_TASKS = 10;
/** A task running this many times the campaign's median run time gets a copy. */
export const COPY_FACTOR = 3;
/** Run times a median needs, and how many are kept per campaign. */
const MIN_RUNS = 5;
const MAX_RUNS = 200;
/** A volunteer whose turnaround is this many times the median of those connected is slow. */
const SLOW_FACTOR = 3;

interface Campaign {
  tenant: string;
  campaignId: string;
  total: number;
  done: number;
  /** Run times (lease → result) of its successes, newest last. */
  runs: number[];
  /** Its counts were (or are being) read from the store. */
  counted?: boolean;
}

export class CampaignTails {
  /**
   * Campaigns by tenant, then by id: two lookups rather than a key string joined for each (a
   * campaign is looked up for every task opened, run and finished).
   */
  private readonly campaigns = new Map<string, Map<string, Campaign>>();
  /** Campaigns whose counts are to be read from the store (`countFromStore`). */
  private readonly toCount: Campaign[] = [];
  /** Verified tasks that were granted a speculative replica (one each). */
  private readonly speculated = new Set<number>();

  constructor(private readonly e: Engine) {}

  /**
   * A task of a campaign is open in this process (submitted, recovered, adopted), or submitted here
   * and left in the store past the memory budget (engine/backlog.ts).
   */
  opened(task: OpenTask): void {
    if (!task.campaignId) return;
    this.campaign(task.tenant, task.campaignId).total += 1;
  }

  /**
   * A recovery left a queued task of a campaign in the store: its campaign's counts are read from
   * the store (`countFromStore`), which has it, as for a task recovered (`fromStore`).
   */
  inStore(tenant: string, campaignId: string | undefined): void {
    if (!campaignId) return;
    const c = this.campaign(tenant, campaignId);
    if (c.counted) return;
    c.counted = true;
    this.toCount.push(c);
  }

  /** A campaign's counts as the tails know them (undefined once done, or never open here). */
  counts(tenant: string, campaignId: string): { total: number; done: number } | undefined {
    const c = this.campaigns.get(tenant)?.get(campaignId);
    return c && { total: c.total, done: c.done };
  }

  private campaign(tenant: string, campaignId: string): Campaign {
    let byId = this.campaigns.get(tenant);
    if (!byId) {
      byId = new Map();
      this.campaigns.set(tenant, byId);
    }
    let c = byId.get(campaignId);
    if (!c) {
      c = { tenant, campaignId, total: 0, done: 0, runs: [] };
      byId.set(campaignId, c);
    }
    return c;
  }

  /**
   * A task recovered or adopted from the store: its campaign's counts are read from the store
   * (`countFromStore`), once per campaign, since tasks finished before this process never opened here.
   */
  fromStore(task: OpenTask): void {
    const c = this.campaignOf(task);
    if (!c || c.counted) return;
    c.counted = true;
    this.toCount.push(c);
  }

  /** Reads the counts of the campaigns `fromStore` named: one store query per campaign. */
  async countFromStore(): Promise<void> {
    for (const c of this.toCount.splice(0)) {
      try {
        const counts = await this.e.store.countByState(c.tenant, c.campaignId);
        const total = TASK_STATES.reduce((n, state) => n + counts[state], 0);
        // What this process counted since is part of the store's counts.
        c.total = Math.max(c.total, total);
        c.done = Math.max(c.done, counts.succeeded + counts.failed + counts.cancelled);
      } catch (err) {
        this.e.log.warn({ err, campaign: c.campaignId }, 'campaign counts could not be read');
      }
    }
  }

  /** A task of the campaign finished (in any state). */
  finished(task: OpenTask): void {
    this.speculated.delete(task.uid);
    this.done(this.campaignOf(task));
  }

  /** A task of the campaign waiting in the store (engine/backlog.ts) was cancelled there. */
  endedInStore(tenant: string, campaignId: string | undefined): void {
    this.done(campaignId ? this.campaigns.get(tenant)?.get(campaignId) : undefined);
  }

  private done(c: Campaign | undefined): void {
    if (!c) return;
    c.done += 1;
    if (c.done < c.total) return;
    const byId = this.campaigns.get(c.tenant);
    byId?.delete(c.campaignId);
    if (byId?.size === 0) this.campaigns.delete(c.tenant);
  }

  /** A success of the task on `worker` took `runMs`: the campaign's runs and the worker's turnaround. */
  ran(task: OpenTask, worker: WorkerState, runMs: number): void {
    const c = this.campaignOf(task);
    if (c) {
      c.runs.push(runMs);
      if (c.runs.length > MAX_RUNS) c.runs.shift();
    }
    worker.turnaroundMs = worker.turnaroundMs === undefined ? runMs : 0.7 * worker.turnaroundMs + 0.3 * runMs;
  }

  /** Called by the tick (once a second): slow volunteers left out of tails, stragglers copied. */
  tick(now: number): void {
    if (!this.e.config.tailAcceleration) return;
    const slow = this.slowWorkers();
    for (const task of this.e.open.values()) {
      const c = this.campaignOf(task);
      if (!c || c.total < MIN_CAMPAIGN_TASKS || c.done < TAIL_FRACTION * c.total) continue;
      if (task.state === 'queued') task.sched.avoid = slow;
      else if (task.replicas) this.maybeReplica(task, c, now);
      else if (!task.copy) this.maybeCopy(task, c, now);
    }
  }

  /** The task's stored attempt ended (finished, requeued, cancelled): its copy is told to stop. */
  attemptEnded(task: OpenTask, now: number): void {
    const copy = task.copy;
    if (!copy) return;
    task.copy = undefined;
    if (!task.replicas) task.sched.excludeWorkers = undefined;
    if (copy.leaseId === undefined) {
      if (task.state === 'running') this.e.scheduler.remove(task.uid);
      return;
    }
    const lease = this.e.leases.get(copy.leaseId);
    if (lease) this.e.dispatcher.cancelLease(lease, 'CANCELLED', now);
  }

  /** The copy's lease ended without completing the task: another may be made later. */
  copyEnded(task: OpenTask | undefined, lease: Lease): void {
    if (task?.copy?.leaseId === lease.leaseId) {
      task.copy = undefined;
      task.sched.excludeWorkers = undefined;
    }
  }

  /** The task completed through one lease: the other (original or copy) is cancelled. */
  completedBy(task: OpenTask, lease: Lease, now: number): void {
    const other = lease.kind === 'copy' ? task.leaseId : task.copy?.leaseId;
    task.copy = undefined;
    const otherLease = other ? this.e.leases.get(other) : undefined;
    if (otherLease && otherLease.leaseId !== lease.leaseId)
      this.e.dispatcher.cancelLease(otherLease, 'CANCELLED', now);
  }

  private maybeCopy(task: OpenTask, c: Campaign, now: number): void {
    if (c.runs.length < MIN_RUNS || !task.leaseId) return;
    const lease = this.e.leases.get(task.leaseId);
    if (!lease || lease.cancelling || now - lease.startedAtMs <= COPY_FACTOR * median(c.runs)) return;
    // Queued for a copy: the scheduler finds it another worker; the dispatcher leases it as a copy.
    task.copy = { leaseId: undefined };
    task.sched.excludeWorkers = new Set([lease.workerId]);
    task.sched.queuedAtMs = now;
    this.e.scheduler.enqueue(task.sched);
    this.e.metrics.errors.inc({ code: 'SPECULATIVE_COPY' });
    this.e.dispatcher.scheduleDispatch();
  }

  /**
   * A verified task with a replica running past COPY_FACTOR times the median: the trust engine is
   * asked for one replica more (once per task; asked again at a later tick while it refuses).
   */
  private maybeReplica(task: OpenTask, c: Campaign, now: number): void {
    if (c.runs.length < MIN_RUNS || this.speculated.has(task.uid) || this.e.scheduler.has(task.uid)) return;
    const limit = COPY_FACTOR * median(c.runs);
    const straggles = [...task.replicaLeases].some((id) => {
      const lease = this.e.leases.get(id);
      return lease !== undefined && !lease.cancelling && now - lease.startedAtMs > limit;
    });
    if (!straggles) return;
    this.speculated.add(task.uid);
    void this.e.replicas.speculate(task).then((granted) => {
      if (granted) this.e.metrics.errors.inc({ code: 'SPECULATIVE_COPY' });
      else this.speculated.delete(task.uid);
    });
  }

  private campaignOf(task: OpenTask): Campaign | undefined {
    return task.campaignId ? this.campaigns.get(task.tenant)?.get(task.campaignId) : undefined;
  }

  /** Connected workers whose turnaround is SLOW_FACTOR times the median of those measured. */
  private slowWorkers(): Set<string> | undefined {
    const measured = this.e.sessions.connectedWorkers().filter((w) => w.turnaroundMs !== undefined);
    if (measured.length < 2) return undefined;
    const mid = median(measured.map((w) => w.turnaroundMs!));
    const slow = measured.filter((w) => w.turnaroundMs! > SLOW_FACTOR * mid).map((w) => w.workerId);
    return slow.length > 0 && slow.length < measured.length ? new Set(slow) : undefined;
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
