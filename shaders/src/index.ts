export { type ErrorMeasure, measureError, relativeL2 } from './error-metrics.ts';
export {
  type GpuLimitName,
  type LimitShortfall,
  limitShortfalls,
  type RequiredLimits,
  requiredLimits,
  requiredLimitsOf,
} from './gpu-limits.ts';
export { BUILTIN_OPS, getOp, isBuiltinOp, OPS } from './manifest.ts';
export type {
  BindingContract,
  BuiltinOp,
  Dtype,
  ErrorBound,
  GpuBufferPlan,
  GpuPass,
  GpuPlan,
  OpDefinition,
  ParamContract,
  PreparedOp,
  TensorContract,
  Tensors,
} from './op-definition.ts';
export { fftReference, twiddleTable } from './ops/fft.ts';
export { matmulJs } from './ops/matmul.ts';
export { type ParamsField, type ParamsLayout, packParams, parseParamsLayout } from './params-layout.ts';
export {
  type BuiltinExecutor,
  type BuiltinResult,
  CPU_ONLY_PARAM,
  type GpuSkipReason,
  type RunBuiltinOptions,
  runBuiltin,
} from './run-builtin.ts';
export { runWasm, wasmKernels, wasmSimdSupported, withWasmKernels } from './run-wasm.ts';
export { type OutputAllocator, paramsLayoutOf, runPreparedWgsl, runWgsl } from './run-wgsl.ts';
export { ShaderError, type ShaderErrorCode } from './shader-error.ts';
export { type WasmKernelExports, WasmKernels, type WasmVariant } from './wasm-kernels.ts';
