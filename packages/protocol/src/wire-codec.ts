// A direct Cap'n Proto reader and writer over the generated descriptor table (slot offsets,
// section sizes and discriminants read from the CodeGeneratorRequest). capnp-es allocates a
// Pointer object per field access and reads Text through a Proxy, which made a 3 KB frame cost
// ~0.3 ms to encode or decode (bench/codec.bench.ts); this codec reads and writes the words in
// place. It handles what Flock and the reference `capnp` tool produce for these schemas:
// single-segment messages with struct, list and composite-list pointers. Anything else (several
// segments, far pointers) is reported as `Unsupported`, and the caller decodes that message with
// capnp-es instead. Tests compare both codecs on random messages (wire-codec.test.ts).
//
// Pointer encoding (capnproto.org/encoding.html), 64 bits little-endian:
//   struct: [offset:30 signed][A=0:2] [data words:16][pointer count:16]
//   list:   [offset:30 signed][A=1:2] [element size:3][element count (words if composite):29]
//   far:    A=2 (unsupported here) · capability: A=3 (never valid in Flock)
// `offset` counts words from the end of the pointer to the target.
import { ENUMS, type JsonObject, STRUCTS } from './generated/model.ts';
import type { DecodeLimits } from './limits.ts';
import { ProtocolError } from './protocol-error.ts';
import { parseJsonObject, stringifyJsonObject } from './safe-json.ts';

type StructName = keyof typeof STRUCTS;
type EnumName = keyof typeof ENUMS;
type Obj = Record<string, unknown>;

type WireType =
  | { readonly k: 'void' | 'bool' | 'i64' | 'u64' | 'text' | 'json' | 'data' | 'map' }
  | { readonly k: 'int' | 'uint' | 'float'; readonly bits: number }
  | { readonly k: 'enum'; readonly e: EnumName }
  | { readonly k: 'struct'; readonly s: StructName }
  | { readonly k: 'list'; readonly of: WireType }
  | { readonly k: 'group'; readonly s: StructName; readonly flatten: boolean };

interface WireField {
  readonly name: string;
  readonly json: string;
  readonly union?: number;
  readonly offset?: number;
  readonly type: WireType;
}

interface WireStruct {
  readonly union: boolean;
  readonly dataWords: number;
  readonly pointers: number;
  readonly discriminant: number;
  readonly fields: readonly WireField[];
}

const layout = (name: StructName): WireStruct => STRUCTS[name] as unknown as WireStruct;

/** Thrown for valid-but-unusual encodings this reader leaves to capnp-es. */
export class Unsupported extends Error {}

const ELEMENT = { void: 0, bit: 1, byte: 2, two: 3, four: 4, eight: 5, pointer: 6, composite: 7 } as const;

function elementSizeOf(type: WireType): number {
  switch (type.k) {
    case 'bool':
      return ELEMENT.bit;
    case 'int':
    case 'uint':
    case 'float':
      return type.bits === 8
        ? ELEMENT.byte
        : type.bits === 16
          ? ELEMENT.two
          : type.bits === 32
            ? ELEMENT.four
            : ELEMENT.eight;
    case 'i64':
    case 'u64':
      return ELEMENT.eight;
    case 'enum':
      return ELEMENT.two;
    case 'text':
    case 'data':
    case 'json':
    case 'list':
    case 'map':
      return ELEMENT.pointer;
    case 'struct':
      return ELEMENT.composite;
    default:
      throw new Error(`no list element size for ${type.k}`);
  }
}

const BITS_PER_ELEMENT = [0, 1, 8, 16, 32, 64, 64, 0];
const TWO_32 = 2 ** 32;
const INT_RANGE: Record<string, readonly [number, number]> = {
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint8: [0, 255],
  uint16: [0, 65535],
  uint32: [0, TWO_32 - 1],
  i64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  u64: [0, Number.MAX_SAFE_INTEGER],
};
const KEY_VALUE: WireType = { k: 'struct', s: 'KeyValue' };
const FORBIDDEN_MAP_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const encoder = new TextEncoder();
// fatal: invalid UTF-8 is an error, not U+FFFD; ignoreBOM: a leading U+FEFF is content.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const FLOAT32_MAX = 3.4028234663852886e38;

function wrongType(message: string, path: string): never {
  throw new ProtocolError('WRONG_TYPE', message, path);
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function utf8Bytes(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Writer

/** Encodes one message into a single segment; offsets are bytes from the segment's start. */
class Writer {
  private buf: Uint8Array;
  private view: DataView;
  /** Bytes used in the segment. */
  private used = 0;
  private readonly limits: DecodeLimits;

  constructor(limits: DecodeLimits, capacity = 4096) {
    this.buf = new Uint8Array(8 + capacity);
    this.view = new DataView(this.buf.buffer);
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
      this.buf = grown;
      this.view = new DataView(grown.buffer);
    }
    this.used += words * 8;
    return at;
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

  finish(): Uint8Array {
    this.view.setUint32(0, 0, true); // one segment
    this.view.setUint32(4, this.used / 8, true);
    return this.buf.subarray(0, 8 + this.used);
  }

  root(name: StructName, obj: Obj): void {
    const s = layout(name);
    const ptr = this.alloc(1);
    const at = this.alloc(s.dataWords + s.pointers);
    this.structPointer(ptr, at, s.dataWords, s.pointers);
    this.struct(name, obj, at, '');
  }

  /** Writes the fields of `obj` into the struct whose data section starts at `at`. */
  private struct(name: StructName, obj: Obj, at: number, path: string): void {
    const s = layout(name);
    let member: WireField | undefined;
    for (const f of s.fields) {
      if (f.type.k === 'group') {
        const groupObj = f.type.flatten ? obj : obj[f.json];
        if (groupObj === undefined || groupObj === null) continue;
        if (typeof groupObj !== 'object') wrongType('must be an object', join(path, f.json));
        // A group lives in its parent's sections.
        this.struct(f.type.s, groupObj as Obj, at, f.type.flatten ? path : join(path, f.json));
        continue;
      }
      const value = obj[f.json];
      if (value === undefined || value === null) continue;
      const fieldPath = join(path, f.json);
      if (f.union !== undefined) {
        if (member) {
          const names = s.fields.filter((m) => m.union !== undefined).map((m) => m.json);
          throw new ProtocolError('NOT_EXCLUSIVE', `only one of ${names.join(', ')} may be set`, fieldPath);
        }
        member = f;
        this.view.setUint16(8 + at + s.discriminant, f.union, true);
      }
      this.field(f, value, at, s.dataWords, fieldPath);
    }
  }

  private field(f: WireField, value: unknown, at: number, dataWords: number, path: string): void {
    const type = f.type;
    const offset = f.offset!;
    if (type.k === 'void') return;
    if (elementSizeOf(type) === ELEMENT.pointer || type.k === 'struct') {
      this.pointerValue(type, value, at + dataWords * 8 + offset * 8, path);
    } else {
      this.scalar(type, value, at, offset, path);
    }
  }

  /** Writes a data-section value; `offset` is in units of the value's size (bits for Bool). */
  private scalar(type: WireType, value: unknown, at: number, offset: number, path: string): void {
    const p = 8 + at;
    switch (type.k) {
      case 'bool': {
        if (typeof value !== 'boolean') wrongType('must be a boolean', path);
        if (value) this.buf[p + (offset >> 3)]! |= 1 << (offset & 7);
        return;
      }
      case 'int':
      case 'uint':
      case 'i64':
      case 'u64': {
        const bits = type.k === 'int' || type.k === 'uint' ? type.bits : 64;
        const key = type.k === 'i64' || type.k === 'u64' ? type.k : `${type.k}${bits}`;
        const [lo, hi] = INT_RANGE[key]!;
        if (typeof value !== 'number' || !Number.isInteger(value)) wrongType('must be an integer', path);
        if (value < lo || value > hi) {
          throw new ProtocolError('VALUE_OUT_OF_RANGE', `must be within ${lo}..${hi}`, path);
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
        if (typeof value !== 'number' || !Number.isFinite(value)) wrongType('must be a finite number', path);
        if (type.bits === 32 && Math.abs(value) > FLOAT32_MAX) {
          throw new ProtocolError('VALUE_OUT_OF_RANGE', 'does not fit a Float32', path);
        }
        if (type.bits === 32) this.view.setFloat32(p + offset * 4, value, true);
        else this.view.setFloat64(p + offset * 8, value, true);
        return;
      case 'enum': {
        const index = (ENUMS[type.e] as readonly string[]).indexOf(value as string);
        if (index < 0)
          throw new ProtocolError('UNKNOWN_ENUM', `must be one of ${ENUMS[type.e].join(', ')}`, path);
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

  private text(ptr: number, text: string, path: string): void {
    // A lone surrogate has no UTF-8 form; TextEncoder would silently write U+FFFD instead.
    if (!text.isWellFormed()) wrongType('text must be well-formed Unicode (no lone surrogates)', path);
    const length = utf8Bytes(text);
    const target = this.alloc(Math.ceil((length + 1) / 8));
    encoder.encodeInto(text, this.buf.subarray(8 + target, 8 + target + length));
    this.listPointer(ptr, target, ELEMENT.byte, length + 1);
  }

  /** Writes the object a pointer at segment offset `ptr` refers to. */
  private pointerValue(type: WireType, value: unknown, ptr: number, path: string): void {
    switch (type.k) {
      case 'text':
        if (typeof value !== 'string') wrongType('must be a string', path);
        this.text(ptr, value, path);
        return;
      case 'json':
        if (value === null || typeof value !== 'object' || Array.isArray(value))
          wrongType('must be a JSON object', path);
        this.text(
          ptr,
          stringifyJsonObject(
            value as JsonObject,
            { maxBytes: this.limits.maxParamsBytes, maxDepth: this.limits.maxParamsDepth },
            path,
          ),
          path,
        );
        return;
      case 'data':
        if (!(value instanceof Uint8Array)) wrongType('must be a Uint8Array', path);
        this.bytes(ptr, value, false);
        return;
      case 'struct': {
        if (value === null || typeof value !== 'object' || Array.isArray(value))
          wrongType('must be an object', path);
        const s = layout(type.s);
        const target = this.alloc(s.dataWords + s.pointers);
        this.structPointer(ptr, target, s.dataWords, s.pointers);
        this.struct(type.s, value as Obj, target, path);
        return;
      }
      case 'map': {
        if (value === null || typeof value !== 'object' || Array.isArray(value))
          wrongType('must be an object', path);
        const entries = Object.entries(value as Obj);
        for (const [key, text] of entries) {
          if (FORBIDDEN_MAP_KEYS.has(key)) {
            throw new ProtocolError('FORBIDDEN_KEY', `key "${key}" is not allowed`, `${path}.${key}`);
          }
          if (typeof text !== 'string') wrongType('map values must be strings', `${path}.${key}`);
        }
        this.list(
          KEY_VALUE,
          entries.map(([key, text]) => ({ key, value: text })),
          ptr,
          path,
        );
        return;
      }
      case 'list':
        if (!Array.isArray(value)) wrongType('must be an array', path);
        this.list(type.of, value, ptr, path);
        return;
      default:
        throw new Error(`pointer: ${type.k}`);
    }
  }

  private list(of: WireType, items: readonly unknown[], ptr: number, path: string): void {
    const n = items.length;
    const size = elementSizeOf(of);
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
        const itemPath = `${path}[${i}]`;
        if (item === null || typeof item !== 'object' || Array.isArray(item))
          wrongType('must be an object', itemPath);
        this.struct((of as { s: StructName }).s, item as Obj, tag + 8 + i * perElement * 8, itemPath);
      }
      return;
    }
    if (size === ELEMENT.pointer) {
      const target = this.alloc(n);
      this.listPointer(ptr, target, ELEMENT.pointer, n);
      for (let i = 0; i < n; i++) this.pointerValue(of, items[i], target + i * 8, `${path}[${i}]`);
      return;
    }
    const bits = BITS_PER_ELEMENT[size]!;
    const target = this.alloc(Math.ceil((n * bits) / 64));
    this.listPointer(ptr, target, size, n);
    // Elements are laid out like a data section with offsets 0..n-1.
    for (let i = 0; i < n; i++) this.scalar(of, items[i], target, i, `${path}[${i}]`);
  }
}

/** Encodes a struct as a framed single-segment message. */
export function writeMessage(name: StructName, obj: object, limits: DecodeLimits): Uint8Array {
  const writer = new Writer(limits);
  writer.root(name, obj as Obj);
  return writer.finish();
}

// ---------------------------------------------------------------------------------------------
// Reader

interface StructRef {
  data: number;
  dataBytes: number;
  pointers: number;
  pointerCount: number;
}

const EMPTY: StructRef = { data: 0, dataBytes: 0, pointers: 0, pointerCount: 0 };

class Reader {
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  private readonly end: number;
  private readonly limits: DecodeLimits;
  /** Words that may still be read (the traversal limit). */
  private words: number;
  /** List elements that may still be visited (bounds zero-width elements). */
  private elements: number;

  constructor(bytes: Uint8Array, limits: DecodeLimits) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.end = bytes.length;
    this.limits = limits;
    this.words = 8 + limits.traversalPerByte * (bytes.length / 8);
    this.elements = 64 + limits.traversalPerByte * bytes.length;
  }

  private charge(words: number, path?: string): void {
    this.words -= words;
    if (this.words < 0) throw new ProtocolError('TRAVERSAL_LIMIT', 'decoding traversal limit exceeded', path);
  }

  private inBounds(start: number, bytes: number): void {
    if (start < 8 || start + bytes > this.end) {
      throw new ProtocolError('MALFORMED_FRAME', 'pointer outside the segment');
    }
  }

  /** Resolves the struct pointer at byte `at`; a null pointer is the empty struct. */
  structAt(at: number, path?: string): StructRef {
    const lo = this.view.getInt32(at, true);
    const hi = this.view.getUint32(at + 4, true);
    if (lo === 0 && hi === 0) return EMPTY;
    const kind = lo & 3;
    if (kind === 2) throw new Unsupported('far pointer');
    if (kind !== 0) throw new ProtocolError('MALFORMED_FRAME', 'expected a struct pointer');
    const data = at + 8 + (lo >> 2) * 8;
    const dataBytes = (hi & 0xffff) * 8;
    const pointerCount = hi >>> 16;
    this.inBounds(data, dataBytes + pointerCount * 8);
    this.charge(Math.max(1, dataBytes / 8 + pointerCount), path);
    return { data, dataBytes, pointers: data + dataBytes, pointerCount };
  }

  /** Resolves a list pointer: where its elements start, their size code and count. */
  private listAt(at: number, path: string): { start: number; size: number; count: number } | undefined {
    const lo = this.view.getInt32(at, true);
    const hi = this.view.getUint32(at + 4, true);
    if (lo === 0 && hi === 0) return undefined;
    const kind = lo & 3;
    if (kind === 2) throw new Unsupported('far pointer');
    if (kind !== 1) throw new ProtocolError('MALFORMED_FRAME', 'expected a list pointer', path);
    const start = at + 8 + (lo >> 2) * 8;
    const size = hi & 7;
    const count = hi >>> 3;
    return { start, size, count };
  }

  private elementBudget(count: number, path: string): void {
    this.elements -= count;
    if (this.elements < 0) {
      throw new ProtocolError('LIST_TOO_LONG', `list of ${count} exceeds the decoding budget`, path);
    }
  }

  private byteList(at: number, path: string): { start: number; count: number } | undefined {
    const list = this.listAt(at, path);
    if (!list) return undefined;
    if (list.size !== ELEMENT.byte)
      throw new ProtocolError('MALFORMED_FRAME', 'expected a list of bytes', path);
    this.inBounds(list.start, list.count);
    this.charge(Math.max(1, Math.ceil(list.count / 8)), path);
    return list;
  }

  private text(at: number, path: string): string {
    const list = this.byteList(at, path);
    if (!list || list.count === 0) return '';
    if (this.bytes[list.start + list.count - 1] !== 0) {
      throw new ProtocolError('MALFORMED_FRAME', 'text is not NUL-terminated', path);
    }
    try {
      return decoder.decode(this.bytes.subarray(list.start, list.start + list.count - 1));
    } catch {
      throw new ProtocolError('INVALID_TEXT', 'text is not valid UTF-8', path);
    }
  }

  readStruct(name: StructName, s: StructRef, depth: number, path: string): Obj {
    if (depth > this.limits.maxDepth) {
      throw new ProtocolError('NESTING_TOO_DEEP', `structs nest deeper than ${this.limits.maxDepth}`, path);
    }
    const desc = layout(name);
    const out: Obj = {};
    const which = desc.union ? this.u16(s, desc.discriminant) : -1;
    for (const f of desc.fields) {
      if (f.union !== undefined && f.union !== which) continue;
      const type = f.type;
      const fieldPath = join(path, f.json);
      if (type.k === 'group') {
        const group = this.readStruct(type.s, s, depth + 1, fieldPath);
        if (type.flatten) Object.assign(out, group);
        else if (Object.keys(group).length > 0) out[f.json] = group;
        continue;
      }
      if (type.k === 'void') {
        if (f.json !== 'none') out[f.json] = true;
        continue;
      }
      const size = elementSizeOf(type);
      if (size === ELEMENT.pointer || size === ELEMENT.composite) {
        const value =
          f.offset! < s.pointerCount
            ? this.pointerValue(type, s.pointers + f.offset! * 8, depth, fieldPath)
            : undefined;
        if (value !== undefined) out[f.json] = value;
        // The selected member of a union shows even when empty: the discriminant says it is set.
        else if (f.union !== undefined) out[f.json] = type.k === 'data' ? new Uint8Array(0) : '';
        continue;
      }
      const value = this.scalar(type, s.data, s.dataBytes, f.offset!, fieldPath);
      // Enums always show (they have no unset state); other scalars only when not the default.
      if (type.k === 'enum' || (value !== 0 && value !== false)) out[f.json] = value;
    }
    return out;
  }

  private u16(s: StructRef, byteOffset: number): number {
    return byteOffset + 2 <= s.dataBytes ? this.view.getUint16(s.data + byteOffset, true) : 0;
  }

  /** Reads a data-section value; beyond the section (an older writer) it is the default. */
  private scalar(type: WireType, data: number, dataBytes: number, offset: number, path: string): unknown {
    switch (type.k) {
      case 'bool': {
        const byte = offset >> 3;
        return byte < dataBytes ? (this.bytes[data + byte]! & (1 << (offset & 7))) !== 0 : false;
      }
      case 'enum': {
        const ordinal = offset * 2 + 2 <= dataBytes ? this.view.getUint16(data + offset * 2, true) : 0;
        const name = (ENUMS[type.e] as readonly string[])[ordinal];
        if (name === undefined)
          throw new ProtocolError('UNKNOWN_ENUM', `unknown ${type.e} ordinal ${ordinal}`, path);
        return name;
      }
      case 'i64':
      case 'u64': {
        if (offset * 8 + 8 > dataBytes) return 0;
        const low = this.view.getUint32(data + offset * 8, true);
        const high =
          type.k === 'i64'
            ? this.view.getInt32(data + offset * 8 + 4, true)
            : this.view.getUint32(data + offset * 8 + 4, true);
        const value = high * TWO_32 + low;
        if (!Number.isSafeInteger(value))
          throw new ProtocolError('VALUE_OUT_OF_RANGE', 'integer exceeds 2^53', path);
        return value;
      }
      case 'int':
      case 'uint':
      case 'float': {
        const width = type.bits / 8;
        const at = data + offset * width;
        if (offset * width + width > dataBytes) return 0;
        if (type.k === 'float') {
          const value = width === 4 ? this.view.getFloat32(at, true) : this.view.getFloat64(at, true);
          if (!Number.isFinite(value))
            throw new ProtocolError('VALUE_OUT_OF_RANGE', 'not a finite number', path);
          return value;
        }
        if (width === 4)
          return type.k === 'int' ? this.view.getInt32(at, true) : this.view.getUint32(at, true);
        if (width === 2)
          return type.k === 'int' ? this.view.getInt16(at, true) : this.view.getUint16(at, true);
        return type.k === 'int' ? this.view.getInt8(at) : this.view.getUint8(at);
      }
      default:
        throw new Error(`scalar: ${type.k}`);
    }
  }

  private pointerValue(type: WireType, at: number, depth: number, path: string): unknown {
    switch (type.k) {
      case 'text': {
        const text = this.text(at, path);
        return text === '' ? undefined : text;
      }
      case 'json': {
        const text = this.text(at, path);
        if (text === '') return undefined;
        return parseJsonObject(
          text,
          { maxBytes: this.limits.maxParamsBytes, maxDepth: this.limits.maxParamsDepth },
          path,
        );
      }
      case 'data': {
        const list = this.byteList(at, path);
        if (!list) return undefined;
        // A copy unless asked for views: the input may be a reused buffer (a ring slot, a socket chunk).
        return this.limits.dataViews
          ? this.bytes.subarray(list.start, list.start + list.count)
          : this.bytes.slice(list.start, list.start + list.count);
      }
      case 'struct': {
        const lo = this.view.getInt32(at, true);
        const hi = this.view.getUint32(at + 4, true);
        if (lo === 0 && hi === 0) return undefined;
        return this.readStruct(type.s, this.structAt(at, path), depth + 1, path);
      }
      case 'map': {
        const items = this.list(KEY_VALUE, at, depth, path) as
          | Array<{ key?: string; value?: string }>
          | undefined;
        if (!items) return undefined;
        const map: Record<string, string> = {};
        for (const { key = '', value = '' } of items) {
          if (FORBIDDEN_MAP_KEYS.has(key)) {
            throw new ProtocolError('FORBIDDEN_KEY', `key "${key}" is not allowed`, `${path}.${key}`);
          }
          map[key] = value;
        }
        return map;
      }
      case 'list':
        return this.list(type.of, at, depth, path);
      default:
        throw new Error(`pointer: ${type.k}`);
    }
  }

  private list(of: WireType, at: number, depth: number, path: string): unknown[] | undefined {
    const list = this.listAt(at, path);
    if (!list) return undefined;
    const expected = elementSizeOf(of);
    if (expected === ELEMENT.composite) {
      if (list.size !== ELEMENT.composite)
        throw new ProtocolError('MALFORMED_FRAME', 'expected a struct list', path);
      this.inBounds(list.start, 8 + list.count * 8);
      const tagLo = this.view.getInt32(list.start, true);
      const tagHi = this.view.getUint32(list.start + 4, true);
      if ((tagLo & 3) !== 0) throw new ProtocolError('MALFORMED_FRAME', 'bad composite list tag', path);
      const n = tagLo >>> 2;
      const dataBytes = (tagHi & 0xffff) * 8;
      const pointerCount = tagHi >>> 16;
      const perElement = dataBytes + pointerCount * 8;
      if (n * perElement > list.count * 8)
        throw new ProtocolError('MALFORMED_FRAME', 'composite list overruns', path);
      this.elementBudget(n, path);
      // Zero-size elements still cost a word each, as in Cap'n Proto C++: no free amplification.
      this.charge(Math.max(1, list.count, n), path);
      const s = (of as { s: StructName }).s;
      const items: unknown[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const data = list.start + 8 + i * perElement;
        const ref = { data, dataBytes, pointers: data + dataBytes, pointerCount };
        items[i] = this.readStruct(s, ref, depth + 1, `${path}[${i}]`);
      }
      return items;
    }
    // The count first: a claim of 2^29 elements is refused before anything else is looked at.
    this.elementBudget(list.count, path);
    if (list.size !== expected)
      throw new ProtocolError('MALFORMED_FRAME', 'list element size does not match', path);
    const bytes = Math.ceil((list.count * BITS_PER_ELEMENT[expected]!) / 8);
    this.inBounds(list.start, bytes);
    this.charge(Math.max(1, Math.ceil(bytes / 8)), path);
    const items: unknown[] = new Array(list.count);
    for (let i = 0; i < list.count; i++) {
      items[i] =
        expected === ELEMENT.pointer
          ? this.pointerValue(of, list.start + i * 8, depth, `${path}[${i}]`)
          : this.scalar(of, list.start, bytes, i, `${path}[${i}]`);
    }
    // Text lists keep empty strings (their position matters).
    if (of.k === 'text') for (let i = 0; i < items.length; i++) items[i] ??= '';
    return items;
  }
}

/**
 * Decodes a single-segment framed message whose segment table was already checked.
 * Throws ProtocolError for bad bytes and Unsupported for encodings left to capnp-es.
 */
export function readMessage(name: StructName, bytes: Uint8Array, limits: DecodeLimits): Obj {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== 0) throw new Unsupported('several segments');
  const reader = new Reader(bytes, limits);
  return reader.readStruct(name, reader.structAt(8), 0, '');
}
