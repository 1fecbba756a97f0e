/// <reference path="../wgsl-modules.d.ts" />
import source from '../../histogram.wgsl?raw';
import type { OpDefinition, Tensors } from '../op-definition.ts';
import { bytesOf, checkInputs, groups, readParams, requireSize, u32View } from '../op-inputs.ts';

const MAX_BINS = 4096;
const MAX_GROUPS = 64;

/** histogram: counts of u32 values per bin, with workgroup-local atomics. */
export const histogram: OpDefinition = {
  op: 'histogram',
  summary: 'Counts u32 values into bins: bin = min(v >> shift, bins - 1).',
  inputs: [{ name: 'values', dtype: 'u32', shape: ['n'], doc: 'values to count' }],
  outputs: [{ name: 'counts', dtype: 'u32', shape: ['bins'], doc: 'count per bin' }],
  params: [
    { name: 'bins', type: 'u32', default: 256, min: 1, max: MAX_BINS, doc: 'number of bins' },
    { name: 'shift', type: 'u32', default: 0, min: 0, max: 31, doc: 'right shift applied to each value' },
  ],
  wgsl: source,
  workgroupSize: [256, 1, 1],
  workgroupStorageBytes: MAX_BINS * 4,
  bindings: [
    { binding: 0, name: 'params', access: 'uniform' },
    { binding: 1, name: 'values', access: 'read' },
    { binding: 2, name: 'counts', access: 'read_write' },
  ],
  dispatch: 'min(ceil(n / 256), 64) workgroups in x, grid-stride over the values',
  sizeLimits: 'bins <= 4096 (16 KiB of workgroup atomics); 4n bytes <= maxStorageBufferBindingSize',
  errorBound: { metric: 'exact' },
  hasWasm: false,
  prepare(inputs: Tensors, raw) {
    checkInputs(this.inputs, inputs);
    const { bins, shift } = readParams(this.params, raw) as { bins: number; shift: number };
    const values = inputs['values']!;
    const n = values.byteLength / 4;
    requireSize(n >= 1, 'values', 'values must have at least one element');
    return {
      op: 'histogram',
      gpuPlan: () => ({
        buffers: { values: { size: n * 4, data: values }, counts: { size: bins * 4 } },
        passes: [
          {
            params: { n, bins, shift },
            bindings: ['values', 'counts'],
            workgroups: [Math.min(groups(n, 256), MAX_GROUPS), 1, 1],
          },
        ],
        outputs: { counts: { buffer: 'counts', size: bins * 4 } },
      }),
      reference: async () => {
        const v = u32View(values);
        const counts = new Uint32Array(bins);
        for (let i = 0; i < n; i++) counts[Math.min(v[i]! >>> shift, bins - 1)]!++;
        return { counts: bytesOf(counts) };
      },
    };
  },
};
