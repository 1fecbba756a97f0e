// The volunteer tab's brain: keeps the settings, the capability, the connection and the executor
// pool in step. Every assignment is written to IndexedDB before it runs and every outcome before
// it is sent; an outcome is forgotten only after its result_ack, so a reload or a dropped
// connection delivers each result once (in the next hello) and never loses finished work.
import type {
  Capability,
  ComputeAssignment,
  ComputeFailure,
  ComputeResult,
  DataRef,
  Frame_Payload,
  Hello,
  Welcome,
} from '@flock/protocol';
import {
  batteryManager,
  buildCapability,
  maxCpuSlots,
  type Probe,
  pauseReason,
  probe,
  probeGpu,
} from './capability-probe.ts';
import { ExecutorError, toJobFailure } from './executor-error.ts';
import { ExecutorPool } from './executor-pool.ts';
import type { Job, JobOutcome, JobOutput } from './job.ts';
import { buildJob, outputHash } from './job-builder.ts';
import { StandingTracker, type StandingView } from './standing.ts';
import type { PendingOutcome, Settings, TabStore, Totals } from './tab-store.ts';
import { type ConnectionState, WorkerConnection } from './worker-connection.ts';

/** One job as the page shows it. */
export interface RunningView {
  taskId: string;
  leaseId: string;
  op: string;
  kind: string;
  pct: number;
  startedAtMs: number;
}

/** Everything the page renders. */
export interface VolunteerView {
  settings: Settings;
  probe: Probe;
  capability: Capability;
  pauseReason: string | null;
  connection: ConnectionState;
  connectionDetail: string;
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

interface Running {
  assignment: ComputeAssignment;
  abort: AbortController;
  view: RunningView;
  /** Why it was stopped: cancel (ack it) or lease lost (drop it). */
  stop?: 'cancel' | 'lease-lost';
}

/** Progress frames at most this often per job. */
const PROGRESS_INTERVAL_MS = 250;

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

export class Volunteer {
  settings!: Settings;
  probe!: Probe;
  totals!: Totals;
  private pool: ExecutorPool | undefined;
  private standby = false;
  private readonly connection: WorkerConnection;
  private readonly running = new Map<string, Running>();
  private readonly waiting: ComputeAssignment[] = [];
  /** Slots promised to jobs that are still resolving their module and inputs, by slot kind. */
  private readonly reserved = new Map<'cpu' | 'gpu', number>();
  private readonly finishedAt: number[] = [];
  /** performance.now() when each lease's assignment frame arrived. */
  private readonly assignedAt = new Map<string, number>();
  /** Assignment-to-result times of the last jobs, ms (benchmark and page). */
  private readonly recentTimings: number[] = [];
  private connectionState: ConnectionState = 'idle';
  private connectionDetail = '';
  private workerId = '';
  private lastOutcome: VolunteerView['lastOutcome'];
  private readonly standing = new StandingTracker();
  private lastPublished = '';
  /** Leases whose results rode in the last hello (the rest are sent after the welcome). */
  private sentInHello = new Set<string>();
  private readonly listeners = new Set<(view: VolunteerView) => void>();

  private constructor(private readonly options: VolunteerOptions) {
    this.connection = new WorkerConnection(options.url, {
      hello: () => this.hello(),
      welcome: (welcome) => void this.onWelcome(welcome),
      frame: (payload) => this.onFrame(payload),
      // Jobs waiting for a slot hold leases too: renew them as well.
      leases: () => [...this.running.keys(), ...this.waiting.map((w) => w.lease_id ?? '')],
      state: (state, detail) => {
        this.connectionState = state;
        this.connectionDetail = detail;
        this.changed();
      },
    });
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
    this.publishCapability();
    this.pump();
    this.changed();
  }

  /** Current state for the page. */
  view(): VolunteerView {
    const now = Date.now();
    while (this.finishedAt.length > 0 && this.finishedAt[0]! < now - 60_000) this.finishedAt.shift();
    return {
      settings: this.settings,
      probe: this.probe,
      capability: this.capability(),
      pauseReason: pauseReason(this.probe, this.settings),
      connection: this.connectionState,
      connectionDetail: this.connectionDetail,
      workerId: this.workerId,
      totals: this.totals,
      running: [...this.running.values()].map((r) => r.view),
      throughputPerMin: this.finishedAt.length,
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
    return [...this.recentTimings];
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
      this.pool = new ExecutorPool(this.options.createWorker, this.settings.cpuSlots, this.gpuSlots());
      this.pool.onDeviceLost((reason) => void this.deviceLost(reason));
    }
    this.connection.start();
  }

  private end(): void {
    for (const r of this.running.values()) r.abort.abort('volunteer stopped');
    this.connection.stop();
    this.pool?.close();
    this.pool = undefined;
  }

  private capability(): Capability {
    return buildCapability(this.probe, this.settings, this.cachedModules);
  }

  private cachedModules: string[] = [];

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
      this.publishCapability();
      this.pump();
      this.changed();
    });
    const battery = await batteryManager();
    battery?.addEventListener('chargingchange', () => {
      this.probe.battery = { charging: battery.charging, level: battery.level };
      this.publishCapability();
      this.pump();
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
    const store = this.options.store;
    const session = await store.session();
    const stored = await store.assignments();
    const outcomes = await store.outcomes();
    // Results small enough ride in the hello; larger ones are streamed after the welcome.
    const budget = { left: this.connection.maxFrameBytes / 2 };
    const undelivered = outcomes.flatMap((o) =>
      'result' in o && fitsInline(o.result, budget) ? [o.result] : [],
    );
    this.sentInHello = new Set(undelivered.map((r) => r.lease_id ?? ''));
    const capability = this.capability();
    this.lastPublished = JSON.stringify(capability);
    return {
      protocol_version: 1,
      capability,
      session_token: session?.sessionToken ?? '',
      in_flight: [...new Set([...this.running.keys(), ...stored.map((a) => a.lease_id ?? '')])],
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
    for (const outcome of await this.options.store.outcomes()) {
      if ('failure' in outcome) this.connection.send({ failure: outcome.failure });
      else if (!this.sentInHello.has(outcome.leaseId)) await this.sendResult(outcome.result);
    }
    // Assignments that were running when the tab went away run again, on the same lease.
    for (const assignment of await this.options.store.assignments()) {
      const leaseId = assignment.lease_id ?? '';
      if (!this.running.has(leaseId) && !this.waiting.some((w) => w.lease_id === leaseId))
        this.waiting.push(assignment);
    }
    this.publishCapability();
    this.pump();
    this.changed();
  }

  private onFrame(payload: Frame_Payload): void {
    if ('assignment' in payload) {
      const assignment = payload.assignment;
      const leaseId = assignment.lease_id ?? '';
      if (this.running.has(leaseId) || this.waiting.some((w) => w.lease_id === leaseId)) return;
      this.assignedAt.set(leaseId, performance.now());
      void this.options.store.saveAssignment(assignment).then(() => {
        this.waiting.push(assignment);
        this.pump();
      });
    } else if ('cancel' in payload) {
      const leaseId = payload.cancel.lease_id ?? '';
      const running = this.running.get(leaseId);
      if (running) {
        running.stop = 'cancel';
        running.abort.abort(payload.cancel.reason || 'cancelled');
      } else {
        this.dropWaiting(leaseId);
        void this.options.store.deleteAssignment(leaseId);
        this.connection.send({ cancel_ack: { task_id: payload.cancel.task_id ?? '', lease_id: leaseId } });
      }
    } else if ('result_ack' in payload) {
      void this.options.store.deleteOutcome(payload.result_ack.lease_id ?? '');
    } else if ('heartbeat_ack' in payload) {
      if (this.standing.observe(payload)) this.changed();
      for (const lease of payload.heartbeat_ack.leases ?? []) {
        if (lease.valid) continue;
        const leaseId = lease.lease_id ?? '';
        const running = this.running.get(leaseId);
        if (running) {
          running.stop = 'lease-lost';
          running.abort.abort('lease no longer valid');
        }
      }
    } else if ('error' in payload) {
      console.warn(`flock: coordinator error ${payload.error.code}: ${payload.error.message}`);
    }
  }

  private dropWaiting(leaseId: string): void {
    const index = this.waiting.findIndex((w) => w.lease_id === leaseId);
    if (index >= 0) this.waiting.splice(index, 1);
  }

  /**
   * Starts waiting assignments, oldest first, wherever a slot of their kind is free. A job whose kind
   * has no slot at all (the GPU was switched off after it was assigned) starts anyway and fails
   * UNSUPPORTED (retryable), so it goes back to the coordinator instead of blocking the queue.
   */
  private pump(): void {
    const pool = this.pool;
    if (!pool) return;
    for (let i = 0; i < this.waiting.length; ) {
      const assignment = this.waiting[i]!;
      const moduleKind = assignment.envelope?.module?.kind ?? 'wasm';
      const kind =
        moduleKind === 'wasm' ? 'cpu' : moduleKind === 'wgsl' || pool.size('gpu') > 0 ? 'gpu' : 'cpu';
      const reserved = this.reserved.get(kind) ?? 0;
      if (pool.free(kind) > reserved || pool.size(kind) === 0) {
        this.waiting.splice(i, 1);
        // Held until the job reaches the pool (its module and inputs are resolved first).
        this.reserved.set(kind, reserved + 1);
        void this.run(assignment, () => this.reserved.set(kind, (this.reserved.get(kind) ?? 1) - 1));
      } else {
        i++;
      }
    }
  }

  private async run(assignment: ComputeAssignment, release: () => void): Promise<void> {
    const leaseId = assignment.lease_id ?? '';
    const taskId = assignment.task_id ?? '';
    const abort = new AbortController();
    const started = Date.now();
    const running: Running = {
      assignment,
      abort,
      view: {
        taskId,
        leaseId,
        op: assignment.envelope?.op ?? '',
        kind: assignment.envelope?.module?.kind ?? 'wasm',
        pct: 0,
        startedAtMs: started,
      },
    };
    this.running.set(leaseId, running);
    this.changed();
    let lastProgress = 0;
    let outcome: JobOutcome;
    try {
      let job: Job;
      try {
        job = await buildJob(assignment, this.moduleSource(), this.options.origin);
      } finally {
        release();
      }
      const pool = this.pool;
      if (!pool) throw new ExecutorError('CANCELLED', 'the volunteer stopped');
      // pool.run takes its slot synchronously, before its first await: the reservation passes to it.
      outcome = await pool.run(job, {
        signal: abort.signal,
        onProgress: (progress) => {
          running.view.pct = progress.pct;
          const now = Date.now();
          if (now - lastProgress < PROGRESS_INTERVAL_MS && progress.pct < 100) return;
          lastProgress = now;
          this.connection.send(
            {
              progress: { task_id: taskId, lease_id: leaseId, pct: progress.pct, metrics: progress.metrics },
            },
            true,
          );
          this.changed();
        },
      });
    } catch (error) {
      outcome = toJobFailure(error);
    }
    this.running.delete(leaseId);
    const durationMs = Date.now() - started;
    if (running.stop) {
      // Cancelled or lease lost: the coordinator already decided; send no result.
      await this.options.store.deleteAssignment(leaseId);
      if (running.stop === 'cancel')
        this.connection.send({ cancel_ack: { task_id: taskId, lease_id: leaseId } });
      this.changed();
      this.pump();
      return;
    }
    const base = {
      task_id: taskId,
      lease_id: leaseId,
      task_token: assignment.task_token ?? '',
      worker_id: this.workerId,
    };
    if (outcome.ok) {
      const outputs = await Promise.all(outcome.outputs.map(toDataRef));
      const result: ComputeResult = {
        ...base,
        outputs: this.options.corruptOutputs ? outputs.map(corrupt) : outputs,
        summary: outcome.summary,
        metrics: outcome.metrics,
        executor: outcome.executor,
        duration_ms: durationMs,
      };
      await this.options.store.finish({ leaseId, result });
      this.totals.tasksDone++;
      await this.sendResult(result);
    } else {
      const failure: ComputeFailure = {
        ...base,
        code: outcome.code,
        message: outcome.message,
        retryable: outcome.retryable,
      };
      await this.options.store.finish({ leaseId, failure });
      this.totals.tasksFailed++;
      this.connection.send({ failure });
    }
    const assignedAt = this.assignedAt.get(leaseId);
    this.assignedAt.delete(leaseId);
    if (assignedAt !== undefined) {
      this.recentTimings.push(performance.now() - assignedAt);
      if (this.recentTimings.length > 1000) this.recentTimings.shift();
    }
    this.totals.computeMs += durationMs;
    this.finishedAt.push(Date.now());
    this.lastOutcome = outcome.ok
      ? { taskId, ok: true, executor: outcome.executor }
      : { taskId, ok: false, code: outcome.code };
    this.saveTotalsSoon();
    this.publishCapability();
    this.changed();
    this.pump();
  }

  /** Sends a result, streaming outputs that would not fit one frame. */
  private async sendResult(result: ComputeResult): Promise<void> {
    const limit = this.connection.maxFrameBytes;
    const chunkSize = limit - 4096;
    let inline = 0;
    const outputs: DataRef[] = [];
    for (const out of result.outputs ?? []) {
      const bytes = out.inline_bytes;
      if (!bytes || inline + bytes.byteLength < limit / 2) {
        inline += bytes?.byteLength ?? 0;
        outputs.push(out);
        continue;
      }
      const streamId = `s-${crypto.randomUUID()}`;
      const hash = out.hash ?? (await outputHash(bytes));
      this.connection.send({
        stream_start: {
          stream_id: streamId,
          task_id: result.task_id ?? '',
          lease_id: result.lease_id ?? '',
          task_token: result.task_token ?? '',
          name: out.name ?? '',
          content_type: out.content_type ?? '',
          total_bytes: bytes.byteLength,
          hash,
        },
      });
      let seq = 0;
      for (let offset = 0; offset < bytes.byteLength; offset += chunkSize) {
        this.connection.send({
          stream_chunk: { stream_id: streamId, seq: seq++, data: bytes.subarray(offset, offset + chunkSize) },
        });
      }
      this.connection.send({
        stream_end: { stream_id: streamId, status: 'ok', chunks: seq, total_bytes: bytes.byteLength },
      });
      outputs.push({
        name: out.name ?? '',
        content_type: out.content_type ?? '',
        uri: `stream:${streamId}`,
        size: bytes.byteLength,
        hash,
      });
    }
    this.connection.send({ result: { ...result, outputs } });
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

  private moduleSource() {
    const store = this.options.store;
    return {
      cached: (hash: string) => store.module(hash),
      store: async (hash: string, bytes: Uint8Array) => {
        await store.saveModule(hash, bytes);
        // A newly cached module is part of the capability (the scheduler prefers tabs that have it).
        if (!this.cachedModules.includes(hash)) this.cachedModules = [...this.cachedModules, hash];
      },
      fetch: async (url: string, headers?: Record<string, string>) => {
        const response = await fetch(url, headers ? { headers } : {});
        if (!response.ok) throw new Error(`${response.status} ${response.statusText} for ${url}`);
        return new Uint8Array(await response.arrayBuffer());
      },
    };
  }

  private changed(): void {
    const view = this.view();
    for (const listener of this.listeners) listener(view);
  }
}

async function toDataRef(output: JobOutput): Promise<DataRef> {
  return {
    name: output.name,
    content_type: output.contentType,
    inline_bytes: output.bytes,
    size: output.bytes.byteLength,
    hash: await outputHash(output.bytes),
  };
}

function fitsInline(result: ComputeResult, budget: { left: number }): boolean {
  const size = (result.outputs ?? []).reduce((sum, o) => sum + (o.inline_bytes?.byteLength ?? 0), 0) + 1024;
  if (size > budget.left) return false;
  budget.left -= size;
  return true;
}

export type { PendingOutcome };

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
