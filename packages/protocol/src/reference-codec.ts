// The capnp-es walker: converts between capnp-es structs and Flock's plain snake_case message
// objects, driven by the descriptor table (struct-descriptors.ts). It is the reference the direct
// codec (wire-codec.ts) is tested against, and decodes what the direct reader leaves to capnp-es
// (several segments, far pointers).
import { Message, type Struct } from 'capnp-es';
import * as bus from './generated/bus.ts';
import * as compute from './generated/compute.ts';
import { ENUMS, type JsonObject, type StructTypes } from './generated/model.ts';
import { type DecodeLimits, resolveLimits } from './limits.ts';
import { asProtocolError, openMessage } from './message-framing.ts';
import { ProtocolError } from './protocol-error.ts';
import { parseJsonObject, stringifyJsonObject } from './safe-json.ts';
import {
  type FieldDesc,
  type FieldType,
  FORBIDDEN_MAP_KEYS,
  mapEntries,
  type StructName,
  structDesc,
} from './struct-descriptors.ts';

type StructCtor<T extends Struct> = Parameters<Message['getRoot']>[0] & { new (...args: never[]): T };

/** The capnp-es class for each struct name, including union groups (`DataRef_Body`). */
const CLASSES = { ...compute, ...bus } as unknown as Record<StructName, StructCtor<Struct>>;

type Obj = Record<string, unknown>;
// capnp-es structs expose generated accessors by field name; the walker reaches them by name.
type Accessors = Record<string, unknown>;
const call = (target: Accessors, method: string, ...args: unknown[]): unknown =>
  (target[method] as (...a: unknown[]) => unknown).apply(target, args);

const cap = (s: string): string => s[0]!.toUpperCase() + s.slice(1);
const INT_RANGE = {
  int: [-(2 ** 31), 2 ** 31 - 1],
  uint: [0, 2 ** 32 - 1],
  i64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  u64: [0, Number.MAX_SAFE_INTEGER],
} as const;

// ---------------------------------------------------------------------------------------------
// Encoding

interface EncodeContext {
  limits: DecodeLimits;
}

function fail(
  code: 'WRONG_TYPE' | 'VALUE_OUT_OF_RANGE' | 'UNKNOWN_ENUM',
  message: string,
  field: string,
): never {
  throw new ProtocolError(code, message, field);
}

function setScalar(target: Accessors, f: FieldDesc, type: FieldType, value: unknown, path: string): void {
  switch (type.k) {
    case 'bool':
      if (typeof value !== 'boolean') fail('WRONG_TYPE', 'must be a boolean', path);
      target[f.name] = value;
      return;
    case 'int':
    case 'uint':
    case 'i64':
    case 'u64': {
      const [lo, hi] = INT_RANGE[type.k];
      if (typeof value !== 'number' || !Number.isInteger(value))
        fail('WRONG_TYPE', 'must be an integer', path);
      if (value < lo || value > hi) fail('VALUE_OUT_OF_RANGE', `must be within ${lo}..${hi}`, path);
      target[f.name] = type.k === 'i64' || type.k === 'u64' ? BigInt(value) : value;
      return;
    }
    case 'float':
      if (typeof value !== 'number' || !Number.isFinite(value))
        fail('WRONG_TYPE', 'must be a finite number', path);
      target[f.name] = value;
      return;
    case 'text':
      if (typeof value !== 'string') fail('WRONG_TYPE', 'must be a string', path);
      target[f.name] = value;
      return;
    case 'enum': {
      const index = (ENUMS[type.e] as readonly string[]).indexOf(value as string);
      if (index < 0) fail('UNKNOWN_ENUM', `must be one of ${ENUMS[type.e].join(', ')}`, path);
      target[f.name] = index;
      return;
    }
    default:
      throw new Error(`setScalar: ${type.k}`);
  }
}

function encodeField(
  ctx: EncodeContext,
  target: Accessors,
  f: FieldDesc,
  value: unknown,
  path: string,
): void {
  const type = f.type;
  switch (type.k) {
    case 'void':
      target[f.name] = true;
      return;
    case 'json':
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        fail('WRONG_TYPE', 'must be a JSON object', path);
      }
      target[f.name] = stringifyJsonObject(
        value as JsonObject,
        { maxBytes: ctx.limits.maxParamsBytes, maxDepth: ctx.limits.maxParamsDepth },
        path,
      );
      return;
    case 'data': {
      if (!(value instanceof Uint8Array)) fail('WRONG_TYPE', 'must be a Uint8Array', path);
      const data = call(target, `_init${cap(f.name)}`, value.length) as { copyBuffer(src: Uint8Array): void };
      data.copyBuffer(value);
      return;
    }
    case 'map': {
      const entries = mapEntries(value, path);
      const list = call(target, `_init${cap(f.name)}`, entries.length) as { get(i: number): Accessors };
      entries.forEach(([key, text], i) => {
        const kv = list.get(i);
        kv['key'] = key;
        kv['value'] = text;
      });
      return;
    }
    case 'struct': {
      if (value === null || typeof value !== 'object') fail('WRONG_TYPE', 'must be an object', path);
      encodeStruct(ctx, call(target, `_init${cap(f.name)}`) as Accessors, type.s, value as Obj, path);
      return;
    }
    case 'list': {
      if (!Array.isArray(value)) fail('WRONG_TYPE', 'must be an array', path);
      const list = call(target, `_init${cap(f.name)}`, value.length) as {
        get(i: number): Accessors;
        set(i: number, v: unknown): void;
      };
      const of = type.of;
      for (let i = 0; i < value.length; i++) {
        const item: unknown = value[i];
        const itemPath = `${path}[${i}]`;
        if (of.k === 'struct') {
          if (item === null || typeof item !== 'object') fail('WRONG_TYPE', 'must be an object', itemPath);
          encodeStruct(ctx, list.get(i), of.s, item as Obj, itemPath);
        } else {
          // Primitive lists: reuse the scalar checks on a one-slot shim, then store.
          const shim: Accessors = {} as Accessors;
          setScalar(shim, { name: 'v', json: 'v', type: of }, of, item, itemPath);
          list.set(i, shim['v']);
        }
      }
      return;
    }
    case 'group':
      // Non-flattened groups are one-key objects; flattened ones are handled by the caller.
      if (value === null || typeof value !== 'object') fail('WRONG_TYPE', 'must be an object', path);
      encodeStruct(ctx, target[f.name] as Accessors, type.s, value as Obj, path);
      return;
    default:
      setScalar(target, f, type, value, path);
  }
}

function encodeStruct(ctx: EncodeContext, target: Accessors, name: StructName, obj: Obj, path: string): void {
  const desc = structDesc(name);
  let unionMember: FieldDesc | undefined;
  for (const f of desc.fields) {
    if (f.type.k === 'group' && f.type.flatten) {
      encodeStruct(ctx, target[f.name] as Accessors, f.type.s, obj, path);
      continue;
    }
    const value = obj[f.json];
    if (value === undefined || value === null) continue;
    if (f.union !== undefined) {
      if (unionMember) {
        throw new ProtocolError(
          'NOT_EXCLUSIVE',
          `only one of ${desc.fields
            .filter((m) => m.union !== undefined)
            .map((m) => m.json)
            .join(', ')} may be set`,
          path ? `${path}.${f.json}` : f.json,
        );
      }
      unionMember = f;
    }
    encodeField(ctx, target, f, value, path ? `${path}.${f.json}` : f.json);
  }
}

/** The same through capnp-es: the reference the direct codec is tested against. */
export function referenceEncode<N extends StructName>(
  name: N,
  obj: StructTypes[N],
  limits?: Partial<DecodeLimits>,
): Uint8Array {
  const message = new Message();
  const root = message.initRoot(CLASSES[name]) as unknown as Accessors;
  encodeStruct({ limits: resolveLimits(limits) }, root, name, obj as Obj, '');
  return new Uint8Array(message.toArrayBuffer());
}

// ---------------------------------------------------------------------------------------------
// Decoding

interface DecodeContext {
  limits: DecodeLimits;
  /**
   * Remaining work budget: one unit per list element (bounds zero-width list elements) and one
   * per 8 bytes of text or data read.
   */
  budget: number;
}

/**
 * Charges text and data to the budget. capnp-es charges a pointer the same whatever it points
 * at, so many pointers aliasing one large text would otherwise turn a small frame into gigabytes.
 */
function chargeBytes(ctx: DecodeContext, length: number, path: string): void {
  ctx.budget -= Math.ceil(length / 8);
  if (ctx.budget < 0) {
    throw new ProtocolError('TRAVERSAL_LIMIT', 'text and data read exceed the decoding budget', path);
  }
}

function toSafeNumber(value: bigint, path: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new ProtocolError('VALUE_OUT_OF_RANGE', 'integer exceeds 2^53', path);
  }
  return Number(value);
}

function readScalar(type: FieldType, value: unknown, path: string): unknown {
  switch (type.k) {
    case 'i64':
    case 'u64':
      return toSafeNumber(value as bigint, path);
    case 'enum': {
      const name = (ENUMS[type.e] as readonly string[])[value as number];
      if (name === undefined)
        throw new ProtocolError('UNKNOWN_ENUM', `unknown ${type.e} ordinal ${value}`, path);
      return name;
    }
    default:
      return value;
  }
}

function isDefault(type: FieldType, value: unknown): boolean {
  switch (type.k) {
    case 'bool':
      return value === false;
    case 'int':
    case 'uint':
    case 'float':
      return value === 0;
    case 'i64':
    case 'u64':
      return value === 0n;
    case 'text':
      return value === '';
    default:
      return false;
  }
}

function decodeStruct(
  ctx: DecodeContext,
  source: Accessors,
  name: StructName,
  depth: number,
  path: string,
): Obj {
  if (depth > ctx.limits.maxDepth) {
    throw new ProtocolError('NESTING_TOO_DEEP', `structs nest deeper than ${ctx.limits.maxDepth}`, path);
  }
  const desc = structDesc(name);
  const out: Obj = {};
  const which = desc.union ? (call(source, 'which') as number) : -1;
  for (const f of desc.fields) {
    if (f.union !== undefined && f.union !== which) continue;
    const fieldPath = path ? `${path}.${f.json}` : f.json;
    const type = f.type;
    switch (type.k) {
      case 'void':
        if (f.json !== 'none') out[f.json] = true;
        break;
      case 'json': {
        const text = source[f.name] as string;
        chargeBytes(ctx, text.length, fieldPath);
        if (text !== '') {
          out[f.json] = parseJsonObject(
            text,
            { maxBytes: ctx.limits.maxParamsBytes, maxDepth: ctx.limits.maxParamsDepth },
            fieldPath,
          );
        }
        break;
      }
      case 'data':
        if (f.union !== undefined || call(source, `_has${cap(f.name)}`)) {
          const bytes = (source[f.name] as { toUint8Array(): Uint8Array }).toUint8Array();
          chargeBytes(ctx, bytes.length, fieldPath);
          out[f.json] = bytes;
        }
        break;
      case 'map': {
        if (!call(source, `_has${cap(f.name)}`)) break;
        const list = source[f.name] as { length: number; get(i: number): { key: string; value: string } };
        ctx.budget -= list.length;
        if (ctx.budget < 0) {
          throw new ProtocolError(
            'LIST_TOO_LONG',
            `map of ${list.length} exceeds the decoding budget`,
            fieldPath,
          );
        }
        const map: Record<string, string> = {};
        for (let i = 0; i < list.length; i++) {
          const kv = list.get(i);
          chargeBytes(ctx, kv.key.length + kv.value.length, `${fieldPath}.${kv.key}`);
          if (FORBIDDEN_MAP_KEYS.has(kv.key)) {
            throw new ProtocolError(
              'FORBIDDEN_KEY',
              `key "${kv.key}" is not allowed`,
              `${fieldPath}.${kv.key}`,
            );
          }
          map[kv.key] = kv.value;
        }
        out[f.json] = map;
        break;
      }
      case 'struct':
        if (call(source, `_has${cap(f.name)}`)) {
          out[f.json] = decodeStruct(ctx, source[f.name] as Accessors, type.s, depth + 1, fieldPath);
        }
        break;
      case 'list': {
        if (!call(source, `_has${cap(f.name)}`)) break;
        const list = source[f.name] as { length: number; get(i: number): unknown };
        ctx.budget -= list.length;
        if (ctx.budget < 0) {
          throw new ProtocolError(
            'LIST_TOO_LONG',
            `list of ${list.length} exceeds the decoding budget`,
            fieldPath,
          );
        }
        const items: unknown[] = new Array(list.length);
        for (let i = 0; i < list.length; i++) {
          const item = list.get(i);
          if (typeof item === 'string') chargeBytes(ctx, item.length, `${fieldPath}[${i}]`);
          items[i] =
            type.of.k === 'struct'
              ? decodeStruct(ctx, item as Accessors, type.of.s, depth + 1, `${fieldPath}[${i}]`)
              : readScalar(type.of, item, `${fieldPath}[${i}]`);
        }
        out[f.json] = items;
        break;
      }
      case 'group': {
        const group = decodeStruct(ctx, source[f.name] as Accessors, type.s, depth + 1, fieldPath);
        if (type.flatten) Object.assign(out, group);
        else if (Object.keys(group).length > 0) out[f.json] = group;
        break;
      }
      default: {
        const value = source[f.name];
        if (typeof value === 'string') chargeBytes(ctx, value.length, fieldPath);
        // Enums and selected union members always show; other scalars only when not default.
        if (type.k === 'enum' || f.union !== undefined || !isDefault(type, value)) {
          out[f.json] = readScalar(type, value, fieldPath);
        }
      }
    }
  }
  return out;
}

/** Decodes the root struct of an opened message through capnp-es. */
export function decodeRoot(message: Message, name: StructName, bytes: number, limits: DecodeLimits): Obj {
  const root = message.getRoot(CLASSES[name]) as unknown as Accessors;
  return decodeStruct({ limits, budget: 64 + limits.traversalPerByte * bytes }, root, name, 0, '');
}

/** The same through capnp-es only: the reference the direct codec is tested against. */
export function referenceDecode<N extends StructName>(
  name: N,
  bytes: Uint8Array,
  limits?: Partial<DecodeLimits>,
): StructTypes[N] {
  const resolved = resolveLimits(limits);
  try {
    return decodeRoot(openMessage(bytes, resolved), name, bytes.length, resolved) as StructTypes[N];
  } catch (error) {
    throw asProtocolError(error);
  }
}

export { CLASSES };
