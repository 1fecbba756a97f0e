import type { Capability } from './generated/model.ts';
import { ProtocolError } from './protocol-error.ts';
import { utf8Length } from './safe-json.ts';

/**
 * How much a Capability may say. A tab advertises far less (a few dozen GPU limits and features, a
 * handful of labels); the bounds keep what one anonymous connection makes the coordinator store
 * and relay proportionate. Tabs trim their cached-module list to `cachedModules`.
 */
export const CAPABILITY_LIMITS = {
  /** Entries of `cached_modules` (module hashes). */
  cachedModules: 256,
  /** Entries of `libraries` (names of the libraries loaded in the tab). */
  libraries: 32,
  /** Entries of `labels`. */
  labels: 32,
  /** UTF-8 bytes of one label key. */
  labelKeyBytes: 64,
  /** UTF-8 bytes of one label value, and of each GPU descriptor string. */
  textBytes: 256,
  /** Entries of `gpu.features`. */
  gpuFeatures: 128,
  /** Entries of `gpu.limits`. */
  gpuLimits: 128,
} as const;

/** Entries a capability lists in all: what a worker's capability costs to store and relay. */
export function capabilityEntries(cap: Capability): number {
  return (
    (cap.cached_modules?.length ?? 0) +
    (cap.libraries?.length ?? 0) +
    Object.keys(cap.labels ?? {}).length +
    (cap.gpu?.features?.length ?? 0) +
    (cap.gpu?.limits?.length ?? 0)
  );
}

const tooLarge = (message: string, field: string): never => {
  throw new ProtocolError('LIST_TOO_LONG', message, field);
};

/** Checks `cap` against CAPABILITY_LIMITS; throws `LIST_TOO_LONG` naming the field over its bound. */
export function checkCapability(cap: Capability): void {
  const L = CAPABILITY_LIMITS;
  if ((cap.cached_modules?.length ?? 0) > L.cachedModules)
    tooLarge(`more than ${L.cachedModules} cached modules`, 'cached_modules');
  for (const [i, hash] of (cap.cached_modules ?? []).entries()) {
    if (utf8Length(hash) > L.textBytes) tooLarge(`longer than ${L.textBytes} bytes`, `cached_modules[${i}]`);
  }
  if ((cap.libraries?.length ?? 0) > L.libraries) tooLarge(`more than ${L.libraries} libraries`, 'libraries');
  for (const [i, name] of (cap.libraries ?? []).entries()) {
    if (utf8Length(name) > L.labelKeyBytes)
      tooLarge(`longer than ${L.labelKeyBytes} bytes`, `libraries[${i}]`);
  }
  const labels = Object.entries(cap.labels ?? {});
  if (labels.length > L.labels) tooLarge(`more than ${L.labels} labels`, 'labels');
  for (const [key, value] of labels) {
    if (utf8Length(key) > L.labelKeyBytes) tooLarge(`label key over ${L.labelKeyBytes} bytes`, 'labels');
    if (utf8Length(value) > L.textBytes) tooLarge(`label over ${L.textBytes} bytes`, `labels.${key}`);
  }
  const gpu = cap.gpu;
  if (!gpu) return;
  for (const name of ['backend', 'vendor', 'architecture', 'device', 'description'] as const) {
    const text = gpu[name];
    if (text !== undefined && utf8Length(text) > L.textBytes)
      tooLarge(`over ${L.textBytes} bytes`, `gpu.${name}`);
  }
  if ((gpu.features?.length ?? 0) > L.gpuFeatures)
    tooLarge(`more than ${L.gpuFeatures} features`, 'gpu.features');
  for (const [i, f] of (gpu.features ?? []).entries()) {
    if (utf8Length(f) > L.textBytes) tooLarge(`longer than ${L.textBytes} bytes`, `gpu.features[${i}]`);
  }
  if ((gpu.limits?.length ?? 0) > L.gpuLimits) tooLarge(`more than ${L.gpuLimits} limits`, 'gpu.limits');
  for (const [i, limit] of (gpu.limits ?? []).entries()) {
    if (utf8Length(limit.name ?? '') > L.textBytes)
      tooLarge(`longer than ${L.textBytes} bytes`, `gpu.limits[${i}]`);
  }
}
