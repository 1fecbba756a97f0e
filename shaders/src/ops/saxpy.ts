/// <reference path="../wgsl-modules.d.ts" />
import source from '../../saxpy.wgsl?raw';
import type { OpDefinition, Tensors } from '../op-definition.ts';
import { bytesOf, checkInputs, f32View, grid, groups, readParams, requireSize } from '../op-inputs.ts';

const WG = 256;

/** saxpy: `out = a * x + y` elementwise. */
export const saxpy: OpDefinition = {
  op: 'saxpy',
  summary: 'out = a * x + y, elementwise over f32 vectors.',
  inputs: [
    { name: 'x', dtype: 'f32', shape: ['n'], doc: 'first vector' },
    { name: 'y', dtype: 'f32', shape: ['n'], doc: 'second vector, same length as x' },
  ],
  outputs: [{ name: 'out', dtype: 'f32', shape: ['n'], doc: 'a * x + y' }],
  params: [{ name: 'a', type: 'f32', default: 1, doc: 'scale of x' }],
  wgsl: source,
  workgroupSize: [WG, 1, 1],
  workgroupStorageBytes: 0,
  bindings: [
    { binding: 0, name: 'params', access: 'uniform' },
    { binding: 1, name: 'x', access: 'read' },
    { binding: 2, name: 'y', access: 'read' },
    { binding: 3, name: 'out', access: 'read_write' },
  ],
  dispatch: 'ceil(n / 256) workgroups, in rows of 65535 when more',
  sizeLimits: '4n bytes <= maxStorageBufferBindingSize',
  errorBound: { metric: 'rel_l2', bound: 1e-6 },
  hasWasm: false,
  prepare(inputs: Tensors, raw) {
    checkInputs(this.inputs, inputs);
    const { a } = readParams(this.params, raw) as { a: number };
    const x = inputs['x']!;
    const y = inputs['y']!;
    const n = x.byteLength / 4;
    requireSize(n >= 1, 'x', 'x must have at least one element');
    requireSize(y.byteLength === x.byteLength, 'y', `y has ${y.byteLength / 4} elements, x has ${n}`);
    return {
      op: 'saxpy',
      gpuPlan: (perDim) => ({
        buffers: { x: { size: n * 4, data: x }, y: { size: n * 4, data: y }, out: { size: n * 4 } },
        passes: [{ params: { n, a }, bindings: ['x', 'y', 'out'], workgroups: grid(groups(n, WG), perDim) }],
        outputs: { out: { buffer: 'out', size: n * 4 } },
      }),
      reference: async () => {
        const xv = f32View(x);
        const yv = f32View(y);
        const out = new Float32Array(n);
        const af = Math.fround(a);
        for (let i = 0; i < n; i++) out[i] = af * xv[i]! + yv[i]!;
        return { out: bytesOf(out) };
      },
    };
  },
};
