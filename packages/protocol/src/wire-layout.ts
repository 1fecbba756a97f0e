// The layouts the direct Cap'n Proto codec reads and writes (wire-codec.ts): the generated
// descriptor table's structs and fields, element sizes, integer ranges, and the checks and text
// helpers the writer (wire-writer.ts) and the reader (wire-reader.ts) share.
//
// Pointer encoding (capnproto.org/encoding.html), 64 bits little-endian:
//   struct: [offset:30 signed][A=0:2] [data words:16][pointer count:16]
//   list:   [offset:30 signed][A=1:2] [element size:3][element count (words if composite):29]
//   far:    A=2 (unsupported here) · capability: A=3 (never valid in Flock)
// `offset` counts words from the end of the pointer to the target.
import { type ENUMS, STRUCTS } from './generated/model.ts';
import { ProtocolError } from './protocol-error.ts';

export type StructName = keyof typeof STRUCTS;
type EnumName = keyof typeof ENUMS;
export type Obj = Record<string, unknown>;

export type WireType =
  | { readonly k: 'void' | 'bool' | 'i64' | 'u64' | 'text' | 'json' | 'data' | 'map' }
  | { readonly k: 'int' | 'uint' | 'float'; readonly bits: number }
  | { readonly k: 'enum'; readonly e: EnumName }
  | { readonly k: 'struct'; readonly s: StructName }
  | { readonly k: 'list'; readonly of: WireType }
  | { readonly k: 'group'; readonly s: StructName; readonly flatten: boolean };

export interface WireField {
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

export const layout = (name: StructName): WireStruct => STRUCTS[name] as unknown as WireStruct;

/** Thrown for valid-but-unusual encodings this reader leaves to capnp-es. */
export class Unsupported extends Error {}

export const ELEMENT = {
  void: 0,
  bit: 1,
  byte: 2,
  two: 3,
  four: 4,
  eight: 5,
  pointer: 6,
  composite: 7,
} as const;

export function elementSizeOf(type: WireType): number {
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

export const BITS_PER_ELEMENT = [0, 1, 8, 16, 32, 64, 64, 0];
export const TWO_32 = 2 ** 32;
export const INT_RANGE: Record<string, readonly [number, number]> = {
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint8: [0, 255],
  uint16: [0, 65535],
  uint32: [0, TWO_32 - 1],
  i64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  u64: [0, Number.MAX_SAFE_INTEGER],
};
export const KEY_VALUE: WireType = { k: 'struct', s: 'KeyValue' };
export const FORBIDDEN_MAP_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
export const encoder = new TextEncoder();
// fatal: invalid UTF-8 is an error, not U+FFFD; ignoreBOM: a leading U+FEFF is content.
export const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
export const FLOAT32_MAX = 3.4028234663852886e38;

export function wrongType(message: string, path: string): never {
  throw new ProtocolError('WRONG_TYPE', message, path);
}

export function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

export function utf8Bytes(text: string): number {
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
