// Turns a ComputeAssignment into a Job for an executor: fills the limits from
// ModuleSpec.permissions, resolves the module (inline, cached in IndexedDB, or fetched) and the
// inputs to bytes the job owns (so they can be transferred to the Worker).
import type { ComputeAssignment, DataRef, ModuleSpec } from '@flock/protocol';
import { ExecutorError } from './executor-error.ts';
import { DEFAULT_LIMITS, type Job, type JobInput, type JobLimits } from './job.ts';
import { sha256Ref, verifyModuleHash } from './module-hash.ts';

/** Where modules come from and go to: the tab's IndexedDB cache and the network. */
export interface ModuleSource {
  cached(hash: string): Promise<Uint8Array | undefined>;
  store(hash: string, bytes: Uint8Array): Promise<void>;
  fetch(url: string, headers?: Record<string, string>): Promise<Uint8Array>;
}

/** The limits of a job: each permission, or the default when it is 0/unset. */
export function limitsOf(module: ModuleSpec | undefined): JobLimits {
  const p = module?.permissions ?? {};
  return {
    memoryPages: p.memory_pages || DEFAULT_LIMITS.memoryPages,
    timeoutMs: p.timeout_ms || DEFAULT_LIMITS.timeoutMs,
    maxInputBytes: p.max_input_bytes || DEFAULT_LIMITS.maxInputBytes,
    maxOutputBytes: p.max_output_bytes || DEFAULT_LIMITS.maxOutputBytes,
  };
}

/** `flock:sha256:<hex>` (uploaded to the coordinator) becomes `/v1/modules/sha256:<hex>`. */
export function moduleUrl(uri: string, origin: string): string {
  if (uri.startsWith('flock:')) return new URL(`/v1/modules/${uri.slice('flock:'.length)}`, origin).href;
  return new URL(uri, origin).href;
}

async function moduleBytes(module: ModuleSpec, source: ModuleSource, origin: string): Promise<Uint8Array> {
  if (module.inline && module.inline.byteLength > 0) return module.inline;
  const uri = module.uri ?? '';
  if (!uri) throw new ExecutorError('EXECUTION_ERROR', 'module has neither inline bytes nor a uri', false);
  const hash = module.hash || (uri.startsWith('flock:') ? uri.slice('flock:'.length) : '');
  if (hash) {
    const cached = await source.cached(hash);
    if (cached) return cached;
  }
  let bytes: Uint8Array;
  try {
    bytes = await source.fetch(moduleUrl(uri, origin));
  } catch (error) {
    throw new ExecutorError('EXECUTION_ERROR', `module fetch failed: ${(error as Error).message}`, true);
  }
  // Only verified bytes enter the cache: a wrong hash is refused here and never stored.
  if (hash) await source.store(await verifyModuleHash(bytes, hash), bytes);
  return bytes;
}

async function inputBytes(
  ref: DataRef,
  assignment: ComputeAssignment,
  source: ModuleSource,
  origin: string,
): Promise<Uint8Array> {
  // Copies: the job owns its buffers and transfers them to the executor Worker.
  if (ref.inline_bytes) return ref.inline_bytes.slice();
  if (ref.inline_json !== undefined) return new TextEncoder().encode(ref.inline_json);
  if (ref.uri?.startsWith('flock:')) return uploadedInput(ref.uri, assignment, source, origin);
  if (ref.uri) return source.fetch(new URL(ref.uri, origin).href);
  return new Uint8Array(0);
}

/**
 * An input the requester uploaded (`flock:sha256:<hex>`): fetched from the coordinator with the
 * lease's task token (the only credential a tab holds), and checked against its hash.
 */
async function uploadedInput(
  uri: string,
  assignment: ComputeAssignment,
  source: ModuleSource,
  origin: string,
): Promise<Uint8Array> {
  const name = uri.slice('flock:'.length);
  const url = new URL(`/v1/leases/${encodeURIComponent(assignment.lease_id ?? '')}/inputs/${name}`, origin);
  let bytes: Uint8Array;
  try {
    bytes = await source.fetch(url.href, { 'x-flock-task-token': assignment.task_token ?? '' });
  } catch (error) {
    throw new ExecutorError('EXECUTION_ERROR', `input fetch failed: ${(error as Error).message}`, true);
  }
  await verifyModuleHash(bytes, name, 'input');
  return bytes;
}

function workgroups(list: number[] | undefined): [number, number, number] {
  const [x = 1, y = 1, z = 1] = list ?? [];
  return [x, y, z];
}

/** Builds the executor Job of an assignment; throws ExecutorError for what cannot run here. */
export async function buildJob(
  assignment: ComputeAssignment,
  source: ModuleSource,
  origin: string,
): Promise<Job> {
  const envelope = assignment.envelope ?? {};
  const module = envelope.module ?? {};
  const limits = limitsOf(module);
  const inputs: JobInput[] = [];
  let total = 0;
  for (const ref of envelope.inputs ?? []) {
    const bytes = await inputBytes(ref, assignment, source, origin);
    total += bytes.byteLength;
    if (total > limits.maxInputBytes) {
      throw new ExecutorError('INPUT_TOO_LARGE', `inputs pass the ${limits.maxInputBytes}-byte limit`);
    }
    inputs.push({ name: ref.name ?? '', contentType: ref.content_type ?? '', bytes });
  }
  const base = { taskId: assignment.task_id ?? '', inputs, params: envelope.params ?? {}, limits };
  switch (module.kind ?? 'wasm') {
    case 'wasm': {
      const bytes = await moduleBytes(module, source, origin);
      const abi = module.abi || 'wasi';
      if (abi !== 'wasi' && abi !== 'kernel')
        throw new ExecutorError('UNSUPPORTED', `unknown WASM abi "${abi}"`);
      if (module.permissions?.wasi_net)
        throw new ExecutorError('UNSUPPORTED', 'WASI sockets are not available in a browser');
      return {
        ...base,
        kind: 'wasm',
        abi,
        entry: module.entry || (abi === 'wasi' ? '_start' : 'flock_kernel'),
        module: bytes,
        moduleHash: module.hash ?? '',
        wasiFs: module.permissions?.wasi_fs === true,
      };
    }
    case 'wgsl': {
      const bytes = await moduleBytes(module, source, origin);
      if (module.hash && module.inline) await verifyModuleHash(bytes, module.hash);
      return {
        ...base,
        kind: 'wgsl',
        source: new TextDecoder().decode(bytes),
        entry: module.entry || 'main',
        workgroups: workgroups(module.workgroups),
        buffers: envelope.buffers ?? [],
      };
    }
    case 'builtin':
      return { ...base, kind: 'builtin', op: envelope.op ?? '' };
  }
}

/** sha256 of an output, for its DataRef. */
export const outputHash = sha256Ref;
