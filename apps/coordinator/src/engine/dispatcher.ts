// The dispatcher: matches queued tasks to workers with free slots (the Scheduler), starts their
// leases in the store, and sends the assignments; it also owns the slot accounting of leases
// (taken when a lease starts, given back when it ends or its cancel is sent).
import { randomBytes } from 'node:crypto';
import {
  type ComputeAssignment,
  type ComputeEnvelope,
  DEFAULT_TIMEOUT_MS,
  EVENTS,
  type Metadata,
  newSpanId,
  submitSpanId,
  type Trace,
  toJson,
} from '@flock/protocol';
import type { NewLease } from '../store/store.ts';
import type { Engine } from './engine.ts';
import type { Lease, LeaseKind } from './lease-table.ts';
import type { Match, OpenTask } from './open-task.ts';
import { freeSlots, prefetchOf } from './scheduler.ts';
import type { WorkerState } from './worker-state.ts';

export class Dispatcher {
  private queued = false;
  private running = false;
  private again = false;
  private readonly leasePrefix = `${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
  private leaseSeq = 0;
  /** `l-<leasePrefix>-`, the fixed start of every lease id. */
  private readonly leaseIdStart = `l-${this.leasePrefix}-`;
  /** The workers of the current pass (`dispatchableWorkers`), refilled by each. */
  private readonly dispatchable: WorkerState[] = [];

  constructor(private readonly e: Engine) {}

  /** A dispatch pass soon (once per turn of the event loop, however often it is asked for). */
  scheduleDispatch(): void {
    if (this.queued || this.e.closed) return;
    this.queued = true;
    setImmediate(() => {
      this.queued = false;
      void this.dispatch();
    });
  }

  /**
   * A dispatch pass now, for tasks just accepted: its leases commit at once (`Store.flush`), not
   * at the end of the turn, so the assignments leave in the turn the tasks were accepted, before
   * the request is answered. Settles once the pass has handed out what it could (at once when a
   * pass is already running: that one goes round again).
   */
  dispatchAccepted(): Promise<void> {
    if (this.e.closed) return Promise.resolve();
    return this.dispatch(true);
  }

  /** `flush`: each lease pass commits at once (`dispatchAccepted`). */
  private async dispatch(flush = false): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    try {
      do {
        this.again = false;
        // Nothing queued: no walk of every connected worker (a pass or more a task asks).
        if (this.e.scheduler.size === 0) break;
        const matched = this.e.scheduler.assign(this.dispatchableWorkers());
        if (matched.length === 0) break;
        const now = Date.now();
        const screened = await this.e.checks.screen(matched, now);
        // More replicas of a verified task already running: leases of this process only.
        const picks: Match[] = [];
        for (const pick of screened) {
          const task = this.e.open.get(pick.task.uid);
          if (task?.replicas && task.state === 'running') await this.leaseReplica(task, pick, now);
          else if (task?.state === 'running' && task.copy && task.copy.leaseId === undefined)
            this.leaseCopy(task, pick, now);
          else if (task?.state === 'running')
            this.unmatch(pick, false); // its copy's moment passed
          else picks.push(pick);
        }
        if (picks.length > 0) await this.startPicks(picks, now, flush);
      } while (!this.e.closed);
    } catch (err) {
      this.e.log.error({ err }, 'dispatch failed');
    } finally {
      this.running = false;
      if (this.again) this.scheduleDispatch();
    }
  }

  /**
   * Workers that may be given work now: connected and welcomed (as `connectedWorkers` says), not
   * quarantined, not on probation, with a free slot. Found in one walk into one reused array: a
   * pass made two arrays of every connected worker before the scheduler kept the free ones.
   */
  private dispatchableWorkers(): WorkerState[] {
    // Written over in place, then cut to size: `length = 0` gave the array's storage back, and
    // refilling it grew a new one step by step every pass.
    const out = this.dispatchable;
    let n = 0;
    for (const w of this.e.workers.values()) {
      if (!w.link || !w.ready || w.quarantined || w.onProbation) continue;
      if (freeSlots(w, false) > 0 || freeSlots(w, true) > 0) out[n++] = w;
    }
    out.length = n;
    return out;
  }

  /**
   * Starts the leases of one pass in one store transaction, then sends each assignment. Failure-
   * atomic: should the store fail, every pick goes back to the queue; a task whose assignment
   * cannot be sent fails alone (UNDELIVERABLE) and the others are sent.
   */
  private async startPicks(picks: Match[], now: number, flush: boolean): Promise<void> {
    const newLeases: NewLease[] = picks.map(({ task, worker }) => ({
      taskUid: task.uid,
      tenant: task.tenant,
      leaseId: this.nextLeaseId(),
      attempt: (this.e.open.get(task.uid)?.attempts ?? 0) + 1,
      workerId: worker.workerId,
      startedAtMs: now,
      expiresAtMs: now + this.e.config.leaseMs,
    }));
    let started: boolean[];
    try {
      const leased = this.e.store.startLeases(newLeases);
      if (flush) this.e.store.flush?.();
      started = await leased;
    } catch (err) {
      for (const pick of picks) this.unmatch(pick, true);
      throw err;
    }
    for (let i = 0; i < picks.length; i++) {
      const pick = picks[i]!;
      const lease = newLeases[i]!;
      const task = this.e.open.get(pick.task.uid);
      if (!started[i] || !task) {
        this.unmatch(pick, false);
        // The store refused: the task left the queue elsewhere (another coordinator on a
        // shared store took it, or it was cancelled); if it comes back, `adopt` brings it.
        if (task?.state === 'queued') this.e.open.delete(pick.task.uid);
        continue;
      }
      this.e.transitions.started(task, lease.leaseId, lease.attempt);
      const unsent = this.leaseTask(task, pick, lease.leaseId, lease.expiresAtMs, now);
      if (unsent) await this.undeliverable(task, pick, unsent, now);
    }
  }

  /** One more replica of a running verified task; a replica that cannot be sent fails the task. */
  private async leaseReplica(task: OpenTask, pick: Match, now: number): Promise<void> {
    const unsent = this.leaseTask(task, pick, this.nextLeaseId(), now + this.e.config.leaseMs, now);
    if (unsent) await this.undeliverable(task, pick, unsent, now);
  }

  /** A speculative copy of a straggling task (campaign-tails.ts), leased in this process only. */
  private leaseCopy(task: OpenTask, pick: Match, now: number): void {
    const leaseId = this.nextLeaseId();
    if (this.leaseTask(task, pick, leaseId, now + this.e.config.leaseMs, now, 'copy')) {
      this.unmatch(pick, false);
      task.copy = undefined;
      return;
    }
    task.copy = { leaseId };
  }

  /** Gives a match's slot back to its worker and tenant; `requeue` puts the task back in the queue. */
  unmatch({ task: sched, worker }: Match, requeue: boolean): void {
    if (sched.gpu) worker.runningGpu -= 1;
    else worker.runningCpu -= 1;
    this.e.scheduler.setRunning(sched.tenant, -1);
    if (requeue) this.e.scheduler.enqueue(sched);
  }

  /**
   * A task's assignment could not be encoded (text or size the wire refuses, e.g. a task stored
   * before the checks at submit existed): it fails alone with UNDELIVERABLE, not retryable, since
   * no volunteer could ever receive it.
   */
  private async undeliverable(task: OpenTask, pick: Match, err: Error, now: number): Promise<void> {
    this.unmatch(pick, false);
    this.e.log.warn({ task: task.taskId, tenant: task.tenant, err }, 'assignment could not be encoded');
    const message = `the task cannot be sent to a volunteer: ${err.message}`;
    try {
      await this.e.transitions.fail(task, 'UNDELIVERABLE', message, now);
    } catch (storeErr) {
      this.e.log.error({ err: storeErr, task: task.taskId }, 'undeliverable task could not be failed');
    }
  }

  /**
   * Hands a lease of `task` to `pick.worker`: the assignment, its latency and the `accepted` event; a
   * verified task's replica is also told to the engine. Also how further replicas of a running
   * verified task are leased (kept in this process only: the stored attempt is the first one's).
   * Returns the error when the assignment could not be encoded (nothing was leased then).
   */
  private leaseTask(
    task: OpenTask,
    pick: Match,
    leaseId: string,
    expiresAtMs: number,
    now: number,
    kind: LeaseKind = task.replicas ? 'replica' : 'task',
  ): Error | undefined {
    const { worker, task: sched } = pick;
    let assignment: ComputeAssignment;
    try {
      assignment = this.sendAssignment(
        worker,
        {
          kind,
          leaseId,
          taskUid: task.uid,
          taskId: task.taskId,
          tenant: task.tenant,
          workerId: worker.workerId,
          attempt: task.attempts,
          gpu: sched.gpu,
          expiresAtMs,
          startedAtMs: now,
          runUntilMs: now + this.runLimitMs(task.envelope, worker),
          cancelling: false,
        },
        task.envelope,
      );
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
    if (kind === 'replica') {
      task.replicaLeases.add(leaseId);
      void this.e.replicas.assigned(task, worker, sched, leaseId);
    }
    this.e.metrics.assignmentLatency.observe((now - sched.queuedAtMs) / 1000);
    this.e.levels.leased(task, now - sched.queuedAtMs);
    if (!this.e.announces(task, 'running')) return undefined;
    this.e.publish(
      task,
      EVENTS.accepted,
      'running',
      now,
      () => {
        const { envelope: _e, task_token: _t, ...visible } = assignment;
        return toJson('ComputeAssignment', visible);
      },
      this.e.leases.get(leaseId)?.spanId,
    );
    return undefined;
  }

  /**
   * Signs the lease's task token, sends the assignment, and puts the lease in the table. Throws,
   * with nothing leased, when the assignment cannot be encoded.
   */
  sendAssignment(
    worker: WorkerState,
    lease: Omit<Lease, 'token'>,
    envelope: ComputeEnvelope,
  ): ComputeAssignment {
    const token = this.e.tokens.sign(lease.leaseId, lease.taskId, worker.workerId);
    const assignment: ComputeAssignment = {
      task_id: lease.taskId,
      worker_id: worker.workerId,
      lease_id: lease.leaseId,
      lease_expires_at_ms: lease.expiresAtMs,
      attempt: lease.attempt,
      task_token: token,
      envelope,
    };
    const spanId = newSpanId();
    worker.link?.send({ assignment }, frameTrace(envelope, lease, spanId));
    const leased = lease as Lease;
    leased.token = token;
    leased.inputs = blobInputs(envelope);
    leased.spanId = spanId;
    this.e.leases.add(leased);
    worker.fresh = false;
    return assignment;
  }

  /**
   * How long a lease of `envelope` may run: its time limit (`permissions.timeout_ms`, else the
   * executor's default, at most FLOCK_MAX_RUN_MS), twice over for a worker that prefetches, plus
   * one lease period of grace for fetching the module and inputs and for the result to arrive.
   */
  runLimitMs(envelope: ComputeEnvelope, worker?: WorkerState): number {
    const timeout = Math.min(
      envelope.module?.permissions?.timeout_ms || DEFAULT_TIMEOUT_MS,
      this.e.config.maxRunMs,
    );
    // A worker that queues jobs behind running ones (prefetch, one per slot) may start this one
    // only when the job ahead of it ends: it gets two time limits.
    const queued = worker && prefetchOf(worker.capability) > 0 ? 2 : 1;
    return queued * timeout + this.e.config.leaseMs;
  }

  /**
   * Lease ids: a random per-process prefix and a counter, so that ids are unique, never reused
   * across restarts, and increase within a run (cheap appends to the attempts index). They are
   * not secret: the task token is.
   */
  nextLeaseId(): string {
    this.leaseSeq += 1;
    return this.leaseIdStart + this.leaseSeq.toString(36).padStart(8, '0');
  }

  /** A lease's slot counted on its worker (+1) or given back (-1). */
  countSlot(worker: WorkerState, lease: Lease, delta: number): void {
    if (lease.gpu) worker.runningGpu = Math.max(0, worker.runningGpu + delta);
    else worker.runningCpu = Math.max(0, worker.runningCpu + delta);
  }

  /** A lease is over: out of the table, its slot given back, its unclaimed streams forgotten. */
  endLease(lease: Lease, worker: WorkerState | undefined): void {
    if (!this.e.leases.delete(lease.leaseId)) return;
    const w = worker ?? this.e.workers.get(lease.workerId);
    if (w) {
      this.countSlot(w, lease, -1);
      for (const [id, stream] of w.streams) if (stream.leaseId === lease.leaseId) w.streams.delete(id);
    }
    if (!lease.cancelling) this.e.scheduler.setRunning(lease.tenant, -1);
  }

  /**
   * Tells the lease's worker to stop. Its slot stays taken until the cancel is acked or the lease
   * runs out (at most a lease period from now); the tenant's running count drops at once.
   */
  cancelLease(lease: Lease, reason: string, now: number): void {
    if (lease.cancelling) return;
    lease.cancelling = true;
    lease.expiresAtMs = Math.min(lease.expiresAtMs, now + this.e.config.leaseMs);
    this.e.scheduler.setRunning(lease.tenant, -1);
    this.e.workers.get(lease.workerId)?.link?.send({
      cancel: { task_id: lease.taskId, lease_id: lease.leaseId, reason },
    });
  }
}

/** The uploaded blobs an envelope names as inputs (`flock:sha256:<hex>` → `sha256:<hex>`). */
function blobInputs(envelope: ComputeEnvelope): Set<string> | undefined {
  let names: Set<string> | undefined;
  const inputs = envelope.inputs ?? [];
  for (let i = 0; i < inputs.length; i++) {
    const input = inputs[i]!;
    if (!input.uri?.startsWith('flock:')) continue;
    names ??= new Set();
    names.add(input.uri.slice('flock:'.length));
  }
  return names;
}

/**
 * The assignment frame's trace and metadata (#19): the task's trace id (its envelope's
 * `correlation_id`), a span of its own per lease whose parent is the submission's span, and the
 * tenant and campaign. A spot check's are made the same way from its own (mimicked) ids.
 */
function frameTrace(
  envelope: ComputeEnvelope,
  lease: Omit<Lease, 'token'>,
  spanId: string,
): { trace: Trace; metadata: Metadata } {
  const trace: Trace = { span_id: spanId };
  const correlation = envelope.correlation_id;
  if (correlation) {
    trace.correlation_id = correlation;
    trace.parent_id = submitSpanId(correlation, lease.taskId);
  }
  const metadata: Metadata = { tenant: lease.tenant };
  if (envelope.campaign_id) metadata.campaign_id = envelope.campaign_id;
  return { trace, metadata };
}
