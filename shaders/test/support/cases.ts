// Seeded test cases shared by the Node tests and the browser page: each case is an op call
// (inputs + params) generated from a seed, so both sides build identical bytes.
import type { BuiltinOp, Tensors } from '../../src/index.ts';

/** One op call of the test matrix. */
export interface OpCase {
  readonly op: BuiltinOp;
  readonly label: string;
  readonly inputs: Tensors;
  readonly params: Record<string, number | boolean>;
}

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function floats(n: number, seed: number, lo = -1, hi = 1): Uint8Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return new Uint8Array(out.buffer);
}

function words(n: number, seed: number, max = 2 ** 32): Uint8Array {
  const r = rng(seed);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * max);
  return new Uint8Array(out.buffer);
}

function u32s(values: number[]): Uint8Array {
  return new Uint8Array(Uint32Array.from(values).buffer);
}

/** Random messages with lengths in [0, maxLen], packed with their offsets. */
export function messages(count: number, seed: number, maxLen: number): Tensors {
  const r = rng(seed);
  const offsets = [0];
  for (let i = 0; i < count; i++) offsets.push(offsets[i]! + Math.floor(r() * (maxLen + 1)));
  const data = new Uint8Array(offsets[count]!);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * 256);
  return { data, offsets: u32s(offsets) };
}

function bodies(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  const out = new Float32Array(n * 8);
  for (let i = 0; i < n; i++) {
    out.set([r() * 2 - 1, r() * 2 - 1, r() * 2 - 1, 0.5 + r(), r() - 0.5, r() - 0.5, r() - 0.5, 0], i * 8);
  }
  return new Uint8Array(out.buffer);
}

/**
 * The test matrix: several sizes per op, including the smallest and sizes that are not
 * multiples of the workgroup size. Kept small enough for SwiftShader on two cores.
 */
export function allCases(): OpCase[] {
  const cases: OpCase[] = [];
  const add = (op: BuiltinOp, label: string, inputs: Tensors, params: OpCase['params'] = {}) =>
    cases.push({ op, label, inputs, params });
  for (const n of [1, 255, 256, 257, 10_000]) {
    add('saxpy', `n=${n}`, { x: floats(n, n), y: floats(n, n + 1) }, { a: 2.5 });
  }
  for (const n of [1, 511, 512, 513, 262_145]) add('reduce_sum', `n=${n}`, { x: floats(n, n) });
  for (const n of [1, 255, 256, 257, 65_537, 100_000]) add('prefix_sum', `n=${n}`, { values: words(n, n) });
  add('histogram', 'n=1 bins=1', { values: words(1, 1) }, { bins: 1 });
  add('histogram', 'n=255 bins=256 shift=24', { values: words(255, 2) }, { bins: 256, shift: 24 });
  add('histogram', 'n=1000 bins=100', { values: words(1000, 3, 120) }, { bins: 100 });
  add('histogram', 'n=100000 bins=4096 shift=20', { values: words(100_000, 4) }, { bins: 4096, shift: 20 });
  for (const [m, n, k] of [
    [1, 1, 1],
    [3, 5, 7],
    [64, 64, 64],
    [65, 63, 17],
    [128, 96, 130],
  ] as const) {
    add(
      'matmul',
      `${m}x${k} * ${k}x${n}`,
      { a: floats(m * k, m + k), b: floats(k * n, k + n + 1) },
      { m, n, k },
    );
  }
  for (const [n, batch, inverse] of [
    [1, 1, false],
    [2, 1, false],
    [4, 3, true],
    [256, 1, false],
    [1024, 3, true],
    [65_536, 1, false],
  ] as const) {
    add(
      'fft',
      `n=${n} batch=${batch}${inverse ? ' inverse' : ''}`,
      { signal: floats(2 * n * batch, n) },
      { n, inverse },
    );
  }
  for (const [width, height, kw, kh] of [
    [1, 1, 1, 1],
    [17, 13, 3, 3],
    [64, 48, 5, 5],
    [33, 20, 1, 7],
  ] as const) {
    add(
      'conv2d',
      `${width}x${height} k${kw}x${kh}`,
      { image: floats(width * height, width, 0, 1), kernel: floats(kw * kh, kh, 0, 1) },
      { width, height, kw, kh },
    );
  }
  add('mandelbrot', '1x1', {}, { width: 1, height: 1 });
  add('mandelbrot', '17x13 max 100', {}, { width: 17, height: 13, max_iter: 100 });
  add('mandelbrot', '128x96 max 200', {}, { width: 128, height: 96, max_iter: 200 });
  for (const n of [1, 2, 255, 257, 700]) add('nbody_step', `n=${n}`, { bodies: bodies(n, n) }, { dt: 0.01 });
  for (const [count, maxLen] of [
    [1, 0],
    [63, 80],
    [64, 64],
    [65, 200],
    [300, 1000],
  ] as const) {
    add('sha256_batch', `count=${count} len<=${maxLen}`, messages(count, count, maxLen));
  }
  return cases;
}

/** The SHA-256 known answers of FIPS 180-2 (the last: one million "a"). */
export const SHA256_VECTORS: readonly {
  readonly message: string;
  readonly repeat: number;
  readonly hex: string;
}[] = [
  { message: '', repeat: 1, hex: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' },
  { message: 'abc', repeat: 1, hex: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad' },
  {
    message: 'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq',
    repeat: 1,
    hex: '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
  },
  {
    message:
      'abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu',
    repeat: 1,
    hex: 'cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1',
  },
  {
    message: 'a',
    repeat: 1_000_000,
    hex: 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0',
  },
];

/** The vectors as one sha256_batch input. */
export function sha256VectorInputs(): Tensors {
  const parts = SHA256_VECTORS.map((v) => new TextEncoder().encode(v.message.repeat(v.repeat)));
  const offsets = [0];
  for (const p of parts) offsets.push(offsets[offsets.length - 1]! + p.length);
  const data = new Uint8Array(offsets[offsets.length - 1]!);
  parts.forEach((p, i) => {
    data.set(p, offsets[i]!);
  });
  return { data, offsets: u32s(offsets) };
}

/** Lower-case hex of bytes. */
export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
