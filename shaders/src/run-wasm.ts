// Runs a built-in op on the WASM kernels of wasm/kernels.c (embedded by scripts/build-wasm.sh).
import { KERNELS_SCALAR_BASE64, KERNELS_SIMD_BASE64 } from '../build/wasm-kernels.ts';
import { getOp } from './manifest.ts';
import type { Tensors } from './op-definition.ts';
import { ShaderError } from './shader-error.ts';
import { type WasmKernelExports, WasmKernels, type WasmVariant } from './wasm-kernels.ts';

const modules = new Map<WasmVariant, WebAssembly.Module | null>();
const instances = new Map<WasmVariant, WasmKernels>();

/** Memory a kernel instance may keep between calls; a larger one is dropped so it can be freed. */
const KEEP_MEMORY_BYTES = 64 * 1024 * 1024;

/** Runs `fn` on the kernels of `variant`, then drops the instance if its memory grew past 64 MiB. */
export function withWasmKernels<T>(variant: WasmVariant, fn: (kernels: WasmKernels) => T): T {
  const kernels = wasmKernels(variant);
  try {
    return fn(kernels);
  } finally {
    // WASM memory never shrinks: a tab that ran one big job should not hold it for the next.
    if (kernels.exports.memory.buffer.byteLength > KEEP_MEMORY_BYTES) instances.delete(variant);
  }
}

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The compiled kernel module of `variant`, or null when this engine cannot compile it. */
export function wasmModule(variant: WasmVariant): WebAssembly.Module | null {
  if (!modules.has(variant)) {
    const bytes = decodeBase64(variant === 'simd' ? KERNELS_SIMD_BASE64 : KERNELS_SCALAR_BASE64);
    modules.set(variant, WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null);
  }
  return modules.get(variant) ?? null;
}

/** True when this engine runs WASM SIMD128 (the SIMD kernel module validates). */
export function wasmSimdSupported(): boolean {
  return wasmModule('simd') !== null;
}

/** The kernel instance of `variant` (one per variant per realm); throws WASM_UNAVAILABLE. */
export function wasmKernels(variant: WasmVariant): WasmKernels {
  let kernels = instances.get(variant);
  if (kernels === undefined) {
    const module = wasmModule(variant);
    if (module === null)
      throw new ShaderError('WASM_UNAVAILABLE', `this engine cannot run the ${variant} WASM kernels`);
    const instance = new WebAssembly.Instance(module, {});
    kernels = new WasmKernels(variant, instance.exports as unknown as WasmKernelExports);
    instances.set(variant, kernels);
  }
  return kernels;
}

/**
 * Runs `op` on the WASM kernels (SIMD by default). Throws ShaderError: input/param codes, or
 * WASM_UNAVAILABLE when the op has no WASM kernel or the engine cannot run the variant.
 */
export function runWasm(
  op: string,
  inputs: Tensors,
  params: Readonly<Record<string, unknown>> = {},
  variant: WasmVariant = 'simd',
): Tensors {
  const prepared = getOp(op).prepare(inputs, params);
  if (prepared.wasm === undefined) throw new ShaderError('WASM_UNAVAILABLE', `${op} has no WASM kernel`);
  return withWasmKernels(variant, prepared.wasm);
}
