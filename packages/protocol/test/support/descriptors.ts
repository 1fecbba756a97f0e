// Helpers over the generated descriptor table (STRUCTS/ENUMS), shared by the interop and property
// tests: which fields a message object sets, and the wire width of float fields.
import { CLASSES } from '../../src/reference-codec.ts';
import { type FieldDesc, type StructName, visibleFields } from '../../src/struct-descriptors.ts';

export type FieldType = FieldDesc['type'];
type Obj = Record<string, unknown>;

const floatWidths = new Map<string, boolean>();

/** Float fields are Float32 or Float64 on the wire; the generated accessor says which. */
export function isFloat32(struct: StructName, field: FieldDesc): boolean {
  const key = `${struct}.${field.name}`;
  let known = floatWidths.get(key);
  if (known === undefined) {
    known = readFloatWidth(struct, field);
    floatWidths.set(key, known);
  }
  return known;
}

function readFloatWidth(struct: StructName, field: FieldDesc): boolean {
  let proto: object | null = CLASSES[struct].prototype;
  while (proto) {
    const getter = Object.getOwnPropertyDescriptor(proto, field.name)?.get;
    if (getter) return getter.toString().includes('getFloat32');
    proto = Object.getPrototypeOf(proto);
  }
  // Flattened union members live on the group class.
  for (const [name, cls] of Object.entries(CLASSES)) {
    if (!name.startsWith(`${struct}_`)) continue;
    const getter = Object.getOwnPropertyDescriptor(cls.prototype, field.name)?.get;
    if (getter) return getter.toString().includes('getFloat32');
  }
  throw new Error(`no accessor for ${struct}.${field.name}`);
}

/**
 * Every `Struct.field` (JSON names) that a message object sets, walking nested structs, lists
 * and groups through the descriptors. Used to prove a fixture really sets every field.
 */
export function fieldsSet(name: StructName, obj: object, out = new Set<string>()): Set<string> {
  for (const f of visibleFields(name)) {
    const value = (obj as Obj)[f.json];
    if (value === undefined) continue;
    out.add(`${name}.${f.json}`);
    walk(f.type, value, out);
  }
  return out;
}

function walk(type: FieldType, value: unknown, out: Set<string>): void {
  if (type.k === 'struct' || type.k === 'group') fieldsSet(type.s, value as Obj, out);
  else if (type.k === 'list') for (const item of value as unknown[]) walk(type.of, item, out);
}

/** Every `Struct.field` reachable from a struct, excluding union `none` placeholders. */
export function allFields(name: StructName, out = new Set<string>()): Set<string> {
  for (const f of visibleFields(name)) {
    if (f.json === 'none' || out.has(`${name}.${f.json}`)) continue;
    out.add(`${name}.${f.json}`);
    let type: FieldType = f.type;
    while (type.k === 'list') type = type.of;
    if (type.k === 'struct' || type.k === 'group') allFields(type.s, out);
  }
  return out;
}

/** A copy of a message object with `fn` applied to the value of every Float32 field. */
export function mapFloat32(name: StructName, obj: object, fn: (value: number) => number): Obj {
  const out: Obj = { ...(obj as Obj) };
  for (const f of visibleFields(name)) {
    const value = out[f.json];
    if (value !== undefined) out[f.json] = mapValue(name, f, f.type, value, fn);
  }
  return out;
}

function mapValue(
  owner: StructName,
  f: FieldDesc,
  type: FieldType,
  value: unknown,
  fn: (v: number) => number,
): unknown {
  switch (type.k) {
    case 'float':
      return isFloat32(owner, f) ? fn(value as number) : value;
    case 'struct':
    case 'group':
      return mapFloat32(type.s, value as Obj, fn);
    case 'list':
      return (value as unknown[]).map((item) => mapValue(owner, f, type.of, item, fn));
    default:
      return value;
  }
}
