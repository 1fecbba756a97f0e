/// <reference path="../wgsl-modules.d.ts" />
import source from '../../nbody_step.wgsl?raw';
import type { OpDefinition, Tensors } from '../op-definition.ts';
import { bytesOf, checkInputs, f32View, groups, readParams, requireSize } from '../op-inputs.ts';

/** nbody_step: one all-pairs gravity step. */
export const nbodyStep: OpDefinition = {
  op: 'nbody_step',
  summary: 'One symplectic-Euler step of all-pairs gravity (G = 1, Plummer softening).',
  inputs: [{ name: 'bodies', dtype: 'f32', shape: ['n', '8'], doc: 'x, y, z, mass, vx, vy, vz, 0 per body' }],
  outputs: [{ name: 'next', dtype: 'f32', shape: ['n', '8'], doc: 'the bodies after one step' }],
  params: [
    { name: 'dt', type: 'f32', default: 0.01, min: 0, doc: 'time step' },
    { name: 'softening', type: 'f32', default: 0.01, min: 1e-6, doc: 'Plummer softening length eps (> 0)' },
  ],
  wgsl: source,
  workgroupSize: [256, 1, 1],
  workgroupStorageBytes: 256 * 16,
  bindings: [
    { binding: 0, name: 'params', access: 'uniform' },
    { binding: 1, name: 'bodies', access: 'read' },
    { binding: 2, name: 'next', access: 'read_write' },
  ],
  dispatch: 'ceil(n / 256) workgroups in x, each looping over all n bodies',
  sizeLimits: 'n <= 65535 * 256; 32n bytes <= maxStorageBufferBindingSize; O(n^2) work',
  errorBound: { metric: 'rel_l2', bound: 1e-5 },
  hasWasm: true,
  prepare(inputs: Tensors, raw) {
    checkInputs(this.inputs, inputs);
    const { dt, softening } = readParams(this.params, raw) as { dt: number; softening: number };
    const bodies = inputs['bodies']!;
    requireSize(
      bodies.byteLength % 32 === 0 && bodies.byteLength > 0,
      'bodies',
      'bodies must be n >= 1 rows of 8 f32',
    );
    const n = bodies.byteLength / 32;
    const eps2 = Math.fround(softening * softening);
    const dt32 = Math.fround(dt);
    return {
      op: 'nbody_step',
      gpuPlan: () => ({
        buffers: { bodies: { size: bodies.byteLength, data: bodies }, next: { size: bodies.byteLength } },
        passes: [
          { params: { n, dt, eps2 }, bindings: ['bodies', 'next'], workgroups: [groups(n, 256), 1, 1] },
        ],
        outputs: { next: { buffer: 'next', size: bodies.byteLength } },
      }),
      reference: async () => {
        const b = f32View(bodies);
        const out = new Float32Array(n * 8);
        for (let i = 0; i < n; i++) {
          const px = b[i * 8]!;
          const py = b[i * 8 + 1]!;
          const pz = b[i * 8 + 2]!;
          let ax = 0;
          let ay = 0;
          let az = 0;
          for (let j = 0; j < n; j++) {
            const dx = b[j * 8]! - px;
            const dy = b[j * 8 + 1]! - py;
            const dz = b[j * 8 + 2]! - pz;
            const r2 = dx * dx + dy * dy + dz * dz + eps2;
            const s = b[j * 8 + 3]! / (r2 * Math.sqrt(r2));
            ax += dx * s;
            ay += dy * s;
            az += dz * s;
          }
          const vx = b[i * 8 + 4]! + ax * dt32;
          const vy = b[i * 8 + 5]! + ay * dt32;
          const vz = b[i * 8 + 6]! + az * dt32;
          out.set([px + vx * dt32, py + vy * dt32, pz + vz * dt32, b[i * 8 + 3]!, vx, vy, vz, 0], i * 8);
        }
        return { next: bytesOf(out) };
      },
      wasm: (k) => {
        k.reset();
        const pb = k.put(bodies);
        const pn = k.alloc(bodies.byteLength);
        const soa = k.alloc(n * 16);
        k.exports.nbody_step(pb, pn, soa, n, dt32, eps2);
        return { next: k.take(pn, bodies.byteLength) };
      },
    };
  },
};
