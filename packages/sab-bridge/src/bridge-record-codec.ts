// A direct Cap'n Proto codec for the one message the rings carry, BridgeRecord. The protocol's
// generic codec costs ~40 µs to encode and ~75 µs to decode one record here, more than a ring
// round trip; this one writes and reads the struct words itself. Anything outside the plain
// layout (multi-segment or far pointers, non-ASCII text, bad values) goes to the protocol's
// encodeMessage/decodeMessage, so errors and edge cases behave exactly as there.
// test/record-codec.test.ts ties both ways to the protocol codec on random records.
//
// BridgeRecord (bus.capnp): 2 data words, 5 pointers.
//   data byte 0: kind (u16) · bit 16: retryable · byte 4: jobId (u32) · byte 8: pct (f32)
//   pointers: 0 taskId · 1 slices (List(ArenaSlice)) · 2 code · 3 message · 4 params
// ArenaSlice: 2 data words, 1 pointer: byte 0 offset · 4 length · 8 generation (u32); pointer 0 name.
import { type ArenaSlice, type BridgeRecord, decodeMessage, encodeMessage } from '@flock/protocol';

const KINDS = ['job', 'result', 'failure', 'progress', 'cancel'] as const;
const KIND_INDEX: Record<string, number> = { job: 0, result: 1, failure: 2, progress: 3, cancel: 4 };
const RECORD_KEYS = new Set([
  'kind',
  'job_id',
  'task_id',
  'slices',
  'code',
  'message',
  'retryable',
  'pct',
  'params',
]);
const SLICE_KEYS = new Set(['name', 'offset', 'length', 'generation']);
const TEXT_PTRS: [keyof BridgeRecord, number][] = [
  ['task_id', 0],
  ['code', 2],
  ['message', 3],
  ['params', 4],
];

let scratch = new ArrayBuffer(1024);

const isU32 = (v: unknown): boolean =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
const isText = (v: unknown): boolean => v === undefined || typeof v === 'string';

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Words of a text blob: bytes plus its NUL, padded to 8. */
const textWords = (s: string | undefined): number => (s ? (s.length + 8) >> 3 : 0);

/** True when the fast path can encode `r` exactly as the protocol codec would. */
function plain(r: BridgeRecord): boolean {
  for (const k in r) if (!RECORD_KEYS.has(k)) return false;
  if (r.kind !== undefined && KIND_INDEX[r.kind] === undefined) return false;
  if (r.job_id !== undefined && !isU32(r.job_id)) return false;
  if (r.pct !== undefined && (typeof r.pct !== 'number' || !Number.isFinite(r.pct))) return false;
  if (r.retryable !== undefined && typeof r.retryable !== 'boolean') return false;
  for (const [k] of TEXT_PTRS) {
    const v = r[k];
    if (!isText(v) || (v && !isAscii(v as string))) return false;
  }
  if (r.slices !== undefined) {
    if (!Array.isArray(r.slices)) return false;
    for (const s of r.slices) {
      if (typeof s !== 'object' || s === null) return false;
      for (const k in s) if (!SLICE_KEYS.has(k)) return false;
      if (!isText(s.name) || (s.name && !isAscii(s.name))) return false;
      for (const v of [s.offset, s.length, s.generation]) if (v !== undefined && !isU32(v)) return false;
    }
  }
  return true;
}

/**
 * Encodes `record` as a single-segment Cap'n Proto message into a reused scratch buffer and
 * returns a view of it, valid until the next call (push it, or copy it). Same errors as the
 * protocol's encodeMessage('BridgeRecord', …).
 */
export function encodeBridgeRecordScratch(record: BridgeRecord): Uint8Array {
  if (!plain(record)) return encodeMessage('BridgeRecord', record);
  const slices = record.slices;
  let words = 1 + 7; // root pointer + struct
  for (const [k] of TEXT_PTRS) words += textWords(record[k] as string | undefined);
  if (slices) {
    words += 1 + slices.length * 3;
    for (const s of slices) words += textWords(s.name);
  }
  const bytes = 8 + words * 8;
  if (scratch.byteLength < bytes) scratch = new ArrayBuffer(Math.max(bytes, scratch.byteLength * 2));
  const u8 = new Uint8Array(scratch, 0, bytes);
  u8.fill(0);
  const dv = new DataView(scratch, 0, bytes);
  const W = (w: number): number => 8 + w * 8; // byte offset of segment word w
  dv.setUint32(4, words, true); // segment table: 1 segment of `words` words
  dv.setUint32(W(0) + 4, 2 | (5 << 16), true); // root: struct at offset 0, 2 data words, 5 pointers
  dv.setUint16(W(1), KIND_INDEX[record.kind ?? 'job']!, true);
  if (record.retryable) u8[W(1) + 2] = 1;
  if (record.job_id) dv.setUint32(W(1) + 4, record.job_id, true);
  if (record.pct) dv.setFloat32(W(2), record.pct, true);
  let next = 8; // next free word
  const text = (ptrWord: number, s: string | undefined): void => {
    if (!s) return; // '' and absent both decode as absent
    dv.setUint32(W(ptrWord), ((next - ptrWord - 1) << 2) | 1, true);
    dv.setUint32(W(ptrWord) + 4, 2 | ((s.length + 1) << 3), true); // byte list incl. NUL
    const at = W(next);
    for (let i = 0; i < s.length; i++) u8[at + i] = s.charCodeAt(i);
    next += textWords(s);
  };
  text(3 + 0, record.task_id);
  if (slices) {
    const ptr = 3 + 1;
    dv.setUint32(W(ptr), ((next - ptr - 1) << 2) | 1, true);
    dv.setUint32(W(ptr) + 4, 7 | ((slices.length * 3) << 3), true); // composite list
    dv.setUint32(W(next), slices.length << 2, true); // tag: element count, 2 data words, 1 pointer
    dv.setUint32(W(next) + 4, 2 | (1 << 16), true);
    const first = next + 1;
    next = first + slices.length * 3;
    slices.forEach((s: ArenaSlice, i: number) => {
      const e = first + i * 3;
      if (s.offset) dv.setUint32(W(e), s.offset, true);
      if (s.length) dv.setUint32(W(e) + 4, s.length, true);
      if (s.generation) dv.setUint32(W(e) + 8, s.generation, true);
      text(e + 2, s.name);
    });
  }
  text(3 + 2, record.code);
  text(3 + 3, record.message);
  text(3 + 4, record.params);
  return u8;
}

/** Encodes `record` (a fresh copy of encodeBridgeRecordScratch's bytes). */
export function encodeBridgeRecord(record: BridgeRecord): Uint8Array {
  return encodeBridgeRecordScratch(record).slice();
}

class Fallback extends Error {}
const fallback = new Fallback();

/** Decodes a BridgeRecord; the same result and the same errors as decodeMessage('BridgeRecord', …). */
export function decodeBridgeRecord(bytes: Uint8Array): BridgeRecord {
  try {
    return fastDecode(bytes);
  } catch (e) {
    if (e !== fallback) throw e;
    return decodeMessage('BridgeRecord', bytes);
  }
}

function fastDecode(bytes: Uint8Array): BridgeRecord {
  if (bytes.length < 16 || (bytes.length & 7) !== 0) throw fallback;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  if (dv.getUint32(0, true) !== 0) throw fallback; // more than one segment
  const segWords = dv.getUint32(4, true);
  if (8 + segWords * 8 !== bytes.length) throw fallback;
  const W = (w: number): number => 8 + w * 8;
  const inSeg = (from: number, n: number): void => {
    if (from < 0 || n < 0 || from + n > segWords) throw fallback;
  };
  /** A struct pointer at word p: [start word, data words, pointer count], or undefined when null. */
  const struct = (p: number): [number, number, number] => {
    const lo = dv.getInt32(W(p), true);
    const hi = dv.getUint32(W(p) + 4, true);
    if ((lo & 3) !== 0) throw fallback;
    const start = p + 1 + (lo >> 2);
    const d = hi & 0xffff;
    const n = hi >>> 16;
    inSeg(start, d + n);
    return [start, d, n];
  };
  const text = (p: number): string | undefined => {
    const lo = dv.getInt32(W(p), true);
    const hi = dv.getUint32(W(p) + 4, true);
    if (lo === 0 && hi === 0) return undefined;
    if ((lo & 3) !== 1 || (hi & 7) !== 2) throw fallback;
    const count = hi >>> 3;
    const start = p + 1 + (lo >> 2);
    inSeg(start, (count + 7) >> 3);
    if (count === 0 || bytes[W(start) + count - 1] !== 0) throw fallback;
    let s = '';
    for (let i = 0; i < count - 1; i++) {
      const c = bytes[W(start) + i]!;
      if (c > 0x7f) throw fallback; // UTF-8 decoding stays with the protocol codec
      s += String.fromCharCode(c);
    }
    return s === '' ? undefined : s;
  };
  const [root, dWords, nPtrs] = struct(0);
  const dBytes = dWords * 8;
  const out: BridgeRecord = {};
  const kind = KINDS[dBytes >= 2 ? dv.getUint16(W(root), true) : 0];
  if (kind === undefined) throw fallback;
  out.kind = kind;
  if (dBytes >= 8) {
    const job = dv.getUint32(W(root) + 4, true);
    if (job) out.job_id = job;
  }
  const ptr = (i: number): number => (i < nPtrs ? root + dWords + i : -1);
  const setText = (key: 'task_id' | 'code' | 'message' | 'params', i: number): void => {
    const p = ptr(i);
    const v = p < 0 ? undefined : text(p);
    if (v !== undefined) out[key] = v;
  };
  setText('task_id', 0);
  const sp = ptr(1);
  if (sp >= 0 && (dv.getInt32(W(sp), true) !== 0 || dv.getUint32(W(sp) + 4, true) !== 0)) {
    const lo = dv.getInt32(W(sp), true);
    const hi = dv.getUint32(W(sp) + 4, true);
    if ((lo & 3) !== 1 || (hi & 7) !== 7) throw fallback;
    const tag = sp + 1 + (lo >> 2);
    inSeg(tag, 1 + (hi >>> 3));
    const tagLo = dv.getInt32(W(tag), true);
    const tagHi = dv.getUint32(W(tag) + 4, true);
    if ((tagLo & 3) !== 0 || tagLo < 0) throw fallback;
    const n = tagLo >> 2;
    const ed = tagHi & 0xffff;
    const ep = tagHi >>> 16;
    // Zero-sized elements would let a short message claim millions of slices: leave those to the
    // protocol codec and its traversal limit.
    if (n * (ed + ep) !== hi >>> 3 || (n > 0 && ed + ep === 0)) throw fallback;
    const slices: ArenaSlice[] = [];
    for (let i = 0; i < n; i++) {
      const e = tag + 1 + i * (ed + ep);
      const s: ArenaSlice = {};
      const eBytes = ed * 8;
      if (ep >= 1) {
        const name = text(e + ed);
        if (name !== undefined) s.name = name;
      }
      if (eBytes >= 4 && dv.getUint32(W(e), true)) s.offset = dv.getUint32(W(e), true);
      if (eBytes >= 8 && dv.getUint32(W(e) + 4, true)) s.length = dv.getUint32(W(e) + 4, true);
      if (eBytes >= 12 && dv.getUint32(W(e) + 8, true)) s.generation = dv.getUint32(W(e) + 8, true);
      slices.push(s);
    }
    out.slices = slices;
  }
  setText('code', 2);
  setText('message', 3);
  if (dBytes >= 3 && (bytes[W(root) + 2]! & 1) !== 0) out.retryable = true;
  if (dBytes >= 12) {
    const pct = dv.getFloat32(W(root) + 8, true);
    if (pct !== 0) out.pct = pct;
  }
  setText('params', 4);
  return out;
}
