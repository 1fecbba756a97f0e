// Runs a built-in op on a GPUDevice: one pipeline per (device, op), buffers per the op's plan,
// every pass in one command buffer, outputs read back through MAP_READ staging buffers.
import { limitShortfalls, requiredLimits } from './gpu-limits.ts';
import { getOp } from './manifest.ts';
import type { BuiltinOp, OpDefinition, PreparedOp, Tensors } from './op-definition.ts';
import { align4 } from './op-inputs.ts';
import { type ParamsLayout, packParams, parseParamsLayout } from './params-layout.ts';
import { ShaderError } from './shader-error.ts';

const layouts = new Map<BuiltinOp, ParamsLayout>();
const pipelines = new WeakMap<GPUDevice, Map<BuiltinOp, GPUComputePipeline>>();
// The tail of each device's chain of calls: error scopes are a per-device stack, so calls that
// overlapped would pop each other's scopes.
const tails = new WeakMap<GPUDevice, Promise<unknown>>();

/** The uniform layout of an op, parsed once from its WGSL `struct Params`. */
export function paramsLayoutOf(def: OpDefinition): ParamsLayout {
  let layout = layouts.get(def.op);
  if (layout === undefined) {
    layout = parseParamsLayout(def.wgsl);
    layouts.set(def.op, layout);
  }
  return layout;
}

async function pipelineFor(device: GPUDevice, def: OpDefinition): Promise<GPUComputePipeline> {
  let byOp = pipelines.get(device);
  if (byOp === undefined) {
    byOp = new Map();
    pipelines.set(device, byOp);
  }
  const cached = byOp.get(def.op);
  if (cached !== undefined) return cached;
  const module = device.createShaderModule({ label: def.op, code: def.wgsl });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length > 0) {
    const text = errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('; ');
    throw new ShaderError('GPU_ERROR', `WGSL of ${def.op} does not compile: ${text}`);
  }
  const pipeline = await device.createComputePipelineAsync({
    label: def.op,
    layout: 'auto',
    compute: { module, entryPoint: def.op },
  });
  byOp.set(def.op, pipeline);
  return pipeline;
}

/**
 * Runs `op` on `device` with inputs (bytes by name) and JSON params; resolves to the outputs.
 * Throws ShaderError: input/param codes, LIMIT_EXCEEDED when the device limits do not fit,
 * GPU_ERROR for a validation or out-of-memory error, a lost device, or a failed read-back.
 */
export async function runWgsl(
  device: GPUDevice,
  op: string,
  inputs: Tensors,
  params: Readonly<Record<string, unknown>> = {},
): Promise<Tensors> {
  const def = getOp(op);
  return runPreparedWgsl(device, def, def.prepare(inputs, params));
}

/**
 * Where read-back outputs go: a region of `bytes` bytes the caller owns (a volunteer tab's arena
 * block, so the read-back is the output's only copy), or undefined for a fresh array.
 */
export type OutputAllocator = (bytes: number) => Uint8Array | undefined;

/** Runs an already prepared op call on `device` (see runWgsl); calls on one device run in turn. */
export function runPreparedWgsl(
  device: GPUDevice,
  def: OpDefinition,
  prepared: PreparedOp,
  allocate?: OutputAllocator,
): Promise<Tensors> {
  const previous = tails.get(device) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => runAlone(device, def, prepared, allocate));
  tails.set(device, run);
  return run;
}

async function runAlone(
  device: GPUDevice,
  def: OpDefinition,
  prepared: PreparedOp,
  allocate: OutputAllocator | undefined,
): Promise<Tensors> {
  const plan = prepared.gpuPlan(device.limits.maxComputeWorkgroupsPerDimension);
  const shortfalls = limitShortfalls(requiredLimits(def, plan), device.limits);
  if (shortfalls.length > 0) {
    const text = shortfalls.map((s) => `${s.name} ${s.required} > ${s.available}`).join(', ');
    throw new ShaderError('LIMIT_EXCEEDED', `${def.op} does not fit this device: ${text}`);
  }
  const layout = paramsLayoutOf(def);
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let scopesOpen = true;
  const owned: GPUBuffer[] = [];
  try {
    const pipeline = await pipelineFor(device, def);
    const buffers = new Map<string, GPUBuffer>();
    for (const [name, spec] of Object.entries(plan.buffers)) {
      const buffer = device.createBuffer({
        label: `${def.op}:${name}`,
        size: Math.max(4, align4(spec.size)),
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      });
      owned.push(buffer);
      if (spec.data !== undefined && spec.data.byteLength > 0) writePadded(device, buffer, spec.data);
      buffers.set(name, buffer);
    }
    const encoder = device.createCommandEncoder({ label: def.op });
    for (const pass of plan.passes) {
      const uniform = device.createBuffer({
        size: layout.size,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      });
      owned.push(uniform);
      device.queue.writeBuffer(uniform, 0, packParams(layout, pass.params));
      const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: uniform } }];
      pass.bindings.forEach((name, i) => {
        entries.push({ binding: i + 1, resource: { buffer: buffers.get(name)! } });
      });
      const compute = encoder.beginComputePass();
      compute.setPipeline(pipeline);
      compute.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }));
      compute.dispatchWorkgroups(...pass.workgroups);
      compute.end();
    }
    const reads: [string, GPUBuffer, number][] = [];
    for (const [name, out] of Object.entries(plan.outputs)) {
      const staging = device.createBuffer({
        size: Math.max(4, align4(out.size)),
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      owned.push(staging);
      encoder.copyBufferToBuffer(buffers.get(out.buffer)!, 0, staging, 0, staging.size);
      reads.push([name, staging, out.size]);
    }
    device.queue.submit([encoder.finish()]);
    const validation = await device.popErrorScope();
    const oom = await device.popErrorScope();
    scopesOpen = false;
    const error = validation ?? oom;
    if (error !== null) throw new ShaderError('GPU_ERROR', `${def.op}: ${error.message}`);
    const outputs: Tensors = {};
    for (const [name, staging, size] of reads) {
      await staging.mapAsync(GPUMapMode.READ);
      const mapped = new Uint8Array(staging.getMappedRange(0, staging.size), 0, size);
      const region = allocate?.(size);
      if (region) region.set(mapped);
      outputs[name] = region ?? mapped.slice();
      staging.unmap();
    }
    return outputs;
  } catch (error) {
    if (scopesOpen) {
      // A throw before the pops (e.g. a compile error): close the scopes this call opened.
      await device.popErrorScope().catch(() => null);
      await device.popErrorScope().catch(() => null);
    }
    if (error instanceof ShaderError) throw error;
    // Pipeline creation or read-back failed (e.g. the device was lost): one stable code.
    throw new ShaderError(
      'GPU_ERROR',
      `${def.op}: ${error instanceof Error ? error.message : String(error)}`,
    );
  } finally {
    for (const buffer of owned) buffer.destroy();
  }
}

function writePadded(device: GPUDevice, buffer: GPUBuffer, bytes: Uint8Array): void {
  // Inputs may be views of a SharedArrayBuffer (the tab's arena): writeBuffer reads them in place.
  const data = bytes as Uint8Array<ArrayBuffer>;
  // writeBuffer needs a multiple of 4 bytes; pad the tail (u8 inputs such as sha256 data).
  const whole = data.byteLength & ~3;
  if (whole > 0) device.queue.writeBuffer(buffer, 0, data, 0, whole);
  if (whole < data.byteLength) {
    const tail = new Uint8Array(4);
    tail.set(data.subarray(whole));
    device.queue.writeBuffer(buffer, whole, tail);
  }
}
