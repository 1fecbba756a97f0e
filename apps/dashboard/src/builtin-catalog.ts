// The built-in ops as the submit form offers them: inputs (tensors typed in as numbers or loaded
// from files) and params. Mirrors the op contracts of @flock/shaders (shaders/src/ops/*.ts);
// apps/dashboard/test/builtin-catalog.test.ts fails when the two drift apart.

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

export const BUILTIN_OPS: readonly CatalogOp[] = [
  {
    op: 'mandelbrot',
    summary: 'Escape-time iteration counts of the Mandelbrot set over a viewport (f32).',
    inputs: [],
    outputs: [
      { name: 'iterations', dtype: 'u32', shape: ['height', 'width'], doc: 'iterations before escape' },
    ],
    params: [
      { name: 'width', type: 'u32', min: 1, doc: 'pixels per row' },
      { name: 'height', type: 'u32', min: 1, doc: 'rows' },
      { name: 'max_iter', type: 'u32', default: 256, min: 1, max: 1_000_000, doc: 'iteration cap' },
      { name: 'x_min', type: 'f32', default: -2, doc: 'left edge of the viewport' },
      { name: 'x_max', type: 'f32', default: 1, doc: 'right edge' },
      { name: 'y_min', type: 'f32', default: -1.5, doc: 'top edge (row 0)' },
      { name: 'y_max', type: 'f32', default: 1.5, doc: 'bottom edge' },
    ],
    example: { inputs: {}, params: { width: 256, height: 192, max_iter: 256 } },
  },
  {
    op: 'saxpy',
    summary: 'out = a * x + y, elementwise over f32 vectors.',
    inputs: [
      { name: 'x', dtype: 'f32', shape: ['n'], doc: 'first vector' },
      { name: 'y', dtype: 'f32', shape: ['n'], doc: 'second vector, same length as x' },
    ],
    outputs: [{ name: 'out', dtype: 'f32', shape: ['n'], doc: 'a * x + y' }],
    params: [{ name: 'a', type: 'f32', default: 1, doc: 'scale of x' }],
    example: { inputs: { x: '1 2 3 4', y: '10 20 30 40' }, params: { a: 2 } },
  },
  {
    op: 'reduce_sum',
    summary: 'Sum of an f32 vector (tree reduction, 512 elements per workgroup per pass).',
    inputs: [{ name: 'x', dtype: 'f32', shape: ['n'], doc: 'values to sum' }],
    outputs: [{ name: 'sum', dtype: 'f32', shape: ['1'], doc: 'the sum' }],
    params: [],
    example: { inputs: { x: '1 2 3 4 5 6 7 8' }, params: {} },
  },
  {
    op: 'prefix_sum',
    summary: 'Inclusive scan (running total) of u32 values, wrapping modulo 2^32.',
    inputs: [{ name: 'values', dtype: 'u32', shape: ['n'], doc: 'values to scan' }],
    outputs: [{ name: 'scan', dtype: 'u32', shape: ['n'], doc: 'scan[i] = values[0] + ... + values[i]' }],
    params: [],
    example: { inputs: { values: '1 2 3 4 5' }, params: {} },
  },
  {
    op: 'histogram',
    summary: 'Counts u32 values into bins: bin = min(v >> shift, bins - 1).',
    inputs: [{ name: 'values', dtype: 'u32', shape: ['n'], doc: 'values to count' }],
    outputs: [{ name: 'counts', dtype: 'u32', shape: ['bins'], doc: 'count per bin' }],
    params: [
      { name: 'bins', type: 'u32', default: 256, min: 1, max: 4096, doc: 'number of bins' },
      { name: 'shift', type: 'u32', default: 0, min: 0, max: 31, doc: 'right shift applied to each value' },
    ],
    example: { inputs: { values: '0 1 1 2 2 2 3 3 3 3' }, params: { bins: 4 } },
  },
  {
    op: 'matmul',
    summary: 'c = a * b for row-major f32 matrices (64x64 tiles, 4x4 per invocation).',
    inputs: [
      { name: 'a', dtype: 'f32', shape: ['m', 'k'], doc: 'left matrix' },
      { name: 'b', dtype: 'f32', shape: ['k', 'n'], doc: 'right matrix' },
    ],
    outputs: [{ name: 'c', dtype: 'f32', shape: ['m', 'n'], doc: 'the product' }],
    params: [
      { name: 'm', type: 'u32', min: 1, doc: 'rows of a and c' },
      { name: 'n', type: 'u32', min: 1, doc: 'columns of b and c' },
      { name: 'k', type: 'u32', min: 1, doc: 'columns of a, rows of b' },
    ],
    example: { inputs: { a: '1 2 3 4', b: '5 6 7 8' }, params: { m: 2, n: 2, k: 2 } },
  },
  {
    op: 'fft',
    summary: 'Batched complex f32 FFT of power-of-two size (radix-2 Stockham, log2(n) passes).',
    inputs: [{ name: 'signal', dtype: 'c64', shape: ['batch', 'n'], doc: 'interleaved (re, im) f32 pairs' }],
    outputs: [
      { name: 'spectrum', dtype: 'c64', shape: ['batch', 'n'], doc: 'X[f] = sum x[t] e^(-+2 pi i f t / n)' },
    ],
    params: [
      { name: 'n', type: 'u32', default: 0, doc: 'transform size, a power of two; 0 = the whole signal' },
      { name: 'inverse', type: 'bool', default: false, doc: 'inverse transform (e^(+...)), not normalised' },
    ],
    example: { inputs: { signal: '1 0 0 0 0 0 0 0' }, params: {} },
  },
  {
    op: 'conv2d',
    summary: 'Single-channel f32 image filter (e.g. blur): correlation with clamp-to-edge borders.',
    inputs: [
      { name: 'image', dtype: 'f32', shape: ['height', 'width'], doc: 'the image' },
      { name: 'kernel', dtype: 'f32', shape: ['kh', 'kw'], doc: 'filter weights, odd sizes' },
    ],
    outputs: [{ name: 'out', dtype: 'f32', shape: ['height', 'width'], doc: 'filtered image' }],
    params: [
      { name: 'width', type: 'u32', min: 1, doc: 'image width' },
      { name: 'height', type: 'u32', min: 1, doc: 'image height' },
      { name: 'kw', type: 'u32', min: 1, max: 31, doc: 'kernel width, odd' },
      { name: 'kh', type: 'u32', min: 1, max: 31, doc: 'kernel height, odd' },
    ],
    example: {
      inputs: { image: '0 0 0 0 9 0 0 0 0', kernel: '0.111 0.111 0.111 0.111 0.111 0.111 0.111 0.111 0.111' },
      params: { width: 3, height: 3, kw: 3, kh: 3 },
    },
  },
  {
    op: 'nbody_step',
    summary: 'One symplectic-Euler step of all-pairs gravity (G = 1, Plummer softening).',
    inputs: [
      { name: 'bodies', dtype: 'f32', shape: ['n', '8'], doc: 'x, y, z, mass, vx, vy, vz, 0 per body' },
    ],
    outputs: [{ name: 'next', dtype: 'f32', shape: ['n', '8'], doc: 'the bodies after one step' }],
    params: [
      { name: 'dt', type: 'f32', default: 0.01, min: 0, doc: 'time step' },
      { name: 'softening', type: 'f32', default: 0.01, min: 1e-6, doc: 'Plummer softening length eps (> 0)' },
    ],
    example: { inputs: { bodies: '0 0 0 1 0 0 0 0  1 0 0 1 0 0 0 0' }, params: {} },
  },
  {
    op: 'sha256_batch',
    summary: 'SHA-256 of each message; messages are byte ranges of one packed input.',
    inputs: [
      { name: 'data', dtype: 'u8', shape: ['bytes'], doc: 'all messages, back to back' },
      {
        name: 'offsets',
        dtype: 'u32',
        shape: ['count + 1'],
        doc: 'message i is data[offsets[i] .. offsets[i + 1]); non-decreasing, last <= bytes',
      },
    ],
    outputs: [{ name: 'digests', dtype: 'u8', shape: ['count', '32'], doc: 'the digests, in order' }],
    params: [],
    example: { inputs: { data: '97 98 99', offsets: '0 3' }, params: {} },
  },
];

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
