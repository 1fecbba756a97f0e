// Task transitions: the only place a task changes state. Each is stored first (the store's
// guarded transactions), then mirrored in memory (the open tasks, the queue) and announced
// (events). Leases, workers and the trust engine are the callers' business.
import { type ComputeFailure, type ComputeResult, EVENTS, toJson } from '@flock/protocol';
import type { CompleteTask, TaskRecord, TaskState } from '../store/store.ts';
import type { VerificationStatus } from '../trust/index.ts';
import { outputHashOf } from './audit-hashes.ts';
import type { Engine } from './engine.ts';
import { GroupCommit } from './group-commit.ts';
import type { Lease } from './lease-table.ts';
import { type OpenTask, storedCorrelationId, storedReturnChannel, toOpen } from './open-task.ts';

/** How an attempt ends, as the store records it. */
interface AttemptEnd {
  outcome: 'failed' | 'lease_expired' | 'deadline_exceeded' | 'succeeded';
  code: string;
  message?: string | undefined;
  /** The task's own code and message when they differ from the attempt's. */
  taskCode?: string;
  taskMessage?: string;
  /** Queued again from then on; undefined: the task is finished. */
  requeueAtMs?: number | undefined;
  /** Counts against the task's retries. */
  countsAsFailure?: boolean;
}

export class TaskTransitions {
  private readonly commits: GroupCommit;

  constructor(private readonly e: Engine) {
    this.commits = new GroupCommit(e.store);
  }

  /**
   * A stored task (submitted, recovered, adopted, reopened) becomes open in this process;
   * `counted`: its campaign already counts it (a task loaded from the store, engine/backlog.ts).
   */
  open(task: OpenTask, counted = false): void {
    this.e.open.set(task.uid, task);
    if (!counted) this.e.tails.opened(task);
    if (task.deadlineAtMs !== undefined) this.e.deadlines.push(task.deadlineAtMs, task.uid);
  }

  /** Into the queue now, or at its `notBeforeMs` (retry backoff). */
  makeRunnable(task: OpenTask, now: number): void {
    task.state = 'queued';
    task.leaseId = undefined;
    task.sched.queuedAtMs = now;
    if (task.notBeforeMs > now) {
      this.e.delayed.push(task.notBeforeMs, task.uid);
      this.e.delayedCount += 1;
    } else this.enqueue(task);
  }

  /** Into the scheduler's queue now, unless its op's breaker holds it. */
  enqueue(task: OpenTask): void {
    if (!this.e.breakers.admit(task)) return;
    this.e.scheduler.enqueue(task.sched);
    this.e.dispatcher.scheduleDispatch();
  }

  /** Queued (again) and announced as requested: new, retried, lost, or withdrawn. */
  requeue(task: OpenTask, now: number, notBeforeMs?: number): void {
    this.e.tails.attemptEnded(task, now);
    if (notBeforeMs !== undefined) task.notBeforeMs = notBeforeMs;
    this.makeRunnable(task, now);
    this.announceQueued(task, now);
  }

  /** Announces a task as requested (queued): new, retried, lost, withdrawn, or left in the store. */
  announceQueued(task: OpenTask, now: number): void {
    if (this.e.announces(task, 'queued'))
      this.e.publish(task, EVENTS.requested, 'queued', now, () => toJson('ComputeEnvelope', task.envelope));
  }

  /** The store started its lease (`leaseId`, attempt number `attempt`). */
  started(task: OpenTask, leaseId: string, attempt: number): void {
    task.state = 'running';
    task.leaseId = leaseId;
    task.attempts = attempt;
  }

  /** Commits the result (group commit); on success the task is finished and announced. */
  async succeed(task: OpenTask, change: CompleteTask, canonical: ComputeResult): Promise<boolean> {
    // The audit row of the success keeps the output hash (audit-hashes.ts). Set on the caller's
    // change (made for this call) rather than on a spread copy of it.
    change.outputHash ??= outputHashOf(canonical);
    if (!(await this.commits.commit(change))) return false;
    this.e.stats.record(change.nowMs, change.nowMs - task.createdAtMs);
    // No closure for a success nobody hears of (most of them): see Engine.announces.
    const payload = this.e.announces(task, 'succeeded') ? () => toJson('ComputeResult', canonical) : unheard;
    this.finished(task, undefined, change.nowMs, payload);
    return true;
  }

  /**
   * Its worker reports the attempt failed: retried with backoff while the failure is retryable and
   * retries remain, else the task fails (RETRIES_EXHAUSTED when retryable). False when the lease
   * was no longer the task's.
   */
  async attemptFailed(task: OpenTask, lease: Lease, failure: ComputeFailure, now: number): Promise<boolean> {
    const code = failure.code || 'EXECUTION_ERROR';
    const retry =
      failure.retryable === true &&
      task.failures < task.maxRetries &&
      task.attempts < this.e.config.maxAttempts;
    const exhausted = failure.retryable === true && !retry;
    const finalCode = exhausted ? 'RETRIES_EXHAUSTED' : code;
    // The field at fault (a library job's `params.width`, `inputs[1]`) leads its message, once: many
    // messages already start with it (`params.sql must be one SELECT query`).
    const said = failure.message ?? '';
    const detail = failure.field && !said.startsWith(failure.field) ? `${failure.field}: ${said}` : said;
    const message = exhausted ? `${code}: ${detail}` : detail;
    const requeueAtMs = retry ? now + this.backoff(task.failures + 1) : undefined;
    const ok = await this.endAttempt(task, lease.leaseId, now, {
      outcome: 'failed',
      code,
      message: detail,
      taskCode: finalCode,
      taskMessage: message,
      requeueAtMs,
      countsAsFailure: true,
    });
    if (!ok) return false;
    task.failures += 1;
    if (retry) this.requeue(task, now, requeueAtMs);
    else {
      this.finished(task, finalCode, now, () =>
        toJson('ComputeFailure', {
          task_id: task.taskId,
          lease_id: lease.leaseId,
          worker_id: lease.workerId,
          code: finalCode,
          message,
          retryable: false,
        }),
      );
    }
    return true;
  }

  /** The attempt's lease was lost (`code`): requeued at once, or failed once attempts are used up. */
  async leaseLost(task: OpenTask, lease: Lease, code: string, now: number): Promise<void> {
    const exhausted = task.attempts >= this.e.config.maxAttempts;
    const ok = await this.endAttempt(task, lease.leaseId, now, {
      outcome: 'lease_expired',
      code: exhausted ? 'RETRIES_EXHAUSTED' : code,
      message: exhausted ? `${task.attempts} attempts, the last lost its lease` : undefined,
      requeueAtMs: exhausted ? undefined : now,
    });
    if (!ok) return;
    this.e.metrics.errors.inc({ code });
    if (!exhausted) {
      this.requeue(task, now, now);
      return;
    }
    this.finished(task, 'RETRIES_EXHAUSTED', now, () =>
      toJson('ComputeFailure', {
        task_id: task.taskId,
        code: 'RETRIES_EXHAUSTED',
        message: 'lease lost on every attempt',
      }),
    );
  }

  /**
   * A task fails with `code` and no retry: a queued one from the queue, a running one on its
   * stored attempt (verified tasks' replicas are cancelled). `outcome` is the attempt's.
   */
  async fail(
    task: OpenTask,
    code: string,
    message: string,
    now: number,
    outcome: AttemptEnd['outcome'] = 'failed',
  ): Promise<boolean> {
    const ok = task.leaseId
      ? await this.endAttempt(task, task.leaseId, now, { outcome, code, message })
      : await this.e.store.failQueued(task.uid, code, message, now);
    if (!ok) return false;
    if (task.replicas)
      this.e.replicas.cancelAll(task, code === 'DEADLINE_EXCEEDED' ? code : 'CANCELLED', now);
    this.e.scheduler.remove(task.uid);
    this.e.metrics.errors.inc({ code });
    this.finished(task, code, now, () =>
      toJson('ComputeFailure', { task_id: task.taskId, code, message, retryable: false }),
    );
    this.e.dispatcher.scheduleDispatch();
    return true;
  }

  /** A verified task fails: VERIFICATION_FAILED (replicas disagreed: the attempt itself ran) or another code. */
  failVerified(task: OpenTask, code: string, message: string, now: number): Promise<boolean> {
    return this.fail(task, code, message, now, code === 'VERIFICATION_FAILED' ? 'succeeded' : 'failed');
  }

  /** The task's deadline passed: it fails DEADLINE_EXCEEDED, its running lease is cancelled. */
  async deadlineExceeded(uid: number, now: number): Promise<void> {
    const task = this.e.open.get(uid);
    if (!task) return;
    const message = `deadline passed ${now - (task.deadlineAtMs ?? now)} ms ago`;
    const lease = task.leaseId && !task.replicas ? this.e.leases.get(task.leaseId) : undefined;
    if (task.state === 'running' && !task.replicas && !lease) return;
    // A verified task's stored attempt stands for all its replicas: it failed.
    const outcome = task.replicas ? 'failed' : 'deadline_exceeded';
    const ok = await this.fail(task, 'DEADLINE_EXCEEDED', message, now, outcome);
    if (ok && lease) this.e.dispatcher.cancelLease(lease, 'DEADLINE_EXCEEDED', now);
  }

  /** Cancelled by its requester: out of the queue, running leases told to stop. */
  async cancel(rec: TaskRecord, reason: string): Promise<TaskState | undefined> {
    const now = Date.now();
    const previous = await this.e.store.cancelTask(rec.uid, reason, now);
    if (previous === undefined) return undefined;
    const task = this.e.open.get(rec.uid);
    this.e.open.delete(rec.uid);
    this.e.scheduler.remove(rec.uid);
    this.e.breakers.forget(rec.uid);
    if (task) {
      this.e.tails.attemptEnded(task, now);
      this.e.tails.finished(task);
    } else if (previous === 'queued' && this.e.backlog.ended(rec.uid)) {
      this.e.tails.endedInStore(rec.tenant, rec.campaignId);
    }
    if (task?.replicas) this.e.replicas.cancelAll(task, reason, now);
    const lease = task?.leaseId && !task.replicas ? this.e.leases.get(task.leaseId) : undefined;
    if (lease) this.e.dispatcher.cancelLease(lease, reason, now);
    this.e.events.publish({
      topic: EVENTS.cancelled,
      tenant: rec.tenant,
      taskId: rec.taskId,
      campaignId: rec.campaignId,
      returnChannel: task ? task.returnChannel : storedReturnChannel(rec.envelope),
      state: 'cancelled',
      tsMs: now,
      payload: () => toJson('ComputeCancelled', { task_id: rec.taskId, reason }),
      traceId: task ? task.envelope.correlation_id : storedCorrelationId(rec.envelope),
    });
    this.e.workflows.taskEnded(rec.tenant, rec.campaignId, rec.taskId);
    return previous;
  }

  /**
   * A finished task whose result the trust engine withdrew (its worker failed a check since): its
   * result is removed and it is queued again under the engine's rules.
   */
  async reopen(uid: number, status: VerificationStatus, now: number): Promise<void> {
    const rec = await this.e.store.reopenTask(uid, 'REVERIFY', now);
    if (!rec || this.e.open.has(uid)) return;
    const task = toOpen(rec);
    this.open(task);
    this.e.replicas.restrict(task, status);
    this.e.metrics.errors.inc({ code: 'REVERIFY' });
    this.e.log.warn({ task: task.taskId }, 'result withdrawn: its worker failed a check; verifying again');
    this.requeue(task, now);
  }

  /**
   * A verified task whose replicas lived in a process that is gone: its stored attempt ends and it
   * is queued to run the missing replicas under the engine's rules (`status`).
   */
  async verificationInterrupted(
    task: OpenTask,
    leaseId: string,
    status: VerificationStatus,
    now: number,
  ): Promise<void> {
    await this.endAttempt(task, leaseId, now, {
      outcome: 'lease_expired',
      code: 'LEASE_EXPIRED',
      message: 'coordinator restarted during verification',
      requeueAtMs: now,
    });
    this.e.replicas.restrict(task, status);
    this.makeRunnable(task, now);
  }

  /** The one way an attempt row is ended. */
  private endAttempt(task: OpenTask, leaseId: string, now: number, end: AttemptEnd): Promise<boolean> {
    return this.e.store.endAttempt({
      taskUid: task.uid,
      leaseId,
      outcome: end.outcome,
      code: end.code,
      message: end.message,
      ...(end.taskCode !== undefined ? { taskCode: end.taskCode } : {}),
      ...(end.taskMessage !== undefined ? { taskMessage: end.taskMessage } : {}),
      requeueAtMs: end.requeueAtMs,
      countsAsFailure: end.countsAsFailure ?? false,
      nowMs: now,
    });
  }

  /** Leaves memory for good: succeeded (no `code`) or failed with `code`, counted and announced. */
  private finished(task: OpenTask, code: string | undefined, now: number, payload: () => unknown): void {
    this.e.open.delete(task.uid);
    this.e.breakers.forget(task.uid);
    this.e.tails.attemptEnded(task, now);
    this.e.tails.finished(task);
    this.e.levels.finished(task, code, now);
    if (code === undefined) this.e.publish(task, EVENTS.success, 'succeeded', now, payload);
    else this.e.publish(task, EVENTS.failed, 'failed', now, payload);
    this.e.workflows.taskEnded(task.tenant, task.campaignId, task.taskId);
  }

  private backoff(failures: number): number {
    return Math.min(60_000, this.e.config.retryBaseMs * 2 ** Math.max(0, failures - 1));
  }
}

/** The payload of an event nobody hears of: never called (Engine.publish drops the event first). */
function unheard(): unknown {
  return undefined;
}
