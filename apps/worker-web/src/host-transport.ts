// The main thread's side of one executor's bridge. The ring: a shared WebAssembly.Memory holding
// a sab-bridge (inbox, outbox, arena) after KERNEL_RESERVE bytes, plus the stop table; job
// records go into the inbox and outcomes are awaited on the outbox with Atomics.waitAsync. On a
// page without SharedArrayBuffer the same records travel over a MessagePort, regions as
// transferred buffers.
import type { ArenaSlice } from '@flock/protocol';
import type { ArenaHandle, Bridge } from '@flock/sab-bridge';
import { create, handleOf, layoutFor, popRecord, pushRecord, sliceOf } from '@flock/sab-bridge';
import { ExecutorControl, stopCode } from './executor-control.ts';
import type { ExecutorMessage, HostMessage } from './executor-transport.ts';
import { ownBuffer } from './executor-transport.ts';
import type { StopReason } from './job.ts';
import type { WireRecord } from './job-record.ts';
import { KERNEL_RESERVE } from './kernel-executor.ts';

const PAGE = 65_536;
/** Ring sizes: records are small (a JSON spec and a few slices). */
const RING_BYTES = 64 << 10;

export interface HostTransport {
  readonly kind: 'ring' | 'message';
  /** The most bytes one job's regions may take here (the arena), or Infinity. */
  readonly capacity: number;
  /** A region of `length` bytes for job `jobId`'s input or module; undefined when there is no room now. */
  reserve(jobId: number, length: number): Uint8Array | undefined;
  /** Gives back a region (reserved here, or received in an outcome). */
  free(region: Uint8Array): void;
  /** Sends a record whose regions were reserved here; false when the inbox is full now. */
  send(wire: WireRecord): boolean;
  /** Waits for records from the executor; every one that is there ('closed' once closed). */
  receive(): Promise<WireRecord[] | 'closed'>;
  /** Asks job `jobId` to stop; `stopWord` is the kernel's region for it, when it has one. */
  requestStop(jobId: number, reason: StopReason, stopWord?: Uint8Array): void;
  close(): void;
}

/** Bytes a ring transport with an arena of `arenaBytes` takes, and its memory's pages. */
function ringPages(arenaBytes: number): number {
  const layout = layoutFor({ inboxBytes: RING_BYTES, outboxBytes: RING_BYTES, arenaBytes });
  return Math.ceil((KERNEL_RESERVE + layout.totalBytes) / PAGE);
}

export class RingHostTransport implements HostTransport {
  readonly kind = 'ring';
  readonly capacity: number;
  readonly memory: WebAssembly.Memory;
  readonly bridge: Bridge;
  readonly control = ExecutorControl.create();
  /** Handles of the regions this side holds, by their byte offset in the memory. */
  private readonly held = new Map<number, ArenaHandle>();

  /** @param arenaBytes a power of two (the arena is buddy-allocated) */
  constructor(arenaBytes: number) {
    const pages = ringPages(arenaBytes);
    // Fixed size (maximum = initial): a kernel on this memory cannot grow it into anything.
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    this.bridge = create(
      { inboxBytes: RING_BYTES, outboxBytes: RING_BYTES, arenaBytes },
      { buffer: this.memory.buffer as unknown as SharedArrayBuffer, byteOffset: KERNEL_RESERVE },
    );
    this.capacity = arenaBytes;
  }

  reserve(jobId: number, length: number): Uint8Array | undefined {
    if (length === 0) return new Uint8Array(0);
    const handle = this.bridge.arena.alloc(length, jobId);
    if (!handle) return undefined;
    const view = this.bridge.arena.bytes(handle);
    this.held.set(view.byteOffset, handle);
    return view;
  }

  free(region: Uint8Array): void {
    if (region.byteLength === 0 && region.buffer !== this.bridge.buffer) return;
    const handle = this.held.get(region.byteOffset);
    if (!handle) return;
    this.held.delete(region.byteOffset);
    this.bridge.arena.free(handle);
  }

  send(wire: WireRecord): boolean {
    const slices: ArenaSlice[] = wire.regions.map((region) => {
      if (region.bytes.byteLength === 0) return { name: region.name, offset: 0, length: 0, generation: 0 };
      const handle = this.held.get(region.bytes.byteOffset);
      if (!handle) throw new Error(`region ${region.name} was not reserved on this bridge`);
      return sliceOf(region.name, handle);
    });
    // Publish: the inbox's epoch moves and a sleeping executor is woken (pushRecord → Ring.push).
    return pushRecord(this.bridge.inbox, { ...wire.record, slices });
  }

  async receive(): Promise<WireRecord[] | 'closed'> {
    const outbox = this.bridge.outbox;
    for (;;) {
      const records: WireRecord[] = [];
      for (let record = popRecord(outbox); record; record = popRecord(outbox)) {
        const regions = (record.slices ?? []).map((slice) => ({
          name: slice.name ?? '',
          bytes: this.regionOf(slice),
        }));
        records.push({ record: { ...record, slices: [] }, regions });
      }
      if (records.length > 0) return records;
      if (this.bridge.closed) return 'closed';
      await outbox.waitForDataAsync(1000);
    }
  }

  /** A region named by the executor: a view of its block, held here until freed. */
  private regionOf(slice: ArenaSlice): Uint8Array {
    if ((slice.generation ?? 0) === 0) return new Uint8Array(0);
    const handle = handleOf(slice);
    const view = this.bridge.arena.bytes(handle);
    this.held.set(view.byteOffset, handle);
    return view;
  }

  requestStop(jobId: number, reason: StopReason, stopWord?: Uint8Array): void {
    this.control.requestStop(jobId, reason);
    // A kernel polls its own word, in its memory.
    if (stopWord && stopWord.byteLength >= 4) {
      Atomics.store(new Int32Array(stopWord.buffer, stopWord.byteOffset, 1), 0, stopCode(reason));
    }
  }

  close(): void {
    this.bridge.close();
  }
}

export class MessageHostTransport implements HostTransport {
  readonly kind = 'message';
  readonly capacity = Number.POSITIVE_INFINITY;
  readonly port: MessagePort;
  /** The end the executor gets (transferred at attach). */
  readonly remotePort: MessagePort;
  private readonly inbound: WireRecord[] = [];
  private waiter: (() => void) | undefined;
  private closed = false;

  constructor() {
    const channel = new MessageChannel();
    this.port = channel.port1;
    this.remotePort = channel.port2;
    this.port.onmessage = (event: MessageEvent<ExecutorMessage>) => {
      const { record, names, buffers } = event.data;
      this.inbound.push({
        record,
        regions: names.map((name, i) => ({ name, bytes: new Uint8Array(buffers[i]!) })),
      });
      this.waiter?.();
    };
  }

  reserve(_jobId: number, length: number): Uint8Array {
    return new Uint8Array(length);
  }

  free(): void {}

  send(wire: WireRecord): boolean {
    const buffers = wire.regions.map((r) => ownBuffer(r.bytes));
    const message: HostMessage = {
      type: 'job',
      record: wire.record,
      names: wire.regions.map((r) => r.name),
      buffers,
    };
    this.port.postMessage(message, [...new Set(buffers)]);
    return true;
  }

  async receive(): Promise<WireRecord[] | 'closed'> {
    while (this.inbound.length === 0) {
      if (this.closed) return 'closed';
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
      this.waiter = undefined;
    }
    return this.inbound.splice(0);
  }

  requestStop(jobId: number, reason: StopReason): void {
    const message: HostMessage = { type: 'stop', jobId, reason };
    this.port.postMessage(message);
  }

  close(): void {
    this.closed = true;
    this.port.postMessage('close');
    this.port.close();
    this.waiter?.();
  }
}
