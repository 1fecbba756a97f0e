// Where an ml job runs: `chooseProvider` over every execution × adapter × task requirement, and the
// runtime asking the executor for its GPU (onnxruntime-web's WASM provider in Node; Node has no
// WebGPU, so the device handed over is a stand-in that the WASM path never touches).
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { LibraryError } from '../src/index.ts';
import { exampleValues, zooFiles } from '../src/models/index.ts';
import { type ExecutorGpu, LibraryHost, type LibraryInput } from '../src/runtime/index.ts';
import { chooseProvider, type Execution, type GpuKind, MlRuntime } from '../src/runtime/ml.ts';
import { nodeContext } from './support/node-context.ts';

/** The provider, or the LibraryError's code and field. */
function choice(execution: Execution, gpu: GpuKind, requiresWebgpu: boolean): string {
  try {
    return chooseProvider(execution, gpu, requiresWebgpu);
  } catch (error) {
    if (error instanceof LibraryError) return `${error.code} ${error.field ?? '-'}`;
    throw error;
  }
}

describe('chooseProvider', () => {
  // [execution, adapter, the task asks for WebGPU, where it runs]
  const table: Array<[Execution, GpuKind, boolean, string]> = [
    ['auto', 'hardware', false, 'webgpu'],
    ['auto', 'hardware', true, 'webgpu'],
    ['auto', 'fallback', false, 'wasm'],
    ['auto', 'fallback', true, 'webgpu'],
    ['auto', 'none', false, 'wasm'],
    ['auto', 'none', true, 'wasm'],
    ['webgpu', 'hardware', false, 'webgpu'],
    ['webgpu', 'hardware', true, 'webgpu'],
    ['webgpu', 'fallback', false, 'webgpu'],
    ['webgpu', 'fallback', true, 'webgpu'],
    ['webgpu', 'none', false, 'DEVICE_LOST -'],
    ['webgpu', 'none', true, 'DEVICE_LOST -'],
    ['wasm', 'hardware', false, 'wasm'],
    ['wasm', 'hardware', true, 'wasm'],
    ['wasm', 'fallback', false, 'wasm'],
    ['wasm', 'fallback', true, 'wasm'],
    ['wasm', 'none', false, 'wasm'],
    ['wasm', 'none', true, 'wasm'],
  ];
  test.each(table)('%s on a %s adapter, WebGPU asked for: %s → %s', (execution, gpu, asked, want) => {
    expect(choice(execution, gpu, asked)).toBe(want);
  });

  test('an execution outside the schema is INVALID_PARAMS', () => {
    expect(choice('cuda' as Execution, 'hardware', false)).toBe('INVALID_PARAMS params.execution');
  });
});

describe('MlRuntime asks the executor for its GPU', () => {
  const model = zooFiles()['mlp.onnx']!;
  const hash = `sha256:${createHash('sha256').update(model).digest('hex')}`;
  const params = (execution: Execution) => ({ model: `flock:${hash}`, execution });
  const features: LibraryInput = {
    name: 'features',
    contentType: 'application/octet-stream',
    bytes: new Uint8Array(exampleValues(64, 9).buffer),
    tensor: { dtype: 'float32', shape: [1, 64] },
  };

  /** A Node context whose executor has `gpu` (counting the times it is asked), for a task that asks for WebGPU or not. */
  function ctx(gpu: ExecutorGpu | undefined, requiresWebgpu?: boolean) {
    const asked = { count: 0 };
    return {
      asked,
      ctx: {
        ...nodeContext('ml'),
        model: { hash, bytes: model },
        gpuDevice: async () => {
          asked.count += 1;
          return gpu;
        },
        ...(requiresWebgpu === undefined ? {} : { requiresWebgpu }),
      },
    };
  }

  const provider = async (host: LibraryHost, execution: Execution, c: ReturnType<typeof ctx>['ctx']) =>
    (await host.run('ml.infer', params(execution), [features], c)).summary?.['execution_provider'];

  test('auto on a fallback adapter runs on WASM; the device is asked for once and kept', async () => {
    const host = new LibraryHost({ ml: async () => new MlRuntime() });
    const swiftshader: ExecutorGpu = { device: { lost: new Promise(() => {}) }, isFallbackAdapter: true };
    const first = ctx(swiftshader);
    expect(await provider(host, 'auto', first.ctx)).toBe('wasm');
    expect(first.asked.count).toBe(1);
    const second = ctx(swiftshader, false);
    expect(await provider(host, 'auto', second.ctx)).toBe('wasm');
    expect(second.asked.count).toBe(0);
  });

  test('wasm never asks for the GPU; auto without one runs on WASM even where the task asks for WebGPU', async () => {
    const host = new LibraryHost({ ml: async () => new MlRuntime() });
    const hardware = ctx({ device: { lost: new Promise(() => {}) }, isFallbackAdapter: false });
    expect(await provider(host, 'wasm', hardware.ctx)).toBe('wasm');
    expect(hardware.asked.count).toBe(0);
    const none = ctx(undefined, true);
    expect(await provider(host, 'auto', none.ctx)).toBe('wasm');
    expect(none.asked.count).toBe(1);
  });
});
