// The executor Worker: runs one job at a time for the pool on the main thread, which controls it
// through comlink. Outputs are transferred back (not copied). A runaway job is not interrupted
// here: the pool terminates this Worker at the job's timeout and starts a fresh one.
import { runBuiltin, ShaderError } from '@flock/shaders';
import * as Comlink from 'comlink';
import { ExecutorError, toJobFailure } from './executor-error.ts';
import type { BuiltinJob, JobOutcome, JobProgress, JobSuccess } from './job.ts';
import { type CompiledModuleCache, runWasmJob } from './wasm-executor.ts';
import { runWgslJob } from './wgsl-executor.ts';

/** What the main thread learns about this Worker's GPU. */
export interface GpuProbe {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  features: string[];
  limits: Record<string, number>;
}

const compiled: CompiledModuleCache = new Map();
let device: GPUDevice | undefined;
let deviceLost: string | undefined;
let onDeviceLost: ((reason: string) => void) | undefined;
/** Devices this Worker destroyed itself (job timeout): their loss is not news for the capability. */
const destroyedOnPurpose = new WeakSet<GPUDevice>();

async function getDevice(): Promise<GPUDevice> {
  if (device && !deviceLost) return device;
  if (!('gpu' in navigator) || !navigator.gpu)
    throw new ExecutorError('UNSUPPORTED', 'WebGPU is not available in this tab');
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new ExecutorError('UNSUPPORTED', 'no WebGPU adapter');
  const limits: Record<string, number> = {};
  for (const name of [
    'maxStorageBufferBindingSize',
    'maxBufferSize',
    'maxComputeWorkgroupsPerDimension',
  ] as const) {
    limits[name] = adapter.limits[name];
  }
  const fresh = await adapter.requestDevice({ requiredLimits: limits });
  device = fresh;
  deviceLost = undefined;
  void fresh.lost.then((info) => {
    if (device !== fresh) return;
    deviceLost = info.message || info.reason || 'device lost';
    if (!destroyedOnPurpose.has(fresh)) onDeviceLost?.(deviceLost);
  });
  return fresh;
}

function gpuFailure(error: unknown): unknown {
  if (deviceLost) return new ExecutorError('DEVICE_LOST', `GPU device lost: ${deviceLost}`);
  return error;
}

async function runBuiltinJob(job: BuiltinJob): Promise<JobSuccess> {
  let gpu: GPUDevice | undefined;
  if (job.params['cpu_only'] !== true) gpu = await getDevice().catch(() => undefined);
  const tensors = Object.fromEntries(job.inputs.map((input) => [input.name, input.bytes]));
  try {
    const result = await runBuiltin(job.op, tensors, job.params, { device: gpu });
    return {
      ok: true,
      outputs: Object.entries(result.outputs).map(([name, bytes]) => ({
        name,
        contentType: 'application/octet-stream',
        bytes,
      })),
      executor: `builtin:${result.executor}`,
      summary: {},
      metrics: {},
    };
  } catch (error) {
    if (error instanceof ShaderError) {
      const code = error.code === 'LIMIT_EXCEEDED' ? 'BUFFER_TOO_LARGE' : 'EXECUTION_ERROR';
      throw new ExecutorError(code, `${error.code}: ${error.message}`, false);
    }
    throw error;
  }
}

const api = {
  /** Runs one job; never throws: failures come back as `{ ok: false, code, ... }`. */
  async run(job: import('./job.ts').Job, onProgress?: (progress: JobProgress) => void): Promise<JobOutcome> {
    let outcome: JobOutcome;
    try {
      switch (job.kind) {
        case 'wasm':
          outcome = await runWasmJob(job, compiled, onProgress);
          break;
        case 'wgsl': {
          const gpu = await getDevice();
          // Timeout destroys the device: the GPU stops, the job fails TIMEOUT, the next job gets a new one.
          let timedOut = false;
          const timer = setTimeout(() => {
            timedOut = true;
            destroyedOnPurpose.add(gpu);
            gpu.destroy();
          }, job.limits.timeoutMs);
          try {
            outcome = await runWgslJob(job, gpu, onProgress);
          } catch (error) {
            if (timedOut) {
              throw new ExecutorError(
                'TIMEOUT',
                `WGSL job ran past ${job.limits.timeoutMs} ms; device destroyed`,
              );
            }
            throw gpuFailure(error);
          } finally {
            clearTimeout(timer);
          }
          if (timedOut) {
            throw new ExecutorError(
              'TIMEOUT',
              `WGSL job ran past ${job.limits.timeoutMs} ms; device destroyed`,
            );
          }
          break;
        }
        case 'builtin':
          outcome = await runBuiltinJob(job);
          break;
      }
    } catch (error) {
      return toJobFailure(error);
    }
    return Comlink.transfer(
      outcome,
      outcome.outputs.map((o) => o.bytes.buffer as ArrayBuffer),
    );
  },

  /** Adapter facts for the capability; null without WebGPU. */
  async probeGpu(): Promise<GpuProbe | null> {
    try {
      const gpu = await getDevice();
      const info = gpu.adapterInfo;
      return {
        vendor: info.vendor,
        architecture: info.architecture,
        device: info.device,
        description: info.description,
        isFallbackAdapter:
          (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
        features: [...gpu.features],
        limits: {
          maxStorageBufferBindingSize: gpu.limits.maxStorageBufferBindingSize,
          maxBufferSize: gpu.limits.maxBufferSize,
          maxComputeWorkgroupsPerDimension: gpu.limits.maxComputeWorkgroupsPerDimension,
          maxComputeInvocationsPerWorkgroup: gpu.limits.maxComputeInvocationsPerWorkgroup,
        },
      };
    } catch {
      return null;
    }
  },

  /** Registers the callback the main thread uses to republish its capability on device loss. */
  watchDeviceLost(callback: (reason: string) => void): void {
    onDeviceLost = callback;
  },

  /** Test hook: loses the device as a driver reset would. */
  loseDevice(): void {
    device?.destroy();
  },
};

export type ExecutorApi = typeof api;
Comlink.expose(api);
