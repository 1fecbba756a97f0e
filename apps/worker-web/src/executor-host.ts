// The main thread's side of one executor Worker: it owns the Worker's bridge, places jobs in its
// inbox (each input copied once, into the job's own region), hears outcomes and progress from its
// outbox, and enforces time: a job past its timeout is asked to stop at its next safe point, and
// one that does not stop within the grace has its Worker terminated (the last resort) and
// replaced. Jobs are served in the order they were placed: the first placed is the one running.
import * as Comlink from 'comlink';
import { countCopy } from './copy-meter.ts';
import { ExecutorError, type JobFailure, toJobFailure } from './executor-error.ts';
import type { ExecutorApi } from './executor-worker.ts';
import { type HostTransport, MessageHostTransport, RingHostTransport } from './host-transport.ts';
import { type JobOutcome, type JobProgress, LIBRARY_LOAD_TIMEOUT_MS, type StopReason } from './job.ts';
import type { PreparedJob } from './job-builder.ts';
import { bytesNeeded, reserveRegions, specBlockBytes } from './job-placement.ts';
import { jobRecord, outcomeOf, progressOf, specBytes, type WireRecord } from './job-record.ts';
import { COOPERATE_MS } from './safe-points.ts';
import { sized } from './sized-input.ts';

export type SlotKind = 'cpu' | 'gpu';

/** An outcome as the host hands it over: its output regions stay valid until `release()`. */
export type HostOutcome = JobOutcome & { release(): void };

export interface RunOptions {
  onProgress?: (progress: JobProgress) => void;
  /** The job left the inbox's queue and runs now. */
  onStart?: () => void;
  signal?: AbortSignal;
}

export interface HostConfig {
  /** 'ring' where SharedArrayBuffer exists (cross-origin isolated), else 'message'. */
  transport: 'ring' | 'message';
  /** First arena size, bytes (a power of two). */
  arenaBytes: number;
  /** Largest arena a job may make this executor grow to, bytes. */
  maxArenaBytes: number;
}

/** How long after asking a job to stop its Worker is terminated if it has not answered, ms. */
export const TERMINATE_GRACE_MS = { cpu: COOPERATE_MS + 800, gpu: 2000 } as const;

interface Entry {
  prepared: PreparedJob;
  options: RunOptions;
  resolve: (outcome: HostOutcome) => void;
  jobId: number;
  /** The regions reserved for it on the transport it was placed on. */
  regions: Uint8Array[];
  transport: HostTransport | undefined;
  stopWord: Uint8Array | undefined;
  moduleSent: boolean;
  /** Send the module even if the executor should have it (it answered NEED_MODULE). */
  forceModule: boolean;
  /** Its promise was settled (cancelled while queued): its outcome, when it comes, is dropped. */
  settled: boolean;
  /** Why it was asked to stop, if it was (a TIMEOUT stands even if the job then finishes). */
  stopReason?: StopReason;
  timers: Array<ReturnType<typeof setTimeout>>;
  /** The time limit running now: the job's, or a library load's allowance. */
  limit?: { timer: ReturnType<typeof setTimeout>; ms: number; what: string };
}

const pow2 = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(n, 1)));

export class ExecutorHost {
  private worker!: Worker;
  private remote!: Comlink.Remote<ExecutorApi>;
  private transport!: HostTransport;
  /** Placed in the inbox, in order; the first is running. */
  private readonly placed: Entry[] = [];
  /** Not placed yet (no room now, or waiting to run alone). */
  private readonly waiting: Entry[] = [];
  private readonly knownModules = new Set<string>();
  private nextJobId = 1;
  /**
   * Outcomes whose outputs still lie in the arena (until the coordinator acknowledges them). A
   * kernel-ABI job runs on the executor's whole memory, so it waits until none is left.
   */
  private held = 0;
  private pumping = false;
  private closed = false;
  private arenaBytes: number;
  private deviceLost: ((reason: string) => void) | undefined;
  /** Records placed and outcomes heard by this host, and Workers it had to replace. */
  readonly counters = { jobs: 0, outcomes: 0, respawns: 0 };
  /** The last job's hand-off on this thread, ms: its inputs copied in, its record encoded and pushed. */
  lastHandoff = { copyMs: 0, recordMs: 0 };

  constructor(
    private readonly createWorker: () => Worker,
    readonly kind: SlotKind,
    private readonly config: HostConfig,
  ) {
    this.arenaBytes = config.arenaBytes;
    this.spawn();
  }

  /** Jobs here, placed or waiting. */
  get load(): number {
    return this.placed.length + this.waiting.length;
  }

  /** Whether the job here now must run alone (nothing else may be placed beside it). */
  get exclusive(): boolean {
    return this.placed.some((e) => e.prepared.exclusive) || this.waiting.some((e) => e.prepared.exclusive);
  }

  get transportKind(): 'ring' | 'message' {
    return this.transport.kind;
  }

  /** Runs a job on this executor, after those placed before it. Never rejects. */
  run(prepared: PreparedJob, options: RunOptions = {}): Promise<HostOutcome> {
    return new Promise((resolve) => {
      const entry: Entry = {
        prepared,
        options,
        resolve,
        jobId: 0,
        regions: [],
        transport: undefined,
        stopWord: undefined,
        moduleSent: false,
        forceModule: false,
        settled: false,
        timers: [],
      };
      if (options.signal?.aborted) {
        this.settle(entry, stopFailure('CANCELLED', 'cancelled before it started'));
        return;
      }
      options.signal?.addEventListener('abort', () => this.stop(entry, 'CANCELLED'), { once: true });
      this.waiting.push(entry);
      void this.pump();
    });
  }

  /** The GPU executor's adapter, and device-loss reports. */
  probeGpu(): ReturnType<ExecutorApi['probeGpu']> {
    return this.remote.probeGpu();
  }

  onDeviceLost(listener: (reason: string) => void): void {
    this.deviceLost = listener;
    void this.remote.watchDeviceLost(Comlink.proxy(listener));
  }

  loseDevice(): Promise<void> {
    return this.remote.loseDevice();
  }

  /** Test hook: what the Worker took and gave back over its bridge, and the copies it made. */
  workerCounters(): Promise<ReturnType<ExecutorApi['counters']>> {
    return this.remote.counters();
  }

  resetWorkerCopies(): Promise<void> {
    return this.remote.resetCopies();
  }

  /** Terminates the Worker; jobs still here fail CANCELLED (retryable). */
  close(): void {
    this.closed = true;
    for (const entry of [...this.placed.splice(0), ...this.waiting.splice(0)]) {
      this.settle(entry, stopFailure('CANCELLED', 'the volunteer stopped'));
    }
    this.transport.close();
    this.remote[Comlink.releaseProxy]();
    this.worker.terminate();
  }

  private spawn(): void {
    this.worker = this.createWorker();
    this.remote = Comlink.wrap<ExecutorApi>(this.worker);
    this.worker.addEventListener('error', () => this.kill('EXECUTION_ERROR', 'the executor Worker crashed'));
    // Before the bridge, so before any job: comlink delivers calls in order.
    void this.remote.useGpu(this.kind === 'gpu');
    if (this.deviceLost) void this.remote.watchDeviceLost(Comlink.proxy(this.deviceLost));
    this.attach();
  }

  /** A fresh bridge for the Worker (at start, after a respawn, or larger for a big job). */
  private attach(): void {
    const transport: HostTransport =
      this.config.transport === 'ring' ? new RingHostTransport(this.arenaBytes) : new MessageHostTransport();
    this.transport = transport;
    if (transport instanceof RingHostTransport) {
      void this.remote.attachRing(transport.memory, transport.control.buffer);
    } else if (transport instanceof MessageHostTransport) {
      void this.remote.attachPort(Comlink.transfer(transport.remotePort, [transport.remotePort]));
    }
    void this.listen(transport);
  }

  /** Hears the executor's records until its transport closes. */
  private async listen(transport: HostTransport): Promise<void> {
    for (;;) {
      let records: WireRecord[] | 'closed';
      try {
        records = await transport.receive();
      } catch (error) {
        // Bytes that are not records: the Worker wrote over its bridge. Replace it.
        if (transport === this.transport)
          this.kill('EXECUTION_ERROR', `bridge corrupted: ${(error as Error).message}`);
        return;
      }
      if (records === 'closed' || transport !== this.transport) return;
      for (const wire of records) {
        const entry = this.placed.find((e) => e.jobId === wire.record.job_id);
        if (!entry) continue;
        if (wire.record.kind === 'progress') this.progressed(entry, progressOf(wire.record));
        else this.complete(entry, wire);
      }
    }
  }

  private complete(entry: Entry, wire: WireRecord): void {
    const index = this.placed.indexOf(entry);
    this.placed.splice(index, 1);
    this.counters.outcomes++;
    this.clearTimers(entry);
    const transport = entry.transport!;
    for (const region of entry.regions) transport.free(region);
    const outcome = lateTimeout(entry, outcomeOf(wire));
    const outputs = outcome.ok ? outcome.outputs : (outcome.partial?.outputs ?? []);
    let released = outputs.length === 0;
    if (!released) this.held++;
    const release = () => {
      if (released) return;
      released = true;
      for (const output of outputs) transport.free(output.bytes);
      this.held--;
      void this.pump();
    };
    if (!outcome.ok && outcome.code === 'NEED_MODULE' && !entry.settled) {
      this.knownModules.delete(entry.prepared.module?.hash ?? '');
      entry.forceModule = true;
      this.waiting.unshift(entry);
    } else if (entry.settled) {
      release();
    } else {
      if (outcome.ok && entry.moduleSent && entry.prepared.module)
        this.knownModules.add(entry.prepared.module.hash);
      entry.settled = true;
      entry.resolve({ ...outcome, release });
    }
    if (index === 0) this.started();
    void this.pump();
  }

  /**
   * The job now first in the inbox has started: its time runs from here. A library job's own limit
   * starts when its executor says the library is loaded (`library_phase: running`, sent warm or
   * cold); until then it runs under the load allowance, so a short limit is not spent before the
   * executor could say that it is loading.
   */
  private started(): void {
    const entry = this.placed[0];
    if (!entry || entry.timers.length > 0) return;
    entry.options.onStart?.();
    if (entry.prepared.spec.kind === 'library') this.limit(entry, LIBRARY_LOAD_TIMEOUT_MS, 'library load');
    else this.limit(entry, entry.prepared.spec.limits.timeoutMs, 'job');
  }

  /** (Re)starts the running job's time limit. */
  private limit(entry: Entry, ms: number, what: string): void {
    if (entry.limit) clearTimeout(entry.limit.timer);
    const timer = setTimeout(() => this.stop(entry, 'TIMEOUT'), ms);
    entry.timers.push(timer);
    entry.limit = { timer, ms, what };
  }

  /**
   * A library job says when its library starts and ends loading (a cold load may fetch 30 MiB):
   * the load runs under its own allowance, and the job's time limit starts once it is loaded.
   */
  private progressed(entry: Entry, progress: JobProgress): void {
    const phase = progress.metrics['library_phase'];
    if (phase !== undefined && entry.limit && !entry.stopReason && this.placed[0] === entry) {
      if (phase === 'loading') this.limit(entry, LIBRARY_LOAD_TIMEOUT_MS, 'library load');
      if (phase === 'running') this.limit(entry, entry.prepared.spec.limits.timeoutMs, 'job');
      return;
    }
    entry.options.onProgress?.(progress);
  }

  /** Asks a job to stop; a running one that has not answered within the grace is killed. */
  private stop(entry: Entry, reason: StopReason): void {
    const waitingAt = this.waiting.indexOf(entry);
    if (waitingAt >= 0) {
      this.waiting.splice(waitingAt, 1);
      this.settle(entry, stopFailure(reason, `${reason.toLowerCase()} before it started`));
      return;
    }
    if (!this.placed.includes(entry) || entry.transport !== this.transport) return;
    entry.stopReason ??= reason;
    this.transport.requestStop(entry.jobId, reason, entry.stopWord);
    if (this.placed[0] !== entry) {
      // Queued behind another: the executor skips it; the tab need not wait for that.
      if (reason === 'CANCELLED') this.settle(entry, stopFailure(reason, 'cancelled before it started'));
      return;
    }
    entry.timers.push(
      setTimeout(() => {
        if (this.placed[0] === entry) {
          const what =
            reason === 'TIMEOUT'
              ? `${entry.limit?.what ?? 'job'} ran past its ${entry.limit?.ms ?? entry.prepared.spec.limits.timeoutMs} ms timeout`
              : 'cancelled';
          this.kill(reason, `${what}; it did not stop at a safe point, so its executor was terminated`);
        }
      }, TERMINATE_GRACE_MS[this.kind]),
    );
  }

  /**
   * Terminates the Worker and puts a fresh one on a fresh bridge. The running job fails with
   * `code`; the jobs queued behind it are placed again on the new bridge.
   */
  private kill(code: 'TIMEOUT' | 'CANCELLED' | 'EXECUTION_ERROR', message: string): void {
    if (this.closed) return;
    this.counters.respawns++;
    const [running, ...queued] = this.placed.splice(0);
    this.transport.close();
    this.remote[Comlink.releaseProxy]();
    this.worker.terminate();
    this.knownModules.clear();
    this.spawn();
    if (running) {
      this.clearTimers(running);
      const retryable = code === 'EXECUTION_ERROR' || new ExecutorError(code, message).retryable;
      this.settle(running, { ok: false, code, message, retryable });
    }
    for (const entry of queued.reverse()) {
      this.clearTimers(entry);
      if (!entry.settled) this.waiting.unshift(entry);
    }
    void this.pump();
  }

  /** Places waiting jobs while there is room, in order. */
  private async pump(): Promise<void> {
    if (this.pumping || this.closed) return;
    this.pumping = true;
    try {
      while (this.waiting.length > 0) {
        const entry = this.waiting[0]!;
        if (entry.settled) {
          this.waiting.shift();
          continue;
        }
        const exclusive = entry.prepared.exclusive && this.transport.kind === 'ring';
        const alone = exclusive || this.placed.some((e) => e.prepared.exclusive);
        if (alone && this.placed.length > 0) return;
        // Nothing of another job may lie in the memory an in-place kernel runs on.
        if (exclusive && this.held > 0) return;
        const placed = await this.place(entry);
        if (placed === 'later') return;
        this.waiting.shift();
        if (placed === 'failed') continue;
        this.placed.push(entry);
        this.counters.jobs++;
        if (this.placed.length === 1) this.started();
      }
    } finally {
      this.pumping = false;
    }
  }

  /**
   * Reserves the job's regions, copies its inputs in (the one copy) and sends its record.
   * 'later': no room until placed jobs free theirs; 'failed': the job was settled with a failure.
   */
  private async place(entry: Entry): Promise<'placed' | 'later' | 'failed'> {
    const { prepared } = entry;
    try {
      const sizes = await Promise.all(prepared.inputs.map((input) => sized(input)));
      const total = sizes.reduce((sum, s) => sum + s.length, 0);
      if (total > prepared.spec.limits.maxInputBytes) {
        throw new ExecutorError(
          'INPUT_TOO_LARGE',
          `inputs are ${total} bytes, the limit is ${prepared.spec.limits.maxInputBytes}`,
        );
      }
      const module = prepared.module;
      const sendModule =
        module !== undefined &&
        (entry.forceModule || prepared.spec.kind === 'wgsl' || !this.knownModules.has(module.hash));
      const lengths = sizes.map((s) => s.length);
      const extras = {
        moduleBytes: sendModule ? module!.bytes.byteLength : 0,
        stopWord: prepared.spec.kind === 'kernel' && this.transport.kind === 'ring',
        specBlock: specBlockBytes(prepared.spec),
      };
      // Its regions must fit, and the trees its mounts unpack into; room for its outputs to grow in
      // (the last block and the one before it live at once while the bytes move) is wanted, up to
      // the largest arena.
      const need = bytesNeeded(prepared.spec, lengths, extras);
      const want = Math.min(this.config.maxArenaBytes, need + 2 * pow2(prepared.spec.limits.maxOutputBytes));
      if (need > this.config.maxArenaBytes) {
        throw new ExecutorError(
          'ARENA_FULL',
          `the job's ${need} bytes pass this tab's ${this.config.maxArenaBytes}-byte limit per executor`,
          true,
        );
      }
      if (want > this.transport.capacity) {
        if (this.placed.length > 0) return 'later';
        // Idle: a larger bridge (the Worker re-attaches; it keeps its compiled modules).
        this.transport.close();
        this.arenaBytes = Math.min(this.config.maxArenaBytes, pow2(want));
        this.attach();
      }
      const jobId = this.nextJobId;
      this.nextJobId = this.nextJobId >= 0x7fffffff ? 1 : this.nextJobId + 1;
      const transport = this.transport;
      const regions = reserveRegions(transport, jobId, lengths, extras);
      if (!regions) {
        for (const s of sizes) s.discard();
        return this.placed.length > 0
          ? 'later'
          : this.fail(entry, new ExecutorError('ARENA_FULL', 'no room in the executor arena', true));
      }
      let copyMs = 0;
      for (const [i, s] of sizes.entries()) copyMs += await s.fill(regions.inputs[i]!);
      if (regions.module) {
        regions.module.set(module!.bytes);
        countCopy('module:cache-to-region', module!.bytes.byteLength);
      }
      const spec = { ...prepared.spec, handoff: { copyMs } };
      if (regions.spec) {
        // JSON takes the spaces after it as whitespace.
        regions.spec.fill(0x20);
        regions.spec.set(specBytes(spec));
      }
      entry.jobId = jobId;
      entry.regions = regions.all;
      entry.transport = transport;
      entry.stopWord = regions.stopWord;
      entry.moduleSent = sendModule;
      const recordFrom = performance.now();
      const wire = jobRecord(
        {
          jobId,
          spec,
          module: regions.module,
          stopWord: regions.stopWord,
          inputs: prepared.spec.inputs.map((meta, i) => ({ ...meta, bytes: regions.inputs[i]! })),
        },
        regions.spec,
      );
      while (!transport.send(wire)) await new Promise((r) => setTimeout(r, 1));
      this.lastHandoff = { copyMs, recordMs: performance.now() - recordFrom };
      return 'placed';
    } catch (error) {
      return this.fail(entry, error);
    }
  }

  private fail(entry: Entry, error: unknown): 'failed' {
    this.settle(entry, toJobFailure(error));
    return 'failed';
  }

  private settle(entry: Entry, outcome: JobOutcome): void {
    if (entry.settled) return;
    entry.settled = true;
    entry.resolve({ ...outcome, release: () => undefined });
  }

  private clearTimers(entry: Entry): void {
    for (const timer of entry.timers) clearTimeout(timer);
    entry.timers = [];
  }
}

/**
 * A job that finished after its timeout was asked to stop it (before the grace ran out, without a
 * safe point in between) still ran past its time: it fails TIMEOUT, its outputs kept as partial.
 */
function lateTimeout(entry: Entry, outcome: JobOutcome): JobOutcome {
  if (!outcome.ok || entry.stopReason !== 'TIMEOUT') return outcome;
  return {
    ok: false,
    code: 'TIMEOUT',
    message: `job ran past its ${entry.prepared.spec.limits.timeoutMs} ms timeout; it returned after it was asked to stop`,
    retryable: false,
    partial: outcome,
  };
}

function stopFailure(reason: StopReason, message: string): JobFailure {
  return { ok: false, code: reason, message, retryable: reason === 'CANCELLED' };
}
