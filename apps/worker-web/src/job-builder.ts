// Turns a ComputeAssignment into a PreparedJob: the JobSpec an executor is told, the module's
// verified bytes (inline, cached, or fetched and cached by hash), and where each input's bytes
// are — a view of the assignment frame (decoded in place, not copied), JSON text, or a fetch of an
// uploaded blob. Nothing is copied here: the executor's host copies each input once, into its
// region on the executor's bridge.
import { checkLibraryCall, LibraryError } from '@flock/libraries';
import type { TensorShape } from '@flock/libraries/models';
import type {
  ComputeAssignment,
  ComputeEnvelope,
  DataRef,
  JsonObject,
  ModuleSpec,
  TensorSpec,
} from '@flock/protocol';
import { ExecutorError } from './executor-error.ts';
import { type JobKind, type JobLimits, type JobSpec, limitsOf } from './job.ts';
import { sha256Ref, verifyModuleHash } from './module-hash.ts';

export { limitsOf };

/** Where modules come from and go to: the tab's caches and the network. */
export interface ModuleSource {
  cached(hash: string): Promise<Uint8Array | undefined>;
  store(hash: string, bytes: Uint8Array): Promise<void>;
  fetch(url: string, headers?: Record<string, string>): Promise<Uint8Array>;
  /** Opens a fetch whose body the host streams into the input's region. */
  open(url: string, headers?: Record<string, string>): Promise<Response>;
}

/** Where one input's bytes are. */
export interface InputSource {
  name: string;
  contentType: string;
  /** Bytes already here: a view of the assignment frame. */
  bytes?: Uint8Array;
  /** Text to encode straight into the region (inline_json). */
  text?: string;
  /** Or a fetch of them (an uploaded blob, a URL), streamed into the region. */
  open?: () => Promise<Response>;
  /** The hash fetched bytes must have (`sha256:<hex>` of an uploaded blob). */
  hash?: string;
  /** Its dtype and shape when the DataRef says it is a tensor (ml jobs). */
  tensor?: TensorShape;
}

/** A job ready for an executor's host. */
export interface PreparedJob {
  spec: JobSpec;
  /** WASM and WGSL: the module's verified bytes and the hash executors cache it by; ml jobs: the model's. */
  module: { hash: string; bytes: Uint8Array } | undefined;
  inputs: InputSource[];
  /** Kernel-ABI jobs run alone in their executor: a kernel sees the whole shared memory it runs on. */
  exclusive: boolean;
}

/** `flock:sha256:<hex>` (uploaded to the coordinator) becomes `/v1/modules/sha256:<hex>`. */
export function moduleUrl(uri: string, origin: string): string {
  if (uri.startsWith('flock:')) return new URL(`/v1/modules/${uri.slice('flock:'.length)}`, origin).href;
  return new URL(uri, origin).href;
}

export async function moduleBytes(
  module: ModuleSpec,
  source: ModuleSource,
  origin: string,
): Promise<{ hash: string; bytes: Uint8Array }> {
  if (module.inline && module.inline.byteLength > 0) {
    // Verified by the executor before it compiles; hashed here only when no hash was given.
    return { hash: module.hash || (await sha256Ref(module.inline)), bytes: module.inline };
  }
  const uri = module.uri ?? '';
  if (!uri) throw new ExecutorError('EXECUTION_ERROR', 'module has neither inline bytes nor a uri', false);
  const hash = module.hash || (uri.startsWith('flock:') ? uri.slice('flock:'.length) : '');
  if (hash) {
    const cached = await source.cached(hash);
    if (cached) return { hash, bytes: cached };
  }
  let bytes: Uint8Array;
  try {
    bytes = await source.fetch(moduleUrl(uri, origin));
  } catch (error) {
    throw new ExecutorError('EXECUTION_ERROR', `module fetch failed: ${(error as Error).message}`, true);
  }
  // Only verified bytes enter the cache: a wrong hash is refused here and never stored.
  if (!hash) return { hash: await sha256Ref(bytes), bytes };
  await source.store(await verifyModuleHash(bytes, hash), bytes);
  return { hash, bytes };
}

function inputSource(
  ref: DataRef,
  assignment: ComputeAssignment,
  source: ModuleSource,
  origin: string,
): InputSource {
  const base: Pick<InputSource, 'name' | 'contentType' | 'tensor'> = {
    name: ref.name ?? '',
    contentType: ref.content_type ?? '',
  };
  if (ref.tensor) base.tensor = tensorShape(ref.tensor);
  if (ref.inline_bytes) return { ...base, bytes: ref.inline_bytes };
  if (ref.inline_json !== undefined) return { ...base, text: ref.inline_json };
  const uri = ref.uri ?? '';
  if (uri.startsWith('flock:')) {
    // An uploaded blob: the lease's task token is the tab's credential for it.
    const name = uri.slice('flock:'.length);
    const url = new URL(`/v1/leases/${encodeURIComponent(assignment.lease_id ?? '')}/inputs/${name}`, origin);
    return {
      ...base,
      hash: name,
      open: () => source.open(url.href, { 'x-flock-task-token': assignment.task_token ?? '' }),
    };
  }
  if (uri) return { ...base, open: () => source.open(new URL(uri, origin).href) };
  return { ...base, bytes: new Uint8Array(0) };
}

/** A DataRef's TensorSpec as the library runtime takes it; the ml method checks the dtype. */
function tensorShape(spec: TensorSpec): TensorShape {
  return { dtype: (spec.dtype ?? '') as TensorShape['dtype'], shape: spec.shape ?? [] };
}

function workgroups(list: number[] | undefined): [number, number, number] {
  const [x = 1, y = 1, z = 1] = list ?? [];
  return [x, y, z];
}

/**
 * A library job's limits: its library's (the compute-module seed's defaults), each overridden by a
 * permission that is set. The call is checked here too (this tab's registry), so a method this
 * page does not know fails before any byte moves.
 */
function libraryLimits(op: string, params: unknown, inputs: number, module: ModuleSpec): JobLimits {
  let library: ReturnType<typeof checkLibraryCall>['library'];
  try {
    library = checkLibraryCall(op, params, inputs).library;
  } catch (error) {
    if (error instanceof LibraryError) throw error;
    throw new ExecutorError('EXECUTION_ERROR', (error as Error).message, false);
  }
  const p = module.permissions ?? {};
  const base = limitsOf(module);
  return {
    ...base,
    memoryPages: p.memory_pages || library.limits.memoryPages,
    timeoutMs: p.timeout_ms || library.limits.timeoutMs,
    maxInputBytes: p.max_input_bytes || library.limits.maxInputBytes,
    maxOutputBytes: p.max_output_bytes || library.limits.maxOutputBytes,
  };
}

/**
 * An ml job's model (`params.model`, `flock:sha256:<hex>`, checked against the method's schema
 * already): loaded like a module, from the tab's cache or fetched, hash-checked and cached.
 */
async function modelBytes(
  params: JsonObject | undefined,
  source: ModuleSource,
  origin: string,
): Promise<PreparedJob['module']> {
  const model = params?.['model'];
  if (typeof model !== 'string' || model === '') return undefined;
  return moduleBytes({ uri: model }, source, origin);
}

/** The task asks for WebGPU: `min.webgpu`, or a GPU descriptor in `min.gpu` (the scheduler's GPU tasks). */
function requiresWebgpu(envelope: ComputeEnvelope): boolean {
  const min = envelope.requirements?.min;
  return Boolean(min?.webgpu || min?.gpu);
}

/** Builds the PreparedJob of an assignment; throws ExecutorError for what cannot run here. */
export async function buildJob(
  assignment: ComputeAssignment,
  source: ModuleSource,
  origin: string,
): Promise<PreparedJob> {
  const envelope = assignment.envelope ?? {};
  const module = envelope.module ?? {};
  const limits =
    module.kind === 'library'
      ? libraryLimits(envelope.op ?? '', envelope.params, envelope.inputs?.length ?? 0, module)
      : limitsOf(module);
  const inputs = (envelope.inputs ?? []).map((ref) => inputSource(ref, assignment, source, origin));
  const known = inputs.reduce((sum, i) => sum + (i.bytes?.byteLength ?? i.text?.length ?? 0), 0);
  if (known > limits.maxInputBytes) {
    throw new ExecutorError('INPUT_TOO_LARGE', `inputs pass the ${limits.maxInputBytes}-byte limit`);
  }
  let kind: JobKind;
  const spec: Omit<JobSpec, 'kind'> = {
    taskId: assignment.task_id ?? '',
    limits,
    params: envelope.params ?? {},
    inputs: inputs.map((i) => ({
      name: i.name,
      contentType: i.contentType,
      ...(i.tensor ? { tensor: i.tensor } : {}),
    })),
  };
  let loaded: PreparedJob['module'];
  switch (module.kind ?? 'wasm') {
    case 'wasm': {
      const abi = module.abi || 'wasi';
      if (abi !== 'wasi' && abi !== 'kernel')
        throw new ExecutorError('UNSUPPORTED', `unknown WASM abi "${abi}"`);
      if (module.permissions?.wasi_net)
        throw new ExecutorError('UNSUPPORTED', 'WASI sockets are not available in a browser');
      kind = abi;
      loaded = await moduleBytes(module, source, origin);
      spec.moduleHash = loaded.hash;
      spec.entry = module.entry || (abi === 'wasi' ? '_start' : 'flock_kernel');
      spec.wasiFs = module.permissions?.wasi_fs === true;
      break;
    }
    case 'wgsl': {
      kind = 'wgsl';
      loaded = await moduleBytes(module, source, origin);
      if (module.hash && module.inline) await verifyModuleHash(loaded.bytes, module.hash);
      spec.moduleHash = loaded.hash;
      spec.entry = module.entry || 'main';
      spec.workgroups = workgroups(module.workgroups);
      spec.buffers = envelope.buffers ?? [];
      break;
    }
    case 'builtin':
      kind = 'builtin';
      spec.op = envelope.op ?? '';
      break;
    case 'library':
      kind = 'library';
      spec.op = envelope.op ?? '';
      spec.libraryOrigin = origin;
      if (requiresWebgpu(envelope)) spec.requiresWebgpu = true;
      loaded = await modelBytes(envelope.params, source, origin);
      if (loaded) spec.moduleHash = loaded.hash;
      break;
    default:
      throw new ExecutorError('UNSUPPORTED', `unknown module kind "${module.kind}"`);
  }
  return { spec: { kind, ...spec }, module: loaded, inputs, exclusive: kind === 'kernel' };
}
