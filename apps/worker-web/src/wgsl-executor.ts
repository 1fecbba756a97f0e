// Runs `module.kind = "wgsl"` jobs on a GPUDevice: compile (errors with line numbers), check
// every buffer against the adapter's limits, bind, dispatch (split into chunks when asked), read
// back every read_write buffer as an output. Layout rules are in ../README.md.
import type { BufferSpec } from '@flock/protocol';
import { countCopy } from './copy-meter.ts';
import { ExecutorError } from './executor-error.ts';
import type { Job, JobOutput, JobSuccess } from './job.ts';
import type { JobIo } from './job-io.ts';
import { textOf } from './wasi-io.ts';

/** Binding name through which a shader learns the first workgroup of each chunk (vec4<u32>). */
export const DISPATCH_BASE_BINDING = 'flock_dispatch_base';

/** Formats compilation errors as "line L:C: message" lines. */
async function compile(device: GPUDevice, source: string): Promise<GPUShaderModule> {
  const module = device.createShaderModule({ code: source });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length > 0) {
    const text = errors.map((m) => `line ${m.lineNum}:${m.linePos}: ${m.message}`).join('\n');
    throw new ExecutorError('SHADER_COMPILE', text, false);
  }
  return module;
}

function uniformFromParams(spec: BufferSpec, value: unknown): Uint8Array | undefined {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'number')) return undefined;
  const numbers = value as number[];
  const dtype = spec.tensor?.dtype ?? 'f32';
  const array =
    dtype === 'u32'
      ? Uint32Array.from(numbers)
      : dtype === 'i32'
        ? Int32Array.from(numbers)
        : Float32Array.from(numbers);
  return new Uint8Array(array.buffer);
}

const round4 = (n: number) => Math.ceil(n / 4) * 4;

interface PlannedBuffer {
  spec: BufferSpec;
  size: number;
  data: Uint8Array | undefined;
  output: boolean;
}

function plan(job: Job, limits: GPUSupportedLimits): PlannedBuffer[] {
  const planned: PlannedBuffer[] = [];
  for (const spec of job.spec.buffers ?? []) {
    const name = spec.name ?? '';
    const access = spec.access ?? 'read';
    const input = job.inputs.find((i) => i.name === name);
    let data = input?.bytes;
    if (!data && access === 'uniform') data = uniformFromParams(spec, job.spec.params[name]);
    if (!data && name === DISPATCH_BASE_BINDING) data = new Uint8Array(16);
    const size = round4(Math.max(spec.size ?? 0, data?.byteLength ?? 0));
    if (size === 0) {
      throw new ExecutorError('EXECUTION_ERROR', `buffer "${name}" has neither data nor a size`, false);
    }
    if (spec.size && data && data.byteLength > spec.size) {
      throw new ExecutorError(
        'INPUT_TOO_LARGE',
        `input "${name}" is ${data.byteLength} bytes, its buffer ${spec.size}`,
      );
    }
    const bindingLimit =
      access === 'uniform' ? limits.maxUniformBufferBindingSize : limits.maxStorageBufferBindingSize;
    if (size > bindingLimit || size > limits.maxBufferSize) {
      throw new ExecutorError(
        'BUFFER_TOO_LARGE',
        `buffer "${name}" is ${size} bytes; this adapter allows ${Math.min(bindingLimit, limits.maxBufferSize)}`,
        true,
      );
    }
    planned.push({ spec, size, data, output: access === 'read_write' });
  }
  return planned;
}

/**
 * Runs one WGSL job: its source is the job's module region. Progress after every submitted chunk;
 * between chunks a safe point (cancel, timeout). Throws ExecutorError: SHADER_COMPILE,
 * BUFFER_TOO_LARGE, OUTPUT_TOO_LARGE, INPUT_TOO_LARGE, DEVICE_LOST, UNSUPPORTED, CANCELLED,
 * TIMEOUT, ARENA_FULL.
 */
export async function runWgslJob(job: Job, device: GPUDevice, io: JobIo): Promise<JobSuccess> {
  const started = performance.now();
  const { limits, params } = job.spec;
  const inputBytes = job.inputs.reduce((sum, input) => sum + input.bytes.byteLength, 0);
  if (inputBytes > limits.maxInputBytes) {
    throw new ExecutorError(
      'INPUT_TOO_LARGE',
      `inputs are ${inputBytes} bytes, the limit is ${limits.maxInputBytes}`,
    );
  }
  if (!job.module) throw new ExecutorError('NEED_MODULE', 'the WGSL source did not come with the job');
  const source = textOf(job.module);
  const buffers = plan(job, device.limits);
  const outputBytes = buffers.filter((b) => b.output).reduce((sum, b) => sum + b.size, 0);
  if (outputBytes > limits.maxOutputBytes) {
    throw new ExecutorError(
      'OUTPUT_TOO_LARGE',
      `outputs are ${outputBytes} bytes, the limit is ${limits.maxOutputBytes}`,
    );
  }
  const [x, y, z] = job.spec.workgroups ?? [1, 1, 1];
  const perDimension = device.limits.maxComputeWorkgroupsPerDimension;
  if (y > perDimension || z > perDimension) {
    throw new ExecutorError('UNSUPPORTED', `workgroups ${y}x${z} exceed ${perDimension} per dimension`);
  }
  const base = buffers.find((b) => b.spec.name === DISPATCH_BASE_BINDING);
  const requestedChunk = params['chunk_workgroups'];
  const chunk = Math.min(
    perDimension,
    typeof requestedChunk === 'number' && requestedChunk > 0 ? requestedChunk : x,
  );
  if (chunk < x && !base) {
    throw new ExecutorError(
      'UNSUPPORTED',
      `${x} workgroups in x need splitting; the shader must bind ${DISPATCH_BASE_BINDING} for that`,
    );
  }
  const deadline = started + limits.timeoutMs;
  const safePoint = (): void => {
    const reason = io.stopRequested() ?? (performance.now() > deadline ? 'TIMEOUT' : undefined);
    if (reason === 'CANCELLED') throw new ExecutorError('CANCELLED', 'cancelled between chunks');
    if (reason === 'TIMEOUT')
      throw new ExecutorError('TIMEOUT', `WGSL job ran past ${limits.timeoutMs} ms; stopped between chunks`);
  };

  const shader = await compile(device, source);
  device.pushErrorScope('validation');
  let pipeline: GPUComputePipeline;
  try {
    pipeline = await device.createComputePipelineAsync({
      layout: 'auto',
      compute: { module: shader, entryPoint: job.spec.entry || 'main' },
    });
  } catch (error) {
    await device.popErrorScope();
    throw new ExecutorError('SHADER_COMPILE', `pipeline: ${(error as Error).message}`, false);
  }
  const gpuBuffers = buffers.map((b) => {
    const usage =
      b.spec.access === 'uniform'
        ? GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST
        : GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    const buffer = device.createBuffer({ size: b.size, usage });
    if (b.data) device.queue.writeBuffer(buffer, 0, b.data as Uint8Array<ArrayBuffer>, 0, b.data.byteLength);
    return buffer;
  });
  try {
    const groups = [...new Set(buffers.map((b) => b.spec.group ?? 0))].sort((a, b) => a - b);
    const bindGroups = groups.map((group) => ({
      group,
      bindGroup: device.createBindGroup({
        layout: pipeline.getBindGroupLayout(group),
        entries: buffers.flatMap((b, i) =>
          (b.spec.group ?? 0) === group
            ? [{ binding: b.spec.binding ?? 0, resource: { buffer: gpuBuffers[i]! } }]
            : [],
        ),
      }),
    }));
    const validation = await device.popErrorScope();
    if (validation) throw new ExecutorError('EXECUTION_ERROR', `bindings: ${validation.message}`, false);

    const baseIndex = base ? buffers.indexOf(base) : -1;
    let chunks = 0;
    for (let first = 0; first < x; first += chunk) {
      safePoint();
      const count = Math.min(chunk, x - first);
      if (baseIndex >= 0)
        device.queue.writeBuffer(gpuBuffers[baseIndex]!, 0, new Uint32Array([first, 0, 0, 0]));
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      for (const { group, bindGroup } of bindGroups) pass.setBindGroup(group, bindGroup);
      pass.dispatchWorkgroups(count, y, z);
      pass.end();
      device.queue.submit([encoder.finish()]);
      // One chunk at a time: a long dispatch never holds the GPU in one submission.
      await device.queue.onSubmittedWorkDone();
      chunks++;
      io.progress({ pct: Math.round(((first + count) / x) * 100), metrics: { chunks: String(chunks) } });
    }

    const outputs: JobOutput[] = [];
    for (const [i, b] of buffers.entries()) {
      if (!b.output) continue;
      const staging = device.createBuffer({
        size: b.size,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      const encoder = device.createCommandEncoder();
      encoder.copyBufferToBuffer(gpuBuffers[i]!, 0, staging, 0, b.size);
      device.queue.submit([encoder.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      // The readback's one copy: from the mapped range into the output's region.
      const bytes = io.allocate(b.size);
      if (!bytes)
        throw new ExecutorError('ARENA_FULL', `no room for the ${b.size}-byte output "${b.spec.name}"`, true);
      bytes.set(new Uint8Array(staging.getMappedRange()));
      countCopy('out:gpu-readback', b.size);
      staging.destroy();
      outputs.push({ name: b.spec.name ?? '', contentType: 'application/octet-stream', bytes });
    }
    return {
      ok: true,
      outputs,
      executor: 'wgsl',
      summary: { chunks: String(chunks) },
      metrics: { gpu_ms: (performance.now() - started).toFixed(2) },
    };
  } finally {
    for (const buffer of gpuBuffers) buffer.destroy();
  }
}
