import { createHash, randomBytes } from 'node:crypto';
import {
  type Cancel,
  type Capability,
  type ComputeAssignment,
  type ComputeEnvelope,
  type ComputeFailure,
  type ComputeProgress,
  type ComputeResult,
  type DataRef,
  DEFAULT_TIMEOUT_MS,
  EVENTS,
  type Frame_Payload,
  fromJson,
  type Hello,
  type LeaseRenewal,
  type ResultAck,
  type Standing,
  toJson,
  type Welcome,
} from '@flock/protocol';
import type { Logger } from 'pino';
import { type BlobGcResult, collectBlobs } from './blob-gc.ts';
import type { BlobStore } from './blob-store.ts';
import type { CoordinatorConfig } from './config.ts';
import { checkDeliverable } from './deliverable.ts';
import { CoordinatorError } from './errors.ts';
import type { EventsHub } from './events-hub.ts';
import { type Lease, LeaseTable } from './lease-table.ts';
import type { Metrics } from './metrics.ts';
import { prefetchOf, type SchedTask, Scheduler, type SchedWorker } from './scheduler.ts';
import type { CompleteTask, InsertOutcome, NewLease, Store, TaskRecord, TaskState } from './store.ts';
import { TaskTokens } from './task-tokens.ts';
import {
  adapterClassOf,
  BuiltinKnownAnswers,
  cryptoRandom,
  FirstKnownAnswers,
  type IssuedCheck,
  MemoryTrustStore,
  mimicTaskId,
  moduleKeyOf,
  outputsOf,
  ReplayKnownAnswers,
  type ReplicaOutput,
  resolvePolicy,
  TrustEngine,
  TrustError,
  type TrustStore,
  type VerificationStatus,
  type WorkerRef,
} from './trust/index.ts';
import { loadReferenceOps } from './trust/reference-ops.ts';

/** How the coordinator talks to one connected volunteer (the worker hub implements it). */
export interface WorkerLink {
  /** Sends one frame; false when the socket is no longer open. */
  send(payload: Frame_Payload): boolean;
  bufferedAmount(): number;
  close(code: number, reason: string): void;
}

/** A large output received as a stream and stored as a blob, waiting for its result frame. */
export interface StoredStream {
  leaseId: string;
  hex: string | undefined;
  size: number;
  name: string;
  contentType: string;
  /** Set when the stream was refused or its hash did not match. */
  error: string | undefined;
}

/** A volunteer known to this process (connected now, or recently). */
export interface WorkerState extends SchedWorker {
  sessionHash: string;
  link: WorkerLink | undefined;
  /** Welcome sent: assignments may flow (none may overtake the welcome). */
  ready: boolean;
  client: string;
  connectedAtMs: number;
  lastSeenMs: number;
  succeeded: number;
  failed: number;
  streams: Map<string, StoredStream>;
  /** Failed a known-answer check: gets no more work (its standing is kept by the trust engine). */
  quarantined: boolean;
  /** Checks in a row it could not run (failure, lost lease): after 3 it gets no more. */
  checkMisses: number;
  /** Its first check is out: it gets nothing else until that is judged. */
  onProbation: boolean;
  /** The standing last read from the trust engine; unset once a verdict may have changed it. */
  standing?: Standing | undefined;
  /**
   * A new identity (not resumed) that has been sent nothing yet: when it leaves it is forgotten,
   * its stored row too, so connections that say hello and leave leave nothing behind.
   */
  fresh: boolean;
}

/** A queued or running task, as the coordinator keeps it in memory. */
interface OpenTask {
  uid: number;
  tenant: string;
  taskId: string;
  campaignId: string | undefined;
  returnChannel: string | undefined;
  envelope: ComputeEnvelope;
  state: 'queued' | 'running';
  attempts: number;
  failures: number;
  maxRetries: number;
  notBeforeMs: number;
  deadlineAtMs: number | undefined;
  sched: SchedTask;
  leaseId: string | undefined;
  createdAtMs: number;
  /** Set when the task has a `verification` policy: replicas' results by worker, until decided. */
  replicas: Map<string, ComputeResult> | undefined;
  /**
   * Verified tasks: the leases of the replicas running now. They run at once, on distinct
   * workers; `leaseId` is then the stored attempt, which stays open until the engine decides.
   */
  replicaLeases: Set<string>;
  /** Workers the dispatcher found the engine refusing for reasons the scheduler does not mirror. */
  refusedWorkers: Set<string>;
  /** Replica leases lost or failed retryably; bounded by maxAttempts. */
  replicaLosses: number;
}

/** A task the scheduler matched to a worker in this pass (its slot is counted as taken). */
type Match = { task: SchedTask; worker: WorkerState };

/** Where trust state lives and how its draws are made (defaults: the store's, crypto random). */
export interface TrustOptions {
  store?: TrustStore;
  /** Uniform [0, 1) for spot-check and believe-alone draws. Tests pin it; never in production. */
  random?: () => number;
}

/** A submission: a validated envelope and the tenant it belongs to. */
export interface Submission {
  tenant: string;
  envelope: ComputeEnvelope;
  /** Where the envelope sits in its request (`tasks[3]`), for the `field` of a refusal. */
  field?: string | undefined;
}

/** Refusal codes of result_ack (Contract A, 7). */
export type AckCode =
  | 'LEASE_UNKNOWN'
  | 'LEASE_EXPIRED'
  | 'WRONG_TOKEN'
  | 'TASK_MISMATCH'
  | 'TASK_CANCELLED'
  | 'STREAM_UNKNOWN'
  | 'HASH_MISMATCH'
  | 'DUPLICATE';

const usesGpu = (env: ComputeEnvelope): boolean =>
  env.module?.kind === 'wgsl' || Boolean(env.requirements?.min?.webgpu || env.requirements?.min?.gpu);

/** A min-heap of (time, uid) for deadlines and retry backoffs. */
class TimeQueue {
  private readonly items: Array<[number, number]> = [];
  push(at: number, uid: number): void {
    const a = this.items;
    a.push([at, uid]);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]![0] <= a[i]![0]) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  /** Pops every entry due at `now`. */
  due(now: number): number[] {
    const out: number[] = [];
    const a = this.items;
    while (a.length > 0 && a[0]![0] <= now) {
      out.push(a[0]![1]);
      const last = a.pop()!;
      if (a.length === 0) break;
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]![0] < a[m]![0]) m = l;
        if (r < a.length && a[r]![0] < a[m]![0]) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return out;
  }
  get size(): number {
    return this.items.length;
  }
}

/**
 * The coordinator's engine: accepts tasks, keeps the open ones in memory, matches them to
 * workers (Scheduler), leases them out (LeaseTable), and records every transition in the store
 * before it is announced or acknowledged. The HTTP API and the worker hub call into it.
 */
export class Coordinator {
  readonly scheduler = new Scheduler();
  readonly leases = new LeaseTable();
  readonly workers = new Map<string, WorkerState>();
  private readonly open = new Map<number, OpenTask>();
  private readonly deadlines = new TimeQueue();
  private readonly delayed = new TimeQueue();
  private delayedCount = 0;
  private tokens!: TaskTokens;
  private timer: NodeJS.Timeout | undefined;
  private dispatchQueued = false;
  private ticking = false;
  private dispatching = false;
  private dispatchAgain = false;
  private closed = false;
  private readonly leasePrefix = `${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
  private leaseSeq = 0;
  private readonly pendingCommits: Array<{
    change: CompleteTask;
    resolve: (ok: boolean) => void;
    reject: (err: unknown) => void;
  }> = [];
  /**
   * Verification of tasks that ask for it (`verification` set): replicas run at once on distinct
   * workers until a quorum agrees, known-answer spot checks vet the workers, and trusted workers
   * are believed alone (TRUST.md). Keyed by task uid. Made by `start`.
   */
  trust!: TrustEngine;
  /** Quorum-validated tasks, replayed as spot checks for modules without a CPU reference. */
  private readonly replay = new ReplayKnownAnswers();
  /** Check leases get negative task uids, which no task has. */
  private checkSeq = 0;
  /** When blobs are next collected (epoch ms), and whether a collection runs now. */
  private nextBlobGcMs = 0;
  private collecting = false;
  /** Recent successes: [finished at, end-to-end latency] for /v1/stats. */
  private readonly recent: Array<[number, number]> = [];

  constructor(
    readonly config: CoordinatorConfig,
    readonly store: Store,
    readonly blobs: BlobStore,
    readonly events: EventsHub,
    readonly metrics: Metrics,
    readonly log: Logger,
    private readonly trustOptions: TrustOptions = {},
  ) {}

  /**
   * Known answers: checks shaped like a built-in task from its op's CPU reference; for other
   * modules a replayed quorum-validated task of the same module; else a default built-in check.
   */
  private async knownAnswers(): Promise<FirstKnownAnswers> {
    const ops = await loadReferenceOps();
    return new FirstKnownAnswers([
      new BuiltinKnownAnswers(ops, []),
      this.replay,
      new BuiltinKnownAnswers(ops),
    ]);
  }

  /** Loads the secret and every open task; leases of running tasks get one more lease period. */
  async start(): Promise<void> {
    let secret = await this.store.getMeta('task_token_secret');
    if (!secret) {
      secret = TaskTokens.newSecret().toString('base64');
      await this.store.setMeta('task_token_secret', secret);
    }
    this.tokens = new TaskTokens(Buffer.from(secret, 'base64'));
    const spotChecks = this.config.spotChecks;
    this.trust = new TrustEngine({
      // The store's own tables when it has them (SQLite), else memory.
      store: this.trustOptions.store ?? this.store.trustStore?.() ?? new MemoryTrustStore(),
      ...(this.trustOptions.random ? { random: this.trustOptions.random } : {}),
      knownAnswers: spotChecks ? await this.knownAnswers() : undefined,
      spotCheckRate: this.config.spotCheckRate,
      trustThreshold: this.config.trustThreshold,
      // Without checks nobody is ever vetted: a quorum then needs no vetted member.
      requireVetted: spotChecks,
    });
    // Checks in flight died with the previous process (their leases are not stored).
    const released = await this.trust.releaseAllChecks();
    if (released > 0) this.log.info({ released }, 'spot checks of the previous run released');
    const now = Date.now();
    let running = 0;
    for (const rec of await this.store.openTasks()) {
      const task = this.toOpen(rec);
      this.open.set(task.uid, task);
      await this.openVerification(task);
      if (task.deadlineAtMs !== undefined) this.deadlines.push(task.deadlineAtMs, task.uid);
      if (rec.state === 'queued') {
        this.makeRunnable(task, now);
        continue;
      }
      const attempt = rec.currentLeaseId ? await this.store.getAttempt(rec.currentLeaseId) : undefined;
      if (!attempt) continue;
      if (task.replicas) {
        // Its replicas' leases lived in this process only: run the missing ones again.
        await this.store.endAttempt({
          taskUid: task.uid,
          leaseId: attempt.leaseId,
          outcome: 'lease_expired',
          code: 'LEASE_EXPIRED',
          message: 'coordinator restarted during verification',
          requeueAtMs: now,
          countsAsFailure: false,
          nowMs: now,
        });
        await this.trust.releaseRunning(String(task.uid)).catch(() => 0);
        this.restrict(task, await this.trust.status(String(task.uid)));
        this.makeRunnable(task, now);
        continue;
      }
      task.state = 'running';
      task.leaseId = attempt.leaseId;
      this.leases.add({
        leaseId: attempt.leaseId,
        taskUid: task.uid,
        taskId: task.taskId,
        tenant: task.tenant,
        workerId: attempt.workerId,
        attempt: attempt.attempt,
        gpu: task.sched.gpu,
        expiresAtMs: now + this.config.leaseMs,
        runUntilMs: now + this.runLimitMs(task.envelope),
        cancelling: false,
        token: undefined,
      });
      this.scheduler.setRunning(task.tenant, 1);
      running += 1;
    }
    this.log.info({ queued: this.scheduler.size + this.delayedCount, running }, 'recovered open tasks');
    // The first blob collection a minute after start (restarts must not put it off for ever).
    this.nextBlobGcMs = now + Math.min(this.config.blobGcIntervalMs, 60_000);
    const tickMs = Math.max(20, Math.min(250, Math.floor(this.config.leaseMs / 5)));
    this.timer = setInterval(() => void this.tick(), tickMs);
    this.timer.unref();
    this.scheduleDispatch();
  }

  async stop(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
  }

  /**
   * Takes a task queued by another coordinator on a shared store into this one's queue. False
   * when it is not queued or already known here.
   */
  adopt(rec: TaskRecord): boolean {
    if (this.closed || rec.state !== 'queued' || this.open.has(rec.uid)) return false;
    const task = this.toOpen(rec);
    this.open.set(task.uid, task);
    if (task.deadlineAtMs !== undefined) this.deadlines.push(task.deadlineAtMs, task.uid);
    this.makeRunnable(task, Date.now());
    return true;
  }

  private toOpen(rec: TaskRecord, known?: ComputeEnvelope): OpenTask {
    const envelope =
      known ?? fromJson('ComputeEnvelope', JSON.parse(Buffer.from(rec.envelope).toString('utf8')));
    const min = envelope.requirements?.min;
    return {
      uid: rec.uid,
      tenant: rec.tenant,
      taskId: rec.taskId,
      campaignId: rec.campaignId,
      returnChannel: envelope.return_channel || undefined,
      envelope,
      state: 'queued',
      attempts: rec.attempts,
      failures: rec.failures,
      maxRetries: rec.maxRetries,
      notBeforeMs: rec.notBeforeMs,
      deadlineAtMs: rec.deadlineAtMs,
      leaseId: undefined,
      createdAtMs: rec.createdAtMs,
      replicas: envelope.verification ? new Map() : undefined,
      replicaLeases: new Set(),
      refusedWorkers: new Set(),
      replicaLosses: 0,
      sched: {
        uid: rec.uid,
        tenant: rec.tenant,
        priority: rec.priority,
        deadlineAtMs: rec.deadlineAtMs,
        min,
        preferred: envelope.requirements?.preferred,
        moduleHash: envelope.module?.hash || undefined,
        gpu: usesGpu(envelope),
        queuedAtMs: rec.updatedAtMs,
      },
    };
  }

  private makeRunnable(task: OpenTask, now: number): void {
    task.state = 'queued';
    task.leaseId = undefined;
    task.sched.queuedAtMs = now;
    if (task.notBeforeMs > now) {
      this.delayed.push(task.notBeforeMs, task.uid);
      this.delayedCount += 1;
    } else {
      this.scheduler.enqueue(task.sched);
      this.scheduleDispatch();
    }
  }

  private async openVerification(task: OpenTask): Promise<void> {
    if (!task.replicas) return;
    const status = await this.trust.open(String(task.uid), {
      verification: task.envelope.verification,
      moduleHash: moduleKeyOf(task.envelope),
    });
    // A task recovered from durable trust state: its earlier replicas' workers stay excluded.
    this.restrict(task, status);
  }

  /** Mirrors the engine's rules for the next replica in the task's scheduling entry. */
  private restrict(task: OpenTask, status: VerificationStatus): void {
    const excluded = new Set([...status.workers, ...task.refusedWorkers]);
    task.sched.excludeWorkers = excluded.size > 0 ? excluded : undefined;
    task.sched.needsVetted = status.needsVetted || undefined;
    task.sched.adapterClass = status.adapterLock;
  }

  /** Queues a running verified task for one more replica (the engine wants one). */
  private enqueueReplica(task: OpenTask): void {
    if (this.open.get(task.uid) !== task || this.scheduler.has(task.uid)) return;
    task.sched.queuedAtMs = Date.now();
    this.scheduler.enqueue(task.sched);
    this.scheduleDispatch();
  }

  /** After the engine changed its mind about a verified task: mirror its rules, queue a replica if wanted. */
  private async followVerification(task: OpenTask): Promise<void> {
    const status = await this.trust.status(String(task.uid)).catch(() => undefined);
    if (!status || this.open.get(task.uid) !== task) return;
    this.restrict(task, status);
    if (status.state === 'pending' && status.wanted > 0 && task.state === 'running')
      this.enqueueReplica(task);
  }

  /** Ends a replica's lease (its slot frees); the task's stored attempt stays open. */
  private endReplicaLease(task: OpenTask, lease: Lease, worker: WorkerState | undefined): void {
    task.replicaLeases.delete(lease.leaseId);
    this.endLease(lease, worker);
  }

  /** Tells every running replica of a decided (or cancelled) task to stop. */
  private cancelReplicas(task: OpenTask, reason: string, now: number): void {
    for (const leaseId of task.replicaLeases) {
      const lease = this.leases.get(leaseId);
      if (lease) this.cancelLease(lease, reason, now);
    }
    task.replicaLeases.clear();
  }

  /**
   * Tells the lease's worker to stop. Its slot stays taken until the cancel is acked or the lease
   * runs out (at most a lease period from now); the tenant's running count drops at once.
   */
  private cancelLease(lease: Lease, reason: string, now: number): void {
    if (lease.cancelling) return;
    lease.cancelling = true;
    lease.expiresAtMs = Math.min(lease.expiresAtMs, now + this.config.leaseMs);
    this.scheduler.setRunning(lease.tenant, -1);
    this.workers.get(lease.workerId)?.link?.send({
      cancel: { task_id: lease.taskId, lease_id: lease.leaseId, reason },
    });
  }

  /** A verified task fails: its stored attempt ends with `code`, running replicas are cancelled. */
  private async failVerified(task: OpenTask, code: string, message: string, now: number): Promise<void> {
    const ok = task.leaseId
      ? await this.store.endAttempt({
          taskUid: task.uid,
          leaseId: task.leaseId,
          outcome: code === 'VERIFICATION_FAILED' ? 'succeeded' : 'failed',
          code,
          message,
          requeueAtMs: undefined,
          countsAsFailure: false,
          nowMs: now,
        })
      : await this.store.failQueued(task.uid, code, message, now);
    if (!ok) return;
    this.cancelReplicas(task, code === 'DEADLINE_EXCEEDED' ? code : 'CANCELLED', now);
    this.scheduler.remove(task.uid);
    this.open.delete(task.uid);
    this.metrics.errors.inc({ code });
    this.publish(task, EVENTS.failed, 'failed', now, () =>
      toJson('ComputeFailure', { task_id: task.taskId, code, message }),
    );
    this.scheduleDispatch();
  }

  /** A replica's lease ended without a result: the engine frees its slot. */
  private releaseReplica(task: OpenTask | undefined, workerId: string): void {
    if (!task?.replicas) return;
    this.trust.release(String(task.uid), workerId).catch(() => undefined);
  }

  // ------------------------------------------------------------------------------------------
  // Requester side

  /**
   * Stores tasks (one transaction), then queues and announces the new ones. Same task_id with the
   * same content is `existing`; with other content `conflict` (and nothing is stored).
   */
  async submit(items: Submission[]): Promise<InsertOutcome[]> {
    for (const { envelope, field } of items) {
      try {
        if (envelope.verification) resolvePolicy(envelope.verification);
      } catch (err) {
        if (err instanceof TrustError) {
          throw new CoordinatorError('INVALID_ARGUMENT', err.message, joinField(field, err.field));
        }
        throw err;
      }
    }
    const now = Date.now();
    const rows = items.map(({ tenant, envelope, field }) => {
      const bytes = Buffer.from(JSON.stringify(toJson('ComputeEnvelope', envelope)));
      // What is accepted can be delivered: its assignment fits the frame limit tabs are told.
      checkDeliverable(envelope, bytes.length, this.config.maxFrameBytes, field);
      const qos = envelope.requirements?.qos;
      return {
        tenant,
        taskId: envelope.task_id!,
        campaignId: envelope.campaign_id || undefined,
        op: envelope.op!,
        moduleKind: envelope.module?.kind ?? 'wasm',
        contentHash: createHash('sha256').update(bytes).digest('hex'),
        envelope: bytes,
        priority: qos?.priority ?? 0,
        deadlineAtMs: qos?.deadline_ms ? now + qos.deadline_ms : undefined,
        maxRetries: qos?.retries ?? 0,
        createdAtMs: now,
      };
    });
    const outcomes = await this.store.insertTasks(rows);
    for (const [i, outcome] of outcomes.entries()) {
      if (outcome.kind !== 'created') continue;
      const task = this.toOpen(outcome.task, items[i]!.envelope);
      this.open.set(task.uid, task);
      await this.openVerification(task);
      if (task.deadlineAtMs !== undefined) this.deadlines.push(task.deadlineAtMs, task.uid);
      this.makeRunnable(task, now);
      this.publish(task, EVENTS.requested, 'queued', now, () => toJson('ComputeEnvelope', task.envelope));
    }
    return outcomes;
  }

  /** Cancels a task: queued ones leave the queue; running ones get a cancel pushed. */
  async cancel(rec: TaskRecord, reason: string): Promise<TaskState | undefined> {
    const now = Date.now();
    const previous = await this.store.cancelTask(rec.uid, reason, now);
    if (previous === undefined) return undefined;
    const task = this.open.get(rec.uid);
    this.open.delete(rec.uid);
    this.scheduler.remove(rec.uid);
    if (task?.replicas) this.cancelReplicas(task, reason, now);
    const lease = task?.leaseId && !task.replicas ? this.leases.get(task.leaseId) : undefined;
    if (lease) this.cancelLease(lease, reason, now);
    this.events.publish({
      topic: EVENTS.cancelled,
      tenant: rec.tenant,
      taskId: rec.taskId,
      campaignId: rec.campaignId,
      returnChannel: task?.returnChannel,
      state: 'cancelled',
      tsMs: now,
      payload: () => toJson('ComputeCancelled', { task_id: rec.taskId, reason }),
    });
    return previous;
  }

  /**
   * Why a queued task waits, or undefined when it is not queued in this process. `memo` shares
   * the answer between tasks with the same requirements within one request.
   */
  waitingReason(uid: number, memo?: Map<string, string>): string | undefined {
    const task = this.open.get(uid);
    if (task?.state !== 'queued') return undefined;
    if (task.notBeforeMs > Date.now() && !this.scheduler.has(uid)) {
      return `retry backoff until ${new Date(task.notBeforeMs).toISOString()}`;
    }
    const connected = this.connectedWorkers();
    const workers = connected.filter((w) => !w.quarantined);
    if (workers.length === 0 && connected.length > 0) {
      const n = connected.length;
      return `${n === 1 ? 'the connected volunteer is' : `all ${n} connected volunteers are`} quarantined (failed a known-answer check)`;
    }
    // A verified task's answer is its own (the workers it ran on, vetted, adapter class).
    if (task.replicas) return this.scheduler.waitingReason(task.sched, workers);
    const key = memo ? JSON.stringify([task.sched.min ?? null, task.sched.gpu]) : '';
    const known = memo?.get(key);
    if (known !== undefined) return known;
    const reason = this.scheduler.waitingReason(task.sched, workers);
    memo?.set(key, reason);
    return reason;
  }

  connectedWorkers(): WorkerState[] {
    const out: WorkerState[] = [];
    for (const w of this.workers.values()) if (w.link && w.ready) out.push(w);
    return out;
  }

  /** The hub has sent the welcome (and the acks and cancels): the worker may get work now. */
  ready(worker: WorkerState): void {
    worker.ready = true;
    this.scheduleDispatch();
  }

  queueDepth(): number {
    return this.scheduler.size + this.delayedCount;
  }

  runningCount(): number {
    return this.leases.size;
  }

  /** Successes per minute over the last minute, and end-to-end latency percentiles (ms). */
  recentStats(): { throughputPerMin: number; p50: number; p95: number; p99: number } {
    const now = Date.now();
    while (this.recent.length > 0 && this.recent[0]![0] < now - 60_000) this.recent.shift();
    const lat = this.recent.map((r) => r[1]).sort((a, b) => a - b);
    const pct = (p: number): number =>
      lat.length === 0 ? 0 : lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!;
    return { throughputPerMin: this.recent.length, p50: pct(0.5), p95: pct(0.95), p99: pct(0.99) };
  }

  // ------------------------------------------------------------------------------------------
  // Volunteer side

  /**
   * Handles hello: resumes the worker identity for a known session token or makes a new one,
   * re-attaches in-flight leases, takes undelivered results, and returns the welcome and acks.
   */
  async hello(
    link: WorkerLink,
    hello: Hello,
  ): Promise<{ worker: WorkerState; welcome: Welcome; acks: ResultAck[]; cancels: Cancel[] }> {
    const now = Date.now();
    let workerId: string | undefined;
    let sessionToken = hello.session_token ?? '';
    let resumed = false;
    if (sessionToken) {
      const found = await this.store.findWorkerBySession(sha256(sessionToken));
      if (found) {
        workerId = found.workerId;
        resumed = true;
      }
    }
    if (!workerId) {
      workerId = `w-${randomBytes(9).toString('base64url')}`;
      sessionToken = randomBytes(24).toString('base64url');
    }
    const sessionHash = sha256(sessionToken);
    await this.store.upsertWorker({
      workerId,
      sessionHash,
      createdAtMs: now,
      lastSeenMs: now,
      tasksSucceeded: 0,
      tasksFailed: 0,
    });
    const previous = this.workers.get(workerId);
    if (previous?.link && previous.link !== link) previous.link.close(1008, 'session resumed elsewhere');
    const record = resumed ? await this.store.findWorkerBySession(sessionHash) : undefined;
    const worker: WorkerState = {
      workerId,
      sessionHash,
      link,
      capability: hello.capability ?? {},
      cachedModules: new Set(hello.capability?.cached_modules ?? []),
      runningCpu: 0,
      runningGpu: 0,
      maxSlots: this.config.maxSlotsPerWorker,
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
    worker.reliability = (worker.succeeded + 1) / (worker.succeeded + worker.failed + 2);
    this.workers.set(workerId, worker);

    // Results finished while disconnected come first: they may complete leases listed below.
    const acks: ResultAck[] = [];
    for (const result of hello.undelivered ?? []) acks.push(await this.handleResult(worker, result));

    const inFlight = new Set(hello.in_flight ?? []);
    const cancels: Cancel[] = [];
    for (const lease of this.leases.forWorker(workerId)) {
      if (lease.cancelling) {
        // Cancelled while the tab was away: tell it now (the slot frees on cancel_ack), or
        // forget the lease if the tab no longer runs it.
        if (inFlight.has(lease.leaseId)) {
          this.countLease(worker, lease, 1);
          cancels.push({ task_id: lease.taskId, lease_id: lease.leaseId, reason: 'CANCELLED' });
        } else {
          this.endLease(lease, worker);
        }
        continue;
      }
      if (inFlight.has(lease.leaseId)) {
        lease.expiresAtMs = Math.max(lease.expiresAtMs, now + this.config.leaseMs);
        this.countLease(worker, lease, 1);
      } else {
        // The tab no longer has this job (reload lost it, or the assignment never arrived).
        await this.loseLease(lease, 'LEASE_LOST', now);
      }
    }
    const delivered = new Set((hello.undelivered ?? []).map((r) => r.lease_id));
    for (const leaseId of inFlight) {
      const lease = this.leases.get(leaseId);
      if ((!lease || lease.workerId !== workerId) && !delivered.has(leaseId)) {
        cancels.push({ lease_id: leaseId, reason: 'LEASE_EXPIRED' });
      }
    }
    this.scheduleDispatch();
    const welcome: Welcome = {
      worker_id: workerId,
      session_token: sessionToken,
      heartbeat_ms: this.config.heartbeatMs,
      lease_ms: this.config.leaseMs,
      max_frame_bytes: this.config.maxFrameBytes,
      resumed,
      server_time_ms: now,
      // Cached since the read above, unless an undelivered result's verdict changed it.
      standing: await this.standingOf(worker),
    };
    this.events.publishWorker(workerId, EVENTS.capabilities, () => ({
      worker_id: workerId,
      capability: toJson('Capability', worker.capability),
    }));
    return { worker, welcome, acks, cancels };
  }

  /**
   * What the volunteer page shows of the worker's trust standing and credit. Cached per worker
   * (every heartbeat ack carries it) until a verdict that involves the worker drops the cache.
   */
  async standingOf(worker: WorkerState): Promise<Standing> {
    if (worker.standing) return worker.standing;
    const s = await this.trust.standing(worker.workerId);
    worker.standing = {
      credit: s.credit,
      pending_credit: s.pendingCredit,
      valid_results: s.validResults,
      invalid_results: s.invalidResults,
      vetted: s.vetted,
      quarantined: s.quarantined,
    };
    return worker.standing;
  }

  /** A verdict may have changed these workers' standing: their next heartbeat ack reads it again. */
  private standingChanged(workerIds: Iterable<string>): void {
    for (const id of workerIds) {
      const w = this.workers.get(id);
      if (w) w.standing = undefined;
    }
  }

  private countLease(worker: WorkerState, lease: Lease, delta: number): void {
    if (lease.gpu) worker.runningGpu = Math.max(0, worker.runningGpu + delta);
    else worker.runningCpu = Math.max(0, worker.runningCpu + delta);
  }

  /** The connection closed; its leases stay until they expire (the tab may come back). */
  disconnected(worker: WorkerState, link: WorkerLink): void {
    if (worker.link !== link) return;
    worker.link = undefined;
    worker.lastSeenMs = Date.now();
    for (const s of worker.streams.values()) s.error ??= 'STREAM_UNKNOWN';
    if (worker.fresh && this.workers.get(worker.workerId) === worker) this.forgetWorker(worker);
  }

  /** Drops a worker that did nothing from memory and from the store. */
  private forgetWorker(worker: WorkerState): void {
    this.workers.delete(worker.workerId);
    this.events.forgetWorker(worker.workerId);
    this.store.forgetIdleWorker(worker.workerId).catch((err: unknown) => {
      this.log.warn({ err, worker: worker.workerId }, 'idle worker row could not be removed');
    });
  }

  capability(worker: WorkerState, capability: Capability): void {
    worker.capability = capability;
    worker.cachedModules = new Set(capability.cached_modules ?? []);
    worker.lastSeenMs = Date.now();
    this.events.publishWorker(worker.workerId, EVENTS.capabilities, () => ({
      worker_id: worker.workerId,
      capability: toJson('Capability', capability),
    }));
    this.scheduleDispatch();
  }

  /** Renews the listed leases of `worker` (each once); the ack lists exactly those. */
  heartbeat(worker: WorkerState, leaseIds: string[]): LeaseRenewal[] {
    const now = Date.now();
    worker.lastSeenMs = now;
    return [...new Set(leaseIds)].map((leaseId) => {
      const lease = this.leases.renew(leaseId, worker.workerId, now + this.config.leaseMs);
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
    const lease = this.leases.get(leaseId);
    // Another worker's lease gets the same answer as none: a guesser learns no lease ids.
    if (!lease || lease.workerId !== worker.workerId) return 'LEASE_UNKNOWN';
    if (taskId && taskId !== lease.taskId) return 'TASK_MISMATCH';
    if (!this.tokenOf(lease, token)) return 'WRONG_TOKEN';
    if (lease.cancelling) return 'TASK_CANCELLED';
    return undefined;
  }

  /** Whether `token` is the task token handed out with `lease`. */
  private tokenOf(lease: Lease, token: string | undefined): boolean {
    return lease.token
      ? TaskTokens.same(token, lease.token)
      : this.tokens.verify(token, lease.leaseId, lease.taskId, lease.workerId);
  }

  /**
   * Whether the holder of `token` may fetch blob `name` (`sha256:<hex>`): the live lease it was
   * handed out with names that blob as an input.
   */
  leaseMayRead(leaseId: string, token: string, name: string): boolean {
    const lease = this.leases.get(leaseId);
    return (
      lease !== undefined &&
      !lease.cancelling &&
      lease.inputs?.has(name) === true &&
      this.tokenOf(lease, token)
    );
  }

  /** Why a result or failure for a lease that is not live is refused (fencing by lease id). */
  private async refusal(worker: WorkerState, leaseId: string, token: string | undefined): Promise<AckCode> {
    const attempt = await this.store.getAttempt(leaseId);
    if (!attempt || attempt.workerId !== worker.workerId) return 'LEASE_UNKNOWN';
    const task = await this.store.getTaskByUid(attempt.taskUid);
    if (!task || !this.tokens.verify(token, leaseId, task.taskId, attempt.workerId)) return 'WRONG_TOKEN';
    if (attempt.outcome === 'succeeded') return 'DUPLICATE';
    if (attempt.outcome === 'cancelled') return 'TASK_CANCELLED';
    return 'LEASE_EXPIRED';
  }

  async progress(worker: WorkerState, p: ComputeProgress): Promise<void> {
    const lease = this.leases.get(p.lease_id ?? '');
    if (!lease || lease.workerId !== worker.workerId || lease.cancelling) return;
    const task = this.open.get(lease.taskUid);
    if (!task) return;
    const metrics = p.metrics ?? {};
    const pct = Math.max(0, Math.min(100, p.pct ?? 0));
    await this.store.setProgress(task.uid, lease.leaseId, pct, metrics);
    this.publish(task, EVENTS.progress, 'running', Date.now(), () =>
      toJson('ComputeProgress', { ...p, task_id: task.taskId }),
    );
  }

  /** A result: stored durably before the ack; duplicates of the accepted lease are acked again. */
  async handleResult(worker: WorkerState, result: ComputeResult): Promise<ResultAck> {
    const leaseId = result.lease_id ?? '';
    const ack = (accepted: boolean, code?: AckCode): ResultAck => {
      if (code && code !== 'DUPLICATE') this.metrics.errors.inc({ code });
      return code
        ? { task_id: result.task_id ?? '', lease_id: leaseId, accepted, code }
        : { task_id: result.task_id ?? '', lease_id: leaseId, accepted };
    };
    const refused = this.checkLease(worker, leaseId, result.task_id, result.task_token);
    if (refused === 'LEASE_UNKNOWN') {
      const code = await this.refusal(worker, leaseId, result.task_token);
      return ack(code === 'DUPLICATE', code);
    }
    if (refused) return ack(false, refused);
    if (result.worker_id && result.worker_id !== worker.workerId) return ack(false, 'LEASE_UNKNOWN');
    const lease = this.leases.get(leaseId)!;
    if (lease.checkId !== undefined) {
      const [accepted, code] = await this.checkResult(worker, lease, result);
      this.scheduleDispatch();
      return ack(accepted, code);
    }
    const task = this.open.get(lease.taskUid);
    if (!task) return ack(false, 'LEASE_EXPIRED');

    const outputs: DataRef[] = [];
    for (const out of result.outputs ?? []) {
      const resolved = this.resolveOutput(worker, lease, task.tenant, out);
      if (typeof resolved === 'string') return ack(false, resolved);
      outputs.push(resolved);
    }
    const stored: ComputeResult = {
      task_id: task.taskId,
      lease_id: leaseId,
      worker_id: worker.workerId,
      outputs,
    };
    if (result.summary && Object.keys(result.summary).length > 0) stored.summary = result.summary;
    if (result.metrics && Object.keys(result.metrics).length > 0) stored.metrics = result.metrics;
    if (result.executor) stored.executor = result.executor;
    if (result.duration_ms) stored.duration_ms = result.duration_ms;
    const now = Date.now();
    let canonical = stored;
    if (task.replicas) {
      const verified = await this.verifyReplica(worker, lease, task, stored, now);
      if (verified === 'handled') return ack(true);
      canonical = verified;
    }
    const ok = await this.commitResult({
      taskUid: task.uid,
      // A verified task completes on its stored attempt, whichever replica decided it.
      leaseId: task.replicas ? (task.leaseId ?? leaseId) : leaseId,
      result: Buffer.from(JSON.stringify(toJson('ComputeResult', canonical))),
      executor: result.executor || undefined,
      durationMs: result.duration_ms || undefined,
      nowMs: now,
      workerId: worker.workerId,
    });
    if (!ok) return ack(false, 'LEASE_EXPIRED');
    this.endLease(lease, worker);
    if (task.replicas) {
      this.cancelReplicas(task, 'CANCELLED', now); // surplus replicas: the quorum has spoken
      this.scheduler.remove(task.uid);
    }
    this.open.delete(task.uid);
    worker.succeeded += 1;
    worker.reliability = (worker.succeeded + 1) / (worker.succeeded + worker.failed + 2);
    this.recent.push([now, now - task.createdAtMs]);
    if (this.recent.length > 200_000) this.recent.splice(0, 100_000);
    this.publish(task, EVENTS.success, 'succeeded', now, () => toJson('ComputeResult', canonical));
    this.scheduleDispatch();
    return ack(true);
  }

  /**
   * Feeds a replica's result to the trust engine and ends the replica's lease. Accepted: returns the
   * canonical result, to be committed on the task's stored attempt. Otherwise 'handled': another
   * replica is queued when the engine wants one, or the task failed VERIFICATION_FAILED.
   */
  private async verifyReplica(
    worker: WorkerState,
    lease: Lease,
    task: OpenTask,
    stored: ComputeResult,
    now: number,
  ): Promise<ComputeResult | 'handled'> {
    const key = String(task.uid);
    let verdict: Awaited<ReturnType<TrustEngine['submit']>> | undefined;
    try {
      const outputs = outputsOf(stored, (uri) => this.blobBytes(uri));
      verdict = await this.trust.submit(key, worker.workerId, outputs, { claimedMs: stored.duration_ms });
      this.standingChanged(
        verdict.kind === 'accepted'
          ? [worker.workerId, ...verdict.valid, ...verdict.invalid]
          : [worker.workerId],
      );
      if (verdict.kind === 'accepted' && verdict.by === 'quorum') {
        const policy = resolvePolicy(task.envelope.verification);
        this.replay.remember(task.envelope, outputs, policy, [...verdict.valid, ...verdict.invalid]);
      }
    } catch (err) {
      this.log.warn({ err, task: task.taskId }, 'result could not be verified');
      this.releaseReplica(task, worker.workerId);
      task.refusedWorkers.add(worker.workerId);
    }
    task.replicas!.set(worker.workerId, stored);
    this.endReplicaLease(task, lease, worker);
    if (verdict?.kind === 'accepted') return task.replicas!.get(verdict.canonicalWorker) ?? stored;
    if (verdict?.kind === 'failed') {
      await this.failVerified(task, 'VERIFICATION_FAILED', verdict.message, now);
      return 'handled';
    }
    await this.followVerification(task);
    this.scheduleDispatch();
    return 'handled';
  }

  // ------------------------------------------------------------------------------------------
  // Spot checks: known-answer tasks leased like real ones (TRUST.md). They are not stored as
  // tasks: a check lease lives in the lease table only and its verdict in the trust engine.

  /**
   * Sends `worker` the check in place of the real task it was matched to (which is queued again).
   * False when the check could not be encoded (it is released; the match is the caller's to undo).
   */
  private leaseCheck(worker: WorkerState, sched: SchedTask, issued: IssuedCheck, now: number): boolean {
    this.checkSeq += 1;
    try {
      this.sendAssignment(
        worker,
        {
          leaseId: this.nextLeaseId(),
          taskUid: -this.checkSeq,
          taskId: issued.envelope.task_id ?? '',
          tenant: sched.tenant,
          workerId: worker.workerId,
          attempt: 1,
          gpu: sched.gpu,
          expiresAtMs: now + this.config.leaseMs,
          runUntilMs: now + this.runLimitMs(issued.envelope, worker),
          cancelling: false,
          checkId: issued.checkId,
        },
        issued.envelope,
      );
    } catch (err) {
      this.log.warn({ err, worker: worker.workerId }, 'spot check could not be encoded: released');
      this.trust.releaseSpotCheck(issued.checkId).catch(() => undefined);
      return false;
    }
    this.metrics.spotChecks.inc({ outcome: 'issued' });
    return true;
  }

  /**
   * Judges a check's outputs. The worker is acked exactly as for a real task. Passed: it is vetted.
   * Failed: it is quarantined, gets no more work, and the tasks believed on its word alone since
   * its last passed check are verified again.
   */
  private async checkResult(
    worker: WorkerState,
    lease: Lease,
    result: ComputeResult,
  ): Promise<[accepted: boolean, code?: AckCode]> {
    const refs: DataRef[] = [];
    for (const out of result.outputs ?? []) {
      const resolved = this.resolveOutput(worker, lease, undefined, out);
      if (typeof resolved === 'string') return [false, resolved];
      refs.push(resolved);
    }
    this.endLease(lease, worker);
    let outputs: ReplicaOutput[];
    try {
      outputs = outputsOf({ outputs: refs }, (uri) => this.blobBytes(uri));
    } catch {
      outputs = []; // outputs that cannot be read cannot match the answer
    }
    let verdict: Awaited<ReturnType<TrustEngine['submitSpotCheck']>>;
    try {
      verdict = await this.trust.submitSpotCheck(lease.checkId!, worker.workerId, outputs, {
        claimedMs: result.duration_ms,
      });
    } catch (err) {
      this.log.warn({ err, worker: worker.workerId }, 'spot check could not be judged');
      await this.trust.releaseSpotCheck(lease.checkId!).catch(() => undefined);
      worker.onProbation = false;
      return [true];
    }
    worker.checkMisses = 0;
    worker.onProbation = false;
    worker.standing = undefined;
    this.metrics.spotChecks.inc({ outcome: verdict.passed ? 'passed' : 'failed' });
    if (verdict.passed) {
      worker.vetted = true;
      return [true];
    }
    worker.vetted = false;
    worker.quarantined = true;
    this.log.warn(
      { worker: worker.workerId, reverify: verdict.reverify.length },
      'worker failed a known-answer check: quarantined',
    );
    for (const key of verdict.reverify) await this.reverify(Number(key));
    return [true];
  }

  /** A check's lease ended without a verdict (failure reported, lease lost): the worker may get another. */
  private missCheck(lease: Lease, worker: WorkerState | undefined): void {
    this.endLease(lease, worker);
    this.metrics.spotChecks.inc({ outcome: 'released' });
    const w = worker ?? this.workers.get(lease.workerId);
    if (w) {
      w.checkMisses += 1;
      w.onProbation = false;
    }
    this.trust.releaseSpotCheck(lease.checkId!).catch(() => undefined);
    this.scheduleDispatch();
  }

  /**
   * A task accepted on the word of a worker since quarantined: if the engine reopens it, its
   * stored result is withdrawn and it runs again on others (TRUST.md, "Residual risk").
   */
  private async reverify(uid: number): Promise<void> {
    const status = await this.trust.reverify(String(uid)).catch(() => undefined);
    if (status?.state !== 'pending') return;
    const now = Date.now();
    const rec = await this.store.reopenTask(uid, 'REVERIFY', now);
    if (!rec || this.open.has(uid)) return;
    const task = this.toOpen(rec);
    this.open.set(uid, task);
    this.restrict(task, status);
    if (task.deadlineAtMs !== undefined) this.deadlines.push(task.deadlineAtMs, uid);
    this.metrics.errors.inc({ code: 'REVERIFY' });
    this.log.warn({ task: task.taskId }, 'result withdrawn: its worker failed a check; verifying again');
    this.makeRunnable(task, now);
    this.publish(task, EVENTS.requested, 'queued', now, () => toJson('ComputeEnvelope', task.envelope));
  }

  private blobBytes(uri: string): Uint8Array | undefined {
    const hex = /sha256:([0-9a-f]{64})$/.exec(uri)?.[1];
    return hex ? this.blobs.read(hex) : undefined;
  }

  /**
   * Group commit: results that arrive in the same turn of the event loop are stored in one
   * transaction; each caller learns its own outcome once that transaction has committed.
   */
  private commitResult(change: CompleteTask): Promise<boolean> {
    const batch = this.store.completeTasks?.bind(this.store);
    // A store without batches: one transaction per result (it counts the worker's success too).
    if (!batch) return this.store.completeTask(change);
    return new Promise<boolean>((resolve, reject) => {
      this.pendingCommits.push({ change, resolve, reject });
      if (this.pendingCommits.length > 1) return;
      setImmediate(() => {
        const items = this.pendingCommits.splice(0);
        batch(items.map((p) => p.change)).then(
          (oks) => {
            for (const [i, p] of items.entries()) p.resolve(oks[i] === true);
          },
          (err: unknown) => {
            for (const p of items) p.reject(err);
          },
        );
      });
    });
  }

  /** `tenant` undefined: a check's output, kept as a blob for judging but not shown to any tenant. */
  private resolveOutput(
    worker: WorkerState,
    lease: Lease,
    tenant: string | undefined,
    out: DataRef,
  ): DataRef | AckCode {
    if (out.uri?.startsWith('stream:')) {
      const streamId = out.uri.slice('stream:'.length);
      const stream = worker.streams.get(streamId);
      if (!stream || stream.leaseId !== lease.leaseId) return 'STREAM_UNKNOWN';
      if (stream.error) return stream.error as AckCode;
      worker.streams.delete(streamId);
      if (tenant !== undefined)
        void this.store.recordBlob(`sha256:${stream.hex}`, tenant, 'output', stream.size, Date.now());
      const ref: DataRef = {
        ...out,
        uri: `/v1/blobs/sha256:${stream.hex}`,
        size: stream.size,
        hash: `sha256:${stream.hex}`,
      };
      if (!ref.content_type && stream.contentType) ref.content_type = stream.contentType;
      return ref;
    }
    const bytes = out.inline_bytes;
    if (bytes && bytes.length > this.config.inlineOutputBytes) {
      const hex = this.blobs.put(bytes);
      if (tenant !== undefined)
        void this.store.recordBlob(`sha256:${hex}`, tenant, 'output', bytes.length, Date.now());
      const ref: DataRef = {
        ...out,
        uri: `/v1/blobs/sha256:${hex}`,
        size: bytes.length,
        hash: `sha256:${hex}`,
      };
      delete ref.inline_bytes;
      return ref;
    }
    return out;
  }

  /** A failure: retried with backoff when retryable and retries remain, else the task fails. */
  async handleFailure(worker: WorkerState, failure: ComputeFailure): Promise<ResultAck> {
    const leaseId = failure.lease_id ?? '';
    const ack = (accepted: boolean, code?: AckCode): ResultAck => {
      if (code) this.metrics.errors.inc({ code });
      return code
        ? { task_id: failure.task_id ?? '', lease_id: leaseId, accepted, code }
        : { task_id: failure.task_id ?? '', lease_id: leaseId, accepted };
    };
    const refused = this.checkLease(worker, leaseId, failure.task_id, failure.task_token);
    if (refused === 'TASK_CANCELLED') {
      // The job stopped because we cancelled it: the slot is free again.
      const lease = this.leases.get(leaseId)!;
      this.endLease(lease, worker);
      this.scheduleDispatch();
      return ack(true);
    }
    if (refused === 'LEASE_UNKNOWN') {
      const code = await this.refusal(worker, leaseId, failure.task_token);
      return ack(false, code === 'DUPLICATE' ? 'LEASE_EXPIRED' : code);
    }
    if (refused) return ack(false, refused);
    const lease = this.leases.get(leaseId)!;
    if (failure.code === 'LEASE_RETURNED') {
      await this.returnLease(lease, worker);
      return ack(true);
    }
    if (lease.checkId !== undefined) {
      this.missCheck(lease, worker);
      return ack(true);
    }
    const task = this.open.get(lease.taskUid);
    if (!task) return ack(false, 'LEASE_EXPIRED');
    const code = failure.code || 'EXECUTION_ERROR';
    this.metrics.errors.inc({ code });
    const now = Date.now();
    if (task.replicas) {
      await this.replicaFailed(worker, lease, task, failure, code, now);
      return ack(true);
    }
    const retry =
      failure.retryable === true &&
      task.failures < task.maxRetries &&
      task.attempts < this.config.maxAttempts;
    const finalCode = failure.retryable && !retry ? 'RETRIES_EXHAUSTED' : code;
    const message =
      failure.retryable && !retry ? `${code}: ${failure.message ?? ''}` : (failure.message ?? '');
    const requeueAtMs = retry ? now + this.backoff(task.failures + 1) : undefined;
    const ok = await this.store.endAttempt({
      taskUid: task.uid,
      leaseId,
      outcome: 'failed',
      code,
      message: failure.message ?? '',
      taskCode: finalCode,
      taskMessage: message,
      requeueAtMs,
      countsAsFailure: true,
      nowMs: now,
    });
    if (!ok) return ack(false, 'LEASE_EXPIRED');
    this.endLease(lease, worker);
    this.releaseReplica(task, worker.workerId);
    this.countFailure(worker);
    task.failures += 1;
    if (retry) {
      task.notBeforeMs = requeueAtMs!;
      this.makeRunnable(task, now);
      this.publish(task, EVENTS.requested, 'queued', now, () => toJson('ComputeEnvelope', task.envelope));
    } else {
      this.open.delete(task.uid);
      this.publish(task, EVENTS.failed, 'failed', now, () =>
        toJson('ComputeFailure', {
          task_id: task.taskId,
          lease_id: leaseId,
          worker_id: worker.workerId,
          code: finalCode,
          message,
          retryable: false,
        }),
      );
    }
    this.scheduleDispatch();
    return ack(true);
  }

  /**
   * The worker gives a lease back before running it (a job queued in its inbox when it paused):
   * the task is requeued at once, with no penalty for the worker; a check is released.
   */
  private async returnLease(lease: Lease, worker: WorkerState): Promise<void> {
    if (lease.checkId !== undefined) {
      this.endLease(lease, worker);
      worker.onProbation = false;
      this.trust.releaseSpotCheck(lease.checkId).catch(() => undefined);
      this.scheduleDispatch();
      return;
    }
    await this.loseLease(lease, 'LEASE_RETURNED', Date.now());
    this.scheduleDispatch();
  }

  /**
   * A replica of a verified task failed. Not retryable: the task fails with the code (the job
   * itself is broken). Retryable: another worker runs a replica, up to the task's retries.
   */
  private async replicaFailed(
    worker: WorkerState,
    lease: Lease,
    task: OpenTask,
    failure: ComputeFailure,
    code: string,
    now: number,
  ): Promise<void> {
    this.endReplicaLease(task, lease, worker);
    this.releaseReplica(task, worker.workerId);
    this.countFailure(worker);
    task.failures += 1;
    if (failure.retryable !== true) {
      await this.failVerified(task, code, failure.message ?? '', now);
      return;
    }
    task.replicaLosses += 1;
    if (task.failures > task.maxRetries || task.replicaLosses >= this.config.maxAttempts) {
      await this.failVerified(task, 'RETRIES_EXHAUSTED', `${code}: ${failure.message ?? ''}`, now);
      return;
    }
    task.refusedWorkers.add(worker.workerId); // it failed here: another worker tries
    await this.followVerification(task);
  }

  cancelAck(worker: WorkerState, leaseId: string): void {
    const lease = this.leases.get(leaseId);
    if (!lease || lease.workerId !== worker.workerId || !lease.cancelling) return;
    this.endLease(lease, worker);
    this.scheduleDispatch();
  }

  /**
   * How long a lease of `envelope` may run: its time limit (`permissions.timeout_ms`, else the
   * executor's default, at most FLOCK_MAX_RUN_MS), twice over for a worker that prefetches, plus
   * one lease period of grace for fetching the module and inputs and for the result to arrive.
   */
  private runLimitMs(envelope: ComputeEnvelope, worker?: WorkerState): number {
    const timeout = Math.min(
      envelope.module?.permissions?.timeout_ms || DEFAULT_TIMEOUT_MS,
      this.config.maxRunMs,
    );
    // A worker that queues jobs behind running ones (prefetch, one per slot) may start this one
    // only when the job ahead of it ends: it gets two time limits.
    const queued = worker && prefetchOf(worker.capability) > 0 ? 2 : 1;
    return queued * timeout + this.config.leaseMs;
  }

  /** A failure of the worker's: counted durably, and its reliability drops. */
  private countFailure(worker: WorkerState): void {
    worker.failed += 1;
    worker.reliability = (worker.succeeded + 1) / (worker.succeeded + worker.failed + 2);
    void this.store.countWorkerOutcome(worker.workerId, false);
  }

  /**
   * Lease ids: a random per-process prefix and a counter, so that ids are unique, never reused
   * across restarts, and increase within a run (cheap appends to the attempts index). They are
   * not secret: the task token is.
   */
  private nextLeaseId(): string {
    this.leaseSeq += 1;
    return `l-${this.leasePrefix}-${this.leaseSeq.toString(36).padStart(8, '0')}`;
  }

  private backoff(failures: number): number {
    return Math.min(60_000, this.config.retryBaseMs * 2 ** Math.max(0, failures - 1));
  }

  private endLease(lease: Lease, worker: WorkerState | undefined): void {
    if (!this.leases.delete(lease.leaseId)) return;
    const w = worker ?? this.workers.get(lease.workerId);
    if (w) {
      this.countLease(w, lease, -1);
      // Streams of this lease that no accepted result claimed are forgotten with it.
      for (const [id, stream] of w.streams) if (stream.leaseId === lease.leaseId) w.streams.delete(id);
    }
    if (!lease.cancelling) this.scheduler.setRunning(lease.tenant, -1);
  }

  /**
   * A lease ran out or the tab lost the job: requeue (or fail once attempts are used up). A lease
   * held past its run-time limit (`RUN_TIME_EXCEEDED`) also costs the worker reliability, and the
   * worker is told to stop.
   */
  private async loseLease(lease: Lease, code: string, now: number): Promise<void> {
    if (code === 'RUN_TIME_EXCEEDED' && !lease.cancelling) {
      const worker = this.workers.get(lease.workerId);
      if (worker) {
        this.countFailure(worker);
        worker.link?.send({ cancel: { task_id: lease.taskId, lease_id: lease.leaseId, reason: code } });
      }
    }
    if (lease.checkId !== undefined) {
      this.missCheck(lease, undefined);
      return;
    }
    if (lease.cancelling) {
      this.endLease(lease, undefined);
      return;
    }
    const task = this.open.get(lease.taskUid);
    if (task?.replicas && task.replicaLeases.has(lease.leaseId)) {
      // A replica's lease ran out: another worker runs one (the stored attempt stays open).
      this.endReplicaLease(task, lease, undefined);
      this.releaseReplica(task, lease.workerId);
      this.metrics.errors.inc({ code });
      task.replicaLosses += 1;
      if (task.replicaLosses >= this.config.maxAttempts) {
        await this.failVerified(task, 'RETRIES_EXHAUSTED', 'replica leases lost on every attempt', now);
        return;
      }
      await this.followVerification(task);
      return;
    }
    if (!task || task.leaseId !== lease.leaseId) {
      this.endLease(lease, undefined);
      return;
    }
    const exhausted = task.attempts >= this.config.maxAttempts;
    const ok = await this.store.endAttempt({
      taskUid: task.uid,
      leaseId: lease.leaseId,
      outcome: 'lease_expired',
      code: exhausted ? 'RETRIES_EXHAUSTED' : code,
      message: exhausted ? `${task.attempts} attempts, the last lost its lease` : undefined,
      requeueAtMs: exhausted ? undefined : now,
      countsAsFailure: false,
      nowMs: now,
    });
    this.endLease(lease, undefined);
    if (!ok) return;
    this.releaseReplica(task, lease.workerId);
    this.metrics.errors.inc({ code });
    if (exhausted) {
      this.open.delete(task.uid);
      this.publish(task, EVENTS.failed, 'failed', now, () =>
        toJson('ComputeFailure', {
          task_id: task.taskId,
          code: 'RETRIES_EXHAUSTED',
          message: 'lease lost on every attempt',
        }),
      );
    } else {
      task.notBeforeMs = now;
      this.makeRunnable(task, now);
      this.publish(task, EVENTS.requested, 'queued', now, () => toJson('ComputeEnvelope', task.envelope));
    }
  }

  // ------------------------------------------------------------------------------------------
  // Timers and dispatch

  private async tick(): Promise<void> {
    if (this.closed || this.ticking) return;
    this.ticking = true;
    const now = Date.now();
    try {
      for (const w of this.workers.values()) {
        // Backpressure: a worker whose socket is backed up gets nothing new until it drains.
        // A worker silent for a whole lease period (no heartbeat, no frame) is not given more.
        const blocked = w.link
          ? w.link.bufferedAmount() > this.config.maxBufferedBytes ||
            now - w.lastSeenMs >= this.config.leaseMs
          : true;
        if (w.blocked && !blocked) this.scheduleDispatch();
        w.blocked = blocked;
      }
      for (const lease of this.leases.expired(now)) {
        await this.loseLease(lease, lease.overran ? 'RUN_TIME_EXCEEDED' : 'LEASE_EXPIRED', now);
      }
      for (const uid of this.delayed.due(now)) {
        this.delayedCount -= 1;
        const task = this.open.get(uid);
        if (task && task.state === 'queued') {
          this.scheduler.enqueue(task.sched);
          this.scheduleDispatch();
        }
      }
      for (const uid of this.deadlines.due(now)) await this.deadlineExceeded(uid, now);
      this.forgetIdleWorkers(now);
      if (this.config.blobGcIntervalMs > 0 && now >= this.nextBlobGcMs) {
        this.nextBlobGcMs = now + this.config.blobGcIntervalMs;
        void this.housekeeping(now);
      }
    } catch (err) {
      this.log.error({ err }, 'tick failed');
    } finally {
      this.ticking = false;
    }
  }

  /** One housekeeping round: retention (when set), then blob collection. */
  async housekeeping(nowMs = Date.now()): Promise<{ purged: number; blobs: BlobGcResult | undefined }> {
    const purged = await this.purgeExpired(nowMs);
    return { purged, blobs: await this.collectBlobs(nowMs) };
  }

  /**
   * Retention: deletes finished tasks last changed more than `retentionDays` ago (in batches of
   * 1000, at most 100,000 a round) and their verification records; their blobs go in the next
   * collection. Returns how many were deleted.
   */
  async purgeExpired(nowMs = Date.now()): Promise<number> {
    if (this.config.retentionDays === 0) return 0;
    const before = nowMs - this.config.retentionDays * 24 * 3600_000;
    let purged = 0;
    try {
      for (let round = 0; round < 100; round++) {
        const uids = await this.store.purgeFinished(before, 1000);
        for (const uid of uids) await this.trust.forget(String(uid)).catch(() => undefined);
        purged += uids.length;
        if (uids.length < 1000) break;
      }
    } catch (err) {
      this.log.error({ err }, 'retention failed');
    }
    if (purged > 0)
      this.log.info({ purged, retentionDays: this.config.retentionDays }, 'finished tasks deleted');
    this.metrics.tasksPurged.inc(purged);
    return purged;
  }

  /**
   * Removes blobs nothing uses any more: outputs of refused, outvoted or withdrawn results, and
   * temp files of interrupted writes (`blob-gc.ts`). Results held in memory (replicas of a task
   * still being verified) count as in use. Returns undefined when a collection is already running.
   */
  async collectBlobs(nowMs = Date.now()): Promise<BlobGcResult | undefined> {
    if (this.collecting) return undefined;
    this.collecting = true;
    try {
      const inUse: string[] = [];
      for (const task of this.open.values()) {
        for (const result of task.replicas?.values() ?? []) {
          for (const out of result.outputs ?? []) if (out.hash) inUse.push(out.hash);
        }
      }
      const result = await collectBlobs(this.store, this.blobs, {
        nowMs,
        graceMs: this.config.blobGcGraceMs,
        inUse,
      });
      this.metrics.blobsCollected.inc(result.deleted);
      this.metrics.blobBytesCollected.inc(result.bytes);
      if (result.deleted > 0 || result.tempRemoved > 0) this.log.info(result, 'unused blobs collected');
      return result;
    } catch (err) {
      this.log.error({ err }, 'blob collection failed');
      return undefined;
    } finally {
      this.collecting = false;
    }
  }

  /** Disconnected workers without leases are dropped from memory after ten minutes. */
  private forgetIdleWorkers(now: number): void {
    for (const [id, w] of this.workers) {
      if (!w.link && now - w.lastSeenMs > 600_000 && this.leases.forWorker(id).length === 0) {
        this.workers.delete(id);
        this.events.forgetWorker(id);
      }
    }
  }

  private async deadlineExceeded(uid: number, now: number): Promise<void> {
    const task = this.open.get(uid);
    if (!task) return;
    const message = `deadline passed ${now - (task.deadlineAtMs ?? now)} ms ago`;
    if (task.state === 'queued') {
      if (!(await this.store.failQueued(uid, 'DEADLINE_EXCEEDED', message, now))) return;
      this.scheduler.remove(uid);
    } else if (task.replicas) {
      await this.failVerified(task, 'DEADLINE_EXCEEDED', message, now);
      return;
    } else {
      const lease = task.leaseId ? this.leases.get(task.leaseId) : undefined;
      if (!lease) return;
      const ok = await this.store.endAttempt({
        taskUid: uid,
        leaseId: lease.leaseId,
        outcome: 'deadline_exceeded',
        code: 'DEADLINE_EXCEEDED',
        message,
        requeueAtMs: undefined,
        countsAsFailure: false,
        nowMs: now,
      });
      if (!ok) return;
      this.cancelLease(lease, 'DEADLINE_EXCEEDED', now);
    }
    this.open.delete(uid);
    this.metrics.errors.inc({ code: 'DEADLINE_EXCEEDED' });
    this.publish(task, EVENTS.failed, 'failed', now, () =>
      toJson('ComputeFailure', { task_id: task.taskId, code: 'DEADLINE_EXCEEDED', message }),
    );
  }

  scheduleDispatch(): void {
    if (this.dispatchQueued || this.closed) return;
    this.dispatchQueued = true;
    setImmediate(() => {
      this.dispatchQueued = false;
      void this.dispatch();
    });
  }

  private async dispatch(): Promise<void> {
    if (this.dispatching) {
      this.dispatchAgain = true;
      return;
    }
    this.dispatching = true;
    try {
      do {
        this.dispatchAgain = false;
        const matched = this.scheduler.assign(this.dispatchableWorkers());
        if (matched.length === 0) break;
        const now = Date.now();
        const screened = await this.screen(matched, now);
        // More replicas of a verified task already running: leases of this process only.
        const picks: Match[] = [];
        for (const pick of screened) {
          const task = this.open.get(pick.task.uid);
          if (task?.replicas && task.state === 'running') await this.leaseReplica(task, pick, now);
          else picks.push(pick);
        }
        if (picks.length > 0) await this.startPicks(picks, now);
      } while (!this.closed);
    } catch (err) {
      this.log.error({ err }, 'dispatch failed');
    } finally {
      this.dispatching = false;
      if (this.dispatchAgain) this.scheduleDispatch();
    }
  }

  /**
   * Starts the leases of one pass in one store transaction, then sends each assignment. Failure-
   * atomic: should the store fail, every pick goes back to the queue; a task whose assignment
   * cannot be sent fails alone (UNDELIVERABLE) and the others are sent.
   */
  private async startPicks(picks: Match[], now: number): Promise<void> {
    const newLeases: NewLease[] = picks.map(({ task, worker }) => ({
      taskUid: task.uid,
      leaseId: this.nextLeaseId(),
      attempt: (this.open.get(task.uid)?.attempts ?? 0) + 1,
      workerId: worker.workerId,
      startedAtMs: now,
      expiresAtMs: now + this.config.leaseMs,
    }));
    let started: boolean[];
    try {
      started = await this.store.startLeases(newLeases);
    } catch (err) {
      for (const pick of picks) this.unmatch(pick, true);
      throw err;
    }
    for (const [i, pick] of picks.entries()) {
      const lease = newLeases[i]!;
      const task = this.open.get(pick.task.uid);
      if (!started[i] || !task) {
        this.unmatch(pick, false);
        // The store refused: the task left the queue elsewhere (another coordinator on a
        // shared store took it, or it was cancelled); if it comes back, `adopt` brings it.
        if (task?.state === 'queued') this.open.delete(pick.task.uid);
        continue;
      }
      task.state = 'running';
      task.leaseId = lease.leaseId;
      task.attempts = lease.attempt;
      const unsent = this.leaseTask(task, pick, lease.leaseId, lease.expiresAtMs, now);
      if (unsent) await this.undeliverable(task, pick, unsent, now);
    }
  }

  /** One more replica of a running verified task; a replica that cannot be sent fails the task. */
  private async leaseReplica(task: OpenTask, pick: Match, now: number): Promise<void> {
    const unsent = this.leaseTask(task, pick, this.nextLeaseId(), now + this.config.leaseMs, now);
    if (unsent) await this.undeliverable(task, pick, unsent, now);
  }

  /** Gives a match's slot back to its worker and tenant; `requeue` puts the task back in the queue. */
  private unmatch({ task: sched, worker }: Match, requeue: boolean): void {
    if (sched.gpu) worker.runningGpu -= 1;
    else worker.runningCpu -= 1;
    this.scheduler.setRunning(sched.tenant, -1);
    if (requeue) this.scheduler.enqueue(sched);
  }

  /**
   * A task's assignment could not be encoded (text or size the wire refuses, e.g. a task stored
   * before the checks at submit existed): it fails alone with UNDELIVERABLE, not retryable, since
   * no volunteer could ever receive it.
   */
  private async undeliverable(task: OpenTask, pick: Match, err: Error, now: number): Promise<void> {
    this.unmatch(pick, false);
    const code = 'UNDELIVERABLE';
    const message = `the task cannot be sent to a volunteer: ${err.message}`;
    this.log.warn({ task: task.taskId, tenant: task.tenant, err }, 'assignment could not be encoded');
    try {
      if (task.replicas) {
        await this.failVerified(task, code, message, now);
        return;
      }
      const leaseId = task.leaseId;
      const ok = leaseId
        ? await this.store.endAttempt({
            taskUid: task.uid,
            leaseId,
            outcome: 'failed',
            code,
            message,
            requeueAtMs: undefined,
            countsAsFailure: false,
            nowMs: now,
          })
        : await this.store.failQueued(task.uid, code, message, now);
      if (!ok) return;
    } catch (storeErr) {
      this.log.error({ err: storeErr, task: task.taskId }, 'undeliverable task could not be failed');
      return;
    }
    this.open.delete(task.uid);
    this.metrics.errors.inc({ code });
    this.publish(task, EVENTS.failed, 'failed', now, () =>
      toJson('ComputeFailure', { task_id: task.taskId, code, message, retryable: false }),
    );
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
  ): Error | undefined {
    const { worker, task: sched } = pick;
    let assignment: ComputeAssignment;
    try {
      assignment = this.sendAssignment(
        worker,
        {
          leaseId,
          taskUid: task.uid,
          taskId: task.taskId,
          tenant: task.tenant,
          workerId: worker.workerId,
          attempt: task.attempts,
          gpu: sched.gpu,
          expiresAtMs,
          runUntilMs: now + this.runLimitMs(task.envelope, worker),
          cancelling: false,
        },
        task.envelope,
      );
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
    if (task.replicas) {
      task.replicaLeases.add(leaseId);
      void this.replicaAssigned(task, worker, sched, leaseId);
    }
    this.metrics.assignmentLatency.observe((now - sched.queuedAtMs) / 1000);
    this.publish(task, EVENTS.accepted, 'running', now, () => {
      const { envelope: _e, task_token: _t, ...visible } = assignment;
      return toJson('ComputeAssignment', visible);
    });
    return undefined;
  }

  /**
   * Signs the lease's task token, sends the assignment, and puts the lease in the table. Throws,
   * with nothing leased, when the assignment cannot be encoded.
   */
  private sendAssignment(
    worker: WorkerState,
    lease: Omit<Lease, 'token'>,
    envelope: ComputeEnvelope,
  ): ComputeAssignment {
    const token = this.tokens.sign(lease.leaseId, lease.taskId, worker.workerId);
    const assignment: ComputeAssignment = {
      task_id: lease.taskId,
      worker_id: worker.workerId,
      lease_id: lease.leaseId,
      lease_expires_at_ms: lease.expiresAtMs,
      attempt: lease.attempt,
      task_token: token,
      envelope,
    };
    worker.link?.send({ assignment });
    this.leases.add(Object.assign(lease, { token, inputs: blobInputs(envelope) }));
    worker.fresh = false;
    return assignment;
  }

  /**
   * Tells the engine of a replica just leased, mirrors its rules, and queues the next replica at
   * once when the policy wants several (they run in parallel). Should the engine refuse it (a
   * race with another decision), the lease is cancelled and the worker not offered the task again.
   */
  private async replicaAssigned(task: OpenTask, worker: WorkerState, sched: SchedTask, leaseId: string) {
    const adapterClass = adapterClassOf(worker.capability, sched.gpu ? 'gpu' : 'cpu');
    try {
      await this.trust.assign(String(task.uid), { workerId: worker.workerId, adapterClass });
    } catch (err) {
      this.log.warn({ err, task: task.taskId }, 'replica refused by the trust engine: cancelled');
      task.refusedWorkers.add(worker.workerId);
      const lease = this.leases.get(leaseId);
      if (lease) this.cancelLease(lease, 'CANCELLED', Date.now());
      task.replicaLeases.delete(leaseId);
    }
    await this.followVerification(task);
  }

  /**
   * A check's id has the form of a real task's with fresh digits; should it be the id of a task
   * of the tenant (short ids), it is drawn again, so a worker never sees the same id twice.
   */
  private async distinctId(tenant: string, envelope: ComputeEnvelope): Promise<void> {
    const like = envelope.task_id ?? '';
    for (let i = 0; i < 8 && (await this.store.getTask(tenant, envelope.task_id ?? '')); i++) {
      envelope.task_id = mimicTaskId(i < 4 ? like : `${like}-0000`, cryptoRandom);
    }
  }

  /** Workers that may be given work: connected, welcomed, and not quarantined. */
  private dispatchableWorkers(): WorkerState[] {
    return this.connectedWorkers().filter((w) => !w.quarantined && !w.onProbation);
  }

  /**
   * Looks at each match of a verified task before it is leased: the worker may be due a spot check
   * (it gets the check and the task goes back to the queue), or the engine may refuse it (the
   * task goes back with the engine's rules mirrored, so the scheduler will not match them again).
   */
  private async screen(picks: Match[], now: number): Promise<Match[]> {
    const kept: Match[] = [];
    for (const pick of picks) {
      const { task: sched, worker } = pick;
      if (worker.onProbation) {
        this.unmatch(pick, true); // matched again in this batch after its first check went out
        continue;
      }
      const task = this.open.get(sched.uid);
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
        if (worker.checkMisses < 3 && (await this.trust.shouldSpotCheck(ref))) {
          const issued = await this.trust.issueSpotCheck(ref, task.envelope);
          if (issued) {
            await this.distinctId(task.tenant, issued.envelope);
            if (!this.leaseCheck(worker, sched, issued, now)) {
              this.unmatch(pick, true);
              continue;
            }
            this.scheduler.enqueue(sched);
            // A new worker proves itself before it gets anything else.
            if (!worker.vetted) worker.onProbation = true;
            continue;
          }
        }
        if (await this.trust.eligible(key, ref)) {
          kept.push(pick);
          continue;
        }
        const status = await this.trust.status(key);
        this.restrict(task, status);
        if (status.state !== 'pending' || status.wanted === 0) {
          // It wants no replica now: out of the queue until a result asks for one.
          this.unmatch(pick, false);
          continue;
        }
      } catch (err) {
        this.log.warn({ err, task: task.taskId }, 'verified task could not be screened');
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
      this.unmatch(pick, true);
    }
    return kept;
  }

  private publish(
    task: OpenTask,
    topic: string,
    state: TaskState,
    tsMs: number,
    payload: () => unknown,
  ): void {
    this.events.publish({
      topic,
      tenant: task.tenant,
      taskId: task.taskId,
      campaignId: task.campaignId,
      returnChannel: task.returnChannel,
      state,
      tsMs,
      payload,
    });
  }
}

/** The uploaded blobs an envelope names as inputs (`flock:sha256:<hex>` → `sha256:<hex>`). */
function blobInputs(envelope: ComputeEnvelope): Set<string> | undefined {
  let names: Set<string> | undefined;
  for (const input of envelope.inputs ?? []) {
    if (!input.uri?.startsWith('flock:')) continue;
    names ??= new Set();
    names.add(input.uri.slice('flock:'.length));
  }
  return names;
}

/** `tasks[3]` + `verification.quorum` → `tasks[3].verification.quorum`. */
function joinField(prefix: string | undefined, field: string | undefined): string | undefined {
  if (!prefix) return field;
  return field ? `${prefix}.${field}` : prefix;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
