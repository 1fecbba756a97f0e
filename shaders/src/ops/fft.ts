/// <reference path="../wgsl-modules.d.ts" />
import source from '../../fft.wgsl?raw';
import type { GpuPass, OpDefinition, Tensors } from '../op-definition.ts';
import { bytesOf, checkInputs, f32View, grid, groups, readParams, requireSize } from '../op-inputs.ts';

/** fft: batched complex FFT, radix-2 Stockham, power-of-two sizes. */
export const fft: OpDefinition = {
  op: 'fft',
  summary: 'Batched complex f32 FFT of power-of-two size (radix-2 Stockham, log2(n) passes).',
  inputs: [{ name: 'signal', dtype: 'c64', shape: ['batch', 'n'], doc: 'interleaved (re, im) f32 pairs' }],
  outputs: [
    { name: 'spectrum', dtype: 'c64', shape: ['batch', 'n'], doc: 'X[f] = sum x[t] e^(-+2 pi i f t / n)' },
  ],
  params: [
    { name: 'n', type: 'u32', default: 0, doc: 'transform size, a power of two; 0 = the whole signal' },
    { name: 'inverse', type: 'bool', default: false, doc: 'inverse transform (e^(+...)), not normalised' },
  ],
  wgsl: source,
  workgroupSize: [256, 1, 1],
  workgroupStorageBytes: 0,
  bindings: [
    { binding: 0, name: 'params', access: 'uniform' },
    { binding: 1, name: 'src', access: 'read' },
    { binding: 2, name: 'dst', access: 'read_write' },
    { binding: 3, name: 'twiddles', access: 'read' },
  ],
  dispatch: 'log2(n) passes of ceil(batch * n / 2 / 256) workgroups (rows of 65535)',
  sizeLimits: '8 * batch * n bytes <= maxStorageBufferBindingSize',
  errorBound: { metric: 'rel_l2', bound: 1e-6 },
  hasWasm: true,
  prepare(inputs: Tensors, raw) {
    checkInputs(this.inputs, inputs);
    const p = readParams(this.params, raw);
    const signal = inputs['signal']!;
    const total = signal.byteLength / 8;
    const n = p['n'] === 0 ? total : p['n']!;
    const inverse = p['inverse']!;
    requireSize(total >= 1, 'signal', 'signal must have at least one complex element');
    if (n < 1 || (n & (n - 1)) !== 0 || total % n !== 0) {
      requireSize(
        false,
        'signal',
        `transform size ${n} must be a power of two dividing the ${total} elements`,
      );
    }
    const batch = total / n;
    return {
      op: 'fft',
      gpuPlan: (perDim) => {
        const passes: GpuPass[] = [];
        let src = 'signal';
        let dst = 'work';
        for (let ns = 1; ns < n; ns *= 2) {
          passes.push({
            params: { n, batch, ns, inverse },
            bindings: [src, dst, 'twiddles'],
            workgroups: grid(groups((n / 2) * batch, 256), perDim),
          });
          [src, dst] = [dst, src];
        }
        return {
          buffers: {
            signal: { size: signal.byteLength, data: signal },
            work: { size: signal.byteLength },
            twiddles: { size: Math.max(8, n * 4), data: bytesOf(twiddleTable(n)) },
          },
          passes,
          outputs: { spectrum: { buffer: src, size: signal.byteLength } },
        };
      },
      reference: async () => ({ spectrum: bytesOf(fftReference(f32View(signal), n, inverse === 1)) }),
      wasm: (kern) => {
        kern.reset();
        const px = kern.put(signal);
        const ps = kern.alloc(signal.byteLength);
        const pt = kern.put(bytesOf(twiddleTable(n)));
        const stage = kern.alloc(Math.max(2, n) * 4);
        const out = kern.exports.fft(px, ps, pt, stage, n, batch, inverse);
        return { spectrum: kern.take(out, signal.byteLength) };
      },
    };
  },
};

/** twiddles[t] = exp(-2 pi i t / n) for t < n / 2, computed in f64, stored as f32 (re, im). */
export function twiddleTable(n: number): Float32Array {
  const table = new Float32Array(Math.max(2, n));
  for (let t = 0; t < n / 2; t++) {
    const angle = (-2 * Math.PI * t) / n;
    table[2 * t] = Math.cos(angle);
    table[2 * t + 1] = Math.sin(angle);
  }
  return table;
}

/** Reference FFT in f64 (iterative radix-2 with exact twiddles), each batch row separately. */
export function fftReference(signal: Float32Array, n: number, inverse: boolean): Float32Array {
  const out = new Float32Array(signal.length);
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  const bits = Math.log2(n);
  const sign = inverse ? 1 : -1;
  for (let base = 0; base < signal.length / 2; base += n) {
    for (let i = 0; i < n; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
      re[r] = signal[2 * (base + i)]!;
      im[r] = signal[2 * (base + i) + 1]!;
    }
    for (let size = 2; size <= n; size *= 2) {
      const halfSize = size / 2;
      for (let k = 0; k < halfSize; k++) {
        const angle = (sign * 2 * Math.PI * k) / size;
        const wr = Math.cos(angle);
        const wi = Math.sin(angle);
        for (let start = 0; start < n; start += size) {
          const i = start + k;
          const j = i + halfSize;
          const tr = wr * re[j]! - wi * im[j]!;
          const ti = wr * im[j]! + wi * re[j]!;
          re[j] = re[i]! - tr;
          im[j] = im[i]! - ti;
          re[i] = re[i]! + tr;
          im[i] = im[i]! + ti;
        }
      }
    }
    for (let i = 0; i < n; i++) {
      out[2 * (base + i)] = re[i]!;
      out[2 * (base + i) + 1] = im[i]!;
    }
  }
  return out;
}
