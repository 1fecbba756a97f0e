// The built-in ops as the submit form offers them: inputs (tensors typed in as numbers or loaded
// from files) and params, read from the op contracts of @flock/shaders (shaders/src/ops/*.ts).
import { type BuiltinOp, OPS } from '@flock/shaders';

export type CatalogDtype = 'f32' | 'u32' | 'u8' | 'c64';

export interface CatalogTensor {
  name: string;
  dtype: CatalogDtype;
  shape: readonly string[];
  doc: string;
}

export interface CatalogParam {
  name: string;
  type: 'u32' | 'f32' | 'bool';
  default?: number | boolean;
  min?: number;
  max?: number;
  doc: string;
}

export interface CatalogOp {
  op: string;
  summary: string;
  inputs: readonly CatalogTensor[];
  outputs: readonly CatalogTensor[];
  params: readonly CatalogParam[];
  /** A filled-in example so a person can press Submit straight away. */
  example: { inputs: Record<string, string>; params: Record<string, number | boolean> };
}

/** A filled-in example per op, so a person can press Submit straight away. */
const EXAMPLES: Readonly<Record<BuiltinOp, CatalogOp['example']>> = {
  mandelbrot: { inputs: {}, params: { width: 256, height: 192, max_iter: 256 } },
  saxpy: { inputs: { x: '1 2 3 4', y: '10 20 30 40' }, params: { a: 2 } },
  reduce_sum: { inputs: { x: '1 2 3 4 5 6 7 8' }, params: {} },
  prefix_sum: { inputs: { values: '1 2 3 4 5' }, params: {} },
  histogram: { inputs: { values: '0 1 1 2 2 2 3 3 3 3' }, params: { bins: 4 } },
  matmul: { inputs: { a: '1 2 3 4', b: '5 6 7 8' }, params: { m: 2, n: 2, k: 2 } },
  fft: { inputs: { signal: '1 0 0 0 0 0 0 0' }, params: {} },
  conv2d: {
    inputs: { image: '0 0 0 0 9 0 0 0 0', kernel: '0.111 0.111 0.111 0.111 0.111 0.111 0.111 0.111 0.111' },
    params: { width: 3, height: 3, kw: 3, kh: 3 },
  },
  nbody_step: { inputs: { bodies: '0 0 0 1 0 0 0 0  1 0 0 1 0 0 0 0' }, params: {} },
  sha256_batch: { inputs: { data: '97 98 99', offsets: '0 3' }, params: {} },
};

/** The ops as the form offers them: the contracts of @flock/shaders plus an example each. */
export const BUILTIN_OPS: readonly CatalogOp[] = (Object.keys(OPS) as BuiltinOp[]).map((op) => {
  const def = OPS[op];
  return {
    op,
    summary: def.summary,
    inputs: def.inputs.map((t) => ({ ...t, dtype: t.dtype as CatalogDtype, shape: [...t.shape] })),
    outputs: def.outputs.map((t) => ({ ...t, dtype: t.dtype as CatalogDtype, shape: [...t.shape] })),
    params: def.params as readonly CatalogParam[],
    example: EXAMPLES[op],
  };
});

/** Bytes per element of a dtype (`c64` is a pair of f32). */
export const DTYPE_BYTES: Readonly<Record<CatalogDtype, number>> = { f32: 4, u32: 4, u8: 1, c64: 8 };

/**
 * Encodes numbers typed by a person (separated by spaces, commas or newlines) as little-endian
 * tensor bytes. `c64` takes (re, im) pairs as consecutive numbers. Throws a message naming the
 * first bad token.
 */
export function encodeNumbers(text: string, dtype: CatalogDtype): Uint8Array {
  const tokens = text.split(/[\s,;]+/).filter((t) => t !== '');
  const values = tokens.map((token) => {
    const value = Number(token);
    if (!Number.isFinite(value)) throw new Error(`"${token}" is not a number`);
    if ((dtype === 'u32' || dtype === 'u8') && (!Number.isInteger(value) || value < 0)) {
      throw new Error(`"${token}" is not a non-negative integer`);
    }
    if (dtype === 'u8' && value > 255) throw new Error(`"${token}" does not fit in a byte`);
    return value;
  });
  if (dtype === 'u8') return Uint8Array.from(values);
  if (dtype === 'c64' && values.length % 2 !== 0) throw new Error('c64 needs (re, im) pairs: an even count');
  const array = dtype === 'u32' ? Uint32Array.from(values) : Float32Array.from(values);
  return new Uint8Array(array.buffer);
}
