/// <reference path="../wgsl-modules.d.ts" />
import source from '../../conv2d.wgsl?raw';
import type { OpDefinition, Tensors } from '../op-definition.ts';
import { bytesOf, checkInputs, f32View, groups, readParams, requireSize } from '../op-inputs.ts';

const MAX_KERNEL = 31;

/** conv2d: single-channel image filter (correlation, clamp-to-edge). */
export const conv2d: OpDefinition = {
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
    { name: 'kw', type: 'u32', min: 1, max: MAX_KERNEL, doc: 'kernel width, odd' },
    { name: 'kh', type: 'u32', min: 1, max: MAX_KERNEL, doc: 'kernel height, odd' },
  ],
  wgsl: source,
  workgroupSize: [16, 16, 1],
  workgroupStorageBytes: 0,
  bindings: [
    { binding: 0, name: 'params', access: 'uniform' },
    { binding: 1, name: 'image', access: 'read' },
    { binding: 2, name: 'kernel', access: 'read' },
    { binding: 3, name: 'out', access: 'read_write' },
  ],
  dispatch: '(ceil(width / 16), ceil(height / 16)) workgroups',
  sizeLimits:
    'width, height <= 65535 * 16; kw, kh <= 31 and odd; 4 * width * height bytes <= maxStorageBufferBindingSize',
  errorBound: { metric: 'rel_l2', bound: 1e-6 },
  hasWasm: true,
  prepare(inputs: Tensors, raw) {
    checkInputs(this.inputs, inputs);
    const { width, height, kw, kh } = readParams(this.params, raw) as Record<
      'width' | 'height' | 'kw' | 'kh',
      number
    >;
    const image = inputs['image']!;
    const kernel = inputs['kernel']!;
    requireSize(
      kw % 2 === 1 && kh % 2 === 1,
      'kernel',
      `kernel size ${kh}x${kw} must be odd in both directions`,
    );
    requireSize(
      image.byteLength === width * height * 4,
      'image',
      `image must hold width * height = ${width * height} f32`,
    );
    requireSize(kernel.byteLength === kw * kh * 4, 'kernel', `kernel must hold kw * kh = ${kw * kh} f32`);
    const size = width * height * 4;
    return {
      op: 'conv2d',
      gpuPlan: () => ({
        buffers: {
          image: { size, data: image },
          kernel: { size: kernel.byteLength, data: kernel },
          out: { size },
        },
        passes: [
          {
            params: { width, height, kw, kh },
            bindings: ['image', 'kernel', 'out'],
            workgroups: [groups(width, 16), groups(height, 16), 1],
          },
        ],
        outputs: { out: { buffer: 'out', size } },
      }),
      reference: async () => {
        const img = f32View(image);
        const ker = f32View(kernel);
        const out = new Float32Array(width * height);
        const rx = kw >> 1;
        const ry = kh >> 1;
        for (let y = 0; y < height; y++) {
          for (let x = 0; x < width; x++) {
            let acc = 0;
            for (let ky = 0; ky < kh; ky++) {
              const sy = Math.min(Math.max(y + ky - ry, 0), height - 1);
              for (let kx = 0; kx < kw; kx++) {
                const sx = Math.min(Math.max(x + kx - rx, 0), width - 1);
                acc += ker[ky * kw + kx]! * img[sy * width + sx]!;
              }
            }
            out[y * width + x] = acc;
          }
        }
        return { out: bytesOf(out) };
      },
      wasm: (k) => {
        k.reset();
        const pi = k.put(image);
        const pk = k.put(kernel);
        const po = k.alloc(size);
        k.exports.conv2d(pi, pk, po, width, height, kw, kh);
        return { out: k.take(po, size) };
      },
    };
  },
};
