// The tab's side of a library: one runtime per library, loaded lazily in an executor Worker the
// first time a job needs it and kept warm for the next.
import type { TensorShape } from '../models/tensors.ts';
import type { CheckedCall } from '../registry.ts';

export interface LibraryInput {
  name: string;
  contentType: string;
  /** Where the input lies (a view of the executor's arena on the ring path): read, never kept. */
  bytes: Uint8Array;
  /** Its dtype and shape when it is a tensor (the DataRef's TensorSpec): ml methods. */
  tensor?: TensorShape;
}

export interface LibraryOutput {
  name: string;
  contentType: string;
  bytes: Uint8Array;
  /** Its dtype and shape when it is a tensor (becomes the result DataRef's TensorSpec). */
  tensor?: TensorShape;
}

export interface LibraryResult {
  outputs: LibraryOutput[];
  summary?: Record<string, string>;
}

/** The executor's WebGPU device, as `RuntimeContext.gpuDevice` hands it over. */
export interface ExecutorGpu {
  /** A GPUDevice (typed loosely: the package builds without the WebGPU types). */
  readonly device: object;
  /**
   * Its adapter is a fallback one (`GPUAdapterInfo.isFallbackAdapter`): software rendering on the
   * CPU, like SwiftShader in headless Chromium.
   */
  readonly isFallbackAdapter: boolean;
}

/** What a runtime may ask of the executor. */
export interface RuntimeContext {
  /**
   * The bytes of a file of the library's npm package (its WASM build), fetched from the
   * coordinator (`/v1/libs/<package>/<path>`) and checked against the page's manifest of hashes.
   */
  file(pkg: string, path: string): Promise<Uint8Array>;
  /** The URL of that file (for glue code that must import it by URL). */
  url(pkg: string, path: string): string;
  /** Reports progress (0..100); cheap, call as often as useful. */
  progress(pct: number): void;
  /** Why the job should stop (cancel, timeout), or undefined: check between steps. */
  stopRequested(): string | undefined;
  /** The page is cross-origin isolated: SharedArrayBuffer and WASM threads are there. */
  readonly threads: boolean;
  /**
   * The call's model (ml: `params.model`, a content-addressed upload): its hash, and its verified
   * bytes unless this executor was handed them before (a runtime keeps its sessions by hash).
   */
  readonly model?: { readonly hash: string; readonly bytes: Uint8Array | undefined };
  /** Asks for the job again with the model's bytes (this executor no longer has its session). */
  needModel?(): never;
  /** The executor's WebGPU device and its adapter's kind, when the tab has a usable one: ml's WebGPU execution. */
  gpuDevice?(): Promise<ExecutorGpu | undefined>;
  /**
   * The task asks for WebGPU (`requirements.min.webgpu` or `min.gpu`): ml's `auto` then runs on
   * WebGPU even on a fallback adapter. Absent: it does not.
   */
  readonly requiresWebgpu?: boolean;
  /** The limits of this job (the library's, overridden by `permissions`). */
  readonly limits: { maxInputBytes: number; maxOutputBytes: number; timeoutMs: number; memoryPages: number };
}

export interface LibraryRuntime {
  /** Loads the library (its WASM); called once per executor, before its first job. */
  load(ctx: RuntimeContext): Promise<void>;
  /** Runs one call on inputs already checked against the method's count. */
  run(call: CheckedCall, inputs: LibraryInput[], ctx: RuntimeContext): Promise<LibraryResult>;
}
