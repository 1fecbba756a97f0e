// Picks the executor of a built-in op call: WGSL when a device is given and the call fits its
// limits, else the WASM kernel (SIMD, or scalar where SIMD is missing), else the JS reference.
import { type LimitShortfall, limitShortfalls, requiredLimits } from './gpu-limits.ts';
import { getOp } from './manifest.ts';
import type { Tensors } from './op-definition.ts';
import { wasmModule, withWasmKernels } from './run-wasm.ts';
import { type OutputAllocator, runPreparedWgsl } from './run-wgsl.ts';
import { ShaderError } from './shader-error.ts';

/** Which implementation produced a result. */
export type BuiltinExecutor = 'wgsl' | 'wasm-simd' | 'wasm-scalar' | 'js';

/** Options of runBuiltin. */
export interface RunBuiltinOptions {
  /** A GPUDevice to prefer; absent or not fitting means CPU. */
  readonly device?: GPUDevice | undefined;
  /**
   * Skip a device whose adapter is a fallback (CPU) adapter such as SwiftShader, where WASM SIMD
   * is 5-60x faster (see README, Benchmark). Default false: any device is used.
   */
  readonly cpuOnFallbackAdapter?: boolean;
  /** Where GPU read-backs go (see OutputAllocator); the CPU paths return fresh arrays. */
  readonly allocate?: OutputAllocator | undefined;
}

/** Why a given device was not used. */
export type GpuSkipReason = 'cpu_only' | 'fallback_adapter' | 'limits';

/** Outputs of a built-in op call and how they were computed. */
export interface BuiltinResult {
  readonly outputs: Tensors;
  readonly executor: BuiltinExecutor;
  /** When a device was given but not used: why. */
  readonly gpuSkipped?: GpuSkipReason;
  /** When the device was skipped for its limits: the ones it lacks. */
  readonly limitShortfalls?: readonly LimitShortfall[];
}

/** A param for the executor rather than the op: `cpu_only: true` keeps the call off the GPU. */
export const CPU_ONLY_PARAM = 'cpu_only';

/**
 * Runs built-in `op` on the best executor here: WGSL when `device` is given and fits the call's
 * limits, else WASM (for ops that have a kernel), else the JS reference. The param `cpu_only`
 * (boolean) is taken out before the op's params are checked; `true` skips the device. Throws
 * ShaderError for bad input or params (same codes on every executor).
 */
export async function runBuiltin(
  op: string,
  inputs: Tensors,
  params: Readonly<Record<string, unknown>> = {},
  options: RunBuiltinOptions = {},
): Promise<BuiltinResult> {
  const def = getOp(op);
  const { [CPU_ONLY_PARAM]: cpuOnly, ...opParams } = params;
  if (cpuOnly !== undefined && typeof cpuOnly !== 'boolean') {
    throw new ShaderError('BAD_PARAM', `param "${CPU_ONLY_PARAM}" must be a boolean`, CPU_ONLY_PARAM);
  }
  const prepared = def.prepare(inputs, opParams);
  let extra: { gpuSkipped?: GpuSkipReason; limitShortfalls?: LimitShortfall[] } = {};
  const device = options.device;
  if (device !== undefined) {
    const plan = prepared.gpuPlan(device.limits.maxComputeWorkgroupsPerDimension);
    const shortfalls = limitShortfalls(requiredLimits(def, plan), device.limits);
    if (cpuOnly === true) extra = { gpuSkipped: 'cpu_only' };
    else if (options.cpuOnFallbackAdapter === true && device.adapterInfo?.isFallbackAdapter === true) {
      extra = { gpuSkipped: 'fallback_adapter' };
    } else if (shortfalls.length > 0) extra = { gpuSkipped: 'limits', limitShortfalls: shortfalls };
    else return { outputs: await runPreparedWgsl(device, def, prepared, options.allocate), executor: 'wgsl' };
  }
  if (prepared.wasm !== undefined) {
    const variant =
      wasmModule('simd') !== null ? 'simd' : wasmModule('scalar') !== null ? 'scalar' : undefined;
    if (variant !== undefined) {
      const outputs = withWasmKernels(variant, prepared.wasm);
      return { outputs, executor: variant === 'simd' ? 'wasm-simd' : 'wasm-scalar', ...extra };
    }
  }
  return { outputs: await prepared.reference(), executor: 'js', ...extra };
}
