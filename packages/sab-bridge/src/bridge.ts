import { Arena } from './arena.ts';
import { BridgeError } from './bridge-error.ts';
import {
  type BridgeConfig,
  GUARD_BYTE,
  GUARD_BYTES,
  H,
  HEADER_BYTES,
  headerChecksum,
  type Layout,
  layoutFor,
  MAGIC,
  STATE,
  VERSION,
} from './layout.ts';
import { Ring } from './ring.ts';

/** Where create() lays the bridge out: a buffer of the caller's (e.g. a shared WebAssembly.Memory's) at an offset. */
export interface BridgeTarget {
  buffer: SharedArrayBuffer;
  /** Byte offset in `buffer`, a multiple of 64. Default 0. */
  byteOffset?: number;
}

/** Bytes a bridge of `config` takes (header, both rings, guards, block table, arena). */
export function bytesFor(config: BridgeConfig): number {
  return layoutFor(config).totalBytes;
}

function isShared(buffer: unknown): buffer is SharedArrayBuffer {
  return typeof SharedArrayBuffer === 'function' && buffer instanceof SharedArrayBuffer;
}

function checkPlace(buffer: unknown, byteOffset: number, need: number): asserts buffer is SharedArrayBuffer {
  if (!isShared(buffer)) throw new BridgeError('NOT_SHARED', 'the bridge lives in a SharedArrayBuffer');
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 64 !== 0) {
    throw new BridgeError('BAD_OFFSET', `byteOffset ${byteOffset} is not a non-negative multiple of 64`);
  }
  if (buffer.byteLength < byteOffset + need) {
    throw new BridgeError(
      'BUFFER_TOO_SMALL',
      `${need} bytes needed at offset ${byteOffset}, buffer has ${buffer.byteLength}`,
    );
  }
}

/**
 * Lays a new bridge out in a fresh SharedArrayBuffer, or in `target` (which it overwrites over
 * `bytesFor(config)` bytes). The header's magic is written last, so attach() never sees half a bridge.
 */
export function create(config: BridgeConfig, target?: BridgeTarget): Bridge {
  const layout = layoutFor(config);
  const buffer = target?.buffer ?? new SharedArrayBuffer(layout.totalBytes);
  const byteOffset = target?.byteOffset ?? 0;
  checkPlace(buffer, byteOffset, layout.totalBytes);
  const u8 = new Uint8Array(buffer, byteOffset, layout.totalBytes);
  if (target) u8.fill(0, 0, layout.arena); // header, rings, table; the arena is zeroed lazily
  for (const g of [layout.inboxGuard, layout.outboxGuard, layout.arenaGuard])
    u8.fill(GUARD_BYTE, g, g + GUARD_BYTES);
  const words = new Int32Array(buffer, byteOffset, HEADER_BYTES / 4);
  const fixed = [
    MAGIC,
    VERSION,
    layout.totalBytes,
    layout.inboxBytes,
    layout.outboxBytes,
    layout.arenaBytes,
    layout.minBlockBytes,
  ];
  for (let i = 1; i < fixed.length; i++) words[i] = fixed[i]!;
  words[H.checksum / 4] = headerChecksum(fixed) | 0;
  const bridge = new Bridge(buffer, byteOffset, layout);
  bridge.arena.initialise(target !== undefined);
  Atomics.store(words, H.state / 4, STATE.ready);
  // Publish: a bridge with its magic in place is complete.
  Atomics.store(words, H.magic / 4, MAGIC);
  return bridge;
}

/**
 * Opens a bridge that create() laid out (typically in another thread, after postMessage of the
 * buffer). Refuses a foreign or corrupt buffer: NOT_SHARED, BAD_OFFSET, BUFFER_TOO_SMALL, BAD_MAGIC,
 * BAD_VERSION, CORRUPT_HEADER.
 */
export function attach(buffer: SharedArrayBuffer, byteOffset = 0): Bridge {
  checkPlace(buffer, byteOffset, HEADER_BYTES);
  const words = new Int32Array(buffer, byteOffset, HEADER_BYTES / 4);
  const fixed = Array.from(words.subarray(0, 7), (w) => w >>> 0);
  if (fixed[0] !== MAGIC) throw new BridgeError('BAD_MAGIC', `no bridge at offset ${byteOffset}`);
  if (fixed[1] !== VERSION)
    throw new BridgeError('BAD_VERSION', `layout version ${fixed[1]}, expected ${VERSION}`);
  if (headerChecksum(fixed) !== words[H.checksum / 4]! >>> 0) {
    throw new BridgeError('CORRUPT_HEADER', 'header checksum does not match its fields');
  }
  let layout: Layout;
  try {
    layout = layoutFor({
      inboxBytes: fixed[3]!,
      outboxBytes: fixed[4]!,
      arenaBytes: fixed[5]!,
      minBlockBytes: fixed[6]!,
    });
  } catch (e) {
    throw new BridgeError('CORRUPT_HEADER', `sizes in the header are invalid: ${(e as Error).message}`);
  }
  if (layout.totalBytes !== fixed[2]) {
    throw new BridgeError(
      'CORRUPT_HEADER',
      `total ${fixed[2]} does not match the sizes (${layout.totalBytes})`,
    );
  }
  checkPlace(buffer, byteOffset, layout.totalBytes);
  return new Bridge(buffer, byteOffset, layout);
}

/**
 * One executor's bridge: the inbox ring (main thread → executor), the outbox ring (executor →
 * main thread) and the arena, all in one SharedArrayBuffer. The main thread pushes to `inbox`
 * and pops from `outbox`; the executor the other way round; either may use the arena.
 */
export class Bridge {
  readonly buffer: SharedArrayBuffer;
  /** Where the bridge starts in `buffer`. */
  readonly byteOffset: number;
  readonly layout: Layout;
  readonly inbox: Ring;
  readonly outbox: Ring;
  readonly arena: Arena;
  readonly #words: Int32Array;

  /** Internal: use create() or attach(). */
  constructor(buffer: SharedArrayBuffer, byteOffset: number, layout: Layout) {
    this.buffer = buffer;
    this.byteOffset = byteOffset;
    this.layout = layout;
    this.#words = new Int32Array(buffer, byteOffset, HEADER_BYTES / 4);
    const at = (o: number): number => byteOffset + o;
    this.inbox = new Ring(
      buffer,
      at(H.inboxControl),
      at(layout.inboxData),
      layout.inboxBytes,
      at(H.state),
      at(H.cancelCount),
    );
    this.outbox = new Ring(
      buffer,
      at(H.outboxControl),
      at(layout.outboxData),
      layout.outboxBytes,
      at(H.state),
    );
    this.arena = new Arena(
      buffer,
      at(layout.arena),
      layout.arenaBytes,
      layout.minBlockBytes,
      at(layout.blockTable),
      at(H.arenaControl),
      at(H.allocLock),
    );
  }

  /** Bytes the bridge takes in its buffer. */
  get byteLength(): number {
    return this.layout.totalBytes;
  }

  get closed(): boolean {
    return (Atomics.load(this.#words, H.state / 4) & STATE.closed) !== 0;
  }

  /** Marks the bridge closed and wakes every waiter on both rings (their waits return 'closed'). */
  close(): void {
    // Publish: waiters re-check the state after the epochs move.
    Atomics.or(this.#words, H.state / 4, STATE.closed);
    this.inbox.wakeAll();
    this.outbox.wakeAll();
  }

  /**
   * Main thread: asks the executor to stop job `jobId` (a positive int32) and wakes it. The executor sees
   * it in `cancelledJob` between its waits (a blocked wait has a timeout for this) or inside a long job.
   */
  requestCancel(jobId: number): void {
    if (!Number.isInteger(jobId) || jobId < 1 || jobId > 0x7fffffff) {
      throw new BridgeError('INVALID_ARGUMENT', `job id ${jobId} is not a positive int32`);
    }
    // Publish the id, then count the request (a wait in progress watches the count, so a second
    // cancel of the same id still interrupts), then wake a blocked executor via the inbox epoch.
    Atomics.store(this.#words, H.cancelJob / 4, jobId);
    Atomics.add(this.#words, H.cancelCount / 4, 1);
    this.inbox.wakeAll();
  }

  /** The job id of the last requestCancel(), or 0. */
  get cancelledJob(): number {
    return Atomics.load(this.#words, H.cancelJob / 4);
  }

  /** Checks the canaries after each ring and the arena; throws GUARD_CORRUPT naming the region. */
  verifyGuards(): void {
    const u8 = new Uint8Array(this.buffer, this.byteOffset, this.layout.totalBytes);
    const guards: [string, number][] = [
      ['inbox', this.layout.inboxGuard],
      ['outbox', this.layout.outboxGuard],
      ['arena', this.layout.arenaGuard],
    ];
    for (const [name, at] of guards) {
      for (let i = at; i < at + GUARD_BYTES; i++) {
        if (u8[i] !== GUARD_BYTE) {
          throw new BridgeError(
            'GUARD_CORRUPT',
            `the guard after the ${name} region was overwritten at byte ${i}`,
          );
        }
      }
    }
  }
}
