// Volunteers as the engine sees them: identity and resume (hello), capability, heartbeats, the
// checks every frame naming a lease goes through, progress, cancel acks, and each worker's
// counts of outcomes (its reliability) and trust standing.
import { randomBytes } from 'node:crypto';
import {
  type Cancel,
  type Capability,
  type ComputeProgress,
  EVENTS,
  type Hello,
  type LeaseRenewal,
  type ResultAck,
  type Standing,
  toJson,
  type Welcome,
} from '@flock/protocol';
import { sha256Hex } from '../sha256.ts';
import type { Engine } from './engine.ts';
import type { Lease } from './lease-table.ts';
import { warmKeysOf } from './matching.ts';
import { TaskTokens } from './task-tokens.ts';
import { fingerprintOf } from './worker-fingerprint.ts';
import { type AckCode, reliabilityOf, type WorkerLink, type WorkerState } from './worker-state.ts';

/** Every worker id a coordinator mints: `w-` and 72 random bits as base64url (`identify`). */
export const WORKER_ID = /^w-[A-Za-z0-9_-]{12}$/;

export class WorkerSessions {
  constructor(private readonly e: Engine) {}

  /**
   * Handles hello: resumes the worker identity for a known session token or makes a new one,
   * re-attaches in-flight leases, takes undelivered results, and returns the welcome and acks.
   */
  async hello(
    link: WorkerLink,
    hello: Hello,
  ): Promise<{ worker: WorkerState; welcome: Welcome; acks: ResultAck[]; cancels: Cancel[] }> {
    const now = Date.now();
    const { workerId, sessionToken, resumed } = await this.identify(hello.session_token ?? '');
    const sessionHash = sha256Hex(sessionToken);
    await this.e.store.upsertWorker({
      workerId,
      sessionHash,
      createdAtMs: now,
      lastSeenMs: now,
      tasksSucceeded: 0,
      tasksFailed: 0,
    });
    // The environment the audit log shows beside this worker's attempts.
    const fingerprint = fingerprintOf(hello.capability ?? {}, link.userAgent);
    await this.e.store.auditStore().setFingerprint(workerId, JSON.stringify(fingerprint));
    const previous = this.e.workers.get(workerId);
    if (previous?.link && previous.link !== link) previous.link.close(1008, 'session resumed elsewhere');
    const record = resumed ? await this.e.store.findWorkerBySession(sessionHash) : undefined;
    const worker: WorkerState = {
      workerId,
      sessionHash,
      link,
      capability: hello.capability ?? {},
      cachedModules: warmKeysOf(hello.capability ?? {}),
      runningCpu: 0,
      runningGpu: 0,
      maxSlots: this.e.config.maxSlotsPerWorker,
      reliability: 0.5,
      blocked: false,
      ready: false,
      client: hello.client ?? '',
      connectedAtMs: now,
      lastSeenMs: now,
      succeeded: record?.tasksSucceeded ?? previous?.succeeded ?? 0,
      failed: record?.tasksFailed ?? previous?.failed ?? 0,
      streams: new Map(),
      quarantined: false,
      checkMisses: previous?.checkMisses ?? 0,
      onProbation: previous?.onProbation ?? false,
      fresh: !resumed && previous === undefined,
    };
    const known = await this.standingOf(worker);
    worker.vetted = known.vetted === true;
    worker.quarantined = known.quarantined === true;
    worker.reliability = reliabilityOf(worker);
    this.e.workers.set(workerId, worker);

    // Results finished while disconnected come first: they may complete leases listed below.
    const acks: ResultAck[] = [];
    for (const result of hello.undelivered ?? []) acks.push(await this.e.outcomes.result(worker, result));
    const cancels = await this.reattach(worker, hello, now);
    this.e.dispatcher.scheduleDispatch();
    const welcome: Welcome = {
      worker_id: workerId,
      session_token: sessionToken,
      heartbeat_ms: this.e.config.heartbeatMs,
      lease_ms: this.e.config.leaseMs,
      max_frame_bytes: this.e.config.maxFrameBytes,
      resumed,
      server_time_ms: now,
      // Cached since the read above, unless an undelivered result's verdict changed it.
      standing: await this.standingOf(worker),
    };
    this.e.events.publishWorker(workerId, EVENTS.capabilities, () => ({
      worker_id: workerId,
      capability: toJson('Capability', worker.capability),
    }));
    return { worker, welcome, acks, cancels };
  }

  /** The worker of a known session token, or a new identity. */
  private async identify(
    token: string,
  ): Promise<{ workerId: string; sessionToken: string; resumed: boolean }> {
    if (token) {
      const found = await this.e.store.findWorkerBySession(sha256Hex(token));
      if (found) return { workerId: found.workerId, sessionToken: token, resumed: true };
    }
    return {
      workerId: `w-${randomBytes(9).toString('base64url')}`, // WORKER_ID's shape
      sessionToken: randomBytes(24).toString('base64url'),
      resumed: false,
    };
  }

  /**
   * The leases the worker held, against what its tab still runs (`in_flight`): kept, lost, or (when
   * cancelled meanwhile) told to stop; leases the tab names that are not its own get a cancel.
   */
  private async reattach(worker: WorkerState, hello: Hello, now: number): Promise<Cancel[]> {
    const inFlight = new Set(hello.in_flight ?? []);
    const cancels: Cancel[] = [];
    for (const lease of this.e.leases.forWorker(worker.workerId)) {
      if (lease.cancelling) {
        // Cancelled while the tab was away: tell it now (the slot frees on cancel_ack), or
        // forget the lease if the tab no longer runs it.
        if (inFlight.has(lease.leaseId)) {
          this.e.dispatcher.countSlot(worker, lease, 1);
          cancels.push({ task_id: lease.taskId, lease_id: lease.leaseId, reason: 'CANCELLED' });
        } else {
          this.e.dispatcher.endLease(lease, worker);
        }
        continue;
      }
      if (inFlight.has(lease.leaseId)) {
        lease.expiresAtMs = Math.max(lease.expiresAtMs, now + this.e.config.leaseMs);
        this.e.dispatcher.countSlot(worker, lease, 1);
      } else {
        // The tab no longer has this job (reload lost it, or the assignment never arrived).
        await this.e.outcomes.lost(lease, 'LEASE_LOST', now);
      }
    }
    const delivered = new Set((hello.undelivered ?? []).map((r) => r.lease_id));
    for (const leaseId of inFlight) {
      const lease = this.e.leases.get(leaseId);
      if ((!lease || lease.workerId !== worker.workerId) && !delivered.has(leaseId)) {
        cancels.push({ lease_id: leaseId, reason: 'LEASE_EXPIRED' });
      }
    }
    return cancels;
  }

  /**
   * What the volunteer page shows of the worker's trust standing and credit. Cached per worker
   * (every heartbeat ack carries it) until a verdict that involves the worker drops the cache.
   */
  async standingOf(worker: WorkerState): Promise<Standing> {
    if (worker.standing) return worker.standing;
    const s = await this.e.trust.standing(worker.workerId);
    worker.standing = {
      credit: s.credit,
      pending_credit: s.pendingCredit,
      valid_results: s.validResults,
      invalid_results: s.invalidResults,
      vetted: s.vetted,
      quarantined: s.quarantined,
    };
    // The page would otherwise wait for a check that never comes ("not verified yet").
    if (!this.e.config.spotChecks) worker.standing.unchecked = true;
    return worker.standing;
  }

  /** A verdict may have changed these workers' standing: their next heartbeat ack reads it again. */
  standingChanged(workerIds: Iterable<string>): void {
    for (const id of workerIds) {
      const w = this.e.workers.get(id);
      if (w) w.standing = undefined;
    }
  }

  connectedWorkers(): WorkerState[] {
    const out: WorkerState[] = [];
    for (const w of this.e.workers.values()) if (w.link && w.ready) out.push(w);
    return out;
  }

  /** The hub has sent the welcome (and the acks and cancels): the worker may get work now. */
  ready(worker: WorkerState): void {
    worker.ready = true;
    this.e.dispatcher.scheduleDispatch();
  }

  /** The connection closed; its leases stay until they expire (the tab may come back). */
  disconnected(worker: WorkerState, link: WorkerLink): void {
    if (worker.link !== link) return;
    worker.link = undefined;
    worker.lastSeenMs = Date.now();
    for (const s of worker.streams.values()) s.error ??= 'STREAM_UNKNOWN';
    if (worker.fresh && this.e.workers.get(worker.workerId) === worker) this.forget(worker);
  }

  /** Drops a worker that did nothing from memory and from the store. */
  private forget(worker: WorkerState): void {
    this.e.workers.delete(worker.workerId);
    this.e.events.forgetWorker(worker.workerId);
    this.e.store.forgetIdleWorker(worker.workerId).catch((err: unknown) => {
      this.e.log.warn({ err, worker: worker.workerId }, 'idle worker row could not be removed');
    });
  }

  /** Disconnected workers without leases are dropped from memory after ten minutes. */
  forgetIdle(now: number): void {
    // By value, not by entry: each tick walks every worker, and an entry is an array made per worker.
    for (const w of this.e.workers.values()) {
      if (w.link || now - w.lastSeenMs <= 600_000) continue;
      const id = w.workerId;
      if (this.e.leases.forWorker(id).length > 0) continue;
      this.e.workers.delete(id);
      this.e.events.forgetWorker(id);
    }
  }

  capability(worker: WorkerState, capability: Capability): void {
    worker.capability = capability;
    worker.cachedModules = warmKeysOf(capability);
    worker.lastSeenMs = Date.now();
    this.e.events.publishWorker(worker.workerId, EVENTS.capabilities, () => ({
      worker_id: worker.workerId,
      capability: toJson('Capability', capability),
    }));
    this.e.dispatcher.scheduleDispatch();
  }

  /** Renews the listed leases of `worker` (each once); the ack lists exactly those. */
  heartbeat(worker: WorkerState, leaseIds: string[]): LeaseRenewal[] {
    const now = Date.now();
    worker.lastSeenMs = now;
    return [...new Set(leaseIds)].map((leaseId) => {
      const lease = this.e.leases.renew(leaseId, worker.workerId, now + this.e.config.leaseMs);
      return lease
        ? { lease_id: leaseId, expires_at_ms: lease.expiresAtMs, valid: true }
        : { lease_id: leaseId, expires_at_ms: 0, valid: false };
    });
  }

  /** Checks a lease named by a worker; undefined when it is that worker's live lease with the right token. */
  checkLease(
    worker: WorkerState,
    leaseId: string,
    taskId: string | undefined,
    token: string | undefined,
  ): AckCode | undefined {
    const lease = this.e.leases.get(leaseId);
    // Another worker's lease gets the same answer as none: a guesser learns no lease ids.
    if (!lease || lease.workerId !== worker.workerId) return 'LEASE_UNKNOWN';
    if (taskId && taskId !== lease.taskId) return 'TASK_MISMATCH';
    if (!this.tokenOf(lease, token)) return 'WRONG_TOKEN';
    if (lease.cancelling) return 'TASK_CANCELLED';
    return undefined;
  }

  /**
   * Whether the holder of `token` may fetch blob `name` (`sha256:<hex>`): the live lease it was
   * handed out with names that blob as an input.
   */
  leaseMayRead(leaseId: string, token: string, name: string): boolean {
    const lease = this.e.leases.get(leaseId);
    return (
      lease !== undefined &&
      !lease.cancelling &&
      lease.inputs?.has(name) === true &&
      this.tokenOf(lease, token)
    );
  }

  /** Why a result or failure for a lease that is not live is refused (fencing by lease id). */
  async refusal(worker: WorkerState, leaseId: string, token: string | undefined): Promise<AckCode> {
    const attempt = await this.e.store.getAttempt(leaseId);
    if (!attempt || attempt.workerId !== worker.workerId) return 'LEASE_UNKNOWN';
    const task = await this.e.store.getTaskByUid(attempt.taskUid);
    if (!task || !this.e.tokens.verify(token, leaseId, task.taskId, attempt.workerId)) return 'WRONG_TOKEN';
    if (attempt.outcome === 'succeeded') return 'DUPLICATE';
    if (attempt.outcome === 'cancelled') return 'TASK_CANCELLED';
    return 'LEASE_EXPIRED';
  }

  async progress(worker: WorkerState, p: ComputeProgress): Promise<void> {
    const lease = this.e.leases.get(p.lease_id ?? '');
    if (!lease || lease.workerId !== worker.workerId || lease.cancelling) return;
    const task = this.e.open.get(lease.taskUid);
    if (!task) return;
    const metrics = p.metrics ?? {};
    const pct = Math.max(0, Math.min(100, p.pct ?? 0));
    await this.e.store.setProgress(task.uid, lease.leaseId, pct, metrics);
    if (!this.e.announces(task, 'running')) return;
    this.e.publish(
      task,
      EVENTS.progress,
      'running',
      Date.now(),
      () => toJson('ComputeProgress', { ...p, task_id: task.taskId }),
      lease.spanId,
    );
  }

  cancelAck(worker: WorkerState, leaseId: string): void {
    const lease = this.e.leases.get(leaseId);
    if (!lease || lease.workerId !== worker.workerId || !lease.cancelling) return;
    this.e.dispatcher.endLease(lease, worker);
    this.e.dispatcher.scheduleDispatch();
  }

  /** A success of the worker's (the store counted it with the result). */
  countSuccess(worker: WorkerState): void {
    worker.succeeded += 1;
    worker.reliability = reliabilityOf(worker);
  }

  /** A failure of the worker's: counted durably, and its reliability drops. */
  countFailure(worker: WorkerState): void {
    worker.failed += 1;
    worker.reliability = reliabilityOf(worker);
    // Not awaited (the worker's counters are a statistic): a store that cannot take it now (a
    // PostgreSQL outage) loses the count, not the process (an unhandled rejection ends it).
    this.e.store.countWorkerOutcome(worker.workerId, false).catch((err: unknown) => {
      this.e.log.warn({ err, worker: worker.workerId }, 'failure of the worker not counted in the store');
    });
  }

  /** Whether `token` is the task token handed out with `lease`. */
  private tokenOf(lease: Lease, token: string | undefined): boolean {
    return lease.token
      ? TaskTokens.same(token, lease.token)
      : this.e.tokens.verify(token, lease.leaseId, lease.taskId, lease.workerId);
  }
}
