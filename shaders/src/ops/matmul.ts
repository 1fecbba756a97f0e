/// <reference path="../wgsl-modules.d.ts" />
import source from '../../matmul.wgsl?raw';
import type { OpDefinition, Tensors } from '../op-definition.ts';
import { bytesOf, checkInputs, f32View, groups, readParams, requireSize } from '../op-inputs.ts';

/** matmul: c = a * b, tiled f32 with workgroup memory. */
export const matmul: OpDefinition = {
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
  wgsl: source,
  workgroupSize: [16, 16, 1],
  workgroupStorageBytes: 2 * 1024 * 4,
  bindings: [
    { binding: 0, name: 'params', access: 'uniform' },
    { binding: 1, name: 'a', access: 'read' },
    { binding: 2, name: 'b', access: 'read' },
    { binding: 3, name: 'c', access: 'read_write' },
  ],
  dispatch: '(ceil(n / 64), ceil(m / 64)) workgroups',
  sizeLimits: 'm, n <= 65535 * 64; 4mk, 4kn, 4mn bytes <= maxStorageBufferBindingSize',
  errorBound: { metric: 'rel_l2', bound: 1e-5 },
  hasWasm: true,
  prepare(inputs: Tensors, raw) {
    checkInputs(this.inputs, inputs);
    const { m, n, k } = readParams(this.params, raw) as { m: number; n: number; k: number };
    const a = inputs['a']!;
    const b = inputs['b']!;
    requireSize(a.byteLength === m * k * 4, 'a', `a has ${a.byteLength / 4} elements, m * k = ${m * k}`);
    requireSize(b.byteLength === k * n * 4, 'b', `b has ${b.byteLength / 4} elements, k * n = ${k * n}`);
    return {
      op: 'matmul',
      gpuPlan: () => ({
        buffers: {
          a: { size: a.byteLength, data: a },
          b: { size: b.byteLength, data: b },
          c: { size: m * n * 4 },
        },
        passes: [
          { params: { m, n, k }, bindings: ['a', 'b', 'c'], workgroups: [groups(n, 64), groups(m, 64), 1] },
        ],
        outputs: { c: { buffer: 'c', size: m * n * 4 } },
      }),
      reference: async () => ({ c: bytesOf(matmulJs(f32View(a), f32View(b), m, n, k)) }),
      wasm: (kern) => {
        kern.reset();
        const pa = kern.put(a);
        const pb = kern.put(b);
        const pc = kern.alloc(m * n * 4);
        kern.exports.matmul(pa, pb, pc, m, n, k);
        return { c: kern.take(pc, m * n * 4) };
      },
    };
  },
};

/** Plain JavaScript matmul (i-k-j order, f64 row accumulator): the reference and the JS baseline. */
export function matmulJs(a: Float32Array, b: Float32Array, m: number, n: number, k: number): Float32Array {
  const c = new Float32Array(m * n);
  const row = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    row.fill(0);
    for (let p = 0; p < k; p++) {
      const av = a[i * k + p]!;
      const off = p * n;
      for (let j = 0; j < n; j++) row[j]! += av * b[off + j]!;
    }
    c.set(row, i * n);
  }
  return c;
}
