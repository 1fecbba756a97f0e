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

function kindIndex(kind: string | undefined): number {
  switch (kind) {
    case undefined:
    case 'job':
      return 0;
    case 'result':
      return 1;
    case 'failure':
      return 2;
    case 'progress':
      return 3;
    case 'cancel':
      return 4;
    default:
      return -1;
  }
}

function isRecordKey(k: string): boolean {
  switch (k) {
    case 'kind':
    case 'job_id':
    case 'task_id':
    case 'slices':
    case 'code':
    case 'message':
    case 'retryable':
    case 'pct':
    case 'params':
      return true;
    default:
      return false;
  }
}

function isSliceKey(k: string): boolean {
  return k === 'name' || k === 'offset' || k === 'length' || k === 'generation';
}

const isU32 = (v: unknown): boolean =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

/** Absent, or a string of ASCII characters only (UTF-8 stays with the protocol codec). */
function isAsciiText(v: unknown): boolean {
  if (v === undefined) return true;
  if (typeof v !== 'string') return false;
  for (let i = 0; i < v.length; i++) if (v.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Words of a text blob: bytes plus its NUL, padded to 8; 0 for '' and absent (a null pointer). */
const textWords = (s: string | undefined): number => (s ? (s.length + 8) >> 3 : 0);

/** True when the fast path can encode `r` exactly as the protocol codec would. */
function plain(r: BridgeRecord): boolean {
  for (const k in r) if (!isRecordKey(k)) return false;
  if (kindIndex(r.kind) < 0) return false;
  if (r.job_id !== undefined && !isU32(r.job_id)) return false;
  if (r.pct !== undefined && (typeof r.pct !== 'number' || !Number.isFinite(r.pct))) return false;
  if (r.retryable !== undefined && typeof r.retryable !== 'boolean') return false;
  if (!isAsciiText(r.task_id) || !isAsciiText(r.code) || !isAsciiText(r.message) || !isAsciiText(r.params)) {
    return false;
  }
  const slices = r.slices;
  if (slices !== undefined) {
    if (!Array.isArray(slices)) return false;
    for (let i = 0; i < slices.length; i++) {
      const sl = slices[i];
      if (typeof sl !== 'object' || sl === null) return false;
      for (const k in sl) if (!isSliceKey(k)) return false;
      if (!isAsciiText(sl.name)) return false;
      if (sl.offset !== undefined && !isU32(sl.offset)) return false;
      if (sl.length !== undefined && !isU32(sl.length)) return false;
      if (sl.generation !== undefined && !isU32(sl.generation)) return false;
    }
  }
  return true;
}

// Encoder state: one scratch buffer per thread, reused; `next` is the next free segment word.
let scratch = new ArrayBuffer(1024);
let su8 = new Uint8Array(scratch);
let sdv = new DataView(scratch);
let next = 0;

/** Byte offset of segment word `w` (the segment follows the 8-byte segment table). */
const at = (w: number): number => 8 + w * 8;

function putText(ptrWord: number, s: string | undefined): void {
  if (!s) return; // '' and absent both decode as absent
  sdv.setUint32(at(ptrWord), ((next - ptrWord - 1) << 2) | 1, true);
  sdv.setUint32(at(ptrWord) + 4, 2 | ((s.length + 1) << 3), true); // byte list incl. NUL
  const o = at(next);
  for (let i = 0; i < s.length; i++) su8[o + i] = s.charCodeAt(i);
  next += textWords(s);
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
  words +=
    textWords(record.task_id) + textWords(record.code) + textWords(record.message) + textWords(record.params);
  if (slices) {
    words += 1 + slices.length * 3;
    for (let i = 0; i < slices.length; i++) words += textWords(slices[i]!.name);
  }
  const bytes = 8 + words * 8;
  if (scratch.byteLength < bytes) {
    scratch = new ArrayBuffer(Math.max(bytes, scratch.byteLength * 2));
    su8 = new Uint8Array(scratch);
    sdv = new DataView(scratch);
  }
  su8.fill(0, 0, bytes);
  sdv.setUint32(4, words, true); // segment table: 1 segment of `words` words
  sdv.setUint32(at(0) + 4, 2 | (5 << 16), true); // root: struct at offset 0, 2 data words, 5 pointers
  sdv.setUint16(at(1), kindIndex(record.kind), true);
  if (record.retryable) su8[at(1) + 2] = 1;
  if (record.job_id) sdv.setUint32(at(1) + 4, record.job_id, true);
  if (record.pct) sdv.setFloat32(at(2), record.pct, true);
  next = 8;
  putText(3 + 0, record.task_id);
  if (slices) {
    const ptr = 3 + 1;
    sdv.setUint32(at(ptr), ((next - ptr - 1) << 2) | 1, true);
    sdv.setUint32(at(ptr) + 4, 7 | ((slices.length * 3) << 3), true); // composite list
    sdv.setUint32(at(next), slices.length << 2, true); // tag: element count, 2 data words, 1 pointer
    sdv.setUint32(at(next) + 4, 2 | (1 << 16), true);
    const first = next + 1;
    next = first + slices.length * 3;
    for (let i = 0; i < slices.length; i++) {
      const sl: ArenaSlice = slices[i]!;
      const e = first + i * 3;
      if (sl.offset) sdv.setUint32(at(e), sl.offset, true);
      if (sl.length) sdv.setUint32(at(e) + 4, sl.length, true);
      if (sl.generation) sdv.setUint32(at(e) + 8, sl.generation, true);
      putText(e + 2, sl.name);
    }
  }
  putText(3 + 2, record.code);
  putText(3 + 3, record.message);
  putText(3 + 4, record.params);
  return su8.subarray(0, bytes);
}

/** Encodes `record` (a fresh copy of encodeBridgeRecordScratch's bytes). */
export function encodeBridgeRecord(record: BridgeRecord): Uint8Array {
  return encodeBridgeRecordScratch(record).slice();
}

// Decoder state for the message being read; any surprise throws FALLBACK.
const FALLBACK = new Error('not the plain BridgeRecord layout');
let dv: DataView = new DataView(new ArrayBuffer(8));
let u8: Uint8Array = new Uint8Array(0);
let segWords = 0;

function inSegment(from: number, n: number): void {
  if (from < 0 || n < 0 || from + n > segWords) throw FALLBACK;
}

const lo = (w: number): number => dv.getInt32(at(w), true);
const hi = (w: number): number => dv.getUint32(at(w) + 4, true);

/** The text a pointer at word `p` names, or undefined for a null pointer or ''. */
function readText(p: number): string | undefined {
  const l = lo(p);
  const h = hi(p);
  if (l === 0 && h === 0) return undefined;
  if ((l & 3) !== 1 || (h & 7) !== 2) throw FALLBACK;
  const count = h >>> 3;
  const start = p + 1 + (l >> 2);
  inSegment(start, (count + 7) >> 3);
  const o = at(start);
  if (count === 0 || u8[o + count - 1] !== 0) throw FALLBACK;
  let s = '';
  for (let i = 0; i < count - 1; i++) {
    const c = u8[o + i]!;
    if (c > 0x7f) throw FALLBACK; // UTF-8 decoding stays with the protocol codec
    s += String.fromCharCode(c);
  }
  return s === '' ? undefined : s;
}

function readSlices(sp: number): ArenaSlice[] {
  const l = lo(sp);
  const h = hi(sp);
  if ((l & 3) !== 1 || (h & 7) !== 7) throw FALLBACK;
  const tag = sp + 1 + (l >> 2);
  inSegment(tag, 1 + (h >>> 3));
  const tagLo = lo(tag);
  const tagHi = hi(tag);
  if ((tagLo & 3) !== 0 || tagLo < 0) throw FALLBACK;
  const n = tagLo >> 2;
  const ed = tagHi & 0xffff;
  const ep = tagHi >>> 16;
  // Zero-sized elements would let a short message claim millions of slices: leave those to the
  // protocol codec and its traversal limit.
  if (n * (ed + ep) !== h >>> 3 || (n > 0 && ed + ep === 0)) throw FALLBACK;
  const out: ArenaSlice[] = [];
  for (let i = 0; i < n; i++) {
    const e = tag + 1 + i * (ed + ep);
    const sl: ArenaSlice = {};
    if (ep >= 1) {
      const name = readText(e + ed);
      if (name !== undefined) sl.name = name;
    }
    const eb = ed * 8;
    const offset = eb >= 4 ? dv.getUint32(at(e), true) : 0;
    const length = eb >= 8 ? dv.getUint32(at(e) + 4, true) : 0;
    const generation = eb >= 12 ? dv.getUint32(at(e) + 8, true) : 0;
    if (offset) sl.offset = offset;
    if (length) sl.length = length;
    if (generation) sl.generation = generation;
    out.push(sl);
  }
  return out;
}

function fastDecode(bytes: Uint8Array): BridgeRecord {
  if (bytes.length < 16 || (bytes.length & 7) !== 0) throw FALLBACK;
  dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  u8 = bytes;
  if (dv.getUint32(0, true) !== 0) throw FALLBACK; // more than one segment
  segWords = dv.getUint32(4, true);
  if (8 + segWords * 8 !== bytes.length) throw FALLBACK;
  const rl = lo(0);
  const rh = hi(0);
  if ((rl & 3) !== 0) throw FALLBACK;
  const root = 1 + (rl >> 2);
  const dWords = rh & 0xffff;
  const nPtrs = rh >>> 16;
  inSegment(root, dWords + nPtrs);
  const dBytes = dWords * 8;
  const kind = KINDS[dBytes >= 2 ? dv.getUint16(at(root), true) : 0];
  if (kind === undefined) throw FALLBACK;
  const out: BridgeRecord = { kind };
  const job = dBytes >= 8 ? dv.getUint32(at(root) + 4, true) : 0;
  if (job) out.job_id = job;
  const p0 = root + dWords;
  const taskId = nPtrs > 0 ? readText(p0) : undefined;
  if (taskId !== undefined) out.task_id = taskId;
  if (nPtrs > 1 && (lo(p0 + 1) !== 0 || hi(p0 + 1) !== 0)) out.slices = readSlices(p0 + 1);
  const code = nPtrs > 2 ? readText(p0 + 2) : undefined;
  if (code !== undefined) out.code = code;
  const message = nPtrs > 3 ? readText(p0 + 3) : undefined;
  if (message !== undefined) out.message = message;
  if (dBytes >= 3 && (bytes[at(root) + 2]! & 1) !== 0) out.retryable = true;
  const pct = dBytes >= 12 ? dv.getFloat32(at(root) + 8, true) : 0;
  if (pct !== 0) out.pct = pct;
  const params = nPtrs > 4 ? readText(p0 + 4) : undefined;
  if (params !== undefined) out.params = params;
  return out;
}

/** Decodes a BridgeRecord; the same result and the same errors as decodeMessage('BridgeRecord', …). */
export function decodeBridgeRecord(bytes: Uint8Array): BridgeRecord {
  try {
    return fastDecode(bytes);
  } catch (e) {
    if (e !== FALLBACK) throw e;
    return decodeMessage('BridgeRecord', bytes);
  } finally {
    u8 = EMPTY; // do not keep the caller's buffer alive
  }
}

const EMPTY: Uint8Array = new Uint8Array(0);
