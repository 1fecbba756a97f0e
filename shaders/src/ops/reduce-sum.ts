/// <reference path="../wgsl-modules.d.ts" />
import source from '../../reduce_sum.wgsl?raw';
import type { GpuPass, OpDefinition, Tensors } from '../op-definition.ts';
import { bytesOf, checkInputs, f32View, grid, groups, readParams, requireSize } from '../op-inputs.ts';

const BLOCK = 512;

/** reduce_sum: the sum of an f32 vector, by tree reduction. */
export const reduceSum: OpDefinition = {
  op: 'reduce_sum',
  summary: 'Sum of an f32 vector (tree reduction, 512 elements per workgroup per pass).',
  inputs: [{ name: 'x', dtype: 'f32', shape: ['n'], doc: 'values to sum' }],
  outputs: [{ name: 'sum', dtype: 'f32', shape: ['1'], doc: 'the sum' }],
  params: [],
  wgsl: source,
  workgroupSize: [256, 1, 1],
  workgroupStorageBytes: 256 * 4,
  bindings: [
    { binding: 0, name: 'params', access: 'uniform' },
    { binding: 1, name: 'src', access: 'read' },
    { binding: 2, name: 'dst', access: 'read_write' },
  ],
  dispatch:
    'passes of ceil(n / 512), ceil(n / 512^2), ... workgroups (rows of 65535) until one value is left',
  sizeLimits: '4n bytes <= maxStorageBufferBindingSize',
  errorBound: { metric: 'abs_over_l1', bound: 1e-6 },
  hasWasm: true,
  prepare(inputs: Tensors, raw) {
    checkInputs(this.inputs, inputs);
    readParams(this.params, raw);
    const x = inputs['x']!;
    const n = x.byteLength / 4;
    requireSize(n >= 1, 'x', 'x must have at least one element');
    return {
      op: 'reduce_sum',
      gpuPlan: (perDim) => {
        const passes: GpuPass[] = [];
        const first = groups(n, BLOCK);
        let src = 'x';
        let count = n;
        let dst = 'p0';
        for (;;) {
          const wg = groups(count, BLOCK);
          passes.push({ params: { n: count }, bindings: [src, dst], workgroups: grid(wg, perDim) });
          if (wg === 1) break;
          src = dst;
          dst = dst === 'p0' ? 'p1' : 'p0';
          count = wg;
        }
        return {
          buffers: { x: { size: n * 4, data: x }, p0: { size: first * 4 }, p1: { size: first * 4 } },
          passes,
          outputs: { sum: { buffer: dst, size: 4 } },
        };
      },
      reference: async () => {
        const xv = f32View(x);
        let sum = 0;
        for (let i = 0; i < n; i++) sum += xv[i]!;
        return { sum: bytesOf(Float32Array.of(sum)) };
      },
      wasm: (k) => {
        k.reset();
        const sum = k.exports.reduce_sum(k.put(x), n);
        return { sum: bytesOf(Float32Array.of(sum)) };
      },
    };
  },
};
