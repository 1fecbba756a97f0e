import { BridgeError } from './bridge-error.ts';
import { ARENA, BLOCK_STRIDE, MAX_ORDERS } from './layout.ts';
import { canBlock } from './wait.ts';

/**
 * An allocation in the arena. Matches the protocol's ArenaSlice (less its name), so a handle goes
 * into a BridgeRecord as is. A handle is valid until freed; after that every use throws STALE_HANDLE.
 */
export interface ArenaHandle {
  /** Byte offset from the start of the arena (a multiple of minBlockBytes). */
  readonly offset: number;
  /** Bytes requested. */
  readonly length: number;
  /** Bumped on every allocation and free of the block; a stale copy no longer matches. */
  readonly generation: number;
}

/** A snapshot of the arena's use. */
export interface ArenaStats {
  arenaBytes: number;
  /** Sum of the lengths of live allocations. */
  requestedBytes: number;
  /** Sum of the blocks reserved for them (lengths rounded up to minBlockBytes). */
  reservedBytes: number;
  freeBytes: number;
  largestFreeBlock: number;
  liveAllocations: number;
  /** Allocations since create(). */
  totalAllocations: number;
  /** Bytes zeroed because a block passed to a different owner. */
  zeroedBytes: number;
  /** requestedBytes / reservedBytes (1 when nothing is live). */
  efficiency: number;
  /** 1 − largestFreeBlock / freeBytes: 0 when all free space is one block. */
  fragmentation: number;
}

// Block table entry words and the `info` word's fields.
const GEN = 0;
const INFO = 1;
const NEXT = 2; // free block: next in its free list; used head: requested length
const PREV = 3;
const OWNER = 4; // owner tag of the bytes: 0 = zeroed, -1 = mixed owners
const KIND_SHIFT = 8;
const KIND_NONE = 0; // inside a larger block
const KIND_FREE = 1;
const KIND_HEAD = 2; // first block of an allocation
const KIND_PART = 3; // further block of a trimmed allocation
const CLEAN = 0;
const MIXED = -1;
const SPIN = 100;

/**
 * A buddy allocator over the arena region, its state in the shared block table so that any thread
 * holding the bridge may allocate and free (under a short lock word in the header).
 *
 * Blocks are powers of two of `minBlockBytes` and coalesce with their buddy on free. An allocation
 * takes the lowest-addressed block of the smallest free size that fits, then gives the unused
 * tail back as smaller buddy blocks ("trimming"), so it reserves its length rounded up to
 * minBlockBytes, not to a power of two; it is then a run of buddy blocks in decreasing size, all
 * freed together. Free lists are kept in address order, which packs small blocks low and keeps
 * large aligned blocks whole; inserting walks the list (short in practice, O(blocks) at worst).
 *
 * Every block's bytes carry an owner tag. Allocating for a different owner zeroes the block first
 * (outside the lock), so one task never reads another's bytes; the same owner gets its own old bytes.
 */
export class Arena {
  /** Absolute byte offset of the arena in the buffer (WebAssembly pointer of offset 0). */
  readonly byteOffset: number;
  readonly arenaBytes: number;
  readonly minBlockBytes: number;
  readonly #i32: Int32Array;
  readonly #u8: Uint8Array;
  readonly #table: number;
  readonly #ctl: number;
  readonly #lockWord: number;
  readonly #shift: number;
  readonly #maxOrder: number;

  /** Internal: use `Bridge.arena`. Offsets are absolute bytes in `buffer`. */
  constructor(
    buffer: SharedArrayBuffer,
    arenaOffset: number,
    arenaBytes: number,
    minBlockBytes: number,
    tableOffset: number,
    controlOffset: number,
    lockOffset: number,
  ) {
    this.#i32 = new Int32Array(buffer);
    this.#u8 = new Uint8Array(buffer);
    this.byteOffset = arenaOffset;
    this.arenaBytes = arenaBytes;
    this.minBlockBytes = minBlockBytes;
    this.#table = tableOffset >> 2;
    this.#ctl = controlOffset >> 2;
    this.#lockWord = lockOffset >> 2;
    this.#shift = Math.log2(minBlockBytes);
    this.#maxOrder = Math.log2(arenaBytes / minBlockBytes);
  }

  /** Internal (create()): one free block spanning the arena; `dirty` when the bytes may be non-zero. */
  initialise(dirty: boolean): void {
    const i32 = this.#i32;
    for (let o = 0; o < MAX_ORDERS; o++) i32[this.#ctl + ARENA.freeHeads + o] = -1;
    this.#pushFree(0, this.#maxOrder, dirty ? MIXED : CLEAN);
  }

  /**
   * Reserves `length` bytes (0 … arenaBytes) for `owner` (a positive int32 naming the task whose
   * bytes these are). Returns undefined when no block is free that large (expected: try later).
   * The bytes are zero unless the block last held this same owner's bytes.
   */
  alloc(length: number, owner: number): ArenaHandle | undefined {
    if (!Number.isInteger(length) || length < 0 || length > this.arenaBytes) {
      throw new BridgeError('INVALID_ARGUMENT', `allocation length ${length} not in [0, ${this.arenaBytes}]`);
    }
    if (!Number.isInteger(owner) || owner < 1 || owner > 0x7fffffff) {
      throw new BridgeError('INVALID_ARGUMENT', `owner ${owner} is not a positive int32`);
    }
    const units = Math.max(1, Math.ceil(length / this.minBlockBytes));
    const want = 32 - Math.clz32(units - 1); // order of the smallest power of two ≥ units
    const i32 = this.#i32;
    const t = this.#table;
    let idx: number;
    let blockOwner: number;
    let generation: number;
    this.#lock();
    try {
      let order = want;
      while (order <= this.#maxOrder && i32[this.#ctl + ARENA.freeHeads + order] === -1) order++;
      if (order > this.#maxOrder) return undefined;
      idx = i32[this.#ctl + ARENA.freeHeads + order]!;
      blockOwner = i32[t + idx * BLOCK_STRIDE + OWNER]!;
      this.#unlinkFree(idx, order);
      // Split down to the wanted order; the upper halves go back to the free lists.
      while (order > want) {
        order--;
        this.#pushFree(idx + (1 << order), order, blockOwner);
      }
      // Trim: keep the blocks of `units`' binary digits, free the rest of the 2^want block.
      let pos = idx;
      let need = units;
      let first = true;
      while (need > 0) {
        if (need === 1 << order) {
          this.#markUsed(pos, order, first ? KIND_HEAD : KIND_PART, owner);
          break;
        }
        order--;
        if (need > 1 << order) {
          this.#markUsed(pos, order, first ? KIND_HEAD : KIND_PART, owner);
          first = false;
          pos += 1 << order;
          need -= 1 << order;
        } else {
          this.#pushFree(pos + (1 << order), order, blockOwner);
        }
      }
      const e = t + idx * BLOCK_STRIDE;
      generation = this.#bumpGeneration(e);
      i32[e + NEXT] = length;
      const c = this.#ctl;
      i32[c + ARENA.requested] = (i32[c + ARENA.requested]! + length) | 0;
      i32[c + ARENA.reserved] = (i32[c + ARENA.reserved]! + units * this.minBlockBytes) | 0;
      i32[c + ARENA.live] = (i32[c + ARENA.live]! + 1) | 0;
      i32[c + ARENA.allocs] = (i32[c + ARENA.allocs]! + 1) | 0;
      if (blockOwner !== CLEAN && blockOwner !== owner) {
        i32[c + ARENA.zeroedBytes] = (i32[c + ARENA.zeroedBytes]! + units * this.minBlockBytes) | 0;
      }
    } finally {
      this.#unlock();
    }
    if (blockOwner !== CLEAN && blockOwner !== owner) {
      // The block is ours alone now: zero it outside the lock, 8 bytes at a time (V8 fills a
      // shared Uint8Array byte by byte, ~4x slower; blocks are 16-byte aligned).
      new Float64Array(
        this.#u8.buffer,
        this.byteOffset + (idx << this.#shift),
        (units * this.minBlockBytes) / 8,
      ).fill(0);
    }
    return { offset: idx << this.#shift, length, generation };
  }

  /** Returns the block to the arena, coalescing with free buddies. Throws STALE_HANDLE if not live. */
  free(handle: ArenaHandle): void {
    const i32 = this.#i32;
    this.#lock();
    try {
      const idx = this.#check(handle);
      const e = this.#table + idx * BLOCK_STRIDE;
      const owner = i32[e + OWNER]!;
      const units = Math.max(1, Math.ceil(handle.length / this.minBlockBytes));
      this.#bumpGeneration(e);
      let pos = idx;
      for (let order = 31 - Math.clz32(units); order >= 0; order--) {
        if ((units & (1 << order)) === 0) continue;
        this.#freeAndCoalesce(pos, order, owner);
        pos += 1 << order;
      }
      const c = this.#ctl;
      i32[c + ARENA.requested] = (i32[c + ARENA.requested]! - handle.length) | 0;
      i32[c + ARENA.reserved] = (i32[c + ARENA.reserved]! - units * this.minBlockBytes) | 0;
      i32[c + ARENA.live] = (i32[c + ARENA.live]! - 1) | 0;
    } finally {
      this.#unlock();
    }
  }

  /**
   * Zeroes every free block that may hold an earlier owner's bytes and marks it clean; returns the
   * bytes zeroed. Lazy zeroing (at allocation) keeps one task from reading another's bytes through
   * the allocator; code that can read the whole arena (an in-place kernel on the bridge's memory)
   * needs the free blocks clean too. Holds the lock while it zeroes.
   */
  scrubFree(): number {
    const i32 = this.#i32;
    const t = this.#table;
    let zeroed = 0;
    this.#lock();
    try {
      for (let order = 0; order <= this.#maxOrder; order++) {
        for (let idx = i32[this.#ctl + ARENA.freeHeads + order]!; idx !== -1; ) {
          const e = t + idx * BLOCK_STRIDE;
          if (i32[e + OWNER] !== CLEAN) {
            const bytes = (1 << order) * this.minBlockBytes;
            new Float64Array(this.#u8.buffer, this.byteOffset + (idx << this.#shift), bytes / 8).fill(0);
            i32[e + OWNER] = CLEAN;
            zeroed += bytes;
          }
          idx = i32[e + NEXT]!;
        }
      }
      const c = this.#ctl;
      i32[c + ARENA.zeroedBytes] = (i32[c + ARENA.zeroedBytes]! + zeroed) | 0;
    } finally {
      this.#unlock();
    }
    return zeroed;
  }

  /** True while `handle` names a live allocation. */
  isLive(handle: ArenaHandle): boolean {
    try {
      this.#check(handle);
      return true;
    } catch {
      return false;
    }
  }

  /** A view of the allocation's `length` bytes, where they lie (no copy). Throws STALE_HANDLE. */
  bytes(handle: ArenaHandle): Uint8Array {
    this.#check(handle);
    return new Uint8Array(this.#u8.buffer, this.byteOffset + handle.offset, handle.length);
  }

  /** The allocation's absolute byte offset in the buffer: its pointer for a WebAssembly module on that memory. */
  address(handle: ArenaHandle): number {
    this.#check(handle);
    return this.byteOffset + handle.offset;
  }

  stats(): ArenaStats {
    const i32 = this.#i32;
    const c = this.#ctl;
    let largest = 0;
    for (let o = this.#maxOrder; o >= 0; o--) {
      if (Atomics.load(i32, c + ARENA.freeHeads + o) !== -1) {
        largest = (1 << o) * this.minBlockBytes;
        break;
      }
    }
    const requestedBytes = Atomics.load(i32, c + ARENA.requested);
    const reservedBytes = Atomics.load(i32, c + ARENA.reserved);
    // Free blocks tile everything not reserved: no walk of the free lists needed.
    const free = this.arenaBytes - reservedBytes;
    return {
      arenaBytes: this.arenaBytes,
      requestedBytes,
      reservedBytes,
      freeBytes: free,
      largestFreeBlock: largest,
      liveAllocations: Atomics.load(i32, c + ARENA.live),
      totalAllocations: Atomics.load(i32, c + ARENA.allocs) >>> 0,
      zeroedBytes: Atomics.load(i32, c + ARENA.zeroedBytes) >>> 0,
      efficiency: reservedBytes === 0 ? 1 : requestedBytes / reservedBytes,
      fragmentation: free === 0 ? 0 : 1 - largest / free,
    };
  }

  /** Index of the live allocation `handle` names, or throws STALE_HANDLE. */
  #check(handle: ArenaHandle): number {
    const { offset, length, generation } = handle;
    const blocks = this.arenaBytes >> this.#shift;
    const idx = offset >> this.#shift;
    const stale = (why: string): BridgeError =>
      new BridgeError(
        'STALE_HANDLE',
        `handle {offset ${offset}, length ${length}, generation ${generation}}: ${why}`,
      );
    if (!Number.isInteger(offset) || offset < 0 || offset % this.minBlockBytes !== 0 || idx >= blocks) {
      throw stale('not a block offset of this arena');
    }
    const e = this.#table + idx * BLOCK_STRIDE;
    const i32 = this.#i32;
    if (Atomics.load(i32, e + INFO) >> KIND_SHIFT !== KIND_HEAD)
      throw stale('no live allocation starts there');
    if (Atomics.load(i32, e + GEN) >>> 0 !== generation >>> 0) throw stale('freed and reallocated since');
    if (Atomics.load(i32, e + NEXT) !== length) throw stale('length differs from the allocation');
    return idx;
  }

  #bumpGeneration(e: number): number {
    const i32 = this.#i32;
    const g = (i32[e + GEN]! + 1) >>> 0 || 1; // 0 is never a valid generation
    i32[e + GEN] = g | 0;
    return g;
  }

  #markUsed(idx: number, order: number, kind: number, owner: number): void {
    const e = this.#table + idx * BLOCK_STRIDE;
    this.#i32[e + INFO] = order | (kind << KIND_SHIFT);
    this.#i32[e + OWNER] = owner;
  }

  /** Inserts a free block in address order, so allocations take the lowest block and pack low. */
  #pushFree(idx: number, order: number, owner: number): void {
    const i32 = this.#i32;
    const t = this.#table;
    const e = t + idx * BLOCK_STRIDE;
    const headWord = this.#ctl + ARENA.freeHeads + order;
    let prev = -1;
    let next = i32[headWord]!;
    while (next !== -1 && next < idx) {
      prev = next;
      next = i32[t + next * BLOCK_STRIDE + NEXT]!;
    }
    i32[e + INFO] = order | (KIND_FREE << KIND_SHIFT);
    i32[e + NEXT] = next;
    i32[e + PREV] = prev;
    i32[e + OWNER] = owner;
    if (next !== -1) i32[t + next * BLOCK_STRIDE + PREV] = idx;
    if (prev === -1) i32[headWord] = idx;
    else i32[t + prev * BLOCK_STRIDE + NEXT] = idx;
  }

  #unlinkFree(idx: number, order: number): void {
    const i32 = this.#i32;
    const e = this.#table + idx * BLOCK_STRIDE;
    const next = i32[e + NEXT]!;
    const prev = i32[e + PREV]!;
    if (prev === -1) i32[this.#ctl + ARENA.freeHeads + order] = next;
    else i32[this.#table + prev * BLOCK_STRIDE + NEXT] = next;
    if (next !== -1) i32[this.#table + next * BLOCK_STRIDE + PREV] = prev;
    i32[e + INFO] = KIND_NONE;
  }

  #freeAndCoalesce(idx: number, order: number, owner: number): void {
    const i32 = this.#i32;
    i32[this.#table + idx * BLOCK_STRIDE + INFO] = KIND_NONE;
    while (order < this.#maxOrder) {
      const buddy = idx ^ (1 << order);
      const b = this.#table + buddy * BLOCK_STRIDE;
      if (i32[b + INFO] !== (order | (KIND_FREE << KIND_SHIFT))) break;
      const other = i32[b + OWNER]!;
      owner = owner === other || other === CLEAN ? owner : owner === CLEAN ? other : MIXED;
      this.#unlinkFree(buddy, order);
      idx = Math.min(idx, buddy);
      order++;
    }
    this.#pushFree(idx, order, owner);
  }

  // A three-state lock word (0 free, 1 held, 2 held with sleepers), after Drepper's "Futexes Are
  // Tricky". Threads that cannot block (a browser main thread) spin; critical sections are short.
  #lock(): void {
    const i32 = this.#i32;
    const w = this.#lockWord;
    for (let i = 0; i < SPIN; i++) {
      if (Atomics.compareExchange(i32, w, 0, 1) === 0) return;
    }
    const block = canBlock();
    let c = Atomics.exchange(i32, w, 2);
    while (c !== 0) {
      if (block) Atomics.wait(i32, w, 2, 10);
      c = Atomics.exchange(i32, w, 2);
    }
  }

  #unlock(): void {
    const i32 = this.#i32;
    const w = this.#lockWord;
    // Release: everything written under the lock is visible to the next holder.
    if (Atomics.sub(i32, w, 1) !== 1) {
      Atomics.store(i32, w, 0);
      Atomics.notify(i32, w, 1);
    }
  }
}
