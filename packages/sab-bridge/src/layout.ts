/**
 * The one definition of the bridge's byte layout. Every offset is relative to the bridge's
 * `byteOffset` in its SharedArrayBuffer (a multiple of 64, so a WebAssembly.Memory can hold the
 * bridge after the module's own data). All words are little-endian Int32/Uint32.
 *
 * ```
 *  +0     ┌─────────────────────────────────────────────────────────────┐
 *         │ magic "FLKB" │ version │ totalBytes │ inboxBytes │ outboxBytes│  immutable after
 *         │ arenaBytes │ minBlockBytes │ checksum (FNV-1a of the 7 words) │  create(), 32 B
 *  +32    │ state flags │ alloc lock │ cancel job id │ cancel count       │  32 B
 *  +64    │ inbox  producer line: tail │ dataEpoch │ spaceWaiting        │  64 B each line,
 *  +128   │ inbox  consumer line: head │ spaceEpoch │ dataWaiting        │  so the two sides
 *  +192   │ outbox producer line: tail │ dataEpoch │ spaceWaiting        │  never write the
 *  +256   │ outbox consumer line: head │ spaceEpoch │ dataWaiting        │  same cache line
 *  +320   │ arena control: free-list heads [32] │ requested │ reserved │ │  192 B
 *         │   live │ allocs │ zeroed bytes                             │
 *  +512   │ inbox data   (inboxBytes, power of two)                      │  records: u32 length,
 *         │ guard 64 B (canary 0xA5)                                     │  payload, pad to 4
 *         │ outbox data  (outboxBytes, power of two)                     │
 *         │ guard 64 B                                                   │
 *         │ block table: 5 × i32 per min block                           │  gen, info,
 *         │   (generation, order|kind, next|length, prev, owner)         │  see arena.ts
 *         │ padding to a 4096-byte boundary                              │
 *  arena  │ arena (arenaBytes, power of two; buddy blocks ≥ minBlockBytes)│
 *         │ guard 64 B                                                   │
 *  total  └─────────────────────────────────────────────────────────────┘
 * ```
 */
import { BridgeError } from './bridge-error.ts';

/** The header's first word: "FLKB" read as a little-endian u32. */
export const MAGIC = 0x424b4c46;
/** Layout version in the header's second word; attach() refuses any other (BAD_VERSION). */
export const VERSION = 1;
export const HEADER_BYTES = 512;
export const GUARD_BYTES = 64;
export const GUARD_BYTE = 0xa5;
export const ARENA_ALIGN = 4096;
/** Int32 words per block-table entry. */
export const BLOCK_STRIDE = 5;
export const MAX_ORDERS = 32;

/** Byte offsets of header words (divide by 4 for Int32Array indexes). */
export const H = {
  magic: 0,
  version: 4,
  totalBytes: 8,
  inboxBytes: 12,
  outboxBytes: 16,
  arenaBytes: 20,
  minBlockBytes: 24,
  checksum: 28,
  state: 32,
  allocLock: 36,
  cancelJob: 40,
  cancelCount: 44,
  inboxControl: 64,
  outboxControl: 192,
  arenaControl: 320,
} as const;

/** Word offsets inside a ring's 128-byte control block (in Int32 words). */
export const RING = {
  tail: 0, // producer line
  dataEpoch: 1,
  spaceWaiting: 2,
  head: 16, // consumer line, 64 bytes further
  spaceEpoch: 17,
  dataWaiting: 18,
} as const;

/** Word offsets inside the arena control block (in Int32 words). */
export const ARENA = {
  freeHeads: 0, // MAX_ORDERS words
  requested: 32,
  reserved: 33,
  live: 34,
  allocs: 35,
  zeroedBytes: 36,
} as const;

/** State flag bits (the `state` header word). */
export const STATE = { ready: 1, closed: 2 } as const;

/** Sizes of a bridge, all in bytes. */
export interface BridgeConfig {
  /** Inbox ring data bytes (main → executor), a power of two, 64 B … 1 GiB. */
  inboxBytes: number;
  /** Outbox ring data bytes (executor → main), a power of two, 64 B … 1 GiB. */
  outboxBytes: number;
  /** Arena bytes, a power of two, ≥ minBlockBytes, ≤ 1 GiB. */
  arenaBytes: number;
  /** Smallest arena block, a power of two ≥ 16. Default 256. */
  minBlockBytes?: number;
}

/** Where each region lies, in bytes from the bridge's start (sizes as configured, in bytes). */
export interface Layout {
  inboxBytes: number;
  outboxBytes: number;
  arenaBytes: number;
  minBlockBytes: number;
  inboxData: number;
  inboxGuard: number;
  outboxData: number;
  outboxGuard: number;
  blockTable: number;
  blockCount: number;
  arena: number;
  arenaGuard: number;
  totalBytes: number;
}

export const DEFAULT_MIN_BLOCK = 256;
const MAX_REGION = 2 ** 30;

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** Computes the layout of `config`, or throws INVALID_CONFIG. */
export function layoutFor(config: BridgeConfig): Layout {
  const minBlockBytes = config.minBlockBytes ?? DEFAULT_MIN_BLOCK;
  const check = (name: string, v: number, min: number): void => {
    if (!isPow2(v) || v < min || v > MAX_REGION) {
      throw new BridgeError('INVALID_CONFIG', `${name} must be a power of two in [${min}, 2^30], got ${v}`);
    }
  };
  check('inboxBytes', config.inboxBytes, 64);
  check('outboxBytes', config.outboxBytes, 64);
  check('minBlockBytes', minBlockBytes, 16);
  check('arenaBytes', config.arenaBytes, minBlockBytes);
  const inboxData = HEADER_BYTES;
  const inboxGuard = inboxData + config.inboxBytes;
  const outboxData = inboxGuard + GUARD_BYTES;
  const outboxGuard = outboxData + config.outboxBytes;
  const blockTable = outboxGuard + GUARD_BYTES;
  const blockCount = config.arenaBytes / minBlockBytes;
  const arena = Math.ceil((blockTable + blockCount * BLOCK_STRIDE * 4) / ARENA_ALIGN) * ARENA_ALIGN;
  const arenaGuard = arena + config.arenaBytes;
  const totalBytes = arenaGuard + GUARD_BYTES;
  if (totalBytes > 2 ** 32 - 64)
    throw new BridgeError('INVALID_CONFIG', `layout of ${totalBytes} bytes is over 4 GiB`);
  return {
    inboxBytes: config.inboxBytes,
    outboxBytes: config.outboxBytes,
    arenaBytes: config.arenaBytes,
    minBlockBytes,
    inboxData,
    inboxGuard,
    outboxData,
    outboxGuard,
    blockTable,
    blockCount,
    arena,
    arenaGuard,
    totalBytes,
  };
}

/** FNV-1a over the first seven header words: detects a header overwritten after create(). */
export function headerChecksum(words: ArrayLike<number>): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < 7; i++) {
    const w = words[i]! >>> 0;
    for (let b = 0; b < 32; b += 8) {
      h ^= (w >>> b) & 0xff;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  }
  return h >>> 0;
}
