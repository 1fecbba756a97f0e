// Known answers of the CPU references (Node), and the typed errors of bad calls.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { getOp, ShaderError, type Tensors } from '../src/index.ts';
import { allCases, hex, SHA256_VECTORS, sha256VectorInputs } from './support/cases.ts';

const f32 = (...v: number[]) => new Uint8Array(Float32Array.from(v).buffer);
const u32 = (...v: number[]) => new Uint8Array(Uint32Array.from(v).buffer);
const asF32 = (b: Uint8Array | undefined) => Array.from(new Float32Array(b!.slice().buffer));
const asU32 = (b: Uint8Array | undefined) => Array.from(new Uint32Array(b!.slice().buffer));

async function reference(
  op: string,
  inputs: Tensors,
  params: Record<string, unknown> = {},
): Promise<Tensors> {
  return getOp(op).prepare(inputs, params).reference();
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof ShaderError) return `${error.code}:${error.field ?? ''}`;
    throw error;
  }
  return 'no error';
}

describe('CPU references: known answers', () => {
  it('saxpy', async () => {
    const out = await reference('saxpy', { x: f32(1, 2, -3), y: f32(10, 20, 30) }, { a: 2 });
    expect(asF32(out['out'])).toEqual([12, 24, 24]);
  });

  it('reduce_sum of 1..1000 is 500500', async () => {
    const x = Float32Array.from({ length: 1000 }, (_, i) => i + 1);
    expect(asF32((await reference('reduce_sum', { x: new Uint8Array(x.buffer) }))['sum'])).toEqual([500500]);
  });

  it('prefix_sum of ones counts up, and wraps modulo 2^32', async () => {
    const ones = new Uint8Array(new Uint32Array(5).fill(1).buffer);
    expect(asU32((await reference('prefix_sum', { values: ones }))['scan'])).toEqual([1, 2, 3, 4, 5]);
    const wrap = await reference('prefix_sum', { values: u32(0xffff_ffff, 2, 3) });
    expect(asU32(wrap['scan'])).toEqual([0xffff_ffff, 1, 4]);
  });

  it('histogram clamps into the last bin and shifts', async () => {
    const out = await reference('histogram', { values: u32(0, 1, 1, 3, 9, 2) }, { bins: 4 });
    expect(asU32(out['counts'])).toEqual([1, 2, 1, 2]);
    const shifted = await reference('histogram', { values: u32(0x100, 0x1ff, 0x300) }, { bins: 4, shift: 8 });
    expect(asU32(shifted['counts'])).toEqual([0, 2, 0, 1]);
  });

  it('matmul 2x3 * 3x2', async () => {
    const out = await reference(
      'matmul',
      { a: f32(1, 2, 3, 4, 5, 6), b: f32(7, 8, 9, 10, 11, 12) },
      { m: 2, n: 2, k: 3 },
    );
    expect(asF32(out['c'])).toEqual([58, 64, 139, 154]);
  });

  it('fft of an impulse is flat; of a cosine, two spikes', async () => {
    const impulse = await reference('fft', { signal: f32(1, 0, 0, 0, 0, 0, 0, 0) });
    expect(asF32(impulse['spectrum'])).toEqual([1, 0, 1, 0, 1, 0, 1, 0]);
    const n = 8;
    const cos = Float32Array.from({ length: 2 * n }, (_, i) =>
      i % 2 === 0 ? Math.cos((2 * Math.PI * (i / 2)) / n) : 0,
    );
    const spectrum = asF32((await reference('fft', { signal: new Uint8Array(cos.buffer) }))['spectrum']);
    const magnitudes = Array.from({ length: n }, (_, f) =>
      Math.round(Math.hypot(spectrum[2 * f]!, spectrum[2 * f + 1]!)),
    );
    expect(magnitudes).toEqual([0, 4, 0, 0, 0, 0, 0, 4]);
  });

  it('conv2d: identity kernel copies, a box blur of a constant image is constant', async () => {
    const image = f32(1, 2, 3, 4, 5, 6);
    const id = await reference(
      'conv2d',
      { image, kernel: f32(0, 0, 0, 0, 1, 0, 0, 0, 0) },
      { width: 3, height: 2, kw: 3, kh: 3 },
    );
    expect(asF32(id['out'])).toEqual([1, 2, 3, 4, 5, 6]);
    const box = await reference(
      'conv2d',
      { image: f32(2, 2, 2, 2), kernel: new Uint8Array(new Float32Array(9).fill(0.25).buffer) },
      { width: 2, height: 2, kw: 3, kh: 3 },
    );
    expect(asF32(box['out'])).toEqual([4.5, 4.5, 4.5, 4.5]);
  });

  it('mandelbrot: the origin never escapes, 2+2i escapes at once', async () => {
    const inside = await reference(
      'mandelbrot',
      {},
      { width: 1, height: 1, x_min: -0.5, x_max: 0.5, y_min: -0.5, y_max: 0.5, max_iter: 50 },
    );
    expect(asU32(inside['iterations'])).toEqual([50]);
    const outside = await reference(
      'mandelbrot',
      {},
      { width: 1, height: 1, x_min: 1.5, x_max: 2.5, y_min: 1.5, y_max: 2.5 },
    );
    expect(asU32(outside['iterations'])).toEqual([1]);
  });

  it('nbody_step: two equal masses at rest attract symmetrically', async () => {
    const bodies = f32(-1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0);
    const next = asF32((await reference('nbody_step', { bodies }, { dt: 0.5, softening: 1e-3 }))['next']);
    // |a| = m |d| / (|d|^2 + eps^2)^1.5 with |d| = 2, towards the other body; v = a dt; x += v dt.
    const a = 2 / (4 + 1e-6) ** 1.5;
    expect(next[4]).toBeCloseTo(a * 0.5, 6);
    expect(next[12]).toBeCloseTo(-a * 0.5, 6);
    expect(next[0]).toBeCloseTo(-1 + a * 0.25, 6);
    expect([next[1], next[2], next[3], next[7]]).toEqual([0, 0, 1, 0]);
  });

  it('sha256_batch: FIPS 180-2 vectors', async () => {
    const out = (await reference('sha256_batch', sha256VectorInputs()))['digests']!;
    const digests = SHA256_VECTORS.map((_, i) => hex(out.subarray(i * 32, i * 32 + 32)));
    expect(digests).toEqual(SHA256_VECTORS.map((v) => v.hex));
  });

  it('sha256_batch reference agrees with node:crypto on the random batches', async () => {
    for (const c of allCases().filter((c) => c.op === 'sha256_batch')) {
      const out = (await reference('sha256_batch', c.inputs))['digests']!;
      const offsets = new Uint32Array(c.inputs['offsets']!.slice().buffer);
      for (let i = 0; i + 1 < offsets.length; i++) {
        const want = createHash('sha256')
          .update(c.inputs['data']!.subarray(offsets[i]!, offsets[i + 1]!))
          .digest('hex');
        expect(hex(out.subarray(i * 32, i * 32 + 32))).toBe(want);
      }
    }
  });
});

describe('bad calls get typed errors with stable codes', () => {
  it.each([
    ['unknown op', () => getOp('sort'), 'UNKNOWN_OP:op'],
    ['missing input', () => getOp('saxpy').prepare({ x: f32(1) }, {}), 'MISSING_INPUT:y'],
    ['extra input', () => getOp('reduce_sum').prepare({ x: f32(1), z: f32(1) }, {}), 'UNKNOWN_INPUT:z'],
    ['ragged f32 bytes', () => getOp('reduce_sum').prepare({ x: new Uint8Array(6) }, {}), 'BAD_INPUT_SIZE:x'],
    ['empty input', () => getOp('reduce_sum').prepare({ x: new Uint8Array(0) }, {}), 'BAD_INPUT_SIZE:x'],
    ['length mismatch', () => getOp('saxpy').prepare({ x: f32(1, 2), y: f32(1) }, {}), 'BAD_INPUT_SIZE:y'],
    ['unknown param', () => getOp('saxpy').prepare({ x: f32(1), y: f32(1) }, { b: 1 }), 'BAD_PARAM:b'],
    ['param type', () => getOp('saxpy').prepare({ x: f32(1), y: f32(1) }, { a: '2' }), 'BAD_PARAM:a'],
    ['missing param', () => getOp('matmul').prepare({ a: f32(1), b: f32(1) }, { m: 1, n: 1 }), 'BAD_PARAM:k'],
    [
      'shape mismatch',
      () => getOp('matmul').prepare({ a: f32(1, 2), b: f32(1) }, { m: 1, n: 1, k: 1 }),
      'BAD_INPUT_SIZE:a',
    ],
    [
      'non-integer u32',
      () => getOp('histogram').prepare({ values: u32(1) }, { bins: 2.5 }),
      'BAD_PARAM:bins',
    ],
    ['too many bins', () => getOp('histogram').prepare({ values: u32(1) }, { bins: 4097 }), 'BAD_PARAM:bins'],
    [
      'fft size not a power of two',
      () => getOp('fft').prepare({ signal: f32(1, 0, 1, 0, 1, 0) }, {}),
      'BAD_INPUT_SIZE:signal',
    ],
    [
      'fft bool param',
      () => getOp('fft').prepare({ signal: f32(1, 0) }, { inverse: 1 }),
      'BAD_PARAM:inverse',
    ],
    [
      'even conv kernel',
      () =>
        getOp('conv2d').prepare(
          { image: f32(1, 1), kernel: f32(1, 1) },
          { width: 2, height: 1, kw: 2, kh: 1 },
        ),
      'BAD_INPUT_SIZE:kernel',
    ],
    [
      'zero softening',
      () => getOp('nbody_step').prepare({ bodies: new Uint8Array(32) }, { softening: 0 }),
      'BAD_PARAM:softening',
    ],
    [
      'offsets decrease',
      () => getOp('sha256_batch').prepare({ data: new Uint8Array(4), offsets: u32(0, 3, 2) }, {}),
      'BAD_INPUT:offsets',
    ],
    [
      'offsets past data',
      () => getOp('sha256_batch').prepare({ data: new Uint8Array(4), offsets: u32(0, 5) }, {}),
      'BAD_INPUT:offsets',
    ],
    [
      'no messages',
      () => getOp('sha256_batch').prepare({ data: new Uint8Array(4), offsets: u32(0) }, {}),
      'BAD_INPUT_SIZE:offsets',
    ],
  ])('%s', (_name, fn, code) => {
    expect(codeOf(fn)).toBe(code);
  });
});
