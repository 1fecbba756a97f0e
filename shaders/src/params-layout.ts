// The WGSL `struct Params` of each op is the one definition of its uniform layout: the runner
// parses it from the shader source and packs values by it, so TS never restates the offsets.
// Only 4-byte scalars are allowed, which makes the offset of field i exactly 4 * i.

/** One scalar field of a `Params` struct. */
export interface ParamsField {
  readonly name: string;
  readonly type: 'u32' | 'i32' | 'f32';
  readonly offset: number;
}

/** The uniform layout of a shader: fields in order and the buffer size (a multiple of 16). */
export interface ParamsLayout {
  readonly fields: readonly ParamsField[];
  readonly size: number;
}

/** Parses `struct Params { a: u32, b: f32, }` from WGSL source; throws on anything else. */
export function parseParamsLayout(wgsl: string): ParamsLayout {
  const match = /struct\s+Params\s*\{([^}]*)\}/.exec(wgsl);
  if (match === null) throw new Error('WGSL has no `struct Params`');
  const body = (match[1] ?? '').replace(/\/\/[^\n]*/g, '');
  const fields: ParamsField[] = [];
  for (const part of body.split(',')) {
    const text = part.trim();
    if (text === '') continue;
    const field = /^([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(u32|i32|f32)$/.exec(text);
    if (field === null) throw new Error(`unsupported Params field "${text}" (only u32, i32, f32 scalars)`);
    fields.push({ name: field[1]!, type: field[2] as ParamsField['type'], offset: fields.length * 4 });
  }
  return { fields, size: Math.max(16, Math.ceil((fields.length * 4) / 16) * 16) };
}

/** Packs values into the uniform bytes of `layout`; every field must have a value. */
export function packParams(
  layout: ParamsLayout,
  values: Readonly<Record<string, number>>,
): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(layout.size);
  const view = new DataView(bytes.buffer);
  for (const field of layout.fields) {
    const value = values[field.name];
    if (value === undefined) throw new Error(`Params.${field.name} has no value`);
    if (field.type === 'f32') view.setFloat32(field.offset, value, true);
    else if (field.type === 'u32') view.setUint32(field.offset, value, true);
    else view.setInt32(field.offset, value, true);
  }
  return bytes;
}
