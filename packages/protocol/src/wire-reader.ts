// The direct codec's reader: a single-segment Cap'n Proto message read in place, with the
// decode limits checked as it goes (see wire-codec.ts).
import { ENUMS } from './generated/model.ts';
import type { DecodeLimits } from './limits.ts';
import { ProtocolError } from './protocol-error.ts';
import { parseJsonObject } from './safe-json.ts';
import {
  BITS_PER_ELEMENT,
  decoder,
  ELEMENT,
  elementSizeOf,
  FORBIDDEN_MAP_KEYS,
  join,
  KEY_VALUE,
  layout,
  type Obj,
  type StructName,
  TWO_32,
  Unsupported,
  type WireType,
} from './wire-layout.ts';

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
  /** The list `listAt` resolved last: where its elements start, their size code and count. */
  private listStart = 0;
  private listSize = 0;
  private listCount = 0;
  /** Where the text `textBytes` checked last ends (its NUL), from `listStart`. */
  private textEnd = 0;

  constructor(bytes: Uint8Array, limits: DecodeLimits) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.end = bytes.length;
    this.limits = limits;
    this.words = 8 + limits.traversalPerByte * (bytes.length / 8);
    this.elements = 64 + limits.traversalPerByte * bytes.length;
  }

  /** `key`, when given, is the field's name under `path` (joined only for an error). */
  private charge(words: number, path?: string, key?: string): void {
    this.words -= words;
    if (this.words < 0)
      throw new ProtocolError('TRAVERSAL_LIMIT', 'decoding traversal limit exceeded', under(path, key));
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

  /**
   * Resolves a list pointer into `listStart`, `listSize` (the element size code) and `listCount`;
   * false for a null pointer. Fields, not an object a list: every text read goes through here.
   */
  private listAt(at: number, path: string, key?: string): boolean {
    const lo = this.view.getInt32(at, true);
    const hi = this.view.getUint32(at + 4, true);
    if (lo === 0 && hi === 0) return false;
    const kind = lo & 3;
    if (kind === 2) throw new Unsupported('far pointer');
    if (kind !== 1) throw new ProtocolError('MALFORMED_FRAME', 'expected a list pointer', under(path, key));
    this.listStart = at + 8 + (lo >> 2) * 8;
    this.listSize = hi & 7;
    this.listCount = hi >>> 3;
    return true;
  }

  private elementBudget(count: number, path: string): void {
    this.elements -= count;
    if (this.elements < 0) {
      throw new ProtocolError('LIST_TOO_LONG', `list of ${count} exceeds the decoding budget`, path);
    }
  }

  /** A list of bytes at `listStart`, `listCount` long (see `listAt`); false for a null pointer. */
  private byteList(at: number, path: string, key?: string): boolean {
    if (!this.listAt(at, path, key)) return false;
    if (this.listSize !== ELEMENT.byte)
      throw new ProtocolError('MALFORMED_FRAME', 'expected a list of bytes', under(path, key));
    this.inBounds(this.listStart, this.listCount);
    this.charge(Math.max(1, Math.ceil(this.listCount / 8)), path, key);
    return true;
  }

  /**
   * A text's bytes without its NUL, from `listStart` to `textEnd`, checked as `text` checks them;
   * false when the text is empty.
   */
  private textBytes(at: number, path: string, key?: string): boolean {
    if (!this.byteList(at, path, key) || this.listCount === 0) return false;
    this.textEnd = this.listStart + this.listCount - 1;
    if (this.bytes[this.textEnd] !== 0) {
      throw new ProtocolError('MALFORMED_FRAME', 'text is not NUL-terminated', under(path, key));
    }
    return true;
  }

  private text(at: number, path: string, key?: string): string {
    if (!this.textBytes(at, path, key)) return '';
    const start = this.listStart;
    const end = this.textEnd;
    // Short ASCII (ids, names, tokens): read by hand; a TextDecoder call costs more than the loop.
    if (end - start <= SHORT_TEXT) {
      const ascii = asciiText(this.bytes, start, end);
      if (ascii !== undefined) return ascii;
    }
    try {
      return decoder.decode(this.bytes.subarray(start, end));
    } catch {
      throw new ProtocolError('INVALID_TEXT', 'text is not valid UTF-8', under(path, key));
    }
  }

  /** Checks a text as `text` does, without making the string (ASCII needs no decoding to check). */
  private checkText(at: number, path: string, key?: string): void {
    if (!this.textBytes(at, path, key)) return;
    const start = this.listStart;
    const end = this.textEnd;
    for (let i = start; i < end; i++) {
      if (this.bytes[i]! < 0x80) continue;
      try {
        decoder.decode(this.bytes.subarray(start, end));
      } catch {
        throw new ProtocolError('INVALID_TEXT', 'text is not valid UTF-8', under(path, key));
      }
      return;
    }
  }

  /**
   * Reads a struct. `check`: every field is checked as it would be read (the same errors, the
   * same traversal charges) but nothing is built, and the empty object is returned. `only`: the
   * one field kept; the others are checked only (a frame's payload without its header's texts).
   */
  readStruct(name: StructName, s: StructRef, depth: number, path: string, check = false, only?: string): Obj {
    if (depth > this.limits.maxDepth) {
      throw new ProtocolError('NESTING_TOO_DEEP', `structs nest deeper than ${this.limits.maxDepth}`, path);
    }
    const desc = layout(name);
    const out: Obj = check ? CHECKED : {};
    const which = desc.union ? this.u16(s, desc.discriminant) : -1;
    // Indexed, not for-of: this loop runs for every struct of every frame read.
    const fields = desc.fields;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      if (f.union !== undefined && f.union !== which) continue;
      const type = f.type;
      const skip = check || (only !== undefined && f.json !== only);
      // A field's path is worked out only where it is needed (a nested value, an error): most
      // fields are scalars, texts or null pointers.
      if (type.k === 'group') {
        const group = this.readStruct(type.s, s, depth + 1, join(path, f.json), skip);
        if (skip) continue;
        if (type.flatten) Object.assign(out, group);
        else if (Object.keys(group).length > 0) out[f.json] = group;
        continue;
      }
      if (type.k === 'void') {
        if (f.json !== 'none' && !skip) out[f.json] = true;
        continue;
      }
      const size = elementSizeOf(type);
      if (size === ELEMENT.pointer || size === ELEMENT.composite) {
        let value: unknown;
        if (f.offset! < s.pointerCount) {
          const at = s.pointers + f.offset! * 8;
          // A null pointer is the absent value, whatever its type (nothing to resolve or charge).
          if (this.view.getInt32(at, true) !== 0 || this.view.getUint32(at + 4, true) !== 0) {
            if (type.k !== 'text') value = this.pointerValue(type, at, depth, join(path, f.json), skip);
            else if (skip) this.checkText(at, path, f.json);
            else value = this.text(at, path, f.json) || undefined;
          }
        }
        if (skip) continue;
        if (value !== undefined) out[f.json] = value;
        // The selected member of a union shows even when empty: the discriminant says it is set.
        else if (f.union !== undefined) out[f.json] = type.k === 'data' ? new Uint8Array(0) : '';
        continue;
      }
      const value = this.scalar(type, s.data, s.dataBytes, f.offset!, path, f.json);
      // Enums always show (they have no unset state); other scalars only when not the default.
      if (!skip && (type.k === 'enum' || (value !== 0 && value !== false))) out[f.json] = value;
    }
    return out;
  }

  private u16(s: StructRef, byteOffset: number): number {
    return byteOffset + 2 <= s.dataBytes ? this.view.getUint16(s.data + byteOffset, true) : 0;
  }

  /**
   * Reads a data-section value; beyond the section (an older writer) it is the default. `key` is
   * the field's name under `path` (a list element's: empty, `path` naming the element).
   */
  private scalar(
    type: WireType,
    data: number,
    dataBytes: number,
    offset: number,
    path: string,
    key = '',
  ): unknown {
    switch (type.k) {
      case 'bool': {
        const byte = offset >> 3;
        return byte < dataBytes ? (this.bytes[data + byte]! & (1 << (offset & 7))) !== 0 : false;
      }
      case 'enum': {
        const ordinal = offset * 2 + 2 <= dataBytes ? this.view.getUint16(data + offset * 2, true) : 0;
        const name = (ENUMS[type.e] as readonly string[])[ordinal];
        if (name === undefined)
          throw new ProtocolError(
            'UNKNOWN_ENUM',
            `unknown ${type.e} ordinal ${ordinal}`,
            key ? join(path, key) : path,
          );
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
          throw new ProtocolError('VALUE_OUT_OF_RANGE', 'integer exceeds 2^53', key ? join(path, key) : path);
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
            throw new ProtocolError(
              'VALUE_OUT_OF_RANGE',
              'not a finite number',
              key ? join(path, key) : path,
            );
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

  /** A pointer field's value; `check`: checked as it would be read, nothing built (undefined). */
  private pointerValue(type: WireType, at: number, depth: number, path: string, check = false): unknown {
    switch (type.k) {
      case 'text': {
        if (check) {
          this.checkText(at, path);
          return undefined;
        }
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
        if (!this.byteList(at, path) || check) return undefined;
        const start = this.listStart;
        // A copy unless asked for views: the input may be a reused buffer (a ring slot, a socket chunk).
        return this.limits.dataViews
          ? this.bytes.subarray(start, start + this.listCount)
          : this.bytes.slice(start, start + this.listCount);
      }
      case 'struct': {
        const lo = this.view.getInt32(at, true);
        const hi = this.view.getUint32(at + 4, true);
        if (lo === 0 && hi === 0) return undefined;
        const struct = this.readStruct(type.s, this.structAt(at, path), depth + 1, path, check);
        return check ? undefined : struct;
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
        return this.list(type.of, at, depth, path, check);
      default:
        throw new Error(`pointer: ${type.k}`);
    }
  }

  private list(of: WireType, at: number, depth: number, path: string, check = false): unknown[] | undefined {
    if (!this.listAt(at, path)) return undefined;
    // Copied out of the fields before reading the elements (which resolve lists of their own).
    const list = { start: this.listStart, size: this.listSize, count: this.listCount };
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
      const items: unknown[] = new Array(check ? 0 : n);
      for (let i = 0; i < n; i++) {
        const data = list.start + 8 + i * perElement;
        const ref = { data, dataBytes, pointers: data + dataBytes, pointerCount };
        const item = this.readStruct(s, ref, depth + 1, `${path}[${i}]`, check);
        if (!check) items[i] = item;
      }
      return check ? undefined : items;
    }
    // The count first: a claim of 2^29 elements is refused before anything else is looked at.
    this.elementBudget(list.count, path);
    if (list.size !== expected)
      throw new ProtocolError('MALFORMED_FRAME', 'list element size does not match', path);
    const bytes = Math.ceil((list.count * BITS_PER_ELEMENT[expected]!) / 8);
    this.inBounds(list.start, bytes);
    this.charge(Math.max(1, Math.ceil(bytes / 8)), path);
    const items: unknown[] = new Array(check ? 0 : list.count);
    for (let i = 0; i < list.count; i++) {
      const item =
        expected === ELEMENT.pointer
          ? this.pointerValue(of, list.start + i * 8, depth, `${path}[${i}]`, check)
          : this.scalar(of, list.start, bytes, i, `${path}[${i}]`);
      if (!check) items[i] = item;
    }
    if (check) return undefined;
    // Text lists keep empty strings (their position matters).
    if (of.k === 'text') for (let i = 0; i < items.length; i++) items[i] ??= '';
    return items;
  }
}

/**
 * Decodes a single-segment framed message whose segment table was already checked.
 * Throws ProtocolError for bad bytes and Unsupported for encodings left to capnp-es.
 */
export function readMessage(name: StructName, bytes: Uint8Array, limits: DecodeLimits, only?: string): Obj {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== 0) throw new Unsupported('several segments');
  const reader = new Reader(bytes, limits);
  return reader.readStruct(name, reader.structAt(8), 0, '', false, only);
}

/** What a struct read in `check` mode returns: nothing is ever written to it. */
const CHECKED: Obj = Object.freeze({}) as Obj;

/** `key` under `path`, for an error's field (`path` itself when there is no key). */
function under(path: string | undefined, key: string | undefined): string | undefined {
  return key === undefined ? path : join(path ?? '', key);
}

/** Texts up to this many bytes are tried as ASCII before the TextDecoder. */
const SHORT_TEXT = 64;
/**
 * One code array per length, reused: `fromCharCode.apply` copies its arguments, so a read needs
 * no array of its own (it made one per text, about as many bytes as the string itself).
 */
const CODES: number[][] = Array.from({ length: SHORT_TEXT + 1 }, (_, n) => new Array<number>(n).fill(0));

/** `bytes[start..end)` as a string when every byte is ASCII (UTF-8 and Latin-1 agree there). */
function asciiText(bytes: Uint8Array, start: number, end: number): string | undefined {
  const codes = CODES[end - start]!;
  for (let i = start; i < end; i++) {
    const b = bytes[i]!;
    if (b >= 0x80) return undefined;
    codes[i - start] = b;
  }
  return String.fromCharCode.apply(null, codes);
}
