// ml.* in the tab: onnxruntime-web's build with its WebGPU execution provider, whose WASM (checked
// against the page's manifest) also runs its WASM provider. Sessions are kept by model hash and
// provider; `auto` runs on WebGPU where the executor has a hardware adapter's device (or the task
// asked for WebGPU) and falls back to WASM once it loses it (the job that saw the loss fails
// DEVICE_LOST, which is retried).
import type { InferenceSession } from 'onnxruntime-common';
import { LibraryError } from '../library-error.ts';
import type { CheckedCall } from '../registry.ts';
import { type LoadedModel, modelLabels, ortError, runMlCall } from './ml-job.ts';
import type { LibraryInput, LibraryResult, LibraryRuntime, RuntimeContext } from './runtime.ts';

type Ort = typeof import('onnxruntime-web/webgpu');
/** Where an ml job runs: ONNX Runtime's execution provider. */
export type Provider = 'webgpu' | 'wasm';
/** `params.execution` of an ml call. */
export type Execution = 'auto' | Provider;
/** The executor's WebGPU: a hardware adapter's device, a fallback (software) adapter's, or none usable. */
export type GpuKind = 'hardware' | 'fallback' | 'none';

export const ORT_WASM = {
  package: 'onnxruntime-web',
  path: 'dist/ort-wasm-simd-threaded.asyncify.wasm',
} as const;

/** How long a WebGPU failure waits for its device to report a loss, ms. */
const LOSS_GRACE_MS = 200;

/** Sessions kept per executor (a model's session holds its weights, on the GPU or in WASM memory). */
const KEPT_SESSIONS = 4;
/** Model sizes remembered by hash (a number each; sessions come and go, sizes outlive them). */
const KEPT_MODEL_SIZES = 1024;

interface DeviceLike {
  lost: Promise<unknown>;
}

/** The WebGPU provider option's device type (GPUDevice where the WebGPU types are loaded). */
type GPUDeviceOption = NonNullable<InferenceSession.WebGpuExecutionProviderOption['device']>;

export class MlRuntime implements LibraryRuntime {
  private ort: Ort | undefined;
  private readonly sessions = new Map<string, Promise<LoadedModel>>();
  /**
   * Each model's size by hash, from the job that handed it over: a warm executor is not sent the
   * bytes again, and the model still counts against the input limit, as on a cold one.
   */
  private readonly modelSizes = new Map<string, number>();
  /** The executor's device, handed to ONNX Runtime's WebGPU provider with each session. */
  private device: DeviceLike | undefined;
  /** The device's adapter is a fallback (software) one. */
  private fallback = false;
  private deviceLost = false;

  async load(ctx: RuntimeContext): Promise<void> {
    const ort = await import('onnxruntime-web/webgpu');
    ort.env.wasm.wasmBinary = await ctx.file(ORT_WASM.package, ORT_WASM.path);
    // One thread per executor: a tab runs one executor per slot, and the build's own workers
    // would need its glue as a URL.
    ort.env.wasm.numThreads = 1;
    ort.env.logLevel = 'error';
    this.ort = ort;
  }

  async run(call: CheckedCall, inputs: LibraryInput[], ctx: RuntimeContext): Promise<LibraryResult> {
    const model = ctx.model;
    if (!model) throw new LibraryError('INVALID_PARAMS', 'the call names no model', 'params.model');
    if (model.bytes) {
      this.modelSizes.delete(model.hash);
      this.modelSizes.set(model.hash, model.bytes.byteLength);
      if (this.modelSizes.size > KEPT_MODEL_SIZES)
        this.modelSizes.delete(this.modelSizes.keys().next().value!);
    }
    const modelBytes = model.bytes?.byteLength ?? this.modelSizes.get(model.hash) ?? 0;
    const total = inputs.reduce((sum, i) => sum + i.bytes.byteLength, modelBytes);
    if (total > ctx.limits.maxInputBytes) {
      throw new LibraryError(
        'INPUT_TOO_LARGE',
        `the model and inputs pass the ${ctx.limits.maxInputBytes}-byte limit`,
        'params.model',
      );
    }
    const provider = await this.provider((call.params['execution'] as Execution | undefined) ?? 'auto', ctx);
    const loaded = await this.session(model, provider, ctx);
    ctx.progress(10);
    let result: LibraryResult;
    try {
      result = await runMlCall(call, loaded, inputs, this.ort! as never);
    } catch (error) {
      if (provider === 'webgpu' && (await this.lostSoon())) throw this.lost();
      throw error;
    }
    // Read-backs from a device lost mid-run are not to be trusted, even when ORT returned them.
    if (provider === 'webgpu' && this.deviceLost) throw this.lost();
    ctx.progress(100);
    return { ...result, summary: { ...result.summary, execution_provider: provider } };
  }

  /**
   * Whether the device is lost, or says so within LOSS_GRACE_MS: ORT's failure (a read-back whose
   * buffer went with the device) can come before the device's `lost` promise settles.
   */
  private async lostSoon(): Promise<boolean> {
    if (this.deviceLost || !this.device) return this.deviceLost;
    await Promise.race([this.device.lost, new Promise((resolve) => setTimeout(resolve, LOSS_GRACE_MS))]);
    return this.deviceLost;
  }

  private lost(): LibraryError {
    for (const key of [...this.sessions.keys()]) if (key.endsWith(':webgpu')) this.sessions.delete(key);
    return new LibraryError('DEVICE_LOST', 'the GPU device was lost while the model ran; it will be retried');
  }

  /**
   * `chooseProvider` with this executor's GPU. After a loss this executor stays off WebGPU: a
   * session on a fresh device hung ORT 1.30 in CI once, so a `webgpu` task fails DEVICE_LOST at
   * once (retryable, for another tab) instead, and an `auto` one runs on WASM.
   */
  private async provider(execution: Execution, ctx: RuntimeContext): Promise<Provider> {
    const gpu = execution === 'wasm' || this.deviceLost ? 'none' : await this.gpu(ctx);
    return chooseProvider(execution, gpu, ctx.requiresWebgpu === true);
  }

  /** The executor's WebGPU, asked for once (its device is kept: ORT's sessions live on it). */
  private async gpu(ctx: RuntimeContext): Promise<GpuKind> {
    if (!this.device) {
      const gpu = await ctx.gpuDevice?.();
      if (!gpu) return 'none';
      const device = gpu.device as DeviceLike;
      this.device = device;
      this.fallback = gpu.isFallbackAdapter;
      void device.lost.then(() => {
        this.deviceLost = true;
      });
    }
    return this.fallback ? 'fallback' : 'hardware';
  }

  private session(
    model: NonNullable<RuntimeContext['model']>,
    provider: Provider,
    ctx: RuntimeContext,
  ): Promise<LoadedModel> {
    const key = `${model.hash}:${provider}`;
    let loading = this.sessions.get(key);
    if (loading) {
      // Most recently used last.
      this.sessions.delete(key);
      this.sessions.set(key, loading);
      return loading;
    }
    const bytes = model.bytes;
    if (!bytes)
      return ctx.needModel
        ? ctx.needModel()
        : Promise.reject(new LibraryError('INVALID_PARAMS', 'the model was not handed over', 'params.model'));
    const labels = modelLabels(bytes);
    // ORT 1.30's WebGPU provider takes the device as its option (it ignores env.webgpu.device and
    // would create its own): the executor's device, so a loss there is a loss here.
    const ep =
      provider === 'webgpu' && this.device
        ? { name: 'webgpu' as const, device: this.device as unknown as GPUDeviceOption }
        : provider;
    const options: InferenceSession.SessionOptions = { executionProviders: [ep] };
    loading = this.ort!.InferenceSession.create(bytes, options).then(
      (session) => ({ session, labels }),
      (error: unknown) => {
        this.sessions.delete(key);
        throw ortError(error, 'load');
      },
    );
    this.sessions.set(key, loading);
    while (this.sessions.size > KEPT_SESSIONS) {
      const [oldest, old] = this.sessions.entries().next().value!;
      this.sessions.delete(oldest);
      void old.then((m) => m.session.release()).catch(() => undefined);
    }
    return loading;
  }
}

/**
 * Where an ml job runs. `wasm` and `webgpu` are the requester's choice: `webgpu` runs on any usable
 * device, a fallback adapter's too, and without one fails DEVICE_LOST (retryable: another tab gets
 * the task). `auto` runs on WebGPU on a hardware adapter, or on a fallback adapter where the task
 * asked for WebGPU (`requiresWebgpu`); else on WASM. A fallback adapter emulates the GPU on the CPU:
 * in one SwiftShader tab of headless Chromium, a warm ml.infer of 10 images through the repo's CNN
 * took a median 103–228 ms on WebGPU and 1.0–1.9 ms on WASM (three runs; docs/ml.md).
 */
export function chooseProvider(execution: Execution, gpu: GpuKind, requiresWebgpu: boolean): Provider {
  switch (execution) {
    case 'wasm':
      return 'wasm';
    case 'webgpu':
      if (gpu === 'none') {
        throw new LibraryError(
          'DEVICE_LOST',
          'this tab has no usable WebGPU device; the task goes to another tab',
        );
      }
      return 'webgpu';
    case 'auto':
      return gpu === 'hardware' || (gpu === 'fallback' && requiresWebgpu) ? 'webgpu' : 'wasm';
    default:
      return assertNever(execution);
  }
}

function assertNever(value: never): never {
  throw new LibraryError('INVALID_PARAMS', `unknown execution "${String(value)}"`, 'params.execution');
}

export const mlRuntime = new MlRuntime();
