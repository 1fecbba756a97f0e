// The executor Worker's GPU: one device, requested on first use and again after a loss; WGSL and
// built-in jobs run on it. A WGSL job past its timeout stops at its next chunk boundary; one whose
// dispatch still runs DEVICE_GRACE_MS later has the device destroyed (a dispatch cannot be
// interrupted otherwise): it fails TIMEOUT and the next job gets a new device.
import { runBuiltin, ShaderError } from '@flock/shaders';
import { countCopy } from './copy-meter.ts';
import { ExecutorError } from './executor-error.ts';
import { isFallbackAdapter } from './gpu-adapter.ts';
import type { Job, JobSuccess } from './job.ts';
import type { JobIo } from './job-io.ts';
import { runWgslJob } from './wgsl-executor.ts';

/** How long past its timeout a WGSL job's dispatch may run before its device is destroyed. */
export const DEVICE_GRACE_MS = 500;

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

export class GpuContext {
  private device: GPUDevice | undefined;
  /** The device's adapter is a fallback (software) one: see `isFallbackAdapter`. */
  private fallback = false;
  private lost: string | undefined;
  /** Called when the device is lost by itself (the tab republishes its capability). */
  onDeviceLost: ((reason: string) => void) | undefined;
  /** Devices destroyed on purpose (job timeout): their loss is not news for the capability. */
  private readonly destroyedOnPurpose = new WeakSet<GPUDevice>();
  /**
   * Whether this executor may use the GPU: only the GPU slot's may. A CPU executor runs built-in
   * and library jobs only when the tab has no GPU slot (no WebGPU, or the volunteer switched the
   * GPU off), so there they take their WASM/JS paths. Default false.
   */
  allowed = false;

  async getDevice(): Promise<GPUDevice> {
    if (!this.allowed) throw new ExecutorError('UNSUPPORTED', 'this executor has no GPU slot');
    if (this.device && !this.lost) return this.device;
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
    this.device = fresh;
    this.fallback = isFallbackAdapter(adapter);
    this.lost = undefined;
    void fresh.lost.then((info) => {
      if (this.device !== fresh) return;
      this.lost = info.message || info.reason || 'device lost';
      if (!this.destroyedOnPurpose.has(fresh)) this.onDeviceLost?.(this.lost);
    });
    return fresh;
  }

  /**
   * The device and whether its adapter is a fallback (software) one, e.g. SwiftShader (ml.*'s
   * `auto` runs on WASM there); fails as `getDevice` does.
   */
  async getGpu(): Promise<{ device: GPUDevice; isFallbackAdapter: boolean }> {
    const device = await this.getDevice();
    return { device, isFallbackAdapter: this.fallback };
  }

  /** A failure seen while the device was lost is DEVICE_LOST (retryable), whatever it looked like. */
  private gpuFailure(error: unknown): unknown {
    if (this.lost) return new ExecutorError('DEVICE_LOST', `GPU device lost: ${this.lost}`);
    return error;
  }

  async runWgsl(job: Job, io: JobIo): Promise<JobSuccess> {
    const gpu = await this.getDevice();
    let timedOut = false;
    // The job stops itself at its next safe point past the deadline (between chunks). A dispatch
    // still running DEVICE_GRACE_MS after it cannot be interrupted: its device is destroyed.
    const timer = setTimeout(() => {
      timedOut = true;
      this.destroyedOnPurpose.add(gpu);
      gpu.destroy();
    }, job.spec.limits.timeoutMs + DEVICE_GRACE_MS);
    const timeout = () =>
      new ExecutorError(
        'TIMEOUT',
        `WGSL job ran past ${job.spec.limits.timeoutMs} ms; a dispatch still ran ${DEVICE_GRACE_MS} ms later, so its device was destroyed`,
      );
    try {
      const outcome = await runWgslJob(job, gpu, io);
      if (timedOut) throw timeout();
      return outcome;
    } catch (error) {
      if (timedOut) throw timeout();
      throw this.gpuFailure(error);
    } finally {
      clearTimeout(timer);
    }
  }

  /** A built-in op of @flock/shaders: on this device when it fits, else its WASM/JS fallback. */
  async runBuiltin(job: Job, io: JobIo): Promise<JobSuccess> {
    let gpu: GPUDevice | undefined;
    if (job.spec.params['cpu_only'] !== true) gpu = await this.getDevice().catch(() => undefined);
    const tensors = Object.fromEntries(job.inputs.map((input) => [input.name, input.bytes]));
    if (io.stopRequested()) throw new ExecutorError('CANCELLED', 'cancelled before it started');
    try {
      // GPU read-backs land in the job's regions (the output's one copy); the CPU paths' arrays
      // are copied into regions when the outcome is sent.
      const allocate = (bytes: number) => {
        const region = io.allocate(bytes);
        if (region) countCopy('out:gpu-readback', bytes);
        return region;
      };
      const result = await runBuiltin(job.spec.op ?? '', tensors, job.spec.params, { device: gpu, allocate });
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
      throw this.gpuFailure(error);
    }
  }

  /** Adapter facts for the capability; null without WebGPU. */
  async probe(): Promise<GpuProbe | null> {
    try {
      const gpu = await this.getDevice();
      const info = gpu.adapterInfo;
      return {
        vendor: info.vendor,
        architecture: info.architecture,
        device: info.device,
        description: info.description,
        isFallbackAdapter: this.fallback,
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
  }

  /** Test hook: loses the device as a driver reset would. */
  loseDevice(): void {
    this.device?.destroy();
  }
}
