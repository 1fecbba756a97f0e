// Replica runs of verified tasks (TRUST.md): replicas run at once on distinct workers, each
// result goes to the trust engine, which accepts one (the task completes on its stored attempt),
// wants another replica, or fails the task. The task's scheduling entry mirrors the engine's rules.
import type { ComputeFailure, ComputeResult } from '@flock/protocol';
import {
  adapterClassOf,
  moduleKeyOf,
  outputsOf,
  resolvePolicy,
  type TrustEngine,
  type VerificationStatus,
} from '../trust/index.ts';
import type { Engine } from './engine.ts';
import type { Lease } from './lease-table.ts';
import type { OpenTask, ReplicaDecision } from './open-task.ts';
import type { SchedTask } from './scheduler.ts';
import type { WorkerState } from './worker-state.ts';

export class ReplicaRuns {
  constructor(private readonly e: Engine) {}

  /** A verified task opened (submitted or recovered): the engine opens its verification. */
  async open(task: OpenTask): Promise<void> {
    if (!task.replicas) return;
    const status = await this.e.trust.open(String(task.uid), {
      verification: task.envelope.verification,
      moduleHash: moduleKeyOf(task.envelope),
    });
    // A task recovered from durable trust state: its earlier replicas' workers stay excluded.
    this.restrict(task, status);
  }

  /** Mirrors the engine's rules for the next replica in the task's scheduling entry. */
  restrict(task: OpenTask, status: VerificationStatus): void {
    const excluded = new Set([...status.workers, ...task.refusedWorkers]);
    task.sched.excludeWorkers = excluded.size > 0 ? excluded : undefined;
    task.sched.needsVetted = status.needsVetted || undefined;
    task.sched.adapterClass = status.adapterLock;
  }

  /**
   * Feeds a replica's result to the trust engine. Accepted: returns the canonical result, to be
   * committed on the task's stored attempt (the caller then ends the lease). Otherwise 'handled'
   * and the lease ended: another replica is queued when the engine wants one, or the task failed
   * VERIFICATION_FAILED. A decision stays on the task (`decided`) until the store takes it, so
   * that the same result sent again after a store failure commits it without voting twice.
   */
  async verify(
    worker: WorkerState,
    lease: Lease,
    task: OpenTask,
    stored: ComputeResult,
    now: number,
  ): Promise<ComputeResult | 'handled'> {
    const decision =
      task.decided?.leaseId === lease.leaseId
        ? task.decided.decision
        : await this.vote(worker, lease, task, stored, now);
    if (decision === undefined) return 'handled';
    if (decision.kind === 'accepted') return decision.canonical;
    await this.failFirst(task, lease, 'VERIFICATION_FAILED', decision.message, now);
    this.endLease(task, lease, worker);
    return 'handled';
  }

  /**
   * The trust engine's verdict on a replica's result: its decision (kept on the task), or
   * undefined when it wants another replica or the result counts for nothing (the lease ended).
   */
  private async vote(
    worker: WorkerState,
    lease: Lease,
    task: OpenTask,
    stored: ComputeResult,
    now: number,
  ): Promise<ReplicaDecision | undefined> {
    const key = String(task.uid);
    let verdict: Awaited<ReturnType<TrustEngine['submit']>> | undefined;
    try {
      const outputs = outputsOf(stored, (uri) => this.e.outputs.blobBytes(uri));
      verdict = await this.e.trust.submit(key, worker.workerId, outputs, { claimedMs: stored.duration_ms });
      this.e.sessions.standingChanged(
        verdict.kind === 'accepted'
          ? [worker.workerId, ...verdict.valid, ...verdict.invalid]
          : [worker.workerId],
      );
      if (verdict.kind === 'accepted' && verdict.by === 'quorum') {
        const policy = resolvePolicy(task.envelope.verification);
        this.e.replay.remember(task.envelope, outputs, policy, [...verdict.valid, ...verdict.invalid]);
      }
    } catch (err) {
      this.e.log.warn({ err, task: task.taskId }, 'result could not be verified');
      this.release(task, worker.workerId);
      task.refusedWorkers.add(worker.workerId);
    }
    task.replicas!.set(worker.workerId, stored);
    let decision: ReplicaDecision | undefined;
    if (verdict?.kind === 'accepted')
      decision = { kind: 'accepted', canonical: task.replicas!.get(verdict.canonicalWorker) ?? stored };
    else if (verdict?.kind === 'failed') decision = { kind: 'failed', message: verdict.message };
    if (decision) {
      task.decided = { leaseId: lease.leaseId, result: stored, decision };
      return decision;
    }
    this.endLease(task, lease, worker);
    // Its run time counts like the deciding replica's (campaign medians, worker turnaround).
    if (verdict?.kind === 'pending') this.e.tails.ran(task, worker, now - lease.startedAtMs);
    await this.follow(task);
    this.e.dispatcher.scheduleDispatch();
    return undefined;
  }

  /**
   * A replica failed. Not retryable: the task fails with the code (the job itself is broken).
   * Retryable: another worker runs a replica, up to the task's retries. A failure that fails the
   * task is stored before anything changes in memory (`failFirst`).
   */
  async failed(
    worker: WorkerState,
    lease: Lease,
    task: OpenTask,
    failure: ComputeFailure,
    now: number,
  ): Promise<void> {
    const code = failure.code || 'EXECUTION_ERROR';
    const retryable = failure.retryable === true;
    const exhausted =
      retryable &&
      (task.failures + 1 > task.maxRetries || task.replicaLosses + 1 >= this.e.config.maxAttempts);
    if (!retryable) await this.failFirst(task, lease, code, failure.message ?? '', now);
    else if (exhausted)
      await this.failFirst(task, lease, 'RETRIES_EXHAUSTED', `${code}: ${failure.message ?? ''}`, now);
    this.endLease(task, lease, worker);
    this.release(task, worker.workerId);
    this.e.sessions.countFailure(worker);
    task.failures += 1;
    if (!retryable) return;
    task.replicaLosses += 1;
    if (exhausted) return;
    task.refusedWorkers.add(worker.workerId); // it failed here: another worker tries
    await this.follow(task);
  }

  /**
   * A replica's lease ran out: another worker runs one (the stored attempt stays open), or the
   * task fails once replica leases were lost `maxAttempts` times (stored first: `failFirst`).
   */
  async lost(task: OpenTask, lease: Lease, code: string, now: number): Promise<void> {
    const exhausted = task.replicaLosses + 1 >= this.e.config.maxAttempts;
    if (exhausted)
      await this.failFirst(task, lease, 'RETRIES_EXHAUSTED', 'replica leases lost on every attempt', now);
    this.endLease(task, lease, undefined);
    this.release(task, lease.workerId);
    this.e.metrics.errors.inc({ code });
    task.replicaLosses += 1;
    if (!exhausted) await this.follow(task);
  }

  /**
   * Fails a verified task on its stored attempt while `lease`, whose end decides it, is still
   * live: should the store be unreachable (a PostgreSQL outage), this throws with the task and the
   * lease as they were, and the lease's end is tried again (its parked outcome, a later tick).
   */
  private async failFirst(
    task: OpenTask,
    lease: Lease,
    code: string,
    message: string,
    now: number,
  ): Promise<void> {
    // Not among the replicas the failure cancels: this one has ended already.
    task.replicaLeases.delete(lease.leaseId);
    try {
      await this.e.transitions.failVerified(task, code, message, now);
    } catch (err) {
      task.replicaLeases.add(lease.leaseId);
      throw err;
    }
  }

  /**
   * Tells the engine of a replica just leased, mirrors its rules, and queues the next replica at
   * once when the policy wants several (they run in parallel). Should the engine refuse it (a
   * race with another decision), the lease is cancelled and the worker not offered the task again.
   */
  async assigned(task: OpenTask, worker: WorkerState, sched: SchedTask, leaseId: string): Promise<void> {
    const adapterClass = adapterClassOf(worker.capability, sched.gpu ? 'gpu' : 'cpu');
    try {
      await this.e.trust.assign(String(task.uid), { workerId: worker.workerId, adapterClass });
    } catch (err) {
      this.e.log.warn({ err, task: task.taskId }, 'replica refused by the trust engine: cancelled');
      task.refusedWorkers.add(worker.workerId);
      const lease = this.e.leases.get(leaseId);
      if (lease) this.e.dispatcher.cancelLease(lease, 'CANCELLED', Date.now());
      task.replicaLeases.delete(leaseId);
    }
    await this.follow(task);
  }

  /**
   * A replica straggles at its campaign's tail (campaign-tails.ts): the engine is asked for one
   * replica more, which the scheduler gives to a worker that holds none of the task (the engine's
   * rules, mirrored). True when the engine granted it.
   */
  async speculate(task: OpenTask): Promise<boolean> {
    const granted = await this.e.trust.speculate(String(task.uid)).catch(() => false);
    if (granted) await this.follow(task);
    return granted;
  }

  /** Tells every running replica of a decided (or cancelled) task to stop. */
  cancelAll(task: OpenTask, reason: string, now: number): void {
    for (const leaseId of task.replicaLeases) {
      const lease = this.e.leases.get(leaseId);
      if (lease) this.e.dispatcher.cancelLease(lease, reason, now);
    }
    task.replicaLeases.clear();
  }

  /** A replica's lease ended without a result: the engine frees its slot. */
  release(task: OpenTask | undefined, workerId: string): void {
    if (!task?.replicas) return;
    this.e.trust.release(String(task.uid), workerId).catch(() => undefined);
  }

  /** Ends a replica's lease (its slot frees); the task's stored attempt stays open. */
  endLease(task: OpenTask, lease: Lease, worker: WorkerState | undefined): void {
    task.replicaLeases.delete(lease.leaseId);
    this.e.dispatcher.endLease(lease, worker);
  }

  /** After the engine changed its mind about a verified task: mirror its rules, queue a replica if wanted. */
  private async follow(task: OpenTask): Promise<void> {
    const status = await this.e.trust.status(String(task.uid)).catch(() => undefined);
    if (!status || this.e.open.get(task.uid) !== task) return;
    this.restrict(task, status);
    if (status.state === 'pending' && status.wanted > 0 && task.state === 'running') this.enqueue(task);
  }

  /** Queues a running verified task for one more replica (the engine wants one). */
  private enqueue(task: OpenTask): void {
    if (this.e.open.get(task.uid) !== task || this.e.scheduler.has(task.uid)) return;
    task.sched.queuedAtMs = Date.now();
    this.e.scheduler.enqueue(task.sched);
    this.e.dispatcher.scheduleDispatch();
  }
}
