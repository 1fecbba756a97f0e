// The executor Worker's side of its bridge: where jobs come from and outcomes go. Two transports,
// one executor: the SharedArrayBuffer ring (inbox, outbox, arena; the Worker sleeps in
// Atomics.wait and reads inputs where they lie), and, on pages without SharedArrayBuffer, the
// same records over a MessagePort with transferred buffers.
import type { ArenaHandle, Bridge } from '@flock/sab-bridge';
import { handleOf, popRecord, pushRecord, sliceOf } from '@flock/sab-bridge';
import { countCopy } from './copy-meter.ts';
import type { ExecutorControl } from './executor-control.ts';
import type { Job, JobOutcome, JobProgress, StopReason } from './job.ts';
import type { JobIo } from './job-io.ts';
import { jobOf, outcomeRecord, progressRecord, REGION, type WireRecord } from './job-record.ts';

/** Records one executor has taken and given back: tests check that every job went this way. */
export interface TransportCounters {
  transport: 'ring' | 'message';
  jobs: number;
  outcomes: number;
  progress: number;
}

export interface ExecutorTransport {
  readonly counters: TransportCounters;
  /** The next job (several queued records are drained one by one), or undefined once closed. */
  next(): Promise<Job | undefined>;
  /** The job's outputs, progress and stop signal. */
  io(job: Job): JobIo;
  /** Sends the job's outcome; regions it allocated and did not return are freed. */
  finish(job: Job, outcome: JobOutcome): void;
}

/** While idle, the Worker sleeps in Atomics.wait this long, then lets its event loop run (setup calls). */
const IDLE_WAIT_MS = 50;

/** Lets queued events (comlink setup calls, device-lost callbacks) run: a macrotask, unclamped. */
function yieldToEvents(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(0);
  });
}

/**
 * The ring: jobs are popped from the inbox (SPSC, the main thread pushes), inputs are views of
 * their arena blocks, outputs are arena blocks this side allocates (owner: the job id, so blocks
 * are zeroed between tasks), outcomes are pushed to the outbox.
 */
export class RingExecutorTransport implements ExecutorTransport {
  readonly counters: TransportCounters = { transport: 'ring', jobs: 0, outcomes: 0, progress: 0 };
  /** Blocks allocated for each running job, by the byte offset of the views handed out. */
  private readonly blocks = new Map<number, Map<number, ArenaHandle>>();

  constructor(
    private readonly bridge: Bridge,
    private readonly control: ExecutorControl,
    /** The shared WebAssembly.Memory the bridge lies in, for in-place kernels. */
    private readonly memory: WebAssembly.Memory | undefined,
  ) {}

  async next(): Promise<Job | undefined> {
    const inbox = this.bridge.inbox;
    for (;;) {
      if (!inbox.empty) {
        const record = popRecord(inbox);
        if (record) {
          this.counters.jobs++;
          const regions = (record.slices ?? []).map((slice) => ({
            name: slice.name ?? '',
            // An empty input takes no block (generation 0), as the host reads empty outputs.
            bytes:
              (slice.generation ?? 0) === 0 ? new Uint8Array(0) : this.bridge.arena.bytes(handleOf(slice)),
          }));
          return jobOf({ record, regions });
        }
      }
      const waited = inbox.waitForData(IDLE_WAIT_MS);
      if (waited === 'closed') return undefined;
      if (waited !== 'ok') await yieldToEvents();
    }
  }

  io(job: Job): JobIo {
    const arena = this.bridge.arena;
    const mine = new Map<number, ArenaHandle>();
    this.blocks.set(job.jobId, mine);
    const stopRegion = job.stopWord;
    return {
      allocate: (length) => {
        const handle = arena.alloc(length, job.jobId);
        if (!handle) return undefined;
        const view = arena.bytes(handle);
        mine.set(view.byteOffset, handle);
        return view;
      },
      release: (region) => {
        const handle = mine.get(region.byteOffset);
        if (!handle) return;
        mine.delete(region.byteOffset);
        arena.free(handle);
      },
      progress: (progress: JobProgress) => {
        // Droppable: a full outbox skips a progress report rather than wait.
        if (this.push(progressRecord(job.jobId, progress), false)) this.counters.progress++;
      },
      stopRequested: (): StopReason | undefined => this.control.stopOf(job.jobId),
      memory: this.memory,
      addressOf: (region) => (this.memory ? region.byteOffset : -1),
      stopWordAddress: stopRegion && this.memory ? stopRegion.byteOffset : -1,
      // Safe while the job runs alone: the host places nothing beside an in-place kernel.
      scrub: () => {
        this.bridge.arena.scrubFree();
        this.bridge.inbox.scrubFree();
        this.bridge.outbox.scrubFree();
      },
    };
  }

  finish(job: Job, outcome: JobOutcome): void {
    const mine = this.blocks.get(job.jobId) ?? new Map<number, ArenaHandle>();
    this.blocks.delete(job.jobId);
    const wire = outcomeRecord(job.jobId, outcome);
    const used = new Set<ArenaHandle>();
    let slices: ReturnType<typeof sliceOf>[];
    try {
      slices = this.slicesOf(job, wire, mine, used);
    } catch (error) {
      // No room to hand an output back: the job fails (retryable), the executor goes on.
      for (const handle of new Set([...mine.values(), ...used])) this.bridge.arena.free(handle);
      const failed = outcomeRecord(job.jobId, {
        ok: false,
        code: 'ARENA_FULL',
        message: (error as Error).message,
        retryable: true,
      });
      this.push({ record: failed.record, regions: [] }, true);
      this.counters.outcomes++;
      return;
    }
    for (const handle of mine.values()) if (!used.has(handle)) this.bridge.arena.free(handle);
    this.push({ record: { ...wire.record, slices }, regions: [] }, true);
    this.counters.outcomes++;
  }

  /** The arena block of each output (one copy into a new block for an output made elsewhere). */
  private slicesOf(
    job: Job,
    wire: WireRecord,
    mine: Map<number, ArenaHandle>,
    used: Set<ArenaHandle>,
  ): ReturnType<typeof sliceOf>[] {
    return wire.regions.map((region) => {
      // An empty output names no block.
      if (region.bytes.byteLength === 0) return { name: region.name, offset: 0, length: 0, generation: 0 };
      // An output is a block this job allocated, or its first `length` bytes (the record says how many).
      let handle = region.bytes.buffer === this.bridge.buffer ? mine.get(region.bytes.byteOffset) : undefined;
      if (handle && (used.has(handle) || region.bytes.byteLength > handle.length)) handle = undefined;
      if (!handle) {
        // An output made outside the arena (a library's own buffer): one copy into a block.
        handle = this.bridge.arena.alloc(region.bytes.byteLength, job.jobId);
        if (!handle)
          throw new Error(
            `no room in the executor arena for the ${region.bytes.byteLength}-byte output ${region.name}`,
          );
        this.bridge.arena.bytes(handle).set(region.bytes);
        countCopy('out:executor-to-arena', region.bytes.byteLength);
      }
      used.add(handle);
      return sliceOf(region.name, handle);
    });
  }

  /** Pushes a record; a result waits for space (the main thread drains the outbox continuously). */
  private push(wire: WireRecord, wait: boolean): boolean {
    const outbox = this.bridge.outbox;
    for (;;) {
      if (pushRecord(outbox, wire.record)) return true;
      if (!wait) return false;
      if (outbox.waitForSpace(4096, 1000) === 'closed') return false;
    }
  }
}

/** A message from the main thread on the executor's job port. */
export type HostMessage =
  | { type: 'job'; record: WireRecord['record']; names: string[]; buffers: ArrayBuffer[] }
  | { type: 'stop'; jobId: number; reason: StopReason };

/** A message to the main thread on the job port. */
export interface ExecutorMessage {
  record: WireRecord['record'];
  names: string[];
  buffers: ArrayBuffer[];
}

/**
 * postMessage: the same records, with each region a transferred ArrayBuffer. Stop requests arrive
 * as messages, so only a job that awaits (WGSL between chunks) sees them; a synchronous WASM run
 * is stopped by terminating the Worker.
 */
export class MessageExecutorTransport implements ExecutorTransport {
  readonly counters: TransportCounters = { transport: 'message', jobs: 0, outcomes: 0, progress: 0 };
  private readonly queue: Job[] = [];
  private readonly stops = new Map<number, StopReason>();
  private waiter: ((job: Job | undefined) => void) | undefined;
  private closed = false;

  constructor(private readonly port: MessagePort) {
    port.onmessage = (event: MessageEvent<HostMessage | 'close'>) => {
      const message = event.data;
      if (message === 'close') {
        this.closed = true;
        this.waiter?.(undefined);
        return;
      }
      if (message.type === 'stop') {
        this.stops.set(message.jobId, message.reason);
        return;
      }
      this.counters.jobs++;
      const job = jobOf({
        record: message.record,
        regions: message.names.map((name, i) => ({ name, bytes: new Uint8Array(message.buffers[i]!) })),
      });
      const waiter = this.waiter;
      this.waiter = undefined;
      if (waiter) waiter(job);
      else this.queue.push(job);
    };
  }

  next(): Promise<Job | undefined> {
    const job = this.queue.shift();
    if (job || this.closed) return Promise.resolve(job);
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  io(job: Job): JobIo {
    return {
      allocate: (length) => new Uint8Array(length),
      release: () => undefined,
      progress: (progress) => {
        this.port.postMessage({ record: progressRecord(job.jobId, progress).record, names: [], buffers: [] });
        this.counters.progress++;
      },
      stopRequested: () => this.stops.get(job.jobId),
      memory: undefined,
      addressOf: () => -1,
      stopWordAddress: -1,
    };
  }

  finish(job: Job, outcome: JobOutcome): void {
    this.stops.delete(job.jobId);
    const wire = outcomeRecord(job.jobId, outcome);
    const buffers = wire.regions.map((r) => ownBuffer(r.bytes));
    const message: ExecutorMessage = { record: wire.record, names: wire.regions.map((r) => r.name), buffers };
    this.port.postMessage(message, [...new Set(buffers)]);
    this.counters.outcomes++;
  }
}

/** A buffer holding exactly `bytes`, to transfer: the bytes' own when they span it, else a copy. */
export function ownBuffer(bytes: Uint8Array): ArrayBuffer {
  if (
    bytes.byteOffset === 0 &&
    bytes.byteLength === bytes.buffer.byteLength &&
    bytes.buffer instanceof ArrayBuffer
  )
    return bytes.buffer;
  return bytes.slice().buffer as ArrayBuffer;
}

/** The region of a job record that is a kernel's stop word. */
export const STOP_REGION = REGION.stop;
