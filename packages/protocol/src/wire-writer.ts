// The direct codec's writer: one message into a single Cap'n Proto segment, words written in
// place (see wire-codec.ts).
import { ENUMS, type JsonObject } from './generated/model.ts';
import type { DecodeLimits } from './limits.ts';
import { ProtocolError } from './protocol-error.ts';
import { stringifyJsonObject } from './safe-json.ts';
import {
  BITS_PER_ELEMENT,
  ELEMENT,
  elementSizeOf,
  encoder,
  FLOAT32_MAX,
  FORBIDDEN_MAP_KEYS,
  INT_RANGE,
  join,
  KEY_VALUE,
  layout,
  type Obj,
  type StructName,
  TWO_32,
  utf8Bytes,
  type WireField,
  type WireType,
  wrongType,
} from './wire-layout.ts';

/** Texts up to this many bytes are written by hand when ASCII. */
const SHORT_TEXT = 64;
/** The buffer messages are written into (8 bytes of segment table, then the segment). */
const SCRATCH = new Uint8Array(8 + 64 * 1024);
const SCRATCH_VIEW = new DataView(SCRATCH.buffer);
let scratchInUse = false;

/** INT_RANGE by kind and width, looked up without making its key (`uint32`) per value written. */
const INT_RANGES: Record<string, Record<number, readonly [number, number]>> = {
  int: { 8: INT_RANGE.int8!, 16: INT_RANGE.int16!, 32: INT_RANGE.int32! },
  uint: { 8: INT_RANGE.uint8!, 16: INT_RANGE.uint16!, 32: INT_RANGE.uint32! },
  i64: { 64: INT_RANGE.i64! },
  u64: { 64: INT_RANGE.u64! },
};
const intRange = (kind: string, bits: number): readonly [number, number] => INT_RANGES[kind]![bits]!;

/** Encodes one message into a single segment; offsets are bytes from the segment's start. */
class Writer {
  private buf: Uint8Array;
  private view: DataView;
  /** Bytes used in the segment. */
  private used = 0;
  private readonly limits: DecodeLimits;

  /** Whether `buf` is the shared scratch buffer (then `finish` copies the message out of it). */
  private scratch: boolean;
  /**
   * Where the value being written sits: field names and list indices from the root. Kept as a
   * stack and joined into `payload.assignment.envelope.inputs[0].name` only for an error: joining
   * a path string for every field written was most of what encoding a frame allocated.
   */
  private readonly path: Array<string | number> = [];

  constructor(limits: DecodeLimits) {
    // Most messages are a few hundred bytes: they are written into one reused buffer and copied
    // out, rather than into a fresh zeroed 4 KiB each (a frame's largest cost, and garbage).
    this.scratch = !scratchInUse;
    if (this.scratch) {
      scratchInUse = true;
      this.buf = SCRATCH;
      this.view = SCRATCH_VIEW;
    } else {
      this.buf = new Uint8Array(8 + 4096);
      this.view = new DataView(this.buf.buffer);
    }
    this.limits = limits;
  }

  /** Reserves zeroed words and returns their segment offset. */
  alloc(words: number): number {
    const at = this.used;
    const need = 8 + at + words * 8;
    if (need > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < need) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.buf.subarray(0, 8 + at));
      this.release();
      this.buf = grown;
      this.view = new DataView(grown.buffer);
    } else if (this.scratch) {
      // The scratch buffer holds an earlier message's bytes: words are handed out zeroed.
      this.buf.fill(0, 8 + at, need);
    }
    this.used += words * 8;
    return at;
  }

  /** Gives the scratch buffer back (once the message is copied out, or outgrew it). */
  release(): void {
    if (!this.scratch) return;
    this.scratch = false;
    scratchInUse = false;
  }

  private structPointer(ptr: number, target: number, dataWords: number, pointers: number): void {
    const offset = (target - ptr - 8) / 8;
    this.view.setInt32(8 + ptr, offset << 2, true);
    this.view.setUint32(8 + ptr + 4, dataWords | (pointers << 16), true);
  }

  private listPointer(ptr: number, target: number, elementSize: number, count: number): void {
    const offset = (target - ptr - 8) / 8;
    this.view.setInt32(8 + ptr, (offset << 2) | 1, true);
    this.view.setUint32(8 + ptr + 4, (elementSize | (count << 3)) >>> 0, true);
  }

  /** The message's bytes: copied out of the scratch buffer unless `view` (see `writeMessage`). */
  finish(view: boolean): Uint8Array {
    this.view.setUint32(0, 0, true); // one segment
    this.view.setUint32(4, this.used / 8, true);
    if (!this.scratch || view) return this.buf.subarray(0, 8 + this.used);
    const out = this.buf.slice(0, 8 + this.used);
    this.release();
    return out;
  }

  root(name: StructName, obj: Obj): void {
    const s = layout(name);
    const ptr = this.alloc(1);
    const at = this.alloc(s.dataWords + s.pointers);
    this.structPointer(ptr, at, s.dataWords, s.pointers);
    this.struct(name, obj, at);
  }

  /** The path of the value being written, as errors name it. */
  private pathText(): string {
    let text = '';
    for (const segment of this.path) {
      if (typeof segment === 'number') text = `${text}[${segment}]`;
      else text = join(text, segment);
    }
    return text;
  }

  /** Writes the fields of `obj` into the struct whose data section starts at `at`. */
  private struct(name: StructName, obj: Obj, at: number): void {
    const s = layout(name);
    let member: WireField | undefined;
    for (const f of s.fields) {
      if (f.type.k === 'group') {
        const groupObj = f.type.flatten ? obj : obj[f.json];
        if (groupObj === undefined || groupObj === null) continue;
        if (!f.type.flatten) this.path.push(f.json);
        if (typeof groupObj !== 'object') wrongType('must be an object', this.pathText());
        // A group lives in its parent's sections.
        this.struct(f.type.s, groupObj as Obj, at);
        if (!f.type.flatten) this.path.pop();
        continue;
      }
      const value = obj[f.json];
      if (value === undefined || value === null) continue;
      this.path.push(f.json);
      if (f.union !== undefined) {
        if (member) {
          const names = s.fields.filter((m) => m.union !== undefined).map((m) => m.json);
          throw new ProtocolError(
            'NOT_EXCLUSIVE',
            `only one of ${names.join(', ')} may be set`,
            this.pathText(),
          );
        }
        member = f;
        this.view.setUint16(8 + at + s.discriminant, f.union, true);
      }
      this.field(f, value, at, s.dataWords);
      this.path.pop();
    }
  }

  private field(f: WireField, value: unknown, at: number, dataWords: number): void {
    const type = f.type;
    const offset = f.offset!;
    if (type.k === 'void') return;
    if (elementSizeOf(type) === ELEMENT.pointer || type.k === 'struct') {
      this.pointerValue(type, value, at + dataWords * 8 + offset * 8);
    } else {
      this.scalar(type, value, at, offset);
    }
  }

  /** Writes a data-section value; `offset` is in units of the value's size (bits for Bool). */
  private scalar(type: WireType, value: unknown, at: number, offset: number): void {
    const p = 8 + at;
    switch (type.k) {
      case 'bool': {
        if (typeof value !== 'boolean') wrongType('must be a boolean', this.pathText());
        if (value) this.buf[p + (offset >> 3)]! |= 1 << (offset & 7);
        return;
      }
      case 'int':
      case 'uint':
      case 'i64':
      case 'u64': {
        const bits = type.k === 'int' || type.k === 'uint' ? type.bits : 64;
        const [lo, hi] = intRange(type.k, bits);
        if (typeof value !== 'number' || !Number.isInteger(value))
          wrongType('must be an integer', this.pathText());
        if (value < lo || value > hi) {
          throw new ProtocolError('VALUE_OUT_OF_RANGE', `must be within ${lo}..${hi}`, this.pathText());
        }
        if (type.k === 'i64' || type.k === 'u64') {
          // Two halves; BigInt is only needed for negative values.
          if (value >= 0) {
            this.view.setUint32(p + offset * 8, value % TWO_32, true);
            this.view.setUint32(p + offset * 8 + 4, Math.floor(value / TWO_32), true);
          } else {
            this.view.setBigInt64(p + offset * 8, BigInt(value), true);
          }
        } else if (bits === 32) {
          this.view.setUint32(p + offset * 4, value >>> 0, true);
        } else if (bits === 16) {
          this.view.setUint16(p + offset * 2, value & 0xffff, true);
        } else {
          this.view.setUint8(p + offset, value & 0xff);
        }
        return;
      }
      case 'float':
        if (typeof value !== 'number' || !Number.isFinite(value))
          wrongType('must be a finite number', this.pathText());
        if (type.bits === 32 && Math.abs(value) > FLOAT32_MAX) {
          throw new ProtocolError('VALUE_OUT_OF_RANGE', 'does not fit a Float32', this.pathText());
        }
        if (type.bits === 32) this.view.setFloat32(p + offset * 4, value, true);
        else this.view.setFloat64(p + offset * 8, value, true);
        return;
      case 'enum': {
        const index = (ENUMS[type.e] as readonly string[]).indexOf(value as string);
        if (index < 0)
          throw new ProtocolError(
            'UNKNOWN_ENUM',
            `must be one of ${ENUMS[type.e].join(', ')}`,
            this.pathText(),
          );
        this.view.setUint16(p + offset * 2, index, true);
        return;
      }
      default:
        throw new Error(`scalar: ${type.k}`);
    }
  }

  private bytes(ptr: number, bytes: Uint8Array, nul: boolean): void {
    const count = bytes.length + (nul ? 1 : 0);
    const target = this.alloc(Math.ceil(count / 8));
    this.buf.set(bytes, 8 + target);
    this.listPointer(ptr, target, ELEMENT.byte, count);
  }

  private text(ptr: number, text: string): void {
    const length = utf8Bytes(text);
    const ascii = length === text.length;
    // A lone surrogate has no UTF-8 form; TextEncoder would silently write U+FFFD instead.
    if (!ascii && !text.isWellFormed())
      wrongType('text must be well-formed Unicode (no lone surrogates)', this.pathText());
    const target = this.alloc(Math.ceil((length + 1) / 8));
    if (ascii && length <= SHORT_TEXT) {
      // Short ASCII (ids, names, tokens): written by hand; an encodeInto call costs more.
      const buf = this.buf;
      const at = 8 + target;
      for (let i = 0; i < length; i++) buf[at + i] = text.charCodeAt(i);
    } else {
      encoder.encodeInto(text, this.buf.subarray(8 + target, 8 + target + length));
    }
    this.listPointer(ptr, target, ELEMENT.byte, length + 1);
  }

  /** Writes the object a pointer at segment offset `ptr` refers to. */
  private pointerValue(type: WireType, value: unknown, ptr: number): void {
    switch (type.k) {
      case 'text':
        if (typeof value !== 'string') wrongType('must be a string', this.pathText());
        this.text(ptr, value);
        return;
      case 'json': {
        if (value === null || typeof value !== 'object' || Array.isArray(value))
          wrongType('must be a JSON object', this.pathText());
        const limits = { maxBytes: this.limits.maxParamsBytes, maxDepth: this.limits.maxParamsDepth };
        this.text(ptr, stringifyJsonObject(value as JsonObject, limits, this.pathText()));
        return;
      }
      case 'data':
        if (!(value instanceof Uint8Array)) wrongType('must be a Uint8Array', this.pathText());
        this.bytes(ptr, value, false);
        return;
      case 'struct': {
        if (value === null || typeof value !== 'object' || Array.isArray(value))
          wrongType('must be an object', this.pathText());
        const s = layout(type.s);
        const target = this.alloc(s.dataWords + s.pointers);
        this.structPointer(ptr, target, s.dataWords, s.pointers);
        this.struct(type.s, value as Obj, target);
        return;
      }
      case 'map': {
        if (value === null || typeof value !== 'object' || Array.isArray(value))
          wrongType('must be an object', this.pathText());
        const entries = Object.entries(value as Obj);
        for (const [key, text] of entries) {
          if (FORBIDDEN_MAP_KEYS.has(key)) {
            throw new ProtocolError(
              'FORBIDDEN_KEY',
              `key "${key}" is not allowed`,
              `${this.pathText()}.${key}`,
            );
          }
          if (typeof text !== 'string') wrongType('map values must be strings', `${this.pathText()}.${key}`);
        }
        this.list(
          KEY_VALUE,
          entries.map(([key, text]) => ({ key, value: text })),
          ptr,
        );
        return;
      }
      case 'list':
        if (!Array.isArray(value)) wrongType('must be an array', this.pathText());
        this.list(type.of, value, ptr);
        return;
      default:
        throw new Error(`pointer: ${type.k}`);
    }
  }

  private list(of: WireType, items: readonly unknown[], ptr: number): void {
    const n = items.length;
    const size = elementSizeOf(of);
    // The element's index is the path's last segment while it is written.
    const path = this.path;
    const last = path.length;
    path.push(0);
    if (size === ELEMENT.composite) {
      const s = layout((of as { s: StructName }).s);
      const perElement = s.dataWords + s.pointers;
      const tag = this.alloc(1 + n * perElement);
      // The tag word: a struct pointer whose offset field holds the element count.
      this.view.setInt32(8 + tag, n << 2, true);
      this.view.setUint32(8 + tag + 4, s.dataWords | (s.pointers << 16), true);
      this.listPointer(ptr, tag, ELEMENT.composite, n * perElement);
      for (let i = 0; i < n; i++) {
        const item = items[i];
        path[last] = i;
        if (item === null || typeof item !== 'object' || Array.isArray(item))
          wrongType('must be an object', this.pathText());
        this.struct((of as { s: StructName }).s, item as Obj, tag + 8 + i * perElement * 8);
      }
    } else if (size === ELEMENT.pointer) {
      const target = this.alloc(n);
      this.listPointer(ptr, target, ELEMENT.pointer, n);
      for (let i = 0; i < n; i++) {
        path[last] = i;
        this.pointerValue(of, items[i], target + i * 8);
      }
    } else {
      const bits = BITS_PER_ELEMENT[size]!;
      const target = this.alloc(Math.ceil((n * bits) / 64));
      this.listPointer(ptr, target, size, n);
      // Elements are laid out like a data section with offsets 0..n-1.
      for (let i = 0; i < n; i++) {
        path[last] = i;
        this.scalar(of, items[i], target, i);
      }
    }
    path.pop();
  }
}

/**
 * Encodes a struct as a framed single-segment message. With `view`, its bytes may come back as a
 * view of the writer's reused buffer, valid only until the next message is written: for a caller
 * that copies them where they go at once (a copy made here would be one more).
 */
export function writeMessage(name: StructName, obj: object, limits: DecodeLimits, view = false): Uint8Array {
  const writer = new Writer(limits);
  try {
    writer.root(name, obj as Obj);
    return writer.finish(view);
  } finally {
    writer.release();
  }
}
