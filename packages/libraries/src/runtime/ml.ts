// ml.* in the tab: onnxruntime-web's build with its WebGPU execution provider, whose WASM (checked
// against the page's manifest) also runs its WASM provider. Sessions are kept by model hash and
// provider; `auto` runs on WebGPU where the executor has a device and falls back to WASM once it
// loses it (the job that saw the loss fails DEVICE_LOST, which is retried).
import type { InferenceSession } from 'onnxruntime-common';
import { LibraryError } from '../library-error.ts';
import type { CheckedCall } from '../registry.ts';
import { type LoadedModel, modelLabels, ortError, runMlCall } from './ml-job.ts';
import type { LibraryInput, LibraryResult, LibraryRuntime, RuntimeContext } from './runtime.ts';

type Ort = typeof import('onnxruntime-web/webgpu');
type Provider = 'webgpu' | 'wasm';

export const ORT_WASM = {
  package: 'onnxruntime-web',
  path: 'dist/ort-wasm-simd-threaded.asyncify.wasm',
} as const;

/** How long a WebGPU failure waits for its device to report a loss, ms. */
const LOSS_GRACE_MS = 200;

/** Sessions kept per executor (a model's session holds its weights, on the GPU or in WASM memory). */
const KEPT_SESSIONS = 4;

interface DeviceLike {
  lost: Promise<unknown>;
}

/** The WebGPU provider option's device type (GPUDevice where the WebGPU types are loaded). */
type GPUDeviceOption = NonNullable<InferenceSession.WebGpuExecutionProviderOption['device']>;

export class MlRuntime implements LibraryRuntime {
  private ort: Ort | undefined;
  private readonly sessions = new Map<string, Promise<LoadedModel>>();
  /** The executor's device, handed to ONNX Runtime's WebGPU provider with each session. */
  private device: DeviceLike | undefined;
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
    const total = inputs.reduce((sum, i) => sum + i.bytes.byteLength, model.bytes?.byteLength ?? 0);
    if (total > ctx.limits.maxInputBytes) {
      throw new LibraryError(
        'INPUT_TOO_LARGE',
        `the model and inputs pass the ${ctx.limits.maxInputBytes}-byte limit`,
        'params.model',
      );
    }
    const provider = await this.provider(call.params['execution'] as string, ctx);
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
   * WebGPU when asked for or (auto) when the executor has a live device; WASM otherwise. After a
   * loss this executor stays off WebGPU: a session on a fresh device hung ORT 1.30 in CI once, so a
   * `webgpu` task fails DEVICE_LOST at once (retryable, for another tab) instead.
   */
  private async provider(execution: string, ctx: RuntimeContext): Promise<Provider> {
    if (execution === 'wasm') return 'wasm';
    const device = this.deviceLost ? undefined : await this.gpu(ctx);
    if (device) return 'webgpu';
    if (execution === 'webgpu') {
      throw new LibraryError(
        'DEVICE_LOST',
        'this tab has no usable WebGPU device; the task goes to another tab',
      );
    }
    return 'wasm';
  }

  private async gpu(ctx: RuntimeContext): Promise<DeviceLike | undefined> {
    if (this.device) return this.device;
    const device = (await ctx.gpuDevice?.()) as DeviceLike | undefined;
    if (!device) return undefined;
    this.device = device;
    void device.lost.then(() => {
      this.deviceLost = true;
    });
    return device;
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

export const mlRuntime = new MlRuntime();
