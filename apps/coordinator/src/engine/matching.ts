import {
  type Capability,
  type ComputeEnvelope,
  type Constraint,
  type GPUDescriptor,
  normalizeFeature,
} from '@flock/protocol';

const eqi = (a: string | undefined, b: string | undefined): boolean =>
  (a ?? '').toLowerCase() === (b ?? '').toLowerCase();

function gpuUnmet(have: GPUDescriptor | undefined, want: GPUDescriptor, field: string): string | undefined {
  if (!have) return `${field} (no GPU)`;
  for (const key of ['backend', 'vendor', 'architecture', 'device'] as const) {
    const w = want[key];
    if (w && !eqi(have[key], w)) return `${field}.${key} = ${w}`;
  }
  if (want.features?.length) {
    const features = new Set((have.features ?? []).map((f) => normalizeFeature(f.toLowerCase())));
    for (const f of want.features) {
      if (!features.has(normalizeFeature(f.toLowerCase()))) return `${field}.features ${f}`;
    }
  }
  for (const limit of want.limits ?? []) {
    const got = have.limits?.find((l) => l.name === limit.name)?.value ?? 0;
    if (got < (limit.value ?? 0)) return `${field}.limits ${limit.name} >= ${limit.value}`;
  }
  return undefined;
}

/**
 * The first requirement of `want` that capability `cap` does not meet, as a short description
 * (`requirements.min.gpu.features shader_f16`), or undefined when it meets all of them. WebGPU
 * feature names match with `-` or `_`.
 */
export function unmetRequirement(
  cap: Capability,
  want: Constraint | undefined,
  field = 'requirements.min',
): string | undefined {
  if (!want) return undefined;
  if (want.webgpu && !cap.webgpu) return `${field}.webgpu`;
  if (want.wasm && !cap.wasm) return `${field}.wasm`;
  if (want.wasm_simd && !cap.wasm_simd) return `${field}.wasm_simd`;
  if (want.wasm_threads && !cap.wasm_threads) return `${field}.wasm_threads`;
  if (want.cross_origin_isolated && !cap.cross_origin_isolated) return `${field}.cross_origin_isolated`;
  // An isolated tab is always a secure context: tabs from before `secure_context` count too.
  if (want.secure_context && !cap.secure_context && !cap.cross_origin_isolated)
    return `${field}.secure_context`;
  if (want.cpu_cores && (cap.cpu_cores ?? 0) < want.cpu_cores)
    return `${field}.cpu_cores >= ${want.cpu_cores}`;
  if (want.memory_mb && (cap.memory_mb ?? 0) < want.memory_mb)
    return `${field}.memory_mb >= ${want.memory_mb}`;
  if (want.gpu) {
    if (!cap.webgpu) return `${field}.gpu (no WebGPU)`;
    return gpuUnmet(cap.gpu, want.gpu, `${field}.gpu`);
  }
  return undefined;
}

/** How many of the `preferred` fields a capability meets (0 when there is no preference). */
export function preferenceScore(cap: Capability, preferred: Constraint | undefined): number {
  if (!preferred) return 0;
  let score = 0;
  const checks: Constraint[] = [];
  for (const [key, value] of Object.entries(preferred) as Array<[keyof Constraint, unknown]>) {
    if (value === undefined) continue;
    checks.push({ [key]: value } as Constraint);
  }
  for (const one of checks) if (unmetRequirement(cap, one) === undefined) score += 1;
  return score;
}

/** Whether a task needs SharedArrayBuffer: threads or cross-origin isolation asked for. */
export function needsSharedMemory(min: Constraint | undefined): boolean {
  return Boolean(min?.wasm_threads || min?.cross_origin_isolated);
}

/**
 * What a tab has warm that a task can use, as keys: the module hashes it has compiled and cached,
 * and `library:<name>` for each library its executors have loaded.
 */
export function warmKeysOf(cap: Capability): Set<string> {
  const keys = new Set(cap.cached_modules ?? []);
  for (const library of cap.libraries ?? []) keys.add(`library:${library}`);
  return keys;
}

/**
 * The key of what a task needs warm (see `warmKeysOf`): its module's hash, its library, or for an
 * ml.* call its model's hash (`sha256:<hex>`: tabs list the models they hold in `cached_modules`,
 * and a model is often far larger than the task's input).
 */
export function warmKeyOf(envelope: ComputeEnvelope): string | undefined {
  if (envelope.module?.kind === 'library') {
    const model = envelope.params?.['model'];
    if (envelope.op?.startsWith('ml.') && typeof model === 'string' && model.startsWith('flock:')) {
      return model.slice('flock:'.length);
    }
    return `library:${(envelope.op ?? '').split('.')[0]}`;
  }
  return envelope.module?.hash || undefined;
}
