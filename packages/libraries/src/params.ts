// The declarative schema of a method's JSON params: validated at submit by the coordinator, again
// in the tab, typed for the SDK, and rendered as a form by the dashboard. Defaults are filled in.
import { LibraryError } from './library-error.ts';

interface Base {
  /** One line for the dashboard form and the README. */
  doc: string;
}

export type ParamSpec =
  | (Base & { type: 'integer'; min?: number; max?: number; default?: number })
  | (Base & { type: 'number'; min?: number; max?: number; default?: number })
  | (Base & { type: 'string'; maxLength?: number; pattern?: string; default?: string })
  | (Base & { type: 'boolean'; default?: boolean })
  | (Base & { type: 'enum'; values: readonly string[]; default?: string })
  | (Base & { type: 'array'; items: ParamSpec; minItems?: number; maxItems?: number })
  | (Base & { type: 'object'; fields: Readonly<Record<string, ParamSpec>>; required?: readonly string[] })
  /** Any keys (names of inputs, say), each value of `values`. */
  | (Base & { type: 'map'; values: ParamSpec; maxEntries?: number });

export type Params = Record<string, unknown>;

/** Fields of a method's params: the ones listed as `required` must be given; others default. */
export interface ParamsSchema {
  readonly fields: Readonly<Record<string, ParamSpec>>;
  readonly required?: readonly string[];
}

/**
 * Checks `value` against `schema` and returns it with defaults filled in. Unknown keys are refused
 * (a misspelt `widht` must not be ignored). Throws LibraryError INVALID_PARAMS naming the field.
 */
export function checkParams(value: unknown, schema: ParamsSchema, path = 'params'): Params {
  return checkObject(value, schema.fields, schema.required ?? [], path);
}

function checkObject(
  value: unknown,
  fields: Readonly<Record<string, ParamSpec>>,
  required: readonly string[],
  path: string,
): Params {
  if (value === undefined || value === null) value = {};
  if (typeof value !== 'object' || Array.isArray(value)) fail(path, 'must be an object');
  const input = value as Record<string, unknown>;
  for (const key of Object.keys(input)) {
    if (!Object.hasOwn(fields, key))
      fail(`${path}.${key}`, `unknown parameter (known: ${Object.keys(fields).join(', ') || 'none'})`);
  }
  const out: Params = {};
  for (const [key, spec] of Object.entries(fields)) {
    const given = input[key];
    if (given === undefined) {
      if (required.includes(key)) fail(`${path}.${key}`, 'is required');
      if ('default' in spec && spec.default !== undefined) out[key] = spec.default;
      continue;
    }
    out[key] = checkValue(given, spec, `${path}.${key}`);
  }
  return out;
}

function checkValue(value: unknown, spec: ParamSpec, path: string): unknown {
  switch (spec.type) {
    case 'integer':
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) fail(path, `must be a ${spec.type}`);
      if (spec.type === 'integer' && !Number.isInteger(value)) fail(path, 'must be an integer');
      if (spec.min !== undefined && value < spec.min) fail(path, `must be at least ${spec.min}`);
      if (spec.max !== undefined && value > spec.max) fail(path, `must be at most ${spec.max}`);
      return value;
    }
    case 'string': {
      if (typeof value !== 'string') fail(path, 'must be a string');
      if (spec.maxLength !== undefined && value.length > spec.maxLength)
        fail(path, `must be at most ${spec.maxLength} characters`);
      if (spec.pattern !== undefined && !new RegExp(spec.pattern).test(value))
        fail(path, `must match ${spec.pattern}`);
      return value;
    }
    case 'boolean':
      if (typeof value !== 'boolean') fail(path, 'must be true or false');
      return value;
    case 'enum':
      if (typeof value !== 'string' || !spec.values.includes(value))
        fail(path, `must be one of ${spec.values.join(', ')}`);
      return value;
    case 'array': {
      if (!Array.isArray(value)) fail(path, 'must be a list');
      if (spec.minItems !== undefined && value.length < spec.minItems)
        fail(path, `needs at least ${spec.minItems} items`);
      if (spec.maxItems !== undefined && value.length > spec.maxItems)
        fail(path, `takes at most ${spec.maxItems} items`);
      return value.map((item, i) => checkValue(item, spec.items, `${path}[${i}]`));
    }
    case 'object':
      return checkObject(value, spec.fields, spec.required ?? [], path);
    case 'map': {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        fail(path, 'must be an object');
      const entries = Object.entries(value as Record<string, unknown>);
      if (spec.maxEntries !== undefined && entries.length > spec.maxEntries)
        fail(path, `takes at most ${spec.maxEntries} entries`);
      return Object.fromEntries(entries.map(([k, v]) => [k, checkValue(v, spec.values, `${path}.${k}`)]));
    }
  }
}

function fail(field: string, message: string): never {
  throw new LibraryError('INVALID_PARAMS', `${field} ${message}`, field);
}
