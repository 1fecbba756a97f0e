// The canonical form of a message object: what decode(encode(m)) must return. Written from the
// documented rules (README "The model and the JSON view"), independently of the decoder:
// - default scalars (false, 0, -0, "") are left out, except enums, which always show (an absent
//   enum shows its ordinal-0 value);
// - Float32 fields hold Math.fround(value); params go through JSON text;
// - structs, lists, maps and Data show when set, even when empty;
// - a union shows its one member, even an empty one; the `none` member shows nothing (a Frame payload of `none` is
//   left out).
import { ENUMS } from '../../src/index.ts';
import { type FieldDesc, type StructName, structDesc } from '../../src/struct-descriptors.ts';
import { type FieldType, isFloat32 } from './descriptors.ts';

type Obj = Record<string, unknown>;

function isDefaultScalar(type: FieldType, value: unknown): boolean {
  switch (type.k) {
    case 'bool':
      return value === false;
    case 'int':
    case 'uint':
    case 'i64':
    case 'u64':
    case 'float':
      return value === 0; // also -0
    case 'text':
      return value === '';
    default:
      return false;
  }
}

function canonicalValue(owner: StructName, f: FieldDesc, type: FieldType, value: unknown): unknown {
  switch (type.k) {
    case 'float':
      return isFloat32(owner, f) ? Math.fround(value as number) : value;
    case 'json':
      return JSON.parse(JSON.stringify(value));
    case 'map':
      return { ...(value as Obj) };
    case 'struct':
      return canonical(type.s, value as Obj);
    case 'list':
      return (value as unknown[]).map((item) => canonicalValue(owner, f, type.of, item));
    default:
      return value;
  }
}

/** decode(encode(m)) as the rules say it should be. */
export function canonical(name: StructName, obj: Obj): Obj {
  const out: Obj = {};
  for (const f of structDesc(name).fields) {
    if (f.type.k === 'group') {
      const member = unionMember(f.type.s, f.type.flatten ? obj : (obj[f.json] as Obj | undefined));
      if (member) Object.assign(out, f.type.flatten ? member : { [f.json]: member });
      continue;
    }
    const value = obj[f.json];
    if (f.type.k === 'enum') {
      out[f.json] = value ?? ENUMS[f.type.e][0];
      continue;
    }
    if (value === undefined || value === null) continue;
    const canon = canonicalValue(name, f, f.type, value);
    if (!isDefaultScalar(f.type, canon)) out[f.json] = canon;
  }
  return out;
}

/** The set member of a union as a one-key object, or undefined for none/unset/default text. */
function unionMember(group: StructName, source: Obj | undefined): Obj | undefined {
  if (!source) return undefined;
  for (const f of structDesc(group).fields) {
    if (f.union === undefined || f.type.k === 'void') continue;
    const value = source[f.json];
    if (value === undefined || value === null) continue;
    const canon = canonicalValue(group, f, f.type, value);
    // A selected member shows even when empty ("" or no bytes): the discriminant says it is set.
    return { [f.json]: canon };
  }
  return undefined;
}
