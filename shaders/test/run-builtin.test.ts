// Executor selection of runBuiltin without a GPU: WASM where the op has a kernel, else JS; a
// device whose limits do not fit is not used and the shortfall is reported.
import { describe, expect, it } from 'vitest';
import { getOp, measureError, requiredLimitsOf, runBuiltin, runWgsl } from '../src/index.ts';
import { allCases } from './support/cases.ts';

const TINY_LIMITS = {
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxComputeWorkgroupSizeY: 256,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeWorkgroupsPerDimension: 65535,
  maxStorageBuffersPerShaderStage: 8,
  maxStorageBufferBindingSize: 1024,
  maxBufferSize: 1024,
};
// Only `limits` is read before a device is used; a call that reached the GPU would throw here.
const tinyDevice = { limits: TINY_LIMITS } as unknown as GPUDevice;

describe('runBuiltin without a usable GPU', () => {
  it('runs matmul as WASM SIMD and saxpy as JS when no device is given', async () => {
    const mm = allCases().find((c) => c.op === 'matmul' && c.label.startsWith('65x17'))!;
    const result = await runBuiltin(mm.op, mm.inputs, mm.params);
    expect(result.executor).toBe('wasm-simd');
    const expected = await getOp('matmul').prepare(mm.inputs, mm.params).reference();
    expect(measureError('matmul', mm.inputs, result.outputs, expected).ok).toBe(true);
    const sx = allCases().find((c) => c.op === 'saxpy' && c.label === 'n=257')!;
    expect((await runBuiltin(sx.op, sx.inputs, sx.params)).executor).toBe('js');
  });

  it('skips a device whose buffer limits the call exceeds and says which', async () => {
    const big = allCases().find((c) => c.op === 'reduce_sum' && c.label === 'n=513')!;
    const result = await runBuiltin(big.op, big.inputs, big.params, { device: tinyDevice });
    expect(result.executor).toBe('wasm-simd');
    expect(result.gpuSkipped).toBe('limits');
    expect(result.limitShortfalls).toEqual([
      { name: 'maxStorageBufferBindingSize', required: 2052, available: 1024 },
      { name: 'maxBufferSize', required: 2052, available: 1024 },
    ]);
  });

  it('cpu_only: true keeps a call off the device; it must be a boolean', async () => {
    const c = allCases().find((c) => c.op === 'fft' && c.label === 'n=256 batch=1')!;
    // A device that fits everything: only cpu_only keeps the call off it.
    const roomy = {
      limits: { ...TINY_LIMITS, maxStorageBufferBindingSize: 1 << 30, maxBufferSize: 1 << 30 },
    };
    const result = await runBuiltin(
      c.op,
      c.inputs,
      { ...c.params, cpu_only: true },
      { device: roomy as unknown as GPUDevice },
    );
    expect(result.executor).toBe('wasm-simd');
    expect(result.gpuSkipped).toBe('cpu_only');
    expect(result.limitShortfalls).toBeUndefined();
    await expect(runBuiltin(c.op, c.inputs, { ...c.params, cpu_only: 'yes' })).rejects.toMatchObject({
      code: 'BAD_PARAM',
      field: 'cpu_only',
    });
  });

  it('requiredLimitsOf states what a call needs from the adapter', () => {
    // a (m x k = 128 x 130) is the largest buffer; 2 x 2 workgroups of 64 x 64.
    const c = allCases().find((c) => c.op === 'matmul' && c.label.startsWith('128x130'))!;
    expect(requiredLimitsOf(c.op, c.inputs, c.params)).toEqual({
      maxComputeInvocationsPerWorkgroup: 256,
      maxComputeWorkgroupSizeX: 16,
      maxComputeWorkgroupSizeY: 16,
      maxComputeWorkgroupStorageSize: 8192,
      maxComputeWorkgroupsPerDimension: 2,
      maxStorageBuffersPerShaderStage: 3,
      maxStorageBufferBindingSize: 128 * 130 * 4,
      maxBufferSize: 128 * 130 * 4,
    });
  });

  it('runWgsl refuses a call over the device limits with LIMIT_EXCEEDED before touching the device', async () => {
    const c = allCases().find((c) => c.op === 'reduce_sum' && c.label === 'n=513')!;
    await expect(runWgsl(tinyDevice, c.op, c.inputs, c.params)).rejects.toMatchObject({
      code: 'LIMIT_EXCEEDED',
      message:
        'reduce_sum does not fit this device: maxStorageBufferBindingSize 2052 > 1024, maxBufferSize 2052 > 1024',
    });
  });
});
