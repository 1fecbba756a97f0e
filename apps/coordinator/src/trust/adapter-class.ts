import type { Capability } from '@flock/protocol';

/** Device classes credit is weighted by. */
export type DeviceClass = 'gpu' | 'gpu-fallback' | 'cpu';

/** Credit per compute second of each device class (a hardware GPU second does more work). */
export const DEFAULT_DEVICE_WEIGHTS: Readonly<Record<DeviceClass, number>> = {
  gpu: 4,
  'gpu-fallback': 1,
  cpu: 1,
};

function part(value: string | undefined): string {
  return (value || 'unknown').toLowerCase().replace(/[^a-z0-9._-]+/g, '-');
}

/**
 * The adapter class a replica runs on: results are only expected to agree bit for bit within one
 * class, and reputation is kept per class. GPU jobs: `gpu/<vendor>/<architecture>` (plus
 * `/fallback` for software adapters such as SwiftShader); CPU jobs: `cpu/wasm` or `cpu/wasm-simd`.
 */
export function adapterClassOf(capability: Capability, executor: 'gpu' | 'cpu'): string {
  if (executor === 'gpu') {
    const gpu = capability.gpu ?? {};
    const base = `gpu/${part(gpu.vendor)}/${part(gpu.architecture)}`;
    return gpu.is_fallback_adapter ? `${base}/fallback` : base;
  }
  return capability.wasm_simd ? 'cpu/wasm-simd' : 'cpu/wasm';
}

/** The device class of an adapter class made by `adapterClassOf`. */
export function deviceClassOf(adapterClass: string): DeviceClass {
  if (!adapterClass.startsWith('gpu/')) return 'cpu';
  return adapterClass.endsWith('/fallback') ? 'gpu-fallback' : 'gpu';
}
