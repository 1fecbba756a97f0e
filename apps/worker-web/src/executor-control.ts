// The control block one executor shares with the main thread, beside its bridge: a table of stop
// requests by job id, which the executor reads at its safe points (between WASI calls, between
// WGSL chunks, before a queued job starts). The bridge's own cancel word holds one id; a job
// queued behind a running one may be cancelled too, so each in-flight job has its own entry.
//
//   Int32Array, STOP_SLOTS entries of two words: [2i] job id, [2i + 1] reason (1 cancel, 2 timeout)
//   entry i serves the job ids ≡ i (mod STOP_SLOTS); an executor has far fewer jobs in flight.
import type { StopReason } from './job.ts';

/** Entries of the stop table; more than the jobs one executor ever holds at once. */
export const STOP_SLOTS = 256;
export const CONTROL_BYTES = STOP_SLOTS * 8;

const REASON: Record<StopReason, number> = { CANCELLED: 1, TIMEOUT: 2 };

/** The stop word value of a reason, as kernels see it: 1 cancelled, 2 timed out. */
export function stopCode(reason: StopReason): number {
  return REASON[reason];
}

/**
 * Who writes what: the main thread writes entries (`requestStop`); the executor only reads them
 * (`stopOf`). An entry names its job id, so an entry left by an earlier job never stops a later one.
 */
export class ExecutorControl {
  private readonly words: Int32Array;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer, 0, STOP_SLOTS * 2);
  }

  static create(): ExecutorControl {
    return new ExecutorControl(new SharedArrayBuffer(CONTROL_BYTES));
  }

  /** Main thread: asks job `jobId` to stop. */
  requestStop(jobId: number, reason: StopReason): void {
    const at = (jobId % STOP_SLOTS) * 2;
    Atomics.store(this.words, at + 1, REASON[reason]);
    // Publish: the id last, so a reader that sees it also sees its reason.
    Atomics.store(this.words, at, jobId);
  }

  /** Executor: why job `jobId` should stop, or undefined. */
  stopOf(jobId: number): StopReason | undefined {
    const at = (jobId % STOP_SLOTS) * 2;
    if (Atomics.load(this.words, at) !== jobId) return undefined;
    return Atomics.load(this.words, at + 1) === REASON.TIMEOUT ? 'TIMEOUT' : 'CANCELLED';
  }
}
