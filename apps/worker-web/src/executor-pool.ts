// The tab's executor Workers: one per CPU slot (WASM jobs) plus one GPU slot (WGSL and built-in
// jobs), each controlled through comlink. The pool owns the timeouts: a job that runs past its
// limit gets its Worker terminated (the only way to stop a WASM loop) and a fresh Worker in its
// slot, so the tab goes on with the next task.
import * as Comlink from 'comlink';
import { ExecutorError, type ExecutorErrorCode, toJobFailure } from './executor-error.ts';
import type { ExecutorApi, GpuProbe } from './executor-worker.ts';
import type { Job, JobOutcome, JobProgress } from './job.ts';
import { type KernelArena, prepareKernelArena } from './kernel-arena.ts';

export type SlotKind = 'cpu' | 'gpu';

/** Grace on top of a job's own timeout before its Worker is terminated (the GPU path times out itself). */
const TERMINATE_GRACE_MS = 250;

interface Slot {
  kind: SlotKind;
  worker: Worker;
  remote: Comlink.Remote<ExecutorApi>;
  busy: boolean;
  /** Set while a job runs: stops it by terminating the Worker. */
  kill?: (code: ExecutorErrorCode, message: string) => void;
}

/** Options of one run. */
export interface RunOptions {
  onProgress?: (progress: JobProgress) => void;
  signal?: AbortSignal;
}

/** Which slot kind runs a job: WASM on CPU slots, WGSL on the GPU slot, built-ins on the GPU slot when there is one. */
export function slotKindOf(job: Job, hasGpuSlot: boolean): SlotKind {
  if (job.kind === 'wasm') return 'cpu';
  if (job.kind === 'wgsl') return 'gpu';
  return hasGpuSlot ? 'gpu' : 'cpu';
}

/** Pool of executor Workers; `createWorker` makes one (the page passes the Vite worker URL). */
export class ExecutorPool {
  private readonly slots: Slot[] = [];
  private deviceLostListener: ((reason: string) => void) | undefined;

  constructor(
    private readonly createWorker: () => Worker,
    cpuSlots: number,
    gpuSlots: number,
  ) {
    this.resize(cpuSlots, gpuSlots);
  }

  /** Sets the number of slots of each kind; idle Workers beyond it are terminated, busy ones finish first. */
  resize(cpuSlots: number, gpuSlots: number): void {
    for (const [kind, wanted] of [
      ['cpu', cpuSlots],
      ['gpu', gpuSlots],
    ] as const) {
      let have = this.slots.filter((s) => s.kind === kind).length;
      while (have < wanted) {
        this.slots.push(this.spawn(kind));
        have++;
      }
      for (const slot of [...this.slots].reverse()) {
        if (have <= wanted) break;
        if (slot.kind === kind && !slot.busy) {
          this.retire(slot);
          have--;
        }
      }
    }
  }

  /** Free slots of a kind. */
  free(kind: SlotKind): number {
    return this.slots.filter((s) => s.kind === kind && !s.busy).length;
  }

  /** Slots of a kind. */
  size(kind: SlotKind): number {
    return this.slots.filter((s) => s.kind === kind).length;
  }

  /** Called when a GPU Worker loses its device (the tab republishes its capability). */
  onDeviceLost(listener: (reason: string) => void): void {
    this.deviceLostListener = listener;
    for (const slot of this.slots) if (slot.kind === 'gpu') this.watch(slot);
  }

  /** Asks a GPU Worker (spawning a temporary one when there is no GPU slot) for its adapter. */
  async probeGpu(): Promise<GpuProbe | null> {
    const slot = this.slots.find((s) => s.kind === 'gpu');
    if (slot) return slot.remote.probeGpu();
    const temporary = this.spawn('gpu');
    try {
      return await temporary.remote.probeGpu();
    } finally {
      this.retire(temporary);
    }
  }

  /** Test hook: makes the GPU Worker lose its device. */
  async loseDevice(): Promise<void> {
    const slot = this.slots.find((s) => s.kind === 'gpu');
    await slot?.remote.loseDevice();
  }

  /**
   * Runs a job on a free slot of its kind. Never rejects: a timeout is `TIMEOUT`, an abort is
   * `CANCELLED`, a crashed Worker `EXECUTION_ERROR`; every failure that kills a Worker respawns it.
   */
  async run(job: Job, options: RunOptions = {}): Promise<JobOutcome> {
    const kind = slotKindOf(job, this.size('gpu') > 0);
    const slot = this.slots.find((s) => s.kind === kind && !s.busy);
    if (!slot) {
      return { ok: false, code: 'UNSUPPORTED', message: `no free ${kind} slot`, retryable: true };
    }
    let arena: KernelArena | undefined;
    try {
      arena = job.kind === 'wasm' ? prepareKernelArena(job) : undefined;
    } catch (error) {
      return toJobFailure(error);
    }
    if (arena && job.kind === 'wasm') {
      // The input already lies in the arena: the Worker gets the shared memory, not the bytes.
      job = {
        ...job,
        arena: arena.view,
        inputs: job.inputs.map((i) => ({ ...i, bytes: new Uint8Array(0) })),
      };
    }
    slot.busy = true;
    const killed = new Promise<JobOutcome>((resolve) => {
      slot.kill = (code, message) => {
        this.replace(slot);
        resolve({ ok: false, code, message, retryable: new ExecutorError(code, message).retryable });
      };
    });
    const timeout = setTimeout(
      () =>
        slot.kill?.('TIMEOUT', `job ran past its ${job.limits.timeoutMs} ms timeout; executor terminated`),
      job.limits.timeoutMs + (kind === 'gpu' ? TERMINATE_GRACE_MS * 8 : 0),
    );
    const onAbort = () => slot.kill?.('CANCELLED', String(options.signal?.reason ?? 'cancelled'));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
    // Inputs are moved to the Worker (the job owns their buffers); the module is copied, because
    // the tab keeps it cached.
    const transfer = job.inputs.map((input) => input.bytes.buffer as ArrayBuffer);
    const progress = options.onProgress ? Comlink.proxy(options.onProgress) : undefined;
    const ran = slot.remote.run(Comlink.transfer(job, dedupe(transfer)), progress).catch(
      (error: unknown): JobOutcome => ({
        ok: false,
        code: 'EXECUTION_ERROR',
        message: `executor crashed: ${error instanceof Error ? error.message : String(error)}`,
        retryable: true,
      }),
    );
    try {
      const outcome = await Promise.race([ran, killed]);
      if (arena && outcome.ok && outcome.outputs[0]) {
        outcome.outputs[0].bytes = arena.finish(Number(outcome.summary['output_bytes'] ?? 0));
      }
      return outcome;
    } finally {
      clearTimeout(timeout);
      options.signal?.removeEventListener('abort', onAbort);
      delete slot.kill;
      slot.busy = false;
    }
  }

  /** Terminates every Worker. */
  close(): void {
    for (const slot of this.slots.splice(0)) this.retire(slot);
  }

  private spawn(kind: SlotKind): Slot {
    const worker = this.createWorker();
    const slot: Slot = { kind, worker, remote: Comlink.wrap<ExecutorApi>(worker), busy: false };
    if (kind === 'gpu' && this.deviceLostListener) this.watch(slot);
    return slot;
  }

  private watch(slot: Slot): void {
    const listener = this.deviceLostListener;
    if (listener) void slot.remote.watchDeviceLost(Comlink.proxy(listener));
  }

  private retire(slot: Slot): void {
    slot.remote[Comlink.releaseProxy]();
    slot.worker.terminate();
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots.splice(index, 1);
  }

  /** Terminates a slot's Worker and puts a fresh one in its place (same position, same kind). */
  private replace(slot: Slot): void {
    const index = this.slots.indexOf(slot);
    slot.worker.terminate();
    const fresh = this.spawn(slot.kind);
    if (index >= 0) this.slots[index] = fresh;
  }
}

function dedupe<T>(items: T[]): T[] {
  return [...new Set(items)];
}
