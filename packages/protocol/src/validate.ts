// Validation of a ComputeEnvelope: the six minimum rules of compute-events.md, plus Flock's
// bounds. Each failure is a ProtocolError with a stable code and the offending field's path.
import type { ComputeEnvelope, Constraint, DataRef, GPUDescriptor, ModuleSpec } from './generated/model.ts';
import { ProtocolError } from './protocol-error.ts';
import { checkJsonValue, exceedsUtf8Bytes } from './safe-json.ts';
import { checkWellFormedText } from './well-formed.ts';

export interface ValidateOptions {
  /** Rule 6: require `security.task_token` (requester-signed tasks). Default false. */
  requireTaskToken?: boolean;
  /** Largest params JSON in bytes. Default 1 MiB. */
  maxParamsBytes?: number;
  /** Deepest params nesting. Default 64. */
  maxParamsDepth?: number;
}

/** QoS bounds (rule 5). */
export const QOS_LIMITS = {
  priority: { min: -10, max: 10 },
  deadlineMs: { min: 0, max: 30 * 24 * 3600 * 1000 },
  retries: { min: 0, max: 20 },
} as const;

const TASK_ID = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199}$/;
/** A trace id: W3C's 32 hex digits, or a requester's own id of the task id's alphabet. */
const CORRELATION_ID = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$/;
const HASH = /^(sha256|blake3):([0-9a-f]*)$/;
const REMOTE_URI = /^(https?|s3|ipfs):/i;
const FEATURE = /^[a-z0-9][a-z0-9_-]*$/;
const TOKEN = /^hmac:[A-Za-z0-9+/=_.-]{16,}$/;

const missing = (field: string, what = field): never => {
  throw new ProtocolError('MISSING_FIELD', `${what} is required`, field);
};

/** Checks a content hash: `sha256:` or `blake3:` followed by exactly 64 lowercase hex digits. */
export function checkHash(hash: string, field: string): void {
  const match = HASH.exec(hash);
  if (!match) {
    throw new ProtocolError('INVALID_HASH', 'hash must be "sha256:<hex>" or "blake3:<hex>"', field);
  }
  if (match[2]!.length !== 64) {
    throw new ProtocolError(
      'INVALID_HASH',
      `${match[1]} hash must have 64 hex digits, got ${match[2]!.length}`,
      field,
    );
  }
}

/** Rule 2: exactly one of inline_json, inline_bytes, uri. */
export function checkDataRef(ref: DataRef, field: string): void {
  const count =
    (ref.inline_json !== undefined ? 1 : 0) +
    (ref.inline_bytes !== undefined ? 1 : 0) +
    (ref.uri !== undefined ? 1 : 0);
  if (count !== 1) refuseBodies(ref, field);
  if (ref.hash !== undefined && ref.hash !== '') checkHash(ref.hash, `${field}.hash`);
}

/** A DataRef with no body or several: which one and where (listed only for the error). */
function refuseBodies(ref: DataRef, field: string): never {
  const bodies = (['inline_json', 'inline_bytes', 'uri'] as const).filter((k) => ref[k] !== undefined);
  if (bodies.length === 0) {
    throw new ProtocolError(
      'BODY_MISSING',
      'exactly one of inline_json, inline_bytes, uri is required',
      field,
    );
  }
  throw new ProtocolError(
    'BODY_NOT_EXCLUSIVE',
    `only one of ${bodies.join(', ')} may be set`,
    `${field}.${bodies[1]}`,
  );
}

/** Normalises a WebGPU feature name: the seed writes `shader_f16`, WebGPU `shader-f16`. */
export function normalizeFeature(name: string): string {
  return name.replaceAll('_', '-');
}

function checkGpu(gpu: GPUDescriptor, field: string): void {
  if (gpu.backend && gpu.backend !== 'webgpu') {
    throw new ProtocolError('INVALID_FIELD', 'gpu.backend must be "webgpu" in Flock', `${field}.backend`);
  }
  gpu.features?.forEach((feature, i) => {
    if (!FEATURE.test(feature)) {
      throw new ProtocolError(
        'INVALID_FIELD',
        `"${feature}" is not a WebGPU feature name`,
        `${field}.features[${i}]`,
      );
    }
  });
}

function checkConstraint(c: Constraint, field: string): void {
  if (c.gpu) checkGpu(c.gpu, `${field}.gpu`);
}

/** The most `permissions.memory_pages` may ask for: 64 KiB pages of a 32-bit WebAssembly memory. */
const MAX_MEMORY_PAGES = 65_536;

/** Rule 3: a GPU requirement is explicit (min.webgpu or min.gpu). */
function needsGpu(module: ModuleSpec): boolean {
  return module.kind === 'wgsl' || module.permissions?.gpu_access === true;
}

function checkModule(module: ModuleSpec): void {
  if (module.kind === undefined) missing('module.kind');
  // Rule 4: a remote module needs a hash.
  if (module.uri !== undefined && REMOTE_URI.test(module.uri) && !module.hash) {
    throw new ProtocolError(
      'HASH_REQUIRED',
      'a remote module uri needs module.hash (sha256: or blake3:)',
      'module.hash',
    );
  }
  if (module.hash) checkHash(module.hash, 'module.hash');
  if ((module.permissions?.memory_pages ?? 0) > MAX_MEMORY_PAGES) {
    // Past it a tab could only fail the job when its module does not compile.
    throw new ProtocolError(
      'VALUE_OUT_OF_RANGE',
      `must be at most ${MAX_MEMORY_PAGES} (4 GiB, the most a 32-bit WebAssembly memory holds)`,
      'module.permissions.memory_pages',
    );
  }
  if (module.uri !== undefined && module.inline !== undefined) {
    throw new ProtocolError(
      'BODY_NOT_EXCLUSIVE',
      'only one of module.uri, module.inline may be set',
      'module.inline',
    );
  }
  if (
    (module.kind === 'builtin' || module.kind === 'library') &&
    (module.uri !== undefined || module.inline !== undefined)
  ) {
    throw new ProtocolError('INVALID_FIELD', `a ${module.kind} module has no uri or inline source`, 'module');
  }
  if (
    module.kind !== 'builtin' &&
    module.kind !== 'library' &&
    module.uri === undefined &&
    module.inline === undefined
  ) {
    throw new ProtocolError('MODULE_SOURCE_MISSING', `a ${module.kind} module needs uri or inline`, 'module');
  }
  if (module.kind === 'wasm' && module.abi && module.abi !== 'wasi' && module.abi !== 'kernel') {
    throw new ProtocolError('INVALID_FIELD', 'module.abi must be "wasi" or "kernel"', 'module.abi');
  }
  if (module.workgroups && (module.workgroups.length === 0 || module.workgroups.length > 3)) {
    throw new ProtocolError('INVALID_FIELD', 'module.workgroups has 1 to 3 dimensions', 'module.workgroups');
  }
}

function checkRange(value: number | undefined, bounds: { min: number; max: number }, field: string): void {
  if (value !== undefined && (value < bounds.min || value > bounds.max)) {
    throw new ProtocolError('QOS_OUT_OF_RANGE', `must be within ${bounds.min}..${bounds.max}`, field);
  }
}

/** The task id (required) and the trace id (optional), each of its alphabet and length. */
function checkIds(env: ComputeEnvelope): void {
  if (!env.task_id) missing('task_id');
  if (!TASK_ID.test(env.task_id!)) {
    throw new ProtocolError('INVALID_FIELD', 'task_id: 1-200 of A-Z a-z 0-9 . _ : @ / -', 'task_id');
  }
  if (env.correlation_id && !CORRELATION_ID.test(env.correlation_id)) {
    throw new ProtocolError(
      'INVALID_FIELD',
      'correlation_id: 1-128 of A-Z a-z 0-9 . _ : @ / -',
      'correlation_id',
    );
  }
}

function checkInputNames(inputs: DataRef[]): void {
  const names = new Set<string>();
  inputs.forEach((input, i) => {
    if (names.has(input.name!)) {
      throw new ProtocolError('INVALID_FIELD', `duplicate input name "${input.name}"`, `inputs[${i}].name`);
    }
    names.add(input.name!);
  });
}

/**
 * Validates an envelope (compute-events.md "Minimum Validation Rules" 1–6, and well-formed text
 * everywhere). Throws the first problem found as a ProtocolError with `code` and `field`; returns
 * nothing when valid.
 */
export function validateEnvelope(env: ComputeEnvelope, options: ValidateOptions = {}): void {
  // Text at the edge: whatever is accepted must encode into an assignment frame (UTF-8).
  checkWellFormedText(env);
  // Rule 1: required fields.
  checkIds(env);
  if (!env.op) missing('op');
  if (!env.module) missing('module.kind', 'module');
  checkModule(env.module!);
  if (!env.requirements?.min) missing('requirements.min');
  const req = env.requirements!;
  checkConstraint(req.min!, 'requirements.min');
  if (req.preferred) checkConstraint(req.preferred, 'requirements.preferred');

  // Rule 2: DataRef body exclusivity.
  const inputs = env.inputs ?? [];
  for (let i = 0; i < inputs.length; i++) {
    if (!inputs[i]!.name) missing(`inputs[${i}].name`);
    checkDataRef(inputs[i]!, `inputs[${i}]`);
  }
  // (A task has few inputs, most often one: no Set for those.)
  if (inputs.length > 1) checkInputNames(inputs);

  // Rule 3: the GPU requirement expression.
  if (needsGpu(env.module!) && !req.min!.webgpu && !req.min!.gpu) {
    throw new ProtocolError(
      'GPU_REQUIREMENT_MISSING',
      'a GPU task must set requirements.min.webgpu = true or requirements.min.gpu',
      'requirements.min',
    );
  }

  // Rule 5: QoS ranges.
  const qos = req.qos;
  if (qos) {
    checkRange(qos.priority, QOS_LIMITS.priority, 'requirements.qos.priority');
    checkRange(qos.deadline_ms, QOS_LIMITS.deadlineMs, 'requirements.qos.deadline_ms');
    checkRange(qos.retries, QOS_LIMITS.retries, 'requirements.qos.retries');
  }

  // Rule 6: security token.
  if (env.security !== undefined || options.requireTaskToken) {
    const token = env.security?.task_token;
    if (!token) missing('security.task_token');
    if (!TOKEN.test(token!)) {
      throw new ProtocolError(
        'INVALID_TOKEN',
        'task_token must be "hmac:" and at least 16 characters',
        'security.task_token',
      );
    }
  }

  // Params: size and depth limits, prototype keys (also enforced when parsing from JSON or wire).
  if (env.params !== undefined) {
    const maxDepth = options.maxParamsDepth ?? 64;
    const maxBytes = options.maxParamsBytes ?? 1 << 20;
    checkJsonValue(env.params, { maxDepth }, 'params');
    if (exceedsUtf8Bytes(JSON.stringify(env.params), maxBytes)) {
      throw new ProtocolError('PARAMS_TOO_LARGE', `params are larger than ${maxBytes} bytes`, 'params');
    }
  }

  // Verification policy sanity (#9 trust).
  const v = env.verification;
  if (v?.quorum !== undefined && v.replicas !== undefined && v.replicas > 0 && v.quorum > v.replicas) {
    throw new ProtocolError(
      'INVALID_FIELD',
      'verification.quorum cannot exceed replicas',
      'verification.quorum',
    );
  }
}
