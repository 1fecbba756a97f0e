/// <reference path="../wgsl-modules.d.ts" />
import { createSHA256 } from 'hash-wasm';
import source from '../../sha256_batch.wgsl?raw';
import type { OpDefinition, Tensors } from '../op-definition.ts';
import { align4, checkInputs, grid, groups, readParams, u32View } from '../op-inputs.ts';
import { ShaderError } from '../shader-error.ts';

/** sha256_batch: SHA-256 of many messages in parallel, one invocation per message. */
export const sha256Batch: OpDefinition = {
  op: 'sha256_batch',
  summary: 'SHA-256 of each message; messages are byte ranges of one packed input.',
  inputs: [
    { name: 'data', dtype: 'u8', shape: ['bytes'], doc: 'all messages, back to back' },
    {
      name: 'offsets',
      dtype: 'u32',
      shape: ['count + 1'],
      doc: 'message i is data[offsets[i] .. offsets[i + 1]); non-decreasing, last <= bytes',
    },
  ],
  outputs: [{ name: 'digests', dtype: 'u8', shape: ['count', '32'], doc: 'the digests, in order' }],
  params: [],
  wgsl: source,
  workgroupSize: [64, 1, 1],
  workgroupStorageBytes: 0,
  bindings: [
    { binding: 0, name: 'params', access: 'uniform' },
    { binding: 1, name: 'data', access: 'read' },
    { binding: 2, name: 'offsets', access: 'read' },
    { binding: 3, name: 'digests', access: 'read_write' },
  ],
  dispatch: 'ceil(count / 64) workgroups (rows of 65535)',
  sizeLimits: 'data bytes <= maxStorageBufferBindingSize (offsets are u32, lengths in bits are 64-bit)',
  errorBound: { metric: 'exact' },
  hasWasm: true,
  prepare(inputs: Tensors, raw) {
    checkInputs(this.inputs, inputs);
    readParams(this.params, raw);
    const data = inputs['data']!;
    const offsetBytes = inputs['offsets']!;
    const offsets = u32View(offsetBytes);
    const count = offsets.length - 1;
    if (count < 1) throw new ShaderError('BAD_INPUT_SIZE', 'offsets needs count + 1 >= 2 entries', 'offsets');
    for (let i = 0; i < count; i++) {
      if (offsets[i + 1]! < offsets[i]!) {
        throw new ShaderError('BAD_INPUT', `offsets[${i + 1}] < offsets[${i}]`, 'offsets');
      }
    }
    if (offsets[count]! > data.byteLength) {
      throw new ShaderError(
        'BAD_INPUT',
        `offsets[${count}] is past the ${data.byteLength} data bytes`,
        'offsets',
      );
    }
    const out = count * 32;
    return {
      op: 'sha256_batch',
      gpuPlan: (perDim) => ({
        buffers: {
          data: { size: Math.max(4, align4(data.byteLength)), data },
          offsets: { size: offsetBytes.byteLength, data: offsetBytes },
          digests: { size: out },
        },
        passes: [
          {
            params: { count },
            bindings: ['data', 'offsets', 'digests'],
            workgroups: grid(groups(count, 64), perDim),
          },
        ],
        outputs: { digests: { buffer: 'digests', size: out } },
      }),
      reference: async () => {
        const hasher = await createSHA256();
        const digests = new Uint8Array(out);
        for (let i = 0; i < count; i++) {
          hasher.init();
          hasher.update(data.subarray(offsets[i]!, offsets[i + 1]!));
          digests.set(hasher.digest('binary'), i * 32);
        }
        return { digests };
      },
      wasm: (kern) => {
        kern.reset();
        const pd = kern.put(data);
        const po = kern.put(offsetBytes);
        const pout = kern.alloc(out);
        kern.exports.sha256_batch(pd, po, count, pout);
        return { digests: kern.take(pout, out) };
      },
    };
  },
};
