/// <reference path="../wgsl-modules.d.ts" />
import source from '../../mandelbrot.wgsl?raw';
import type { OpDefinition, Tensors } from '../op-definition.ts';
import { bytesOf, checkInputs, groups, readParams } from '../op-inputs.ts';
import { ShaderError } from '../shader-error.ts';

const f = Math.fround;
const MAX_PIXELS = 2 ** 26;

/** mandelbrot: escape-time iteration counts over a viewport. */
export const mandelbrot: OpDefinition = {
  op: 'mandelbrot',
  summary: 'Escape-time iteration counts of the Mandelbrot set over a viewport (f32).',
  inputs: [],
  outputs: [
    { name: 'iterations', dtype: 'u32', shape: ['height', 'width'], doc: 'iterations before escape' },
  ],
  params: [
    { name: 'width', type: 'u32', min: 1, doc: 'pixels per row' },
    { name: 'height', type: 'u32', min: 1, doc: 'rows' },
    { name: 'max_iter', type: 'u32', default: 256, min: 1, max: 1_000_000, doc: 'iteration cap' },
    { name: 'x_min', type: 'f32', default: -2, doc: 'left edge of the viewport' },
    { name: 'x_max', type: 'f32', default: 1, doc: 'right edge' },
    { name: 'y_min', type: 'f32', default: -1.5, doc: 'top edge (row 0)' },
    { name: 'y_max', type: 'f32', default: 1.5, doc: 'bottom edge' },
  ],
  wgsl: source,
  workgroupSize: [16, 16, 1],
  workgroupStorageBytes: 0,
  bindings: [
    { binding: 0, name: 'params', access: 'uniform' },
    { binding: 1, name: 'iterations', access: 'read_write' },
  ],
  dispatch: '(ceil(width / 16), ceil(height / 16)) workgroups',
  sizeLimits: 'width * height <= 2^26 pixels; width, height <= 65535 * 16',
  errorBound: { metric: 'mismatch_fraction', bound: 0.001 },
  hasWasm: true,
  prepare(inputs: Tensors, raw) {
    checkInputs(this.inputs, inputs);
    const p = readParams(this.params, raw);
    const width = p['width']!;
    const height = p['height']!;
    const maxIter = p['max_iter']!;
    const x0 = f(p['x_min']!);
    const y0 = f(p['y_min']!);
    const dx = f((p['x_max']! - p['x_min']!) / width);
    const dy = f((p['y_max']! - p['y_min']!) / height);
    if (width * height > MAX_PIXELS) {
      throw new ShaderError(
        'BAD_PARAM',
        `width * height = ${width * height} is over ${MAX_PIXELS} pixels`,
        'width',
      );
    }
    const size = width * height * 4;
    return {
      op: 'mandelbrot',
      gpuPlan: () => ({
        buffers: { iterations: { size } },
        passes: [
          {
            params: { width, height, max_iter: maxIter, x0, y0, dx, dy },
            bindings: ['iterations'],
            workgroups: [groups(width, 16), groups(height, 16), 1],
          },
        ],
        outputs: { iterations: { buffer: 'iterations', size } },
      }),
      reference: async () => {
        const out = new Uint32Array(width * height);
        for (let py = 0; py < height; py++) {
          const cy = f(y0 + f(f(py + 0.5) * dy));
          for (let px = 0; px < width; px++) {
            const cx = f(x0 + f(f(px + 0.5) * dx));
            let zx = 0;
            let zy = 0;
            let i = 0;
            while (i < maxIter) {
              const zx2 = f(zx * zx);
              const zy2 = f(zy * zy);
              if (f(zx2 + zy2) > 4) break;
              zy = f(f(f(zx + zx) * zy) + cy);
              zx = f(f(zx2 - zy2) + cx);
              i++;
            }
            out[py * width + px] = i;
          }
        }
        return { iterations: bytesOf(out) };
      },
      wasm: (k) => {
        k.reset();
        const po = k.alloc(size);
        k.exports.mandelbrot(po, width, height, maxIter, x0, y0, dx, dy);
        return { iterations: k.take(po, size) };
      },
    };
  },
};
