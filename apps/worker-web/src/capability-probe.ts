// What this tab can do: WASM features (WebAssembly.validate on tiny probe modules, the technique
// of wasm-feature-detect), WebGPU adapter facts, cores, memory, battery, visibility and isolation.
// `buildCapability` combines the probe with the volunteer's settings into the Capability that is
// published on start and on every change.
import { CAPABILITY_LIMITS, type Capability, type GPUDescriptor, MAX_BATCH_FRAMES } from '@flock/protocol';
import { isFallbackAdapter } from './gpu-adapter.ts';
import type { Settings } from './tab-store.ts';

/** Probe modules: each validates only where the engine has the feature. */
const WASM_PROBES = {
  simd: [
    0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98,
    11,
  ],
  threads: [
    0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 5, 4, 1, 3, 1, 1, 10, 11, 1, 9, 0, 65, 0, 254,
    16, 2, 0, 26, 11,
  ],
  bulkMemory: [
    0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 5, 3, 1, 0, 1, 10, 14, 1, 12, 0, 65, 0, 65, 0,
    65, 0, 252, 10, 0, 0, 11,
  ],
  relaxedSimd: [
    0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 15, 1, 13, 0, 65, 1, 253, 15, 65, 2,
    253, 15, 253, 128, 2, 11,
  ],
} as const;

/** Facts about the tab that do not depend on the volunteer's settings. */
export interface Probe {
  wasm: boolean;
  wasmSimd: boolean;
  wasmThreads: boolean;
  wasmRelaxedSimd: boolean;
  wasmBulkMemory: boolean;
  crossOriginIsolated: boolean;
  /** `isSecureContext`: HTTPS or localhost, so WebCrypto (`crypto.subtle`) is there. */
  secureContext: boolean;
  sharedArrayBuffer: boolean;
  cpuCores: number;
  memoryMb: number;
  /** null: no WebGPU adapter (or WebGPU missing). */
  gpu: GPUDescriptor | null;
  battery: { charging: boolean; level: number } | null;
  visible: boolean;
  userAgent: string;
  /** `navigator.userAgentData.platform` ("Linux", "Windows"), where the browser tells. */
  os?: string | undefined;
  /** `navigator.connection.effectiveType` ("4g", "3g", ...), where the browser tells. */
  network?: string | undefined;
}

function validates(bytes: readonly number[]): boolean {
  try {
    return WebAssembly.validate(new Uint8Array(bytes));
  } catch {
    return false;
  }
}

/** WASM feature flags of this engine. */
export function probeWasm(): Pick<
  Probe,
  'wasm' | 'wasmSimd' | 'wasmThreads' | 'wasmRelaxedSimd' | 'wasmBulkMemory'
> {
  const wasm = typeof WebAssembly === 'object' && typeof WebAssembly.validate === 'function';
  return {
    wasm,
    wasmSimd: wasm && validates(WASM_PROBES.simd),
    // Threads need the instruction set and a SharedArrayBuffer to back shared memory.
    wasmThreads: wasm && validates(WASM_PROBES.threads) && typeof SharedArrayBuffer === 'function',
    wasmRelaxedSimd: wasm && validates(WASM_PROBES.relaxedSimd),
    wasmBulkMemory: wasm && validates(WASM_PROBES.bulkMemory),
  };
}

/** A browser-given string within the coordinator's bound (code points: ≤ 4 UTF-8 bytes each). */
function clip(text: string): string {
  const points = Array.from(text);
  return points.length <= CAPABILITY_LIMITS.textBytes / 4
    ? text
    : points.slice(0, CAPABILITY_LIMITS.textBytes / 4).join('');
}

/** The WebGPU adapter as a GPUDescriptor, or null. */
export async function probeGpu(): Promise<GPUDescriptor | null> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return null;
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter();
  } catch {
    return null;
  }
  if (!adapter) return null;
  const info = adapter.info;
  const limits: Record<string, number> = {};
  for (const name of [
    'maxStorageBufferBindingSize',
    'maxBufferSize',
    'maxComputeWorkgroupsPerDimension',
    'maxComputeInvocationsPerWorkgroup',
    'maxComputeWorkgroupStorageSize',
    'maxStorageBuffersPerShaderStage',
  ] as const) {
    limits[name] = adapter.limits[name];
  }
  return {
    backend: 'webgpu',
    vendor: clip(info.vendor),
    architecture: clip(info.architecture),
    device: clip(info.device),
    description: clip(info.description),
    features: [...adapter.features].sort(),
    limits: Object.entries(limits).map(([name, value]) => ({ name, value })),
    is_fallback_adapter: isFallbackAdapter(adapter),
  };
}

interface BatteryManager extends EventTarget {
  charging: boolean;
  level: number;
}

/** The battery manager where the browser has one (Chromium), else null. */
export async function batteryManager(): Promise<BatteryManager | null> {
  const getBattery = (navigator as Navigator & { getBattery?: () => Promise<BatteryManager> }).getBattery;
  if (typeof getBattery !== 'function') return null;
  try {
    return await getBattery.call(navigator);
  } catch {
    return null;
  }
}

/** Probes everything once. */
export async function probe(webgpuWanted = true): Promise<Probe> {
  const battery = await batteryManager();
  return {
    ...probeWasm(),
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    secureContext: globalThis.isSecureContext === true,
    sharedArrayBuffer: typeof SharedArrayBuffer === 'function',
    cpuCores: navigator.hardwareConcurrency || 1,
    memoryMb: Math.round(((navigator as Navigator & { deviceMemory?: number }).deviceMemory ?? 0) * 1024),
    gpu: webgpuWanted ? await probeGpu() : null,
    battery: battery ? { charging: battery.charging, level: battery.level } : null,
    visible: document.visibilityState === 'visible',
    userAgent: navigator.userAgent,
    ...environmentOf(navigator),
  };
}

/** The OS and network type the browser tells (Chromium does; others leave them out). */
export function environmentOf(nav: Navigator): { os?: string; network?: string } {
  const extra = nav as Navigator & {
    userAgentData?: { platform?: string };
    connection?: { effectiveType?: string };
  };
  const os = extra.userAgentData?.platform;
  const network = extra.connection?.effectiveType;
  return {
    ...(typeof os === 'string' && os !== '' ? { os: os.slice(0, 64) } : {}),
    ...(typeof network === 'string' && network !== '' ? { network: network.slice(0, 16) } : {}),
  };
}

/** Most CPU slots a volunteer may pick: cores − 1, at least 1. */
export function maxCpuSlots(cores: number): number {
  return Math.max(1, cores - 1);
}

/**
 * The CPU slots a volunteer typed into the page's number input (`text`, its value): a whole
 * number is clamped into 1..maxCpuSlots(cores); anything else (empty, a fraction, not a number)
 * keeps `current`.
 */
export function cpuSlotsFrom(text: string, current: number, cores: number): number {
  const value = text.trim() === '' ? Number.NaN : Number(text);
  if (!Number.isInteger(value)) return current;
  return Math.max(1, Math.min(value, maxCpuSlots(cores)));
}

/** Why the tab takes no new work right now, or null when it does. */
export function pauseReason(probe: Probe, settings: Settings): string | null {
  if (!settings.started) return 'not started';
  if (settings.paused) return 'paused by the volunteer';
  if (settings.onlyWhileCharging && probe.battery && !probe.battery.charging)
    return 'waiting for the charger';
  if (settings.onlyWhileVisible && !probe.visible) return 'waiting for the tab to be visible';
  return null;
}

function browserLabel(userAgent: string): string {
  const match = /(HeadlessChrome|Chrome|Chromium|Firefox|Safari)\/([\d.]+)/.exec(userAgent);
  return match ? `${match[1]} ${match[2]}` : 'unknown';
}

/** The Capability this tab publishes for the given probe and settings. */
export function buildCapability(
  probe: Probe,
  settings: Settings,
  cachedModules: string[],
  libraries: readonly string[] = [],
): Capability {
  const gpuOn = settings.gpu && probe.gpu !== null;
  const capability: Capability = {
    wasm: probe.wasm,
    wasm_simd: probe.wasmSimd,
    wasm_threads: probe.wasmThreads && probe.crossOriginIsolated,
    wasm_relaxed_simd: probe.wasmRelaxedSimd,
    wasm_bulk_memory: probe.wasmBulkMemory,
    webgpu: gpuOn,
    cpu_cores: probe.cpuCores,
    memory_mb: probe.memoryMb,
    cross_origin_isolated: probe.crossOriginIsolated,
    // WebCrypto methods (crypto.aes_gcm_*, crypto.ed25519_*) ask for this, not for isolation.
    secure_context: probe.secureContext,
    shared_array_buffer: probe.sharedArrayBuffer && probe.crossOriginIsolated,
    cpu_slots: Math.min(settings.cpuSlots, maxCpuSlots(probe.cpuCores)),
    gpu_slots: gpuOn ? 1 : 0,
    // The coordinator may send the frames of one dispatch pass in one message (#17).
    batch_frames: MAX_BATCH_FRAMES,
    visible: probe.visible,
    // The most recent ones, within what the coordinator accepts.
    cached_modules: cachedModules.slice(-CAPABILITY_LIMITS.cachedModules),
    // Libraries loaded in an executor: the scheduler prefers this tab for their jobs.
    libraries: libraries.slice(0, CAPABILITY_LIMITS.libraries),
    labels: {
      browser: browserLabel(probe.userAgent),
      ...(probe.gpu?.description ? { gpu: probe.gpu.description } : {}),
      ...(probe.gpu?.architecture ? { gpu_architecture: probe.gpu.architecture } : {}),
      // The audit log's environment fingerprint (apps/coordinator README, "Audit and replay").
      ...(probe.os ? { os: probe.os } : {}),
      ...(probe.network ? { network: probe.network } : {}),
    },
    paused: pauseReason(probe, settings) !== null,
  };
  if (gpuOn && probe.gpu) capability.gpu = probe.gpu;
  if (probe.battery) capability.battery = { charging: probe.battery.charging, level: probe.battery.level };
  return capability;
}
