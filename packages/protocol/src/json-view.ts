// The JSON view of every message: the seed's snake_case names, bytes as base64, params as an
// object. fromJson is strict (unknown fields, wrong types and bad base64 are ProtocolErrors);
// toJson is canonical (default scalars left out), so JSON → Cap'n Proto → JSON is lossless.
import { decodeBase64, encodeBase64 } from './base64.ts';
import { type ComputeEnvelope, ENUMS, type StructTypes } from './generated/model.ts';
import { type DecodeLimits, resolveLimits } from './limits.ts';

import { ProtocolError } from './protocol-error.ts';
import { checkJsonValue, exceedsUtf8Bytes, parseJsonText } from './safe-json.ts';
import {
  type FieldDesc,
  mapEntries,
  type StructName,
  structDesc,
  visibleFields,
} from './struct-descriptors.ts';
import { type ValidateOptions, validateEnvelope } from './validate.ts';

type Obj = Record<string, unknown>;
type FieldType = FieldDesc['type'];

const INT_RANGE = {
  int: [-(2 ** 31), 2 ** 31 - 1],
  uint: [0, 2 ** 32 - 1],
  i64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  u64: [0, Number.MAX_SAFE_INTEGER],
} as const;

function isPlainObject(value: unknown): value is Obj {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

// ---------------------------------------------------------------------------------------------
// JSON → message object
//
// The converters name a failure's field relative to the value they convert ('' for the value
// itself) and each member or list item puts its own name in front as the error passes up
// (`under`): a campaign converts thousands of envelopes, and building every member's path up
// front, for the rare error, was a string per member.

/** `err` (a ProtocolError whose field is relative to the member `key`: `name` or `[3]`) under it. */
function under(key: string, err: unknown): unknown {
  if (!(err instanceof ProtocolError)) return err;
  const f = err.field;
  const field = !f ? key : f[0] === '[' || f[0] === '.' ? key + f : `${key}.${f}`;
  return new ProtocolError(err.code, err.message, field);
}

function fromJsonValue(type: FieldType, value: unknown, limits: DecodeLimits): unknown {
  switch (type.k) {
    case 'void':
      if (value !== true) throw new ProtocolError('WRONG_TYPE', 'must be true', '');
      return true;
    case 'bool':
      if (typeof value !== 'boolean') throw new ProtocolError('WRONG_TYPE', 'must be a boolean', '');
      return value;
    case 'int':
    case 'uint':
    case 'i64':
    case 'u64': {
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        throw new ProtocolError('WRONG_TYPE', 'must be an integer', '');
      }
      const range = INT_RANGE[type.k];
      if (value < range[0] || value > range[1])
        throw new ProtocolError('VALUE_OUT_OF_RANGE', `must be within ${range[0]}..${range[1]}`, '');
      return value;
    }
    case 'float':
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new ProtocolError('WRONG_TYPE', 'must be a finite number', '');
      }
      return value;
    case 'text':
      if (typeof value !== 'string') throw new ProtocolError('WRONG_TYPE', 'must be a string', '');
      return value;
    case 'json': {
      if (!isPlainObject(value)) throw new ProtocolError('WRONG_TYPE', 'must be a JSON object', '');
      checkJsonValue(value, { maxDepth: limits.maxParamsDepth }, '');
      if (exceedsUtf8Bytes(JSON.stringify(value), limits.maxParamsBytes)) {
        throw new ProtocolError('PARAMS_TOO_LARGE', `JSON is larger than ${limits.maxParamsBytes} bytes`, '');
      }
      return value;
    }
    case 'map':
      return Object.fromEntries(mapEntries(value, ''));
    case 'data':
      if (typeof value !== 'string') throw new ProtocolError('WRONG_TYPE', 'must be a base64 string', '');
      return decodeBase64(value, '');
    case 'enum': {
      const values = structEnumValues(type.e);
      if (typeof value !== 'string' || !values.includes(value)) {
        throw new ProtocolError('UNKNOWN_ENUM', `must be one of ${values.join(', ')}`, '');
      }
      return value;
    }
    case 'struct':
    case 'group':
      return fromJsonStruct(type.s, value, limits);
    case 'list': {
      if (!Array.isArray(value)) throw new ProtocolError('WRONG_TYPE', 'must be an array', '');
      const out = new Array<unknown>(value.length);
      for (let i = 0; i < value.length; i++) {
        try {
          out[i] = fromJsonValue(type.of, value[i], limits);
        } catch (err) {
          throw under(`[${i}]`, err);
        }
      }
      return out;
    }
    default:
      throw new Error('unreachable');
  }
}

function structEnumValues(name: keyof typeof ENUMS): readonly string[] {
  return ENUMS[name];
}

/** What the JSON view needs of a struct, worked out once per struct (not per object converted). */
interface StructView {
  /** The members a JSON object shows (flattened groups' members included), in schema order. */
  readonly fields: readonly FieldDesc[];
  readonly byJson: ReadonlyMap<string, FieldDesc>;
  /** The struct's own fields (a union member that is not one belongs to a flattened group). */
  readonly own: ReadonlySet<FieldDesc>;
  readonly union: boolean;
}

const VIEWS = new Map<StructName, StructView>();

function viewOf(name: StructName): StructView {
  let view = VIEWS.get(name);
  if (!view) {
    const fields = visibleFields(name);
    const desc = structDesc(name);
    view = {
      fields,
      byJson: new Map(fields.map((f) => [f.json, f])),
      own: new Set(desc.fields),
      union: desc.union,
    };
    VIEWS.set(name, view);
  }
  return view;
}

function fromJsonStruct(name: StructName, value: unknown, limits: DecodeLimits): Obj {
  if (!isPlainObject(value)) throw new ProtocolError('WRONG_TYPE', 'must be an object', '');
  const view = viewOf(name);
  // Only the schema's member names are written (any other key is refused first), and none of
  // them is `__proto__`: a plain object is safe here.
  const out: Obj = {};
  let unionSeen: string | undefined;
  // for-in over own keys: Object.keys would be an array per object converted.
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const field = view.byJson.get(key);
    if (!field || field.json === 'none')
      throw new ProtocolError('UNKNOWN_FIELD', `unknown field "${key}"`, key);
    const raw = value[key];
    if (raw === null || raw === undefined) continue;
    const isFlattenedMember = field.union !== undefined && !view.own.has(field);
    if (field.union !== undefined && !isFlattenedMember && view.union) {
      if (unionSeen)
        throw new ProtocolError('NOT_EXCLUSIVE', `only one of ${unionSeen}, ${key} may be set`, key);
      unionSeen = key;
    }
    try {
      out[key] = fromJsonValue(field.type, raw, limits);
    } catch (err) {
      throw under(key, err);
    }
  }
  return out;
}

/** Converts a JSON-view value (already parsed) to the named message object. Strict. */
export function fromJson<N extends StructName>(
  name: N,
  json: unknown,
  limits?: Partial<DecodeLimits>,
): StructTypes[N] {
  try {
    return fromJsonStruct(name, json, resolveLimits(limits)) as StructTypes[N];
  } catch (err) {
    // Only the value itself not being an object has no member to name.
    if (err instanceof ProtocolError && !err.field) throw new ProtocolError(err.code, err.message, '$');
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// message object → JSON

function isDefaultScalar(type: FieldType, value: unknown): boolean {
  switch (type.k) {
    case 'bool':
      return value === false;
    case 'int':
    case 'uint':
    case 'i64':
    case 'u64':
    case 'float':
      return value === 0;
    case 'text':
      return value === '';
    default:
      return false;
  }
}

function toJsonValue(type: FieldType, value: unknown): unknown {
  switch (type.k) {
    case 'data':
      return encodeBase64(value as Uint8Array);
    case 'struct':
    case 'group':
      return toJsonStruct(type.s, value as Obj);
    case 'list': {
      const items = value as unknown[];
      const out = new Array<unknown>(items.length);
      for (let i = 0; i < items.length; i++) out[i] = toJsonValue(type.of, items[i]);
      return out;
    }
    default:
      return value;
  }
}

// Indexed loops, no closures: every stored result and every task view is converted here.
function toJsonStruct(name: StructName, obj: Obj): Obj {
  const out: Obj = {};
  const fields = viewOf(name).fields;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const value = obj[f.json];
    if (value === undefined || value === null) continue;
    if (f.union === undefined && isDefaultScalar(f.type, value)) continue;
    if (f.json === 'none') continue;
    out[f.json] = toJsonValue(f.type, value);
  }
  return out;
}

/** Converts a message object to its canonical JSON view (ready for JSON.stringify). */
export function toJson<N extends StructName>(name: N, obj: StructTypes[N]): Record<string, unknown> {
  return toJsonStruct(name, obj as Obj);
}

/**
 * Parses and validates a ComputeEnvelope from JSON text, as the REST API receives it: size and
 * prototype-key checks while parsing, the strict JSON view, then the seed's validation rules.
 */
export function parseEnvelopeJson(
  text: string,
  options: ValidateOptions & { maxBytes?: number } = {},
): ComputeEnvelope {
  const value = parseJsonText(text, { maxBytes: options.maxBytes ?? 4 << 20, maxDepth: 128 }, '$');
  const envelope = fromJson('ComputeEnvelope', value);
  validateEnvelope(envelope, options);
  return envelope;
}
