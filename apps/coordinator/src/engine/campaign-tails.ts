// Batch tails (BOINC's batch acceleration): once a campaign is TAIL_FRACTION done, its queued tasks
// leave out volunteers far slower than the rest, and a task still running past COPY_FACTOR times
// the campaign's median run time gets a speculative copy on another volunteer. The first result
// completes the task (on its stored attempt) and the other lease is cancelled. Tasks with a
// verification policy get no copy (their replicas are the trust engine's to ask for).

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
  total: number;
  done: number;
  /** Run times (lease → result) of its successes, newest last. */
  runs: number[];
}

export class CampaignTails {
  private readonly campaigns = new Map<string, Campaign>();

  constructor(private readonly e: Engine) {}

  /** A task of a campaign is open in this process (submitted, recovered, adopted). */
  opened(task: OpenTask): void {
    if (!task.campaignId) return;
    const c = this.campaigns.get(task.campaignId) ?? { total: 0, done: 0, runs: [] };
    c.total += 1;
    this.campaigns.set(task.campaignId, c);
  }

  /** A task of the campaign finished (in any state). */
  finished(task: OpenTask): void {
    const c = task.campaignId ? this.campaigns.get(task.campaignId) : undefined;
    if (!c) return;
    c.done += 1;
    if (c.done >= c.total) this.campaigns.delete(task.campaignId!);
  }

  /** A success of the task on `worker` took `runMs`: the campaign's runs and the worker's turnaround. */
  ran(task: OpenTask, worker: WorkerState, runMs: number): void {
    const c = task.campaignId ? this.campaigns.get(task.campaignId) : undefined;
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
      const c = task.campaignId ? this.campaigns.get(task.campaignId) : undefined;
      if (!c || c.total < MIN_CAMPAIGN_TASKS || c.done < TAIL_FRACTION * c.total) continue;
      if (task.state === 'queued') task.sched.avoid = slow;
      else if (!task.replicas && !task.copy) this.maybeCopy(task, c, now);
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
