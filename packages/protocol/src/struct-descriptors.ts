// The descriptor table generated from the schema (generated/model.ts), as the codecs read it:
// each struct's fields with their JSON names, union tags and types, for capnp-es's walker
// (reference-codec.ts), the JSON view and the routing reader (the direct codec's layout,
// wire-layout.ts, is computed from the same table).
import { type ENUMS, STRUCTS } from './generated/model.ts';
import { ProtocolError } from './protocol-error.ts';

export type StructName = keyof typeof STRUCTS;
type EnumName = keyof typeof ENUMS;

export type FieldType =
  | {
      readonly k:
        | 'void'
        | 'bool'
        | 'int'
        | 'uint'
        | 'i64'
        | 'u64'
        | 'float'
        | 'text'
        | 'json'
        | 'data'
        | 'map';
    }
  | { readonly k: 'enum'; readonly e: EnumName }
  | { readonly k: 'struct'; readonly s: StructName }
  | { readonly k: 'list'; readonly of: FieldType }
  | { readonly k: 'group'; readonly s: StructName; readonly flatten: boolean };

export interface FieldDesc {
  readonly name: string;
  readonly json: string;
  readonly union?: number;
  readonly type: FieldType;
}

interface StructDesc {
  readonly union: boolean;
  readonly fields: readonly FieldDesc[];
}

export function structDesc(name: StructName): StructDesc {
  return STRUCTS[name] as unknown as StructDesc;
}

/** The plain-object members a struct shows: flattened groups contribute their members. */
export function visibleFields(name: StructName): FieldDesc[] {
  const out: FieldDesc[] = [];
  for (const f of structDesc(name).fields) {
    if (f.type.k === 'group' && f.type.flatten) out.push(...structDesc(f.type.s).fields);
    else out.push(f);
  }
  return out;
}

/** Keys a string map may not have (they would reach an object's prototype). */
export const FORBIDDEN_MAP_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Checks a string map (List(KeyValue) in the schema) and returns its entries. */
export function mapEntries(value: unknown, path: string): Array<[string, string]> {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new ProtocolError('WRONG_TYPE', 'must be an object', path);
  const entries = Object.entries(value);
  for (const [key, text] of entries) {
    if (FORBIDDEN_MAP_KEYS.has(key))
      throw new ProtocolError('FORBIDDEN_KEY', `key "${key}" is not allowed`, `${path}.${key}`);
    if (typeof text !== 'string')
      throw new ProtocolError('WRONG_TYPE', 'map values must be strings', `${path}.${key}`);
  }
  return entries as Array<[string, string]>;
}
