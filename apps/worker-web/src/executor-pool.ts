// The tab's executors: one per CPU slot (WASM jobs) plus one GPU slot (WGSL and built-in jobs),
// each a long-lived Worker on its own bridge (executor-host.ts). A job goes to the least loaded
// executor of its kind; with prefetch, an executor holds `depth` jobs in its inbox behind the one
// it runs, so it never waits on the network between jobs.

import {
  ExecutorHost,
  type HostConfig,
  type HostOutcome,
  type RunOptions,
  type SlotKind,
} from './executor-host.ts';
import type { GpuProbe } from './gpu-context.ts';
import type { JobKind } from './job.ts';
import type { PreparedJob } from './job-builder.ts';

export type { HostOutcome, RunOptions, SlotKind };

/** Which slot kind runs a job: WASM on CPU slots, WGSL on the GPU slot, built-ins on the GPU slot when there is one. */
export function slotKindOf(kind: JobKind, hasGpuSlot: boolean): SlotKind {
  if (kind === 'wasi' || kind === 'kernel') return 'cpu';
  if (kind === 'wgsl') return 'gpu';
  return hasGpuSlot ? 'gpu' : 'cpu';
}

/** What the pool counted, for tests: every job must have crossed an executor's bridge. */
export interface PoolCounters {
  transport: 'ring' | 'message';
  placed: number;
  outcomes: number;
  respawns: number;
  /** The most recently placed job's hand-off (ExecutorHost.lastHandoff), on the CPU executors. */
  lastHandoff: { copyMs: number; recordMs: number };
}

export class ExecutorPool {
  private readonly hosts: ExecutorHost[] = [];
  private deviceLostListener: ((reason: string) => void) | undefined;
  /** Counts of executors already retired (resize). */
  private readonly retired = { placed: 0, outcomes: 0, respawns: 0 };
  /**
   * Executors beyond the number wanted that were busy when it fell (fewer CPU slots, the GPU
   * switched off): they take no new job and retire when their last one ends, so the slots the
   * volunteer set are the jobs that run at once.
   */
  private readonly draining = new Set<ExecutorHost>();

  constructor(
    private readonly createWorker: () => Worker,
    cpuSlots: number,
    gpuSlots: number,
    private readonly config: HostConfig,
  ) {
    this.resize(cpuSlots, gpuSlots);
  }

  /**
   * Sets the number of executors of each kind that take jobs. Beyond it, idle ones are retired at
   * once and busy ones drain: they finish what they hold, take nothing new, then retire.
   */
  resize(cpuSlots: number, gpuSlots: number): void {
    for (const [kind, wanted] of [
      ['cpu', cpuSlots],
      ['gpu', gpuSlots],
    ] as const) {
      let have = this.size(kind);
      for (const host of this.hosts) {
        if (have >= wanted) break;
        if (host.kind === kind && this.draining.delete(host)) have++;
      }
      while (have < wanted) {
        const host = new ExecutorHost(this.createWorker, kind, this.config);
        if (kind === 'gpu' && this.deviceLostListener) host.onDeviceLost(this.deviceLostListener);
        this.hosts.push(host);
        have++;
      }
      // Idle ones go first; the newest first among equals.
      const surplus = this.active(kind)
        .reverse()
        .sort((a, b) => Number(a.load > 0) - Number(b.load > 0));
      for (const host of surplus.slice(0, Math.max(0, have - wanted))) {
        if (host.load === 0) this.retire(host);
        else this.draining.add(host);
      }
    }
  }

  /** Executors of a kind that take jobs (draining ones left out). */
  size(kind: SlotKind): number {
    return this.active(kind).length;
  }

  private active(kind: SlotKind): ExecutorHost[] {
    return this.hosts.filter((h) => h.kind === kind && !this.draining.has(h));
  }

  /** Jobs in the executors of a kind (running, queued in their inboxes, or waiting for room). */
  load(kind: SlotKind): number {
    return this.hosts.filter((h) => h.kind === kind).reduce((sum, h) => sum + h.load, 0);
  }

  /** Runs a job on the least loaded executor of its kind. Never rejects. */
  run(prepared: PreparedJob, options: RunOptions = {}): Promise<HostOutcome> {
    const kind = slotKindOf(prepared.spec.kind, this.size('gpu') > 0);
    const candidates = this.active(kind);
    if (candidates.length === 0) {
      return Promise.resolve({
        ok: false,
        code: 'UNSUPPORTED',
        message: `no ${kind} slot in this tab`,
        retryable: true,
        release: () => undefined,
      });
    }
    // Least loaded first; a job that must run alone prefers an idle executor.
    const host = candidates.reduce((best, h) => (h.load < best.load ? h : best));
    return host.run(prepared, options).then((outcome) => {
      if (this.draining.size > 0) this.retireDrained();
      return outcome;
    });
  }

  /** Draining executors whose last job has ended retire (their outputs stay readable until released). */
  private retireDrained(): void {
    for (const host of this.draining) if (host.load === 0) this.retire(host);
  }

  onDeviceLost(listener: (reason: string) => void): void {
    this.deviceLostListener = listener;
    for (const host of this.hosts) if (host.kind === 'gpu') host.onDeviceLost(listener);
  }

  /** Asks a GPU executor (a temporary one when there is no GPU slot) for its adapter. */
  async probeGpu(): Promise<GpuProbe | null> {
    const host = this.hosts.find((h) => h.kind === 'gpu');
    if (host) return host.probeGpu();
    const temporary = new ExecutorHost(this.createWorker, 'gpu', this.config);
    try {
      return await temporary.probeGpu();
    } finally {
      temporary.close();
    }
  }

  /** Test hook: makes the GPU executor lose its device. */
  async loseDevice(): Promise<void> {
    await this.hosts.find((h) => h.kind === 'gpu')?.loseDevice();
  }

  counters(): PoolCounters {
    const sum = { ...this.retired };
    for (const host of this.hosts) {
      sum.placed += host.counters.jobs;
      sum.outcomes += host.counters.outcomes;
      sum.respawns += host.counters.respawns;
    }
    const lastHandoff = this.hosts.find((h) => h.kind === 'cpu')?.lastHandoff ?? { copyMs: 0, recordMs: 0 };
    return { transport: this.config.transport, ...sum, lastHandoff };
  }

  /** Test hook: every executor's own counters (records it took and gave back, copies it made). */
  workerCounters(): Promise<Array<Awaited<ReturnType<ExecutorHost['workerCounters']>>>> {
    return Promise.all(this.hosts.map((h) => h.workerCounters()));
  }

  resetWorkerCopies(): Promise<void> {
    return Promise.all(this.hosts.map((h) => h.resetWorkerCopies())).then(() => undefined);
  }

  close(): void {
    for (const host of this.hosts.splice(0)) this.retire(host);
  }

  private retire(host: ExecutorHost): void {
    this.retired.placed += host.counters.jobs;
    this.retired.outcomes += host.counters.outcomes;
    this.retired.respawns += host.counters.respawns;
    host.close();
    this.draining.delete(host);
    const index = this.hosts.indexOf(host);
    if (index >= 0) this.hosts.splice(index, 1);
  }
}
