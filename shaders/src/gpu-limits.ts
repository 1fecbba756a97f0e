// The adapter limits an op call needs, derived from its definition and GPU plan, and the check
// against a device's limits that decides between WGSL and the CPU executors.
import { getOp } from './manifest.ts';
import type { GpuPlan, OpDefinition, Tensors } from './op-definition.ts';

/** GPUSupportedLimits names this package checks. */
export type GpuLimitName =
  | 'maxComputeInvocationsPerWorkgroup'
  | 'maxComputeWorkgroupSizeX'
  | 'maxComputeWorkgroupSizeY'
  | 'maxComputeWorkgroupStorageSize'
  | 'maxComputeWorkgroupsPerDimension'
  | 'maxStorageBuffersPerShaderStage'
  | 'maxStorageBufferBindingSize'
  | 'maxBufferSize';

/** Minimum value of each limit the call needs. */
export type RequiredLimits = Record<GpuLimitName, number>;

/** The limits an op call with this plan needs. */
export function requiredLimits(def: OpDefinition, plan: GpuPlan): RequiredLimits {
  const [x, y, z] = def.workgroupSize;
  let maxBuffer = 0;
  for (const buffer of Object.values(plan.buffers)) maxBuffer = Math.max(maxBuffer, buffer.size);
  let maxGroups = 1;
  let storageBindings = 0;
  for (const pass of plan.passes) {
    maxGroups = Math.max(maxGroups, ...pass.workgroups);
    storageBindings = Math.max(storageBindings, pass.bindings.length);
  }
  return {
    maxComputeInvocationsPerWorkgroup: x * y * z,
    maxComputeWorkgroupSizeX: x,
    maxComputeWorkgroupSizeY: y,
    maxComputeWorkgroupStorageSize: def.workgroupStorageBytes,
    maxComputeWorkgroupsPerDimension: maxGroups,
    maxStorageBuffersPerShaderStage: storageBindings,
    maxStorageBufferBindingSize: maxBuffer,
    maxBufferSize: maxBuffer,
  };
}

/** The limits a call of built-in `op` with these inputs and params needs (validates them first). */
export function requiredLimitsOf(
  op: string,
  inputs: Tensors,
  params: Readonly<Record<string, unknown>> = {},
): RequiredLimits {
  const def = getOp(op);
  return requiredLimits(def, def.prepare(inputs, params).gpuPlan());
}

/** A limit the device does not meet. */
export interface LimitShortfall {
  readonly name: GpuLimitName;
  readonly required: number;
  readonly available: number;
}

/** The limits in `required` that `limits` does not meet; empty when the call fits. */
export function limitShortfalls(
  required: RequiredLimits,
  limits: Readonly<Record<GpuLimitName, number>>,
): LimitShortfall[] {
  const out: LimitShortfall[] = [];
  for (const name of Object.keys(required) as GpuLimitName[]) {
    if (required[name] > limits[name]) out.push({ name, required: required[name], available: limits[name] });
  }
  return out;
}
