// Spot checks (TRUST.md): known-answer tasks leased like real ones, in place of a verified task
// the worker was matched to. A check is not stored as a task: its lease lives in the lease table
// only (kind `check`) and its verdict in the trust engine.
import type { ComputeEnvelope, ComputeResult, DataRef } from '@flock/protocol';
import {
  adapterClassOf,
  BuiltinKnownAnswers,
  cryptoRandom,
  FirstKnownAnswers,
  type IssuedCheck,
  mimicTaskId,
  outputsOf,
  type ReplicaOutput,
  type TrustEngine,
  type WorkerRef,
} from '../trust/index.ts';
import { LibraryKnownAnswers } from '../trust/library-known-answers.ts';
import { loadReferenceOps } from '../trust/reference-ops.ts';
import type { Engine } from './engine.ts';
import type { Lease } from './lease-table.ts';
import type { Match, OpenTask } from './open-task.ts';
import type { SchedTask } from './scheduler.ts';
import type { AckCode, WorkerState } from './worker-state.ts';

export class SpotChecks {
  /** Check leases get negative task uids, which no task has. */
  private seq = 0;

  constructor(private readonly e: Engine) {}

  /**
   * Known answers: checks shaped like a built-in task from its op's CPU reference, or like a
   * library task from its method's Node reference; for other modules a replayed quorum-validated task of the same module; else a default built-in check.
   */
  async knownAnswers(): Promise<FirstKnownAnswers> {
    const ops = await loadReferenceOps();
    return new FirstKnownAnswers([
      new BuiltinKnownAnswers(ops, []),
      new LibraryKnownAnswers((hash) => this.e.outputs.blobBytes(hash)),
      this.e.replay,
      new BuiltinKnownAnswers(ops),
    ]);
  }

  /**
   * Looks at each match of a verified task before it is leased: the worker may be due a spot check
   * (it gets the check and the task goes back to the queue), or the engine may refuse it (the
   * task goes back with the engine's rules mirrored, so the scheduler will not match them again).
   */
  async screen(picks: Match[], now: number): Promise<Match[]> {
    const kept: Match[] = [];
    for (const pick of picks) {
      const { task: sched, worker } = pick;
      if (worker.onProbation) {
        this.e.dispatcher.unmatch(pick, true); // matched again in this batch after its first check went out
        continue;
      }
      const task = this.e.open.get(sched.uid);
      if (!task?.replicas) {
        kept.push(pick);
        continue;
      }
      const ref: WorkerRef = {
        workerId: worker.workerId,
        adapterClass: adapterClassOf(worker.capability, sched.gpu ? 'gpu' : 'cpu'),
      };
      const key = String(task.uid);
      try {
        if (worker.checkMisses < 3 && (await this.e.trust.shouldSpotCheck(ref))) {
          const issued = await this.e.trust.issueSpotCheck(ref, task.envelope);
          if (issued) {
            await this.distinctId(task.tenant, issued.envelope);
            disguise(issued.envelope, task);
            if (!this.lease(worker, sched, issued, now)) {
              this.e.dispatcher.unmatch(pick, true);
              continue;
            }
            this.e.scheduler.enqueue(sched);
            // A new worker proves itself before it gets anything else.
            if (!worker.vetted) worker.onProbation = true;
            continue;
          }
        }
        if (await this.e.trust.eligible(key, ref)) {
          kept.push(pick);
          continue;
        }
        const status = await this.e.trust.status(key);
        this.e.replicas.restrict(task, status);
        if (status.state !== 'pending' || status.wanted === 0) {
          // It wants no replica now: out of the queue until a result asks for one.
          this.e.dispatcher.unmatch(pick, false);
          continue;
        }
      } catch (err) {
        this.e.log.warn({ err, task: task.taskId }, 'verified task could not be screened');
      }
      // Refused: undo the match. Should the mirrored rules not rule this worker out, exclude it
      // from the task, so the scheduler cannot offer the same match again.
      const ruledOut =
        sched.excludeWorkers?.has(worker.workerId) ||
        (sched.needsVetted && !worker.vetted) ||
        (sched.adapterClass !== undefined && sched.adapterClass !== ref.adapterClass);
      if (!ruledOut) {
        task.refusedWorkers.add(worker.workerId);
        sched.excludeWorkers = new Set([...(sched.excludeWorkers ?? []), worker.workerId]);
      }
      this.e.dispatcher.unmatch(pick, true);
    }
    return kept;
  }

  /**
   * Judges a check's outputs. The worker is acked exactly as for a real task. Passed: it is vetted.
   * Failed: it is quarantined, gets no more work, and the tasks believed on its word alone since
   * its last passed check are verified again.
   */
  async judge(
    worker: WorkerState,
    lease: Lease,
    result: ComputeResult,
  ): Promise<[accepted: boolean, code?: AckCode]> {
    const refs: DataRef[] = [];
    for (const out of result.outputs ?? []) {
      const resolved = this.e.outputs.resolve(worker, lease, undefined, out);
      if (typeof resolved === 'string') return [false, resolved];
      refs.push(resolved);
    }
    this.e.dispatcher.endLease(lease, worker);
    let outputs: ReplicaOutput[];
    try {
      outputs = outputsOf({ outputs: refs }, (uri) => this.e.outputs.blobBytes(uri));
    } catch {
      outputs = []; // outputs that cannot be read cannot match the answer
    }
    let verdict: Awaited<ReturnType<TrustEngine['submitSpotCheck']>>;
    try {
      verdict = await this.e.trust.submitSpotCheck(lease.checkId!, worker.workerId, outputs, {
        claimedMs: result.duration_ms,
      });
    } catch (err) {
      this.e.log.warn({ err, worker: worker.workerId }, 'spot check could not be judged');
      await this.e.trust.releaseSpotCheck(lease.checkId!).catch(() => undefined);
      worker.onProbation = false;
      return [true];
    }
    worker.checkMisses = 0;
    worker.onProbation = false;
    worker.standing = undefined;
    this.e.metrics.spotChecks.inc({ outcome: verdict.passed ? 'passed' : 'failed' });
    if (verdict.passed) {
      worker.vetted = true;
      return [true];
    }
    worker.vetted = false;
    worker.quarantined = true;
    this.e.log.warn(
      { worker: worker.workerId, reverify: verdict.reverify.length },
      'worker failed a known-answer check: quarantined',
    );
    for (const key of verdict.reverify) await this.reverify(Number(key));
    return [true];
  }

  /** A check's lease ended without a verdict (failure reported, lease lost): the worker may get another. */
  missed(lease: Lease, worker: WorkerState | undefined): void {
    this.e.dispatcher.endLease(lease, worker);
    this.e.metrics.spotChecks.inc({ outcome: 'released' });
    const w = worker ?? this.e.workers.get(lease.workerId);
    if (w) {
      w.checkMisses += 1;
      w.onProbation = false;
    }
    this.e.trust.releaseSpotCheck(lease.checkId!).catch(() => undefined);
    this.e.dispatcher.scheduleDispatch();
  }

  /** The worker gave the check back before running it (paused): released, no miss counted. */
  returned(lease: Lease, worker: WorkerState): void {
    this.e.dispatcher.endLease(lease, worker);
    worker.onProbation = false;
    this.e.trust.releaseSpotCheck(lease.checkId!).catch(() => undefined);
    this.e.dispatcher.scheduleDispatch();
  }

  /**
   * Sends `worker` the check in place of the real task it was matched to (which is queued again).
   * False when the check could not be encoded (it is released; the match is the caller's to undo).
   */
  private lease(worker: WorkerState, sched: SchedTask, issued: IssuedCheck, now: number): boolean {
    this.seq += 1;
    try {
      this.e.dispatcher.sendAssignment(
        worker,
        {
          kind: 'check',
          leaseId: this.e.dispatcher.nextLeaseId(),
          taskUid: -this.seq,
          taskId: issued.envelope.task_id ?? '',
          tenant: sched.tenant,
          workerId: worker.workerId,
          attempt: 1,
          gpu: sched.gpu,
          expiresAtMs: now + this.e.config.leaseMs,
          startedAtMs: now,
          runUntilMs: now + this.e.dispatcher.runLimitMs(issued.envelope, worker),
          cancelling: false,
          checkId: issued.checkId,
        },
        issued.envelope,
      );
    } catch (err) {
      this.e.log.warn({ err, worker: worker.workerId }, 'spot check could not be encoded: released');
      this.e.trust.releaseSpotCheck(issued.checkId).catch(() => undefined);
      return false;
    }
    this.e.metrics.spotChecks.inc({ outcome: 'issued' });
    return true;
  }

  /**
   * A task accepted on the word of a worker since quarantined: if the engine reopens it, its
   * stored result is withdrawn and it runs again on others (TRUST.md, "Residual risk").
   */
  private async reverify(uid: number): Promise<void> {
    const status = await this.e.trust.reverify(String(uid)).catch(() => undefined);
    if (status?.state !== 'pending') return;
    await this.e.transitions.reopen(uid, status, Date.now());
  }

  /**
   * A check's id has the form of a real task's with fresh digits; should it be the id of a task
   * of the tenant (short ids), it is drawn again, so a worker never sees the same id twice.
   */
  private async distinctId(tenant: string, envelope: ComputeEnvelope): Promise<void> {
    const like = envelope.task_id ?? '';
    for (let i = 0; i < 8 && (await this.e.store.getTask(tenant, envelope.task_id ?? '')); i++) {
      envelope.task_id = mimicTaskId(i < 4 ? like : `${like}-0000`, cryptoRandom);
    }
  }
}

/**
 * A check carries what a real task of its kind carries (#19), so its assignment's trace and
 * metadata look the same: the real task's campaign and a trace id like the real task's — the same
 * one where other tasks share it (a campaign's, a workflow's, one the requester chose), else a
 * fresh one of the same form (a requeued real task keeps its own, so a copy would stand out).
 */
function disguise(check: ComputeEnvelope, task: OpenTask): void {
  const real = task.envelope;
  const trace = real.correlation_id;
  if (!trace) delete check.correlation_id;
  else check.correlation_id = task.sharedTrace ? trace : mimicTaskId(trace, cryptoRandom);
  if (real.campaign_id) check.campaign_id = real.campaign_id;
  else delete check.campaign_id;
}
