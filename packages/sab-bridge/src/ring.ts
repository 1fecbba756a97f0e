import { BridgeError } from './bridge-error.ts';
import { RING, STATE } from './layout.ts';
import { canBlock, type WaitResult, waitAsync, waitBlocking } from './wait.ts';

/**
 * Iterations of a spin (re-checking the ring) before a wait sleeps. 0: on the 2-core CI machine a
 * spin of 200 or 2000 made the 64 B round trip slower (README, benchmark); pass more where cores are spare.
 */
export const DEFAULT_SPIN = 0;

/**
 * A single-producer single-consumer ring of variable-length byte records inside the bridge's
 * SharedArrayBuffer. A record is a u32 length, the payload, and padding to 4 bytes; the payload
 * wraps around the end of the data region (the length word never does, everything is 4-aligned).
 *
 * Who writes what: the producer writes the payload, then `tail` (Atomics.store), then bumps
 * `dataEpoch` (Atomics.add) and notifies it if `dataWaiting` is set. The consumer reads the
 * payload, then writes `head`, then bumps `spaceEpoch` and notifies it if `spaceWaiting` is set.
 * `head` and `tail` are free-running u32 counters; `tail - head` is the bytes in use.
 * Exactly one thread may push and exactly one may pop; both may be any thread.
 */
export class Ring {
  /** Data bytes (a power of two). The largest record is `capacity - 4` bytes. */
  readonly capacity: number;
  readonly #i32: Int32Array;
  readonly #u8: Uint8Array;
  readonly #ctl: number;
  readonly #data: number;
  readonly #mask: number;
  readonly #state: number;
  readonly #cancel: number;

  /** Internal: use `Bridge.inbox`/`Bridge.outbox`. Offsets are absolute bytes in `buffer`. */
  constructor(
    buffer: SharedArrayBuffer,
    controlOffset: number,
    dataOffset: number,
    capacity: number,
    stateOffset: number,
    cancelOffset = -1,
  ) {
    this.#i32 = new Int32Array(buffer);
    this.#u8 = new Uint8Array(buffer);
    this.#ctl = controlOffset >> 2;
    this.#data = dataOffset;
    this.capacity = capacity;
    this.#mask = capacity - 1;
    this.#state = stateOffset >> 2;
    this.#cancel = cancelOffset >> 2;
  }

  /** Bytes in use (records with their length words and padding). */
  get usedBytes(): number {
    const i32 = this.#i32;
    return (Atomics.load(i32, this.#ctl + RING.tail) - Atomics.load(i32, this.#ctl + RING.head)) >>> 0;
  }

  /** True when no record is waiting. */
  get empty(): boolean {
    const i32 = this.#i32;
    return Atomics.load(i32, this.#ctl + RING.tail) === Atomics.load(i32, this.#ctl + RING.head);
  }

  /** The data epoch: bumped by every push. */
  get epoch(): number {
    return Atomics.load(this.#i32, this.#ctl + RING.dataEpoch);
  }

  /** Bytes a record of `length` payload bytes takes in the ring. */
  static footprint(length: number): number {
    return 4 + ((length + 3) & ~3);
  }

  /** Producer: appends one record. False when the ring has no room now (backpressure). */
  push(record: Uint8Array): boolean {
    const len = record.length;
    const need = 4 + ((len + 3) & ~3);
    if (need > this.capacity) {
      throw new BridgeError(
        'RECORD_TOO_LARGE',
        `record of ${len} bytes; this ring holds at most ${this.capacity - 4}`,
      );
    }
    const i32 = this.#i32;
    const ctl = this.#ctl;
    const tail = Atomics.load(i32, ctl + RING.tail);
    const head = Atomics.load(i32, ctl + RING.head);
    if (this.capacity - ((tail - head) >>> 0) < need) return false;
    const pos = tail & this.#mask;
    i32[(this.#data + pos) >> 2] = len;
    const p = (pos + 4) & this.#mask;
    const first = this.capacity - p;
    const u8 = this.#u8;
    if (len <= first) {
      u8.set(record, this.#data + p);
    } else {
      u8.set(record.subarray(0, first), this.#data + p);
      u8.set(record.subarray(first), this.#data);
    }
    // Publish: the payload written above is visible to whoever reads this tail.
    Atomics.store(i32, ctl + RING.tail, (tail + need) | 0);
    this.#published(RING.dataEpoch, RING.dataWaiting);
    return true;
  }

  /** Consumer: removes and returns the oldest record (a copy), or undefined when empty. */
  pop(): Uint8Array | undefined {
    const at = this.#front();
    if (at < 0) return undefined;
    const len = this.#i32[(this.#data + at) >> 2]!;
    const out = new Uint8Array(len);
    this.#copyOut(at, len, out);
    this.#release(len);
    return out;
  }

  /**
   * Consumer, allocation-free: copies the oldest record into `dst` and removes it. Returns its
   * length, or -1 when the ring is empty. Throws BUFFER_TOO_SMALL (leaving the record) if `dst` is short.
   */
  popInto(dst: Uint8Array): number {
    const at = this.#front();
    if (at < 0) return -1;
    const len = this.#i32[(this.#data + at) >> 2]!;
    if (len > dst.length) {
      throw new BridgeError('BUFFER_TOO_SMALL', `record of ${len} bytes, destination holds ${dst.length}`);
    }
    this.#copyOut(at, len, dst);
    this.#release(len);
    return len;
  }

  /** Consumer: the length of the oldest record, or -1 when empty. */
  peekLength(): number {
    const at = this.#front();
    return at < 0 ? -1 : this.#i32[(this.#data + at) >> 2]!;
  }

  /**
   * Consumer, blocking (Workers, Node): spins `spin` times, then Atomics.wait on the data epoch
   * until a record is there, `timeoutMs` passes, the bridge is closed or (inbox only) a cancel
   * is requested. Throws CANNOT_BLOCK on a browser main thread.
   */
  waitForData(timeoutMs: number, spin = DEFAULT_SPIN): WaitResult {
    return this.#waitSync(RING.dataEpoch, RING.dataWaiting, () => !this.empty, timeoutMs, spin);
  }

  /** Consumer, non-blocking: like waitForData but resolves via Atomics.waitAsync (or its fallback). */
  waitForDataAsync(timeoutMs: number, spin = DEFAULT_SPIN): Promise<WaitResult> {
    return this.#waitAsync(RING.dataEpoch, RING.dataWaiting, () => !this.empty, timeoutMs, spin);
  }

  /** Producer, blocking: waits until a record of `length` payload bytes fits. */
  waitForSpace(length: number, timeoutMs: number, spin = DEFAULT_SPIN): WaitResult {
    const need = Ring.footprint(length);
    return this.#waitSync(
      RING.spaceEpoch,
      RING.spaceWaiting,
      () => this.capacity - this.usedBytes >= need,
      timeoutMs,
      spin,
    );
  }

  /** Producer, non-blocking: resolves when a record of `length` payload bytes fits. */
  waitForSpaceAsync(length: number, timeoutMs: number, spin = DEFAULT_SPIN): Promise<WaitResult> {
    const need = Ring.footprint(length);
    return this.#waitAsync(
      RING.spaceEpoch,
      RING.spaceWaiting,
      () => this.capacity - this.usedBytes >= need,
      timeoutMs,
      spin,
    );
  }

  /** The ring's data bytes, where they lie (for tests and diagnostics; records are read with pop). */
  dataView(): Uint8Array {
    return this.#u8.subarray(this.#data, this.#data + this.capacity);
  }

  /**
   * Zeroes the ring's free bytes (everything not between head and tail), where records already
   * read still lie; returns how many. Only the producer writes free bytes, so this is safe from the
   * producer's thread, or from another while the producer is known to be quiet.
   */
  scrubFree(): number {
    const i32 = this.#i32;
    const head = Atomics.load(i32, this.#ctl + RING.head);
    const tail = Atomics.load(i32, this.#ctl + RING.tail);
    const free = this.capacity - ((tail - head) >>> 0);
    const start = tail & this.#mask;
    const first = Math.min(free, this.capacity - start);
    this.#u8.fill(0, this.#data + start, this.#data + start + first);
    this.#u8.fill(0, this.#data, this.#data + (free - first));
    return free;
  }

  /** Wakes every waiter on this ring (used by Bridge.close()). */
  wakeAll(): void {
    const i32 = this.#i32;
    // Bump both epochs so waiters that read the old value do not go back to sleep.
    Atomics.add(i32, this.#ctl + RING.dataEpoch, 1);
    Atomics.add(i32, this.#ctl + RING.spaceEpoch, 1);
    Atomics.notify(i32, this.#ctl + RING.dataEpoch);
    Atomics.notify(i32, this.#ctl + RING.spaceEpoch);
  }

  #cancelSeen(): number {
    return this.#cancel < 0 ? 0 : Atomics.load(this.#i32, this.#cancel);
  }

  /** 'closed' once the bridge is closed, 'cancelled' once a cancel was requested since the wait began. */
  #interrupted(cancelAtStart: number): WaitResult | undefined {
    if ((Atomics.load(this.#i32, this.#state) & STATE.closed) !== 0) return 'closed';
    if (this.#cancelSeen() !== cancelAtStart) return 'cancelled';
    return undefined;
  }

  /** Byte position (0 … capacity-1) of the oldest record's length word, or -1 when empty. */
  #front(): number {
    const i32 = this.#i32;
    const head = Atomics.load(i32, this.#ctl + RING.head);
    if (head === Atomics.load(i32, this.#ctl + RING.tail)) return -1;
    const at = head & this.#mask;
    const len = i32[(this.#data + at) >> 2]!;
    if (len < 0 || Ring.footprint(len) > this.capacity) {
      throw new BridgeError(
        'CORRUPT_RING',
        `record length ${len} at ${at} cannot be in a ${this.capacity}-byte ring`,
      );
    }
    return at;
  }

  #copyOut(at: number, len: number, dst: Uint8Array): void {
    const p = (at + 4) & this.#mask;
    const first = this.capacity - p;
    const u8 = this.#u8;
    const base = this.#data;
    if (len <= first) {
      if (len <= 64) {
        for (let i = 0; i < len; i++) dst[i] = u8[base + p + i]!;
      } else {
        dst.set(u8.subarray(base + p, base + p + len));
      }
    } else {
      dst.set(u8.subarray(base + p, base + p + first));
      dst.set(u8.subarray(base, base + len - first), first);
    }
  }

  #release(len: number): void {
    const i32 = this.#i32;
    const ctl = this.#ctl;
    const head = Atomics.load(i32, ctl + RING.head);
    // Publish: the record's bytes are read; the producer may overwrite them from now on.
    Atomics.store(i32, ctl + RING.head, (head + Ring.footprint(len)) | 0);
    this.#published(RING.spaceEpoch, RING.spaceWaiting);
  }

  #published(epoch: number, waiting: number): void {
    const i32 = this.#i32;
    // Bump the epoch after the index store: a waiter that read the old epoch wakes or never sleeps.
    Atomics.add(i32, this.#ctl + epoch, 1);
    // Notify only when the other side said it sleeps; it sets the flag before reading the epoch.
    if (Atomics.load(i32, this.#ctl + waiting) !== 0) Atomics.notify(i32, this.#ctl + epoch);
  }

  #waitSync(
    epoch: number,
    waiting: number,
    ready: () => boolean,
    timeoutMs: number,
    spin: number,
  ): WaitResult {
    for (let i = 0; i < spin; i++) if (ready()) return 'ok';
    if (!canBlock()) {
      throw new BridgeError('CANNOT_BLOCK', 'Atomics.wait is not allowed on this thread; use the async wait');
    }
    const i32 = this.#i32;
    const deadline = timeoutMs === Number.POSITIVE_INFINITY ? timeoutMs : Date.now() + timeoutMs;
    const cancel = this.#cancelSeen();
    for (;;) {
      // Say we may sleep before reading the epoch: a push after this read notifies us.
      Atomics.store(i32, this.#ctl + waiting, 1);
      const seen = Atomics.load(i32, this.#ctl + epoch);
      if (ready()) break;
      const interrupted = this.#interrupted(cancel);
      if (interrupted) {
        Atomics.store(i32, this.#ctl + waiting, 0);
        return interrupted;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        Atomics.store(i32, this.#ctl + waiting, 0);
        return 'timed-out';
      }
      waitBlocking(i32, this.#ctl + epoch, seen, left);
    }
    Atomics.store(i32, this.#ctl + waiting, 0);
    return 'ok';
  }

  async #waitAsync(
    epoch: number,
    waiting: number,
    ready: () => boolean,
    timeoutMs: number,
    spin: number,
  ): Promise<WaitResult> {
    for (let i = 0; i < spin; i++) if (ready()) return 'ok';
    const i32 = this.#i32;
    const deadline = Date.now() + timeoutMs;
    const cancel = this.#cancelSeen();
    for (;;) {
      // Say we may sleep before reading the epoch: a push after this read notifies us.
      Atomics.store(i32, this.#ctl + waiting, 1);
      const seen = Atomics.load(i32, this.#ctl + epoch);
      if (ready()) break;
      const interrupted = this.#interrupted(cancel);
      if (interrupted) {
        Atomics.store(i32, this.#ctl + waiting, 0);
        return interrupted;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        Atomics.store(i32, this.#ctl + waiting, 0);
        return 'timed-out';
      }
      await waitAsync(i32, this.#ctl + epoch, seen, left);
    }
    Atomics.store(i32, this.#ctl + waiting, 0);
    return 'ok';
  }
}
