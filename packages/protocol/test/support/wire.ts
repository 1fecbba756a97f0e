// Byte-level surgery on single-segment Cap'n Proto messages, for crafting hostile frames:
// find a list pointer, rewrite its element size and count, alias pointers, patch the segment
// table. Layout per the Cap'n Proto encoding spec (capnproto.org/encoding.html).

/** List pointer element sizes (the C field of a list pointer). */
export const ELEMENT_SIZE = {
  void: 0,
  bit: 1,
  byte: 2,
  twoBytes: 3,
  fourBytes: 4,
  eightBytes: 5,
  pointer: 6,
  composite: 7,
} as const;

/** The largest element count a list pointer can state (29 bits). */
export const MAX_LIST_COUNT = 2 ** 29 - 1;

const SEGMENT_START = 8; // single segment: 4-byte count + 4-byte size

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function segmentCountOf(bytes: Uint8Array): number {
  return view(bytes).getUint32(0, true) + 1;
}

/** Byte offsets of every list pointer with this element size and count. */
export function findListPointers(bytes: Uint8Array, elementSize: number, count: number): number[] {
  if (segmentCountOf(bytes) !== 1) throw new Error('findListPointers handles single-segment messages');
  const v = view(bytes);
  const hits: number[] = [];
  for (let at = SEGMENT_START; at + 8 <= bytes.length; at += 8) {
    const lo = v.getUint32(at, true);
    const hi = v.getUint32(at + 4, true);
    if ((lo & 3) === 1 && (hi & 7) === elementSize && hi >>> 3 === count) hits.push(at);
  }
  return hits;
}

/** The one list pointer with this element size and count; throws unless exactly one. */
export function findListPointer(bytes: Uint8Array, elementSize: number, count: number): number {
  const hits = findListPointers(bytes, elementSize, count);
  if (hits.length !== 1)
    throw new Error(`expected one list pointer (${elementSize}, ${count}), found ${hits.length}`);
  return hits[0]!;
}

/** A copy with the list pointer at `at` rewritten to claim `count` elements of `elementSize`. */
export function withListPointer(
  bytes: Uint8Array,
  at: number,
  elementSize: number,
  count: number,
): Uint8Array {
  const out = bytes.slice();
  view(out).setUint32(at + 4, ((count << 3) | elementSize) >>> 0, true);
  return out;
}

/** Where the pointer at `at` points (byte offset of its target). */
export function pointerTarget(bytes: Uint8Array, at: number): number {
  return at + 8 + (view(bytes).getInt32(at, true) >> 2) * 8;
}

/**
 * Makes every element of the pointer list at `listAt` point at element 0's target: one text
 * read many times (the "aliasing" amplification Cap'n Proto's traversal limit exists for).
 */
export function aliasPointerList(bytes: Uint8Array, listAt: number, count: number): Uint8Array {
  const out = bytes.slice();
  const v = view(out);
  const first = pointerTarget(out, listAt);
  const target = pointerTarget(out, first);
  for (let i = 1; i < count; i++) {
    const at = first + 8 * i;
    v.setInt32(at, (((target - at - 8) / 8) << 2) | (v.getUint32(first, true) & 3), true);
    v.setUint32(at + 4, v.getUint32(first + 4, true), true);
  }
  return out;
}

/** The first `length` bytes (a multiple of 8) with the segment table patched to match. */
export function truncateSegment(bytes: Uint8Array, length: number): Uint8Array {
  const out = bytes.slice(0, length);
  view(out).setUint32(4, (length - SEGMENT_START) / 8, true);
  return out;
}

/**
 * A copy in which the composite (struct) list at `at` claims `count` elements of zero size: no
 * content words at all, so the claim is free to make. Cap'n Proto's C++ reader charges each such
 * element a word of traversal for this reason.
 */
export function withZeroSizeStructList(bytes: Uint8Array, at: number, count: number): Uint8Array {
  const out = bytes.slice();
  const v = view(out);
  if ((v.getUint32(at + 4, true) & 7) !== ELEMENT_SIZE.composite) throw new Error('not a composite list');
  const tag = pointerTarget(out, at);
  v.setUint32(at + 4, ELEMENT_SIZE.composite, true); // zero content words
  v.setUint32(tag, (count << 2) >>> 0, true); // the tag's offset field holds the element count
  v.setUint32(tag + 4, 0, true); // 0 data words, 0 pointers per element
  return out;
}
