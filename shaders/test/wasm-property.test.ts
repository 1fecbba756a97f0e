// Property tests of the WASM kernels (SIMD and scalar) against the references over random
// shapes, including every edge of the 4x8 matmul blocking, the 4-wide conv2d/mandelbrot/nbody
// vectors and the 4-lane sha256 groups. 40 runs per property from a fixed seed, so CI is
// deterministic; FLOCK_FC_SEED=<n> explores other cases.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { getOp, measureError, runWasm, type Tensors } from '../src/index.ts';

const RUNS = { numRuns: 40, seed: Number(process.env['FLOCK_FC_SEED'] ?? 20_261_122) };
// Values in [-1, 1] in steps of 2^-16: no subnormals, whose few bits of precision make any
// relative error bound meaningless (f32 itself cannot meet it there).
const unit = fc.integer({ min: -65_536, max: 65_536 }).map((i) => i / 65_536);
const floats = (n: number) => fc.array(unit, { minLength: n, maxLength: n }).map((v) => Float32Array.from(v));
const bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

async function withinBound(op: string, inputs: Tensors, params: Record<string, unknown>): Promise<void> {
  const expected = await getOp(op).prepare(inputs, params).reference();
  for (const variant of ['simd', 'scalar'] as const) {
    const error = measureError(getOp(op).op, inputs, runWasm(op, inputs, params, variant), expected);
    expect(error.value, `${op} ${variant} ${JSON.stringify(params)}`).toBeLessThanOrEqual(error.bound);
  }
}

describe('WASM kernels over random shapes', () => {
  it('matmul, m, n, k in 1..40', async () => {
    const shape = fc.record({
      m: fc.integer({ min: 1, max: 40 }),
      n: fc.integer({ min: 1, max: 40 }),
      k: fc.integer({ min: 1, max: 40 }),
    });
    await fc.assert(
      fc.asyncProperty(
        shape.chain((s) => fc.tuple(fc.constant(s), floats(s.m * s.k), floats(s.k * s.n))),
        async ([s, a, b]) => withinBound('matmul', { a: bytes(a), b: bytes(b) }, s),
      ),
      RUNS,
    );
  });

  it('fft, n = 2^0..2^10, batch 1..4, forward and inverse', async () => {
    const shape = fc.record({
      bits: fc.integer({ min: 0, max: 10 }),
      batch: fc.integer({ min: 1, max: 4 }),
      inverse: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(
        shape.chain((s) => fc.tuple(fc.constant(s), floats(2 * 2 ** s.bits * s.batch))),
        async ([s, signal]) =>
          withinBound('fft', { signal: bytes(signal) }, { n: 2 ** s.bits, inverse: s.inverse }),
      ),
      RUNS,
    );
  });

  it('conv2d, 1..40 x 1..40 images, odd kernels 1..9', async () => {
    const odd = fc.integer({ min: 0, max: 4 }).map((h) => 2 * h + 1);
    const shape = fc.record({
      width: fc.integer({ min: 1, max: 40 }),
      height: fc.integer({ min: 1, max: 40 }),
      kw: odd,
      kh: odd,
    });
    await fc.assert(
      fc.asyncProperty(
        shape.chain((s) => fc.tuple(fc.constant(s), floats(s.width * s.height), floats(s.kw * s.kh))),
        async ([s, image, kernel]) =>
          withinBound('conv2d', { image: bytes(image), kernel: bytes(kernel) }, s),
      ),
      RUNS,
    );
  });

  it('reduce_sum, n in 1..5000', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5000 }).chain((n) => floats(n)),
        async (x) => withinBound('reduce_sum', { x: bytes(x) }, {}),
      ),
      RUNS,
    );
  });

  it('nbody_step, n in 1..40 (positive masses)', async () => {
    const mass = fc.integer({ min: 1, max: 20 }).map((i) => i / 10);
    const body = fc.tuple(unit, unit, unit, mass, unit, unit, unit);
    await fc.assert(
      fc.asyncProperty(fc.array(body, { minLength: 1, maxLength: 40 }), async (list) => {
        const data = Float32Array.from(list.flatMap((b) => [...b, 0]));
        await withinBound('nbody_step', { bodies: bytes(data) }, { dt: 0.01, softening: 0.05 });
      }),
      RUNS,
    );
  });

  it('mandelbrot, 1..40 x 1..40 pixels over random viewports', async () => {
    const view = fc.record({
      width: fc.integer({ min: 1, max: 40 }),
      height: fc.integer({ min: 1, max: 40 }),
      max_iter: fc.integer({ min: 1, max: 300 }),
      x_min: fc.double({ min: -2, max: 0, noNaN: true }),
      y_min: fc.double({ min: -1.5, max: 0, noNaN: true }),
      size: fc.double({ min: 0.001, max: 2, noNaN: true }),
    });
    await fc.assert(
      fc.asyncProperty(view, async ({ size, ...v }) =>
        withinBound('mandelbrot', {}, { ...v, x_max: v.x_min + size, y_max: v.y_min + size }),
      ),
      RUNS,
    );
  });

  it('sha256_batch, 1..9 messages of 0..200 bytes, against node:crypto', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { minLength: 1, maxLength: 9 }), (messages) => {
        const offsets = [0];
        for (const m of messages) offsets.push(offsets[offsets.length - 1]! + m.length);
        const data = new Uint8Array(offsets[offsets.length - 1]!);
        messages.forEach((m, i) => {
          data.set(m, offsets[i]!);
        });
        const want = messages.map((m) => createHash('sha256').update(m).digest('hex')).join('');
        for (const variant of ['simd', 'scalar'] as const) {
          const out = runWasm(
            'sha256_batch',
            { data, offsets: new Uint8Array(Uint32Array.from(offsets).buffer) },
            {},
            variant,
          );
          expect(Buffer.from(out['digests']!).toString('hex')).toBe(want);
        }
      }),
      RUNS,
    );
  });
});
