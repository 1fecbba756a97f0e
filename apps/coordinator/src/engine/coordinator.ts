// The coordinator's engine, as the edge sees it: one object with the calls the HTTP API, the
// worker hub and the cluster make. The work is done by the engine's roles (engine/*.ts): task
// transitions, the dispatcher, lease outcomes, worker sessions, replica runs, spot checks,
// housekeeping, recovery and requester intake.
import type {
  Cancel,
  Capability,
  ComputeFailure,
  ComputeProgress,
  ComputeResult,
  Hello,
  LeaseRenewal,
  ResultAck,
  Standing,
  Welcome,
} from '@flock/protocol';
import type { Logger } from 'pino';
import type { CoordinatorConfig } from '../config.ts';
import type { EventsHub } from '../edge/events-hub.ts';
import type { Metrics } from '../metrics.ts';
import type { BlobGcResult } from '../store/blob-gc.ts';
import type { BlobStore } from '../store/blob-store.ts';
import type { InsertOutcome, Store, TaskRecord, TaskState } from '../store/store.ts';
import { MemoryTrustStore, TrustEngine } from '../trust/index.ts';
import type { BreakerView } from './breakers.ts';
import type { CampaignTails } from './campaign-tails.ts';
import { Engine, type TrustOptions } from './engine.ts';
import type { LeaseTable } from './lease-table.ts';
import type { OpLevel } from './op-stats.ts';
import { OPEN_TASK_BYTES } from './open-tasks.ts';
import type { Submission } from './requester-intake.ts';
import type { Scheduler } from './scheduler.ts';
import { TaskTokens } from './task-tokens.ts';
import type { WaitingMemo } from './waiting-memo.ts';
import type { AckCode, WorkerLink, WorkerState } from './worker-state.ts';
import type { Workflows } from './workflows.ts';

export type { TrustOptions } from './engine.ts';
export type { Submission } from './requester-intake.ts';
export type { AckCode, StoredStream, WorkerLink, WorkerState } from './worker-state.ts';

/**
 * Accepts tasks, keeps the open ones in memory, matches them to workers (Scheduler), leases them
 * out (LeaseTable), and records every transition in the store before it is announced or
 * acknowledged.
 */
export class Coordinator {
  private readonly e: Engine;

  constructor(
    readonly config: CoordinatorConfig,
    readonly store: Store,
    readonly blobs: BlobStore,
    readonly events: EventsHub,
    readonly metrics: Metrics,
    readonly log: Logger,
    trustOptions: TrustOptions = {},
  ) {
    this.e = new Engine(config, store, blobs, events, metrics, log, trustOptions);
  }

  get scheduler(): Scheduler {
    return this.e.scheduler;
  }

  get leases(): LeaseTable {
    return this.e.leases;
  }

  get workers(): Map<string, WorkerState> {
    return this.e.workers;
  }

  /** Batch tails: campaigns' counts and their tail acceleration. */
  get campaignTails(): CampaignTails {
    return this.e.tails;
  }

  /** Workflows: definitions in, steps advanced as their tasks end (WORKFLOWS.md). */
  get workflows(): Workflows {
    return this.e.workflows;
  }

  /** The trust engine (TRUST.md); made by `start`. */
  get trust(): TrustEngine {
    return this.e.trust;
  }

  /** Loads the secret and every open task; leases of running tasks get one more lease period. */
  async start(): Promise<void> {
    const e = this.e;
    let secret = await this.store.getMeta('task_token_secret');
    if (!secret) {
      secret = TaskTokens.newSecret().toString('base64');
      await this.store.setMeta('task_token_secret', secret);
    }
    e.tokens = new TaskTokens(Buffer.from(secret, 'base64'));
    const spotChecks = this.config.spotChecks;
    e.trust = new TrustEngine({
      // The store's own tables when it has them (SQLite), else memory.
      store: e.trustOptions.store ?? this.store.trustStore?.() ?? new MemoryTrustStore(),
      ...(e.trustOptions.random ? { random: e.trustOptions.random } : {}),
      knownAnswers: spotChecks ? await e.checks.knownAnswers() : undefined,
      spotCheckRate: this.config.spotCheckRate,
      trustThreshold: this.config.trustThreshold,
      // Without checks nobody is ever vetted: a quorum then needs no vetted member.
      requireVetted: spotChecks,
    });
    // Checks in flight died with the previous process (their leases are not stored).
    const released = await e.trust.releaseAllChecks();
    if (released > 0) this.log.info({ released }, 'spot checks of the previous run released');
    const now = Date.now();
    const { running, left } = await e.recovery.recover(now);
    this.log.info({ queued: this.queueDepth() - left, left, running }, 'recovered open tasks');
    const { maxOpenBytes } = this.config;
    if (left > 0 && !e.backlog.fits(OPEN_TASK_BYTES))
      this.log.warn(
        { left, openBytes: e.open.bytes, maxOpenBytes },
        'queued tasks past FLOCK_MAX_OPEN_BYTES were left in the store: they are loaded in submission order as tasks finish',
      );
    else if (left > 0)
      this.log.info(
        { left },
        'queued tasks past the first page are loaded from the store while the coordinator serves',
      );
    await e.workflows.recover();
    e.housekeeping.start(now);
    e.dispatcher.scheduleDispatch();
  }

  async stop(): Promise<void> {
    this.e.closed = true;
    this.e.housekeeping.stop();
    this.e.workflows.stop();
    // A load from the store under way reads the store once more before it sees `closed`.
    await this.e.backlog.settled();
  }

  /** Takes a task queued by another coordinator on a shared store; false when not queued or known. */
  adopt(rec: TaskRecord): boolean {
    return this.e.recovery.adopt(rec);
  }

  // Requester side

  submit(items: Submission[]): Promise<InsertOutcome[]> {
    return this.e.intake.submit(items);
  }

  /** Cancels a task: queued ones leave the queue; running ones get a cancel pushed. */
  cancel(rec: TaskRecord, reason: string): Promise<TaskState | undefined> {
    return this.e.transitions.cancel(rec, reason);
  }

  waitingReason(uid: number, memo?: WaitingMemo): string | undefined {
    return this.e.intake.waitingReason(uid, memo);
  }

  /** The estimated memory of the queued and running tasks held now, bytes (`OpenTasks`). */
  openBytes(): number {
    return this.e.open.bytes;
  }

  /** Queued tasks held in memory, waiting out a backoff, or left in the store (`Backlog`). */
  queueDepth(): number {
    return this.e.scheduler.size + this.e.delayedCount + this.e.backlog.size;
  }

  /** Queued tasks a restart left in the store past the memory budget, not loaded yet. */
  leftInStore(): number {
    return this.e.backlog.size;
  }

  runningCount(): number {
    return this.e.leases.size;
  }

  /** Each op's service level over the SLO window (engine/op-stats.ts). */
  opLevels(): OpLevel[] {
    return this.e.levels.levels();
  }

  /** The tenant's circuit breakers that are open or counting failures. */
  breakers(tenant: string): BreakerView[] {
    return this.e.breakers.list(tenant);
  }

  /** Closes the tenant's breaker of `op` and queues its held tasks; false when none is open. */
  resetBreaker(tenant: string, op: string): boolean {
    return this.e.breakers.reset(tenant, op);
  }

  /** Successes per minute over the last minute, and end-to-end latency percentiles (ms). */
  recentStats(): { throughputPerMin: number; p50: number; p95: number; p99: number } {
    return this.e.stats.snapshot();
  }

  // Volunteer side

  hello(
    link: WorkerLink,
    hello: Hello,
  ): Promise<{ worker: WorkerState; welcome: Welcome; acks: ResultAck[]; cancels: Cancel[] }> {
    return this.e.sessions.hello(link, hello);
  }

  connectedWorkers(): WorkerState[] {
    return this.e.sessions.connectedWorkers();
  }

  ready(worker: WorkerState): void {
    this.e.sessions.ready(worker);
  }

  standingOf(worker: WorkerState): Promise<Standing> {
    return this.e.sessions.standingOf(worker);
  }

  disconnected(worker: WorkerState, link: WorkerLink): void {
    this.e.sessions.disconnected(worker, link);
  }

  capability(worker: WorkerState, capability: Capability): void {
    this.e.sessions.capability(worker, capability);
  }

  heartbeat(worker: WorkerState, leaseIds: string[]): LeaseRenewal[] {
    return this.e.sessions.heartbeat(worker, leaseIds);
  }

  checkLease(
    worker: WorkerState,
    leaseId: string,
    taskId: string | undefined,
    token: string | undefined,
  ): AckCode | undefined {
    return this.e.sessions.checkLease(worker, leaseId, taskId, token);
  }

  leaseMayRead(leaseId: string, token: string, name: string): boolean {
    return this.e.sessions.leaseMayRead(leaseId, token, name);
  }

  progress(worker: WorkerState, p: ComputeProgress): Promise<void> {
    return this.e.sessions.progress(worker, p);
  }

  handleResult(worker: WorkerState, result: ComputeResult): Promise<ResultAck> {
    return this.e.outcomes.result(worker, result);
  }

  handleFailure(worker: WorkerState, failure: ComputeFailure): Promise<ResultAck> {
    return this.e.outcomes.failure(worker, failure);
  }

  cancelAck(worker: WorkerState, leaseId: string): void {
    this.e.sessions.cancelAck(worker, leaseId);
  }

  scheduleDispatch(): void {
    this.e.dispatcher.scheduleDispatch();
  }

  // Housekeeping

  /** One housekeeping round: retention (when set), then blob collection. */
  housekeeping(nowMs = Date.now()): Promise<{ purged: number; blobs: BlobGcResult | undefined }> {
    return this.e.housekeeping.round(nowMs);
  }

  purgeExpired(nowMs = Date.now()): Promise<number> {
    return this.e.housekeeping.purgeExpired(nowMs);
  }

  collectBlobs(nowMs = Date.now()): Promise<BlobGcResult | undefined> {
    return this.e.housekeeping.collectBlobs(nowMs);
  }
}
