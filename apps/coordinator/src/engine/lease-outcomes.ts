// How leases end: a result, a failure, or a loss (expired, lost by the tab, held past its run
// time, given back). Each entry point checks the lease once, then routes on its kind (task,
// replica, check) to the one way that kind ends.
import {
  type ComputeFailure,
  type ComputeResult,
  type DataRef,
  type ResultAck,
  toJson,
} from '@flock/protocol';
import { assertNever } from '../errors.ts';
import type { Engine } from './engine.ts';
import type { Lease } from './lease-table.ts';
import type { OpenTask } from './open-task.ts';
import type { AckCode, WorkerState } from './worker-state.ts';

/** The ack of a result or failure for `leaseId`. */
function ackOf(taskId: string | undefined, leaseId: string, accepted: boolean, code?: AckCode): ResultAck {
  return code
    ? { task_id: taskId ?? '', lease_id: leaseId, accepted, code }
    : { task_id: taskId ?? '', lease_id: leaseId, accepted };
}

export class LeaseOutcomes {
  constructor(private readonly e: Engine) {}

  /** A result: stored durably before the ack; duplicates of the accepted lease are acked again. */
  async result(worker: WorkerState, result: ComputeResult): Promise<ResultAck> {
    const leaseId = result.lease_id ?? '';
    const refused = this.e.sessions.checkLease(worker, leaseId, result.task_id, result.task_token);
    if (refused === 'LEASE_UNKNOWN') {
      const code = await this.e.sessions.refusal(worker, leaseId, result.task_token);
      return this.resultAck(result, code === 'DUPLICATE', code);
    }
    if (refused) return this.resultAck(result, false, refused);
    if (result.worker_id && result.worker_id !== worker.workerId)
      return this.resultAck(result, false, 'LEASE_UNKNOWN');
    const lease = this.e.leases.get(leaseId)!;
    switch (lease.kind) {
      case 'check': {
        const [accepted, code] = await this.e.checks.judge(worker, lease, result);
        this.e.dispatcher.scheduleDispatch();
        return this.resultAck(result, accepted, code);
      }
      case 'task':
      case 'replica':
      case 'copy': {
        const task = this.e.open.get(lease.taskUid);
        if (!task) return this.resultAck(result, false, 'LEASE_EXPIRED');
        const ranUntil = Date.now();
        const code = await this.taskResult(worker, lease, task, result);
        // Observed once handled: a result the store could not take now comes again (parked-outcomes.ts).
        this.e.levels.ran(task, lease, ranUntil);
        return this.resultAck(result, code === undefined, code);
      }
      default:
        return assertNever(lease.kind);
    }
  }

  /** A result's ack (a method, not a closure per result: this runs for every result). */
  private resultAck(result: ComputeResult, accepted: boolean, code: AckCode | undefined): ResultAck {
    if (code && code !== 'DUPLICATE') this.e.metrics.errors.inc({ code });
    return ackOf(result.task_id, result.lease_id ?? '', accepted, code);
  }

  /** A failure: retried with backoff when retryable and retries remain, else the task fails. */
  async failure(worker: WorkerState, failure: ComputeFailure): Promise<ResultAck> {
    const leaseId = failure.lease_id ?? '';
    const ack = (accepted: boolean, code?: AckCode): ResultAck => {
      if (code) this.e.metrics.errors.inc({ code });
      return ackOf(failure.task_id, leaseId, accepted, code);
    };
    const refused = this.e.sessions.checkLease(worker, leaseId, failure.task_id, failure.task_token);
    if (refused === 'TASK_CANCELLED') {
      // The job stopped because we cancelled it: the slot is free again.
      this.e.dispatcher.endLease(this.e.leases.get(leaseId)!, worker);
      this.e.dispatcher.scheduleDispatch();
      return ack(true);
    }
    if (refused === 'LEASE_UNKNOWN') {
      const code = await this.e.sessions.refusal(worker, leaseId, failure.task_token);
      return ack(false, code === 'DUPLICATE' ? 'LEASE_EXPIRED' : code);
    }
    if (refused) return ack(false, refused);
    const lease = this.e.leases.get(leaseId)!;
    if (failure.code === 'LEASE_RETURNED') {
      await this.returned(lease, worker);
      return ack(true);
    }
    const now = Date.now();
    switch (lease.kind) {
      case 'check':
        this.e.checks.missed(lease, worker);
        return ack(true);
      case 'copy':
        // The original still runs: the task goes on; another copy may be made later.
        this.e.metrics.errors.inc({ code: failure.code || 'EXECUTION_ERROR' });
        this.e.dispatcher.endLease(lease, worker);
        this.e.sessions.countFailure(worker);
        this.e.tails.copyEnded(this.e.open.get(lease.taskUid), lease);
        this.e.dispatcher.scheduleDispatch();
        return ack(true);
      case 'replica': {
        const task = this.e.open.get(lease.taskUid);
        if (!task) return ack(false, 'LEASE_EXPIRED');
        await this.e.replicas.failed(worker, lease, task, failure, now);
        // Counted once handled, as a task's failure below.
        this.e.metrics.errors.inc({ code: failure.code || 'EXECUTION_ERROR' });
        this.e.levels.ran(task, lease, now);
        if (failure.retryable !== true)
          this.e.breakers.failed(task, worker.workerId, failure.code || 'EXECUTION_ERROR', now);
        return ack(true);
      }
      case 'task': {
        const task = this.e.open.get(lease.taskUid);
        if (!task) return ack(false, 'LEASE_EXPIRED');
        const stored = await this.e.transitions.attemptFailed(task, lease, failure, now);
        // Counted once handled: a failure the store could not take now comes again (parked-outcomes.ts).
        this.e.metrics.errors.inc({ code: failure.code || 'EXECUTION_ERROR' });
        this.e.levels.ran(task, lease, now);
        if (!stored) return ack(false, 'LEASE_EXPIRED');
        if (failure.retryable !== true)
          this.e.breakers.failed(task, worker.workerId, failure.code || 'EXECUTION_ERROR', now);
        this.e.dispatcher.endLease(lease, worker);
        this.e.sessions.countFailure(worker);
        this.e.dispatcher.scheduleDispatch();
        return ack(true);
      }
      default:
        return assertNever(lease.kind);
    }
  }

  /**
   * A lease ran out or the tab lost the job (`code`): requeued, or failed once attempts are used
   * up. A lease held past its run-time limit (`RUN_TIME_EXCEEDED`) also costs the worker
   * reliability, and the worker is told to stop. The store is written before the lease ends in
   * memory: should it be unreachable (a PostgreSQL outage), this throws, the lease stays as it was
   * and its end is tried again (the next housekeeping tick, or the returned lease's parked failure).
   */
  async lost(lease: Lease, code: string, now: number): Promise<void> {
    const overran = code === 'RUN_TIME_EXCEEDED' && !lease.cancelling;
    await this.end(lease, code, now);
    if (overran) {
      const worker = this.e.workers.get(lease.workerId);
      if (worker) {
        this.e.sessions.countFailure(worker);
        worker.link?.send({ cancel: { task_id: lease.taskId, lease_id: lease.leaseId, reason: code } });
      }
    }
  }

  /** How `lost` ends each kind of lease. */
  private async end(lease: Lease, code: string, now: number): Promise<void> {
    if (lease.kind === 'check') {
      this.e.checks.missed(lease, undefined);
      return;
    }
    if (lease.cancelling) {
      this.e.dispatcher.endLease(lease, undefined);
      return;
    }
    const task = this.e.open.get(lease.taskUid);
    switch (lease.kind) {
      case 'copy':
        this.e.dispatcher.endLease(lease, undefined);
        this.e.tails.copyEnded(task, lease);
        return;
      case 'replica': {
        // Its result decided the task, and the store could not take that yet: committed now.
        const worker = this.e.workers.get(lease.workerId);
        if (task?.decided?.leaseId === lease.leaseId && worker)
          await this.taskResult(worker, lease, task, task.decided.result);
        else if (task?.replicaLeases.has(lease.leaseId)) await this.e.replicas.lost(task, lease, code, now);
        else this.e.dispatcher.endLease(lease, undefined);
        return;
      }
      case 'task':
        if (task && task.leaseId === lease.leaseId)
          await this.e.transitions.leaseLost(task, lease, code, now);
        this.e.dispatcher.endLease(lease, undefined);
        return;
      default:
        return assertNever(lease.kind);
    }
  }

  /**
   * The worker gives a lease back before running it (a job queued in its inbox when it paused):
   * the task is requeued at once, with no penalty for the worker; a check is released.
   */
  private async returned(lease: Lease, worker: WorkerState): Promise<void> {
    if (lease.kind === 'check') this.e.checks.returned(lease, worker);
    else {
      await this.lost(lease, 'LEASE_RETURNED', Date.now());
      this.e.dispatcher.scheduleDispatch();
    }
  }

  /** A task's or replica's result; undefined when accepted, else the refusal. */
  private async taskResult(
    worker: WorkerState,
    lease: Lease,
    task: OpenTask,
    result: ComputeResult,
  ): Promise<AckCode | undefined> {
    const given = result.outputs ?? [];
    // Sized at once (pushing onto [] makes a backing store of 17 for the usual one output).
    const outputs = new Array<DataRef>(given.length);
    for (let i = 0; i < given.length; i++) {
      const resolved = this.e.outputs.resolve(worker, lease, task.tenant, given[i]!);
      if (typeof resolved === 'string') return resolved;
      outputs[i] = resolved;
    }
    const stored: ComputeResult = {
      task_id: task.taskId,
      lease_id: lease.leaseId,
      worker_id: worker.workerId,
      outputs,
    };
    if (result.summary && Object.keys(result.summary).length > 0) stored.summary = result.summary;
    if (result.metrics && Object.keys(result.metrics).length > 0) stored.metrics = result.metrics;
    if (result.executor) stored.executor = result.executor;
    if (result.duration_ms) stored.duration_ms = result.duration_ms;
    // The trace is the task's own, whatever the volunteer wrote (#19).
    if (task.envelope.correlation_id) stored.correlation_id = task.envelope.correlation_id;
    const now = Date.now();
    const runMs = now - lease.startedAtMs;
    let canonical = stored;
    // A copy that wins completes the task: its own stored attempt is the original's.
    if (lease.kind === 'copy') task.copy = undefined;
    if (lease.kind === 'replica') {
      const verified = await this.e.replicas.verify(worker, lease, task, stored, now);
      if (verified === 'handled') return undefined;
      canonical = verified;
    }
    const ok = await this.e.transitions.succeed(
      task,
      {
        taskUid: task.uid,
        tenant: task.tenant,
        // A verified task completes on its stored attempt, whichever replica decided it.
        leaseId: lease.kind === 'task' ? lease.leaseId : (task.leaseId ?? lease.leaseId),
        result: Buffer.from(JSON.stringify(toJson('ComputeResult', canonical))),
        executor: result.executor || undefined,
        durationMs: result.duration_ms || undefined,
        nowMs: now,
        workerId: worker.workerId,
      },
      canonical,
    );
    // A replica's lease lives until its decision is stored (verify): it ends here either way.
    if (!ok && lease.kind === 'replica') this.e.replicas.endLease(task, lease, worker);
    if (!ok) return 'LEASE_EXPIRED';
    this.e.dispatcher.endLease(lease, worker);
    this.e.tails.ran(task, worker, runMs);
    if (lease.kind === 'copy') this.e.tails.completedBy(task, lease, now);
    if (task.replicas) {
      this.e.replicas.cancelAll(task, 'CANCELLED', now); // surplus replicas: the quorum has spoken
      this.e.scheduler.remove(task.uid);
    }
    this.e.sessions.countSuccess(worker);
    this.e.breakers.succeeded(task);
    this.e.dispatcher.scheduleDispatch();
    return undefined;
  }
}
