// The tab's assignments, from frame to outcome: each goes straight to an executor (the pool
// queues it in an inbox behind the job running there), its outcome is sent as soon as it comes,
// and what must survive a reload is kept by the write-behind (write-behind.ts). A cancel, a lease
// the coordinator no longer honours, a pause or a lost connection stops or gives back the jobs.
import type { ComputeAssignment, ComputeFailure, ComputeResult, DataRef } from '@flock/protocol';
import { ExecutorError, toJobFailure } from './executor-error.ts';
import type { ExecutorPool, HostOutcome } from './executor-pool.ts';
import { buildJob, type ModuleSource } from './job-builder.ts';
import { fitsInline, sendResult } from './outcome-sender.ts';
import type { PendingOutcome } from './tab-store.ts';
import type { WorkerConnection } from './worker-connection.ts';
import type { WriteBehind } from './write-behind.ts';

/** One job as the page shows it. */
export interface RunningView {
  taskId: string;
  leaseId: string;
  op: string;
  kind: string;
  pct: number;
  /** When it started running (0 while it waits in an executor's inbox). */
  startedAtMs: number;
}

/** Progress frames at most this often per job. */
const PROGRESS_INTERVAL_MS = 250;

interface Running {
  assignment: ComputeAssignment;
  abort: AbortController;
  view: RunningView;
  /** Why it was stopped: cancel (ack it), lease lost (drop it), returned (give the lease back). */
  stop?: 'cancel' | 'lease-lost' | 'returned';
  /** Output regions of its outcome, held until the coordinator acknowledges it. */
  release?: () => void;
}

/** What the runner needs from the volunteer around it. */
export interface TaskRunnerContext {
  connection: WorkerConnection;
  pool(): ExecutorPool | undefined;
  workerId(): string;
  moduleSource(): ModuleSource;
  origin: string;
  /** Test only: flip bytes of every output (a liar, for the trust tests). */
  corrupt: ((ref: DataRef) => DataRef) | undefined;
  /** A job ended: `ok` with its executor, or its failure code; `durationMs` of the run. */
  finished(taskId: string, ok: boolean, detail: string, durationMs: number): void;
  changed(): void;
}

export class TaskRunner {
  readonly running = new Map<string, Running>();
  /** Outcomes sent and not yet acknowledged, with their output regions. */
  private readonly unacked = new Map<string, { outcome: PendingOutcome; release: () => void }>();
  /** performance.now() when each lease's assignment frame arrived. */
  private readonly assignedAt = new Map<string, number>();
  /** Assignment-frame-to-result-frame times of the last jobs, ms (benchmark and page). */
  private readonly recentTimings: number[] = [];
  /** Leases whose results rode in the last hello. */
  sentInHello = new Set<string>();
  /** The last job stopped by a cancel, a lost lease or a return, and what it wrote before it stopped (tests). */
  lastStopped:
    | { taskId: string; code: string; message: string; outputs: Array<{ name: string; text: string }> }
    | undefined;

  constructor(
    private readonly ctx: TaskRunnerContext,
    private readonly persist: WriteBehind,
  ) {}

  /** Lease ids the tab holds: running or queued in an executor's inbox (heartbeats renew them all). */
  leases(): string[] {
    return [...this.running.keys()];
  }

  timings(): number[] {
    return [...this.recentTimings];
  }

  /** A new assignment: kept for reloads (write-behind) and handed to the executors at once. */
  accept(assignment: ComputeAssignment): void {
    const leaseId = assignment.lease_id ?? '';
    if (this.running.has(leaseId)) return;
    this.assignedAt.set(leaseId, performance.now());
    this.persist.saveAssignment(assignment);
    void this.run(assignment);
  }

  /** The coordinator cancelled a lease. */
  cancel(leaseId: string, taskId: string): void {
    const running = this.running.get(leaseId);
    if (running) {
      running.stop = 'cancel';
      running.abort.abort('cancelled');
      return;
    }
    this.persist.deleteAssignment(leaseId);
    this.ctx.connection.send({ cancel_ack: { task_id: taskId, lease_id: leaseId } });
  }

  /** A heartbeat ack says the coordinator no longer honours this lease. */
  leaseLost(leaseId: string): void {
    const running = this.running.get(leaseId);
    if (!running) return;
    running.stop = 'lease-lost';
    running.abort.abort('lease no longer valid');
  }

  /** Gives back the jobs that have not started (the volunteer paused, or the connection dropped). */
  returnQueued(): void {
    for (const running of this.running.values()) {
      if (running.view.startedAtMs !== 0 || running.stop) continue;
      running.stop = 'returned';
      running.abort.abort('returned');
    }
  }

  /** Stops everything (the volunteer stopped or another tab took over). */
  abortAll(reason: string): void {
    for (const r of this.running.values()) r.abort.abort(reason);
  }

  /** Its result_ack came: the outcome is delivered, its regions free. */
  acked(leaseId: string): void {
    this.persist.deleteOutcome(leaseId);
    const held = this.unacked.get(leaseId);
    this.unacked.delete(leaseId);
    held?.release();
  }

  /** Results small enough for the hello; larger ones are streamed after the welcome. */
  async helloParts(maxFrameBytes: number): Promise<{ inFlight: string[]; undelivered: ComputeResult[] }> {
    const outcomes = await this.persist.pendingOutcomes();
    const budget = { left: maxFrameBytes / 2 };
    const undelivered = outcomes.flatMap((o) =>
      'result' in o && fitsInline(o.result, budget) ? [o.result] : [],
    );
    this.sentInHello = new Set(undelivered.map((r) => r.lease_id ?? ''));
    const stored = await this.persist.pendingAssignments();
    return {
      inFlight: [...new Set([...this.running.keys(), ...stored.map((a) => a.lease_id ?? '')])],
      undelivered,
    };
  }

  /** After a welcome: outcomes not yet delivered go out, assignments from before a reload run again. */
  async resume(): Promise<void> {
    for (const outcome of await this.persist.pendingOutcomes()) {
      if ('failure' in outcome) this.ctx.connection.send({ failure: outcome.failure });
      else if (!this.sentInHello.has(outcome.leaseId)) await sendResult(this.ctx.connection, outcome.result);
    }
    for (const assignment of await this.persist.pendingAssignments()) {
      const leaseId = assignment.lease_id ?? '';
      if (!this.running.has(leaseId)) void this.run(assignment);
    }
  }

  private async run(assignment: ComputeAssignment): Promise<void> {
    const leaseId = assignment.lease_id ?? '';
    const taskId = assignment.task_id ?? '';
    const abort = new AbortController();
    const running: Running = {
      assignment,
      abort,
      view: {
        taskId,
        leaseId,
        op: assignment.envelope?.op ?? '',
        kind: assignment.envelope?.module?.kind ?? 'wasm',
        pct: 0,
        startedAtMs: 0,
      },
    };
    this.running.set(leaseId, running);
    this.ctx.changed();
    let lastProgress = 0;
    let outcome: HostOutcome;
    let startedAt = 0;
    try {
      const prepared = await buildJob(assignment, this.ctx.moduleSource(), this.ctx.origin);
      const pool = this.ctx.pool();
      if (!pool) throw new ExecutorError('CANCELLED', 'the volunteer stopped');
      outcome = await pool.run(prepared, {
        signal: abort.signal,
        onStart: () => {
          startedAt = Date.now();
          running.view.startedAtMs = startedAt;
          this.ctx.changed();
        },
        onProgress: (progress) => {
          running.view.pct = progress.pct;
          const now = Date.now();
          if (now - lastProgress < PROGRESS_INTERVAL_MS && progress.pct < 100) return;
          lastProgress = now;
          this.ctx.connection.send(
            {
              progress: { task_id: taskId, lease_id: leaseId, pct: progress.pct, metrics: progress.metrics },
            },
            true,
          );
          this.ctx.changed();
        },
      });
    } catch (error) {
      outcome = { ...toJobFailure(error), release: () => undefined };
    }
    this.running.delete(leaseId);
    const durationMs = startedAt ? Date.now() - startedAt : 0;
    if (running.stop) this.stopped(running, outcome);
    else if (outcome.ok) await this.succeeded(assignment, outcome, durationMs);
    else this.failed(assignment, outcome);
    const assignedAt = this.assignedAt.get(leaseId);
    this.assignedAt.delete(leaseId);
    if (assignedAt !== undefined && !running.stop) {
      this.recentTimings.push(performance.now() - assignedAt);
      if (this.recentTimings.length > 1000) this.recentTimings.shift();
    }
    if (!running.stop)
      this.ctx.finished(taskId, outcome.ok, outcome.ok ? outcome.executor : outcome.code, durationMs);
    this.ctx.changed();
  }

  /** Cancelled, lease lost or returned: the coordinator decides; nothing of the job is kept. */
  private stopped(running: Running, outcome: HostOutcome): void {
    const partial = outcome.ok ? outcome.outputs : (outcome.partial?.outputs ?? []);
    this.lastStopped = {
      taskId: running.view.taskId,
      code: outcome.ok ? 'OK' : outcome.code,
      message: outcome.ok ? '' : outcome.message,
      outputs: partial.map((o) => ({ name: o.name, text: new TextDecoder().decode(o.bytes.slice(0, 200)) })),
    };
    outcome.release();
    const { lease_id: leaseId = '', task_id: taskId = '' } = running.assignment;
    this.persist.deleteAssignment(leaseId);
    if (running.stop === 'cancel')
      this.ctx.connection.send({ cancel_ack: { task_id: taskId, lease_id: leaseId } });
    if (running.stop === 'returned') {
      // Given back without a penalty: another tab (or this one later) runs it.
      this.ctx.connection.send({
        failure: {
          task_id: taskId,
          lease_id: leaseId,
          task_token: running.assignment.task_token ?? '',
          worker_id: this.ctx.workerId(),
          code: 'LEASE_RETURNED',
          message: 'returned before it started (the volunteer paused)',
          retryable: true,
        },
      });
    }
  }

  private async succeeded(
    assignment: ComputeAssignment,
    outcome: HostOutcome & { ok: true },
    durationMs: number,
  ): Promise<void> {
    const leaseId = assignment.lease_id ?? '';
    // Small outputs ride inline without a hash (the bytes are there); streamed ones get one.
    const outputs: DataRef[] = outcome.outputs.map((o) => ({
      name: o.name,
      content_type: o.contentType,
      inline_bytes: o.bytes,
      size: o.bytes.byteLength,
      ...(o.tensor ? { tensor: { dtype: o.tensor.dtype, shape: o.tensor.shape } } : {}),
    }));
    const result: ComputeResult = {
      task_id: assignment.task_id ?? '',
      lease_id: leaseId,
      task_token: assignment.task_token ?? '',
      worker_id: this.ctx.workerId(),
      outputs: this.ctx.corrupt ? outputs.map(this.ctx.corrupt) : outputs,
      summary: outcome.summary,
      metrics: outcome.metrics,
      executor: outcome.executor,
      duration_ms: durationMs,
    };
    const pending: PendingOutcome = { leaseId, result };
    this.persist.finish(pending);
    this.unacked.set(leaseId, { outcome: pending, release: outcome.release });
    await sendResult(this.ctx.connection, result);
  }

  private failed(assignment: ComputeAssignment, outcome: HostOutcome & { ok: false }): void {
    outcome.release();
    const leaseId = assignment.lease_id ?? '';
    const failure: ComputeFailure = {
      task_id: assignment.task_id ?? '',
      lease_id: leaseId,
      task_token: assignment.task_token ?? '',
      worker_id: this.ctx.workerId(),
      code: outcome.code,
      message: outcome.message,
      retryable: outcome.retryable,
    };
    if (outcome.field !== undefined) failure.field = outcome.field;
    this.persist.finish({ leaseId, failure });
    this.ctx.connection.send({ failure });
  }
}
