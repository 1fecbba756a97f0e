// The volunteer tab's brain: keeps the settings, the capability, the connection and the executor
// pool in step, and hands assignments to the task runner. What makes reloads safe (assignments in
// flight, outcomes not yet acknowledged) goes through the write-behind, so a reload or a dropped
// connection delivers each result once and never loses finished work.
import type { Capability, DataRef, Frame_Payload, Hello, Welcome } from '@flock/protocol';
import {
  batteryManager,
  buildCapability,
  maxCpuSlots,
  type Probe,
  pauseReason,
  probe,
  probeGpu,
} from './capability-probe.ts';
import { copyCounts, resetCopyCounts } from './copy-meter.ts';
import { ExecutorPool, type PoolCounters } from './executor-pool.ts';
import type { ModuleSource } from './job-builder.ts';
import { RecentCount } from './recent-count.ts';
import type { RefusalCode } from './refusal.ts';
import { StandingTracker, type StandingView } from './standing.ts';
import type { Settings, TabStore, Totals } from './tab-store.ts';
import { type RunningView, TaskRunner } from './task-runner.ts';
import { type ConnectionState, WorkerConnection } from './worker-connection.ts';
import { WriteBehind } from './write-behind.ts';

export type { RunningView };

/** Everything the page renders. */
export interface VolunteerView {
  settings: Settings;
  probe: Probe;
  capability: Capability;
  pauseReason: string | null;
  connection: ConnectionState;
  connectionDetail: string;
  /** The coordinator refused this tab for good: it no longer reconnects until `retryConnection`. */
  refusal: RefusalCode | undefined;
  workerId: string;
  totals: Totals;
  running: RunningView[];
  /** Finished jobs per minute over the last minute. */
  throughputPerMin: number;
  lastOutcome: { taskId: string; ok: boolean; code?: string; executor?: string } | undefined;
  /** Another tab of this browser donates; this one stays off the coordinator. */
  standby: boolean;
  /**
   * Credit and trust status as the coordinator last reported them (welcome, then every
   * heartbeat_ack); undefined until the first report, kept across reconnects.
   */
  standing: StandingView | undefined;
}

export interface VolunteerOptions {
  /** ws(s)://host/v1/worker */
  url: string;
  /** Origin the module and input URIs are resolved against. */
  origin: string;
  store: TabStore;
  createWorker: () => Worker;
  /** Start in standby: another tab of this browser donates (see `release`). Default false. */
  standby?: boolean;
  /**
   * Test only: flip the first byte of every inline output before sending it, so tests can show
   * that a lying tab's results are never accepted (`?flock_test=corrupt-outputs`). Default false.
   */
  corruptOutputs?: boolean;
}

/** The first arena of each executor, and the most a job may make it grow to (bytes). */
const ARENA = { first: 16 << 20, max: 256 << 20 };
/** Verified modules kept in memory (the IndexedDB cache is for reloads). */
const MODULES_IN_MEMORY = 32;
/** The page is told of changes at most this often (see `changed`). */
const VIEW_INTERVAL_MS = 50;

export class Volunteer {
  settings!: Settings;
  probe!: Probe;
  totals!: Totals;
  private pool: ExecutorPool | undefined;
  private standby = false;
  private readonly connection: WorkerConnection;
  private readonly tasks: TaskRunner;
  private readonly persist: WriteBehind;
  /** Jobs finished in the last minute; the page hears when one leaves that minute too. */
  private readonly finishedRecently = new RecentCount(60_000, () => this.changed());
  private connectionState: ConnectionState = 'idle';
  private connectionDetail = '';
  private workerId = '';
  private lastOutcome: VolunteerView['lastOutcome'];
  private readonly standing = new StandingTracker();
  private lastPublished = '';
  private readonly listeners = new Set<(view: VolunteerView) => void>();
  private readonly modules = new Map<string, Uint8Array>();

  private constructor(private readonly options: VolunteerOptions) {
    this.connection = new WorkerConnection(options.url, {
      hello: () => this.hello(),
      welcome: (welcome) => void this.onWelcome(welcome),
      frame: (payload) => this.onFrame(payload),
      // Jobs queued in an executor's inbox hold leases too: renew them as well.
      leases: () => this.tasks.leases(),
      state: (state, detail) => {
        this.connectionState = state;
        this.connectionDetail = detail;
        // A lost connection: jobs that have not started are dropped (the next hello does not list
        // them, so the coordinator requeues them at once).
        if (state === 'reconnecting' || state === 'refused') this.tasks.returnQueued();
        this.changed();
      },
    });
    this.persist = new WriteBehind(options.store);
    this.tasks = new TaskRunner(
      {
        connection: this.connection,
        pool: () => this.pool,
        workerId: () => this.workerId,
        moduleSource: () => this.moduleSource(),
        origin: options.origin,
        corrupt: options.corruptOutputs ? corrupt : undefined,
        finished: (taskId, ok, detail, durationMs) => this.finished(taskId, ok, detail, durationMs),
        changed: () => this.changed(),
      },
      this.persist,
    );
  }

  static async create(options: VolunteerOptions): Promise<Volunteer> {
    const volunteer = new Volunteer(options);
    volunteer.settings = await options.store.settings();
    volunteer.totals = await options.store.totals();
    volunteer.probe = await probe(true);
    volunteer.settings.cpuSlots = Math.min(
      volunteer.settings.cpuSlots,
      maxCpuSlots(volunteer.probe.cpuCores),
    );
    await volunteer.watchEnvironment();
    volunteer.standby = options.standby ?? false;
    if (volunteer.settings.started) volunteer.begin();
    return volunteer;
  }

  /** Changes settings (persisted), resizes the pool, republishes the capability. */
  async update(change: Partial<Settings>): Promise<void> {
    this.settings = { ...this.settings, ...change };
    this.settings.cpuSlots = Math.max(1, Math.min(this.settings.cpuSlots, maxCpuSlots(this.probe.cpuCores)));
    await this.options.store.saveSettings(this.settings);
    if (this.settings.started) this.begin();
    else this.end();
    this.pool?.resize(this.settings.cpuSlots, this.gpuSlots());
    if (pauseReason(this.probe, this.settings)) this.tasks.returnQueued();
    this.publishCapability();
    this.changed();
  }

  /** Current state for the page. */
  view(): VolunteerView {
    return {
      settings: this.settings,
      probe: this.probe,
      capability: this.capability(),
      pauseReason: pauseReason(this.probe, this.settings),
      connection: this.connectionState,
      connectionDetail: this.connectionDetail,
      refusal: this.connection.refusal,
      workerId: this.workerId,
      totals: this.totals,
      running: [...this.tasks.running.values()].map((r) => r.view),
      throughputPerMin: this.finishedRecently.count(),
      lastOutcome: this.lastOutcome,
      standby: this.standby,
      standing: this.standing.current,
    };
  }

  subscribe(listener: (view: VolunteerView) => void): () => void {
    this.listeners.add(listener);
    listener(this.view());
    return () => this.listeners.delete(listener);
  }

  /** Assignment-frame-to-result-frame times of up to the last 1000 jobs, ms. */
  timings(): number[] {
    return this.tasks.timings();
  }

  /**
   * Test hook: how the jobs travelled. The pool's counts of records placed and outcomes heard,
   * every executor's own (records taken and given back), the bulk copies each thread made, and
   * IndexedDB transactions written.
   */
  async ringStats(): Promise<{
    pool: PoolCounters | undefined;
    workers: Awaited<ReturnType<ExecutorPool['workerCounters']>>;
    copies: ReturnType<typeof copyCounts>;
    idbWrites: number;
  }> {
    return {
      pool: this.pool?.counters(),
      workers: (await this.pool?.workerCounters()) ?? [],
      copies: copyCounts(),
      idbWrites: this.persist.flushes,
    };
  }

  /** Test hook: forget the copies counted so far (on this thread and in every executor). */
  async resetCopies(): Promise<void> {
    resetCopyCounts();
    await this.pool?.resetWorkerCopies();
  }

  /** Test hook: the last job stopped by a cancel (or a lost or returned lease), with its partial outputs. */
  lastStopped(): TaskRunner['lastStopped'] {
    return this.tasks.lastStopped;
  }

  /** Test hook: how long the write-behind keeps new entries in memory only, ms. */
  setWriteBehindWindow(ms: number): void {
    this.persist.windowMs = ms;
  }

  /** Connects again after the coordinator refused this tab ("Try again"). */
  retryConnection(): void {
    this.connection.retry();
  }

  /** Test hooks: drop the socket; lose the GPU device. */
  dropConnection(): void {
    this.connection.drop();
  }

  async loseDevice(): Promise<void> {
    await this.pool?.loseDevice();
  }

  private gpuSlots(): number {
    return this.settings.gpu && this.probe.gpu ? 1 : 0;
  }

  /**
   * Another tab of this browser took over: every tab shares one identity (IndexedDB), and two
   * connections with one session would knock each other off. Stops here without touching the
   * saved settings; running jobs are dropped and their leases expire into a requeue.
   */
  release(): void {
    this.standby = true;
    this.end();
    this.changed();
  }

  /** This tab donates again (it took the other tab's place). */
  reclaim(): void {
    this.standby = false;
    if (this.settings.started) this.begin();
    this.changed();
  }

  private begin(): void {
    if (this.standby) return;
    if (!this.pool) {
      this.pool = new ExecutorPool(this.options.createWorker, this.settings.cpuSlots, this.gpuSlots(), {
        transport:
          typeof SharedArrayBuffer === 'function' && globalThis.crossOriginIsolated ? 'ring' : 'message',
        arenaBytes: ARENA.first,
        maxArenaBytes: ARENA.max,
      });
      this.pool.onDeviceLost((reason) => void this.deviceLost(reason));
    }
    this.connection.start();
  }

  private end(): void {
    this.tasks.abortAll('volunteer stopped');
    void this.persist.flush();
    this.connection.stop();
    this.pool?.close();
    this.pool = undefined;
    this.libraries = []; // loaded in the executors just closed
  }

  private capability(): Capability {
    const capability = buildCapability(this.probe, this.settings, this.cachedModules, this.libraries);
    // One job queued in each executor's inbox behind the one it runs.
    if (!capability.paused) capability.prefetch = (capability.cpu_slots ?? 0) + (capability.gpu_slots ?? 0);
    return capability;
  }

  private cachedModules: string[] = [];
  /** Libraries an executor has loaded (a job of theirs succeeded here). */
  private libraries: string[] = [];

  private publishCapability(): void {
    const capability = this.capability();
    const text = JSON.stringify(capability);
    if (text === this.lastPublished || !this.connection.open) return;
    if (this.connection.send({ capability })) this.lastPublished = text;
  }

  private async watchEnvironment(): Promise<void> {
    this.cachedModules = await this.options.store.moduleHashes();
    document.addEventListener('visibilitychange', () => {
      this.probe.visible = document.visibilityState === 'visible';
      if (pauseReason(this.probe, this.settings)) this.tasks.returnQueued();
      this.publishCapability();
      this.changed();
    });
    const battery = await batteryManager();
    battery?.addEventListener('chargingchange', () => {
      this.probe.battery = { charging: battery.charging, level: battery.level };
      if (pauseReason(this.probe, this.settings)) this.tasks.returnQueued();
      this.publishCapability();
      this.changed();
    });
  }

  private async deviceLost(reason: string): Promise<void> {
    console.warn(`flock: GPU device lost (${reason}); probing again`);
    this.probe.gpu = await probeGpu();
    this.pool?.resize(this.settings.cpuSlots, this.gpuSlots());
    this.publishCapability();
    this.changed();
  }

  private async hello(): Promise<Hello> {
    const session = await this.options.store.session();
    const { inFlight, undelivered } = await this.tasks.helloParts(this.connection.maxFrameBytes);
    const capability = this.capability();
    this.lastPublished = JSON.stringify(capability);
    return {
      protocol_version: 1,
      capability,
      session_token: session?.sessionToken ?? '',
      in_flight: inFlight,
      undelivered,
      client: `flock-tab ${navigator.userAgent.slice(0, 120)}`,
    };
  }

  private async onWelcome(welcome: Welcome): Promise<void> {
    const workerId = welcome.worker_id ?? '';
    const sessionToken = welcome.session_token ?? '';
    this.workerId = workerId;
    this.standing.observe({ welcome });
    await this.options.store.saveSession({ workerId, sessionToken });
    await this.tasks.resume();
    this.publishCapability();
    this.changed();
  }

  private onFrame(payload: Frame_Payload): void {
    if ('assignment' in payload) this.tasks.accept(payload.assignment);
    else if ('cancel' in payload)
      this.tasks.cancel(payload.cancel.lease_id ?? '', payload.cancel.task_id ?? '');
    else if ('result_ack' in payload) this.tasks.acked(payload.result_ack.lease_id ?? '');
    else if ('heartbeat_ack' in payload) {
      if (this.standing.observe(payload)) this.changed();
      for (const lease of payload.heartbeat_ack.leases ?? []) {
        if (!lease.valid) this.tasks.leaseLost(lease.lease_id ?? '');
      }
    } else if ('error' in payload) {
      console.warn(`flock: coordinator error ${payload.error.code}: ${payload.error.message}`);
    }
  }

  private finished(taskId: string, ok: boolean, detail: string, durationMs: number): void {
    const library = ok && detail.startsWith('library:') ? detail.slice('library:'.length) : '';
    if (library && !this.libraries.includes(library)) {
      this.libraries = [...this.libraries, library];
      this.publishCapability();
    }
    if (ok) this.totals.tasksDone++;
    else this.totals.tasksFailed++;
    this.totals.computeMs += durationMs;
    this.finishedRecently.add();
    this.lastOutcome = ok ? { taskId, ok: true, executor: detail } : { taskId, ok: false, code: detail };
    this.saveTotalsSoon();
  }

  /** Lifetime counters are written at most once a second (they are for the page, not for correctness). */
  private saveTotalsSoon(): void {
    if (this.totalsTimer !== undefined) return;
    this.totalsTimer = setTimeout(() => {
      this.totalsTimer = undefined;
      void this.options.store.saveTotals(this.totals);
    }, 1000);
  }

  private totalsTimer: ReturnType<typeof setTimeout> | undefined;

  /** Modules: verified bytes in memory first, then IndexedDB (kept across reloads), then the network. */
  private moduleSource(): ModuleSource {
    const store = this.options.store;
    const remember = (hash: string, bytes: Uint8Array) => {
      this.modules.set(hash, bytes);
      if (this.modules.size > MODULES_IN_MEMORY) this.modules.delete(this.modules.keys().next().value!);
    };
    return {
      cached: async (hash: string) => {
        const inMemory = this.modules.get(hash);
        if (inMemory) return inMemory;
        const stored = await store.module(hash);
        if (stored) remember(hash, stored);
        return stored;
      },
      store: async (hash: string, bytes: Uint8Array) => {
        remember(hash, bytes);
        await store.saveModule(hash, bytes);
        // A newly cached module is part of the capability (the scheduler prefers tabs that have it).
        if (!this.cachedModules.includes(hash)) {
          this.cachedModules = [...this.cachedModules, hash];
          this.publishCapability();
        }
      },
      fetch: async (url: string, headers?: Record<string, string>) => {
        const response = await fetch(url, headers ? { headers } : {});
        if (!response.ok) throw new Error(`${response.status} ${response.statusText} for ${url}`);
        return new Uint8Array(await response.arrayBuffer());
      },
      open: (url: string, headers?: Record<string, string>) => fetch(url, headers ? { headers } : {}),
    };
  }

  /**
   * Listeners hear of changes at most once per VIEW_INTERVAL_MS: a tab running hundreds of jobs a
   * second would otherwise build the view several times per job.
   */
  private changed(): void {
    if (this.viewTimer !== undefined) return;
    this.viewTimer = setTimeout(() => {
      this.viewTimer = undefined;
      if (this.listeners.size === 0) return;
      const view = this.view();
      for (const listener of this.listeners) listener(view);
    }, VIEW_INTERVAL_MS);
  }

  private viewTimer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Test only (`corruptOutputs`): the same output with its first byte flipped and, for outputs of
 * 4 bytes or more, the exponent of its first f32 too, so the lie is wrong beyond any op's error
 * bound (a flipped low mantissa byte alone is within f32 tolerance).
 */
function corrupt(ref: DataRef): DataRef {
  if (!ref.inline_bytes || ref.inline_bytes.length === 0) return ref;
  const bytes = ref.inline_bytes.slice();
  bytes[0] = bytes[0]! ^ 0xff;
  if (bytes.length >= 4) bytes[3] = bytes[3]! ^ 0x40;
  return { ...ref, inline_bytes: bytes };
}
