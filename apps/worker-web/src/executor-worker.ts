// The executor Worker: lives across jobs and serves the jobs of its own bridge, one at a time, in
// the order they were placed. comlink carries setup only (attach a bridge, probe the GPU, test
// hooks); every job arrives as a record on the bridge and its outcome leaves the same way.
import { attach } from '@flock/sab-bridge';
import * as Comlink from 'comlink';
import { copyCounts, resetCopyCounts } from './copy-meter.ts';
import { ExecutorControl } from './executor-control.ts';
import {
  type ExecutorTransport,
  MessageExecutorTransport,
  RingExecutorTransport,
  type TransportCounters,
} from './executor-transport.ts';
import { GpuContext, type GpuProbe } from './gpu-context.ts';
import { JobRunner } from './job-runner.ts';
import { KERNEL_RESERVE } from './kernel-executor.ts';

export type { GpuProbe };

const gpu = new GpuContext();
const runner = new JobRunner(gpu);
let transport: ExecutorTransport | undefined;
/** Counters of the transports this Worker served before its current one (re-attached bridges). */
const served = { jobs: 0, outcomes: 0, progress: 0 };
/** Where this Worker's time went, ms: waiting for a job, and running jobs (record to outcome). */
const time = { idleMs: 0, busyMs: 0 };

/** Serves `t` until it closes or another bridge replaces it. */
async function serve(t: ExecutorTransport): Promise<void> {
  for (;;) {
    const waitFrom = performance.now();
    const job = await t.next();
    const busyFrom = performance.now();
    time.idleMs += busyFrom - waitFrom;
    if (!job || transport !== t) return;
    const io = t.io(job);
    // A job cancelled while it waited in the inbox stops before it starts.
    const stop = io.stopRequested();
    const outcome = stop
      ? {
          ok: false as const,
          code: stop,
          message: `${stop.toLowerCase()} before it started`,
          retryable: stop === 'CANCELLED',
        }
      : await runner.run(job, io);
    // The main thread's copy of the inputs into their regions (times across the two threads'
    // clocks are not comparable: a Worker's performance.timeOrigin is its own).
    if (outcome.ok && job.spec.handoff) outcome.metrics['copy_in_ms'] = job.spec.handoff.copyMs.toFixed(3);
    t.finish(job, outcome);
    time.busyMs += performance.now() - busyFrom;
  }
}

function replace(next: ExecutorTransport): void {
  if (transport) {
    served.jobs += transport.counters.jobs;
    served.outcomes += transport.counters.outcomes;
    served.progress += transport.counters.progress;
  }
  transport = next;
  void serve(next);
}

const api = {
  /** Serves the bridge laid out in `memory` (after KERNEL_RESERVE bytes), with its stop table. */
  attachRing(memory: WebAssembly.Memory, control: SharedArrayBuffer): void {
    const bridge = attach(memory.buffer as unknown as SharedArrayBuffer, KERNEL_RESERVE);
    replace(new RingExecutorTransport(bridge, new ExecutorControl(control), memory));
  },

  /** Serves jobs sent over `port` (pages without SharedArrayBuffer). */
  attachPort(port: MessagePort): void {
    replace(new MessageExecutorTransport(port));
  },

  /** Whether this executor may use the GPU (the GPU slot's executor); set before any job. */
  useGpu(allowed: boolean): void {
    gpu.allowed = allowed;
  },

  /** Adapter facts for the capability; null without WebGPU. */
  probeGpu(): Promise<GpuProbe | null> {
    return gpu.probe();
  },

  /** Registers the callback the main thread uses to republish its capability on device loss. */
  watchDeviceLost(callback: (reason: string) => void): void {
    gpu.onDeviceLost = callback;
  },

  /** Test hook: loses the device as a driver reset would. */
  loseDevice(): void {
    gpu.loseDevice();
  },

  /** Test hook: the records this Worker took and gave back, and the copies it made. */
  counters(): {
    transport: TransportCounters['transport'] | 'none';
    jobs: number;
    outcomes: number;
    progress: number;
    copies: ReturnType<typeof copyCounts>;
    idleMs: number;
    busyMs: number;
  } {
    const c = transport?.counters;
    return {
      transport: c?.transport ?? 'none',
      jobs: served.jobs + (c?.jobs ?? 0),
      outcomes: served.outcomes + (c?.outcomes ?? 0),
      progress: served.progress + (c?.progress ?? 0),
      copies: copyCounts(),
      ...time,
    };
  },

  resetCopies(): void {
    resetCopyCounts();
  },
};

export type ExecutorApi = typeof api;
Comlink.expose(api);
