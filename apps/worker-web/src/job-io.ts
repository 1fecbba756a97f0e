// What a running job may do besides computing, on the executor's side: where its outputs go, how
// it reports progress, and how it learns that it should stop. One interface for both transports
// (the ring, where regions are arena blocks and the stop signal a shared word, and postMessage),
// and a plain-memory one for tests and tabs without SharedArrayBuffer.
import type { JobProgress, StopReason } from './job.ts';

export interface JobIo {
  /**
   * A writable region of `length` bytes for an output: an arena block where the main thread will
   * read it, or a plain buffer. Undefined when no region that large is free now (ARENA_FULL).
   */
  allocate(length: number): Uint8Array | undefined;
  /** Gives back a region from `allocate` that will not be an output (a buffer that grew). */
  release(region: Uint8Array): void;
  progress(progress: JobProgress): void;
  /** Why the job should stop, or undefined; checked at safe points, so it is cheap (an Atomics.load). */
  stopRequested(): StopReason | undefined;
  /**
   * The shared WebAssembly.Memory the regions lie in, when the executor's bridge lives in one:
   * a kernel-ABI module importing shared memory then works on its input and output in place.
   */
  memory: WebAssembly.Memory | undefined;
  /** The absolute address of a region of `memory` (a pointer for a kernel). */
  addressOf(region: Uint8Array): number;
  /**
   * The address in `memory` of an i32 that becomes non-zero (1 cancelled, 2 timed out) when the
   * job should stop, for kernels that poll it; -1 without one.
   */
  stopWordAddress: number;
  /**
   * Zeroes whatever earlier jobs left in `memory` outside this job's regions (freed arena blocks,
   * records already read from the rings): an in-place kernel can read all of it. Absent where
   * there is no shared memory.
   */
  scrub?: () => void;
}

/** JobIo over ordinary memory: outputs are fresh buffers, nothing stops the job unless `stop` says so. */
export function heapIo(
  options: { onProgress?: (p: JobProgress) => void; stop?: () => StopReason | undefined } = {},
): JobIo {
  return {
    allocate: (length) => new Uint8Array(length),
    release: () => undefined,
    progress: (p) => options.onProgress?.(p),
    stopRequested: () => options.stop?.(),
    memory: undefined,
    addressOf: () => -1,
    stopWordAddress: -1,
  };
}
