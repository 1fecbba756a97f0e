/// <reference path="../wgsl-modules.d.ts" />
import source from '../../prefix_sum.wgsl?raw';
import type { GpuBufferPlan, GpuPass, OpDefinition, Tensors } from '../op-definition.ts';
import { bytesOf, checkInputs, grid, groups, readParams, requireSize, u32View } from '../op-inputs.ts';

const BLOCK = 256;

/** prefix_sum: inclusive scan of u32 values with wrapping addition. */
export const prefixSum: OpDefinition = {
  op: 'prefix_sum',
  summary: 'Inclusive scan (running total) of u32 values, wrapping modulo 2^32.',
  inputs: [{ name: 'values', dtype: 'u32', shape: ['n'], doc: 'values to scan' }],
  outputs: [{ name: 'scan', dtype: 'u32', shape: ['n'], doc: 'scan[i] = values[0] + ... + values[i]' }],
  params: [],
  wgsl: source,
  workgroupSize: [BLOCK, 1, 1],
  workgroupStorageBytes: BLOCK * 4,
  bindings: [
    { binding: 0, name: 'params', access: 'uniform' },
    { binding: 1, name: 'data', access: 'read_write' },
    { binding: 2, name: 'sums', access: 'read_write' },
  ],
  dispatch:
    'per level L (n, ceil(n/256), ... down to one block): ceil(size_L / 256) workgroups (rows of 65535), twice',
  sizeLimits: '4n bytes <= maxStorageBufferBindingSize',
  errorBound: { metric: 'exact' },
  hasWasm: false,
  prepare(inputs: Tensors, raw) {
    checkInputs(this.inputs, inputs);
    readParams(this.params, raw);
    const values = inputs['values']!;
    const n = values.byteLength / 4;
    requireSize(n >= 1, 'values', 'values must have at least one element');
    return {
      op: 'prefix_sum',
      gpuPlan: (perDim) => {
        const sizes = [n];
        while (sizes[sizes.length - 1]! > BLOCK) sizes.push(groups(sizes[sizes.length - 1]!, BLOCK));
        const buffers: Record<string, GpuBufferPlan> = {
          l0: { size: n * 4, data: values },
          top: { size: 4 },
        };
        sizes.forEach((size, level) => {
          if (level > 0) buffers[`l${level}`] = { size: size * 4 };
        });
        const upper = (level: number) => (level + 1 < sizes.length ? `l${level + 1}` : 'top');
        const passes: GpuPass[] = [];
        sizes.forEach((size, level) => {
          passes.push({
            params: { n: size, phase: 0 },
            bindings: [`l${level}`, upper(level)],
            workgroups: grid(groups(size, BLOCK), perDim),
          });
        });
        for (let level = sizes.length - 2; level >= 0; level--) {
          const size = sizes[level]!;
          passes.push({
            params: { n: size, phase: 1 },
            bindings: [`l${level}`, upper(level)],
            workgroups: grid(groups(size, BLOCK), perDim),
          });
        }
        return { buffers, passes, outputs: { scan: { buffer: 'l0', size: n * 4 } } };
      },
      reference: async () => {
        const v = u32View(values);
        const out = new Uint32Array(n);
        let acc = 0;
        for (let i = 0; i < n; i++) {
          acc = (acc + v[i]!) >>> 0;
          out[i] = acc;
        }
        return { scan: bytesOf(out) };
      },
    };
  },
};
