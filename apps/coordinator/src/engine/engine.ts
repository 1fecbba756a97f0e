// The engine's shared state and its roles. Each role is one module with one job; they reach each
// other through this object (wired once, here), and the Coordinator in front of them keeps the
// public surface the edge (HTTP API, worker hub, cluster) calls.
import type { Logger } from 'pino';
import type { CoordinatorConfig } from '../config.ts';
import type { EventsHub } from '../edge/events-hub.ts';
import type { Metrics } from '../metrics.ts';
import type { BlobStore } from '../store/blob-store.ts';
import type { Store, TaskState } from '../store/store.ts';
import { ReplayKnownAnswers, type TrustEngine, type TrustStore } from '../trust/index.ts';
import { Backlog } from './backlog.ts';
import { Breakers } from './breakers.ts';
import { CampaignTails } from './campaign-tails.ts';
import { Dispatcher } from './dispatcher.ts';
import { Housekeeping } from './housekeeping.ts';
import { LeaseOutcomes } from './lease-outcomes.ts';
import { LeaseTable } from './lease-table.ts';
import type { OpenTask } from './open-task.ts';
import { OpenTasks } from './open-tasks.ts';
import { ResultOutputs } from './outputs.ts';
import { RecentStats } from './recent-stats.ts';
import { Recovery } from './recovery.ts';
import { ReplicaRuns } from './replica-runs.ts';
import { RequesterIntake } from './requester-intake.ts';
import { Scheduler } from './scheduler.ts';
import { ServiceLevels } from './service-levels.ts';
import { SpotChecks } from './spot-checks.ts';
import type { TaskTokens } from './task-tokens.ts';
import { TaskTransitions } from './task-transitions.ts';
import { TimeQueue } from './time-queue.ts';
import { WorkerSessions } from './worker-sessions.ts';
import type { WorkerState } from './worker-state.ts';
import { Workflows } from './workflows.ts';

/** Where trust state lives and how its draws are made (defaults: the store's, crypto random). */
export interface TrustOptions {
  store?: TrustStore;
  /** Uniform [0, 1) for spot-check and believe-alone draws. Tests pin it; never in production. */
  random?: () => number;
}

export class Engine {
  readonly scheduler = new Scheduler();
  readonly leases = new LeaseTable();
  readonly workers = new Map<string, WorkerState>();
  /** Queued and running tasks of this process, by uid, with their estimated memory. */
  readonly open = new OpenTasks();
  readonly deadlines = new TimeQueue();
  /** Tasks waiting out a retry backoff (not in the scheduler until due). */
  readonly delayed = new TimeQueue();
  delayedCount = 0;
  readonly stats = new RecentStats();
  /** Quorum-validated tasks, replayed as spot checks for modules without a CPU reference. */
  readonly replay = new ReplayKnownAnswers();
  closed = false;
  /** Task transitions are logged (FLOCK_LOG_LEVEL=debug or finer); fixed at start. */
  private readonly logTransitions: boolean;
  /** Made by Coordinator.start (the secret lives in the store). */
  tokens!: TaskTokens;
  /**
   * Verification of tasks that ask for it (`verification` set): replicas run at once on distinct
   * workers until a quorum agrees, known-answer spot checks vet the workers, and trusted workers
   * are believed alone (TRUST.md). Keyed by task uid. Made by Coordinator.start.
   */
  trust!: TrustEngine;

  readonly transitions: TaskTransitions;
  readonly dispatcher: Dispatcher;
  readonly outcomes: LeaseOutcomes;
  readonly sessions: WorkerSessions;
  readonly replicas: ReplicaRuns;
  readonly checks: SpotChecks;
  readonly outputs: ResultOutputs;
  readonly housekeeping: Housekeeping;
  readonly recovery: Recovery;
  /** Queued tasks a restart left in the store past the memory budget. */
  readonly backlog: Backlog;
  readonly intake: RequesterIntake;
  readonly levels: ServiceLevels;
  readonly breakers: Breakers;
  readonly tails: CampaignTails;
  readonly workflows: Workflows;

  constructor(
    readonly config: CoordinatorConfig,
    readonly store: Store,
    readonly blobs: BlobStore,
    readonly events: EventsHub,
    readonly metrics: Metrics,
    readonly log: Logger,
    readonly trustOptions: TrustOptions,
  ) {
    this.logTransitions = log.isLevelEnabled('debug');
    this.scheduler.limitTenants(config.tenantMaxRunning);
    this.transitions = new TaskTransitions(this);
    this.dispatcher = new Dispatcher(this);
    this.outcomes = new LeaseOutcomes(this);
    this.sessions = new WorkerSessions(this);
    this.replicas = new ReplicaRuns(this);
    this.checks = new SpotChecks(this);
    this.outputs = new ResultOutputs(this);
    this.housekeeping = new Housekeeping(this);
    this.recovery = new Recovery(this);
    this.backlog = new Backlog(this);
    this.intake = new RequesterIntake(this);
    this.levels = new ServiceLevels(this);
    this.breakers = new Breakers(this);
    this.tails = new CampaignTails(this);
    this.workflows = new Workflows(this);
  }

  /**
   * Whether a transition of `task` into `state` is announced or logged at all: callers check it
   * before they make the payload's closure (`publish` checks it again).
   */
  announces(task: OpenTask, state: TaskState): boolean {
    return this.logTransitions || this.events.wants(state, task.returnChannel);
  }

  /**
   * Announces a task's transition on the events hub, and logs it at debug level with its trace
   * (#19). `spanId`: the lease's span, for an event of one lease.
   */
  publish(
    task: OpenTask,
    topic: string,
    state: TaskState,
    tsMs: number,
    payload: () => unknown,
    spanId?: string,
  ): void {
    const traceId = task.envelope.correlation_id;
    // Checked first: the line's object is not even built at the default level (the hot path).
    if (this.logTransitions) {
      this.log.debug(
        { task: task.taskId, tenant: task.tenant, trace_id: traceId, span_id: spanId, topic, state },
        'task transition',
      );
    }
    if (!this.events.wants(state, task.returnChannel)) return;
    this.events.publish({
      topic,
      tenant: task.tenant,
      taskId: task.taskId,
      campaignId: task.campaignId,
      returnChannel: task.returnChannel,
      state,
      tsMs,
      payload,
      traceId,
      spanId,
    });
  }
}
