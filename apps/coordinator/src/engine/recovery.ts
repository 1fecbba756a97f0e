// What a coordinator takes over when it starts (every open task of the store) or while it runs
// (tasks queued by another coordinator on a shared store).
import type { TaskRecord } from '../store/store.ts';
import { openBytesOf } from './backlog.ts';
import type { Engine } from './engine.ts';
import { type OpenTask, toOpen } from './open-task.ts';

/**
 * Open tasks a restart reads before the coordinator listens. Read all at once, a backlog's
 * records were held beside the open tasks made of them: 200,000 queued tasks could not be
 * recovered in a 400 MiB heap; a page at a time they recovered in 300 MiB, 1.2 KB a task once
 * recovered, in 19 rather than 29 µs a task (`bench/coordinator/queued-memory.ts --campaigns 200
 * --heap-mb 300`; with the shared module and requirements since, 1.0 KB a task, in 260 MiB). Past
 * this first page only the running tasks are read before listening; the queued ones are loaded
 * in the background (backlog.ts), so a backlog of millions does not hold the port closed.
 */
export const RECOVERY_PAGE = 5000;

export class Recovery {
  constructor(private readonly e: Engine) {}

  /**
   * Loads the first page of open tasks and every running one after it. Queued ones are queued
   * while they fit in the memory budget, and left in the store past it or past the first page,
   * to be loaded in submission order while the coordinator serves (backlog.ts); running ones
   * keep their lease for one more lease period, for their tab to reconnect; a verified task's
   * replicas lived in the previous process only, so its stored attempt ends and it runs its
   * missing replicas again.
   */
  async recover(now: number): Promise<{ running: number; left: number }> {
    let running = 0;
    const backlog = this.e.backlog;
    const page = await this.e.store.openTasks(0, RECOVERY_PAGE);
    for (const rec of page) {
      if (rec.state === 'queued' && backlog.leaves(openBytesOf(rec))) {
        backlog.leave(rec.uid);
        this.e.tails.inStore(rec.tenant, rec.campaignId);
      } else if (await this.recoverOne(rec, now)) running += 1;
    }
    if (page.length === RECOVERY_PAGE) running += await this.recoverRunning(page[page.length - 1]!.uid, now);
    // Its campaigns' counts, from the store: the tasks done before the restart count (batch tails).
    await this.e.tails.countFromStore();
    return { running, left: backlog.size };
  }

  /**
   * The running tasks above `after`; the queued ones there are counted as left in the store (all
   * queued tasks but those loaded and those left so far).
   */
  private async recoverRunning(after: number, now: number): Promise<number> {
    let running = 0;
    for (let from = after; ; ) {
      const page = await this.e.store.runningTasks(from, RECOVERY_PAGE);
      for (const rec of page) if (await this.recoverOne(rec, now)) running += 1;
      if (page.length < RECOVERY_PAGE) break;
      from = page[page.length - 1]!.uid;
    }
    const queued = (await this.e.store.stateCounts()).queued;
    const held = this.e.scheduler.size + this.e.delayedCount;
    this.e.backlog.leaveRest(after, queued - held - this.e.backlog.size);
    return running;
  }

  /**
   * Queues a stored queued task (the caller counts its campaign's tasks from the store after);
   * `counted`: loaded from the store past the budget, its campaign counts it already.
   */
  async queue(rec: TaskRecord, now: number, counted = false): Promise<void> {
    const task = await this.opened(rec, counted);
    this.e.transitions.makeRunnable(task, now);
  }

  /** The open task of a stored one, held from now on (with its durable trust state, if verified). */
  private async opened(rec: TaskRecord, counted = false): Promise<OpenTask> {
    const task = toOpen(rec);
    this.e.transitions.open(task, counted);
    // Loaded from the store: its campaign counts it, or (left unnamed by a restart) is counted
    // from the store once, like a recovered task's.
    if (counted) this.e.tails.inStore(rec.tenant, rec.campaignId);
    else this.e.tails.fromStore(task);
    await this.e.replicas.open(task);
    return task;
  }

  /** Takes over one open task; true when it is running under a lease kept for its tab. */
  private async recoverOne(rec: TaskRecord, now: number): Promise<boolean> {
    if (rec.state === 'queued') {
      await this.queue(rec, now);
      return false;
    }
    const task = await this.opened(rec);
    const attempt = rec.currentLeaseId ? await this.e.store.getAttempt(rec.currentLeaseId) : undefined;
    if (!attempt) return false;
    if (task.replicas) {
      await this.restartVerification(task, attempt.leaseId, now);
      return false;
    }
    this.e.transitions.started(task, attempt.leaseId, attempt.attempt);
    this.e.leases.add({
      kind: 'task',
      leaseId: attempt.leaseId,
      taskUid: task.uid,
      taskId: task.taskId,
      tenant: task.tenant,
      workerId: attempt.workerId,
      attempt: attempt.attempt,
      gpu: task.sched.gpu,
      expiresAtMs: now + this.e.config.leaseMs,
      startedAtMs: now,
      runUntilMs: now + this.e.dispatcher.runLimitMs(task.envelope),
      cancelling: false,
      token: undefined,
    });
    this.e.scheduler.setRunning(task.tenant, 1);
    return true;
  }

  private async restartVerification(task: OpenTask, leaseId: string, now: number): Promise<void> {
    await this.e.trust.releaseRunning(String(task.uid)).catch(() => 0);
    await this.e.transitions.verificationInterrupted(
      task,
      leaseId,
      await this.e.trust.status(String(task.uid)),
      now,
    );
  }

  /**
   * Takes a task queued by another coordinator on a shared store into this one's queue. False
   * when it is not queued or already known here.
   */
  adopt(rec: TaskRecord): boolean {
    if (this.e.closed || rec.state !== 'queued' || this.e.open.has(rec.uid)) return false;
    const task = toOpen(rec);
    this.e.transitions.open(task);
    this.e.tails.fromStore(task);
    void this.e.tails.countFromStore();
    this.e.transitions.makeRunnable(task, Date.now());
    return true;
  }
}
