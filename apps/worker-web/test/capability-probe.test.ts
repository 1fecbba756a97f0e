import { describe, expect, it } from 'vitest';
import {
  buildCapability,
  cpuSlotsFrom,
  environmentOf,
  maxCpuSlots,
  type Probe,
  pauseReason,
  probeWasm,
} from '../src/capability-probe.ts';
import { DEFAULT_SETTINGS, type Settings } from '../src/tab-store.ts';

const PROBE: Probe = {
  wasm: true,
  wasmSimd: true,
  wasmThreads: true,
  wasmRelaxedSimd: false,
  wasmBulkMemory: true,
  crossOriginIsolated: true,
  secureContext: true,
  sharedArrayBuffer: true,
  cpuCores: 8,
  memoryMb: 8192,
  gpu: {
    backend: 'webgpu',
    architecture: 'swiftshader',
    description: 'SwiftShader',
    is_fallback_adapter: true,
  },
  battery: { charging: false, level: 0.5 },
  visible: true,
  userAgent: 'Mozilla/5.0 HeadlessChrome/140.0.0.0 Safari/537.36',
};
const STARTED: Settings = { ...DEFAULT_SETTINGS, started: true, cpuSlots: 3 };

describe('probeWasm', () => {
  it('detects the features this engine has (Node 20: SIMD, threads, bulk memory)', () => {
    expect(probeWasm()).toMatchObject({
      wasm: true,
      wasmSimd: true,
      wasmThreads: true,
      wasmBulkMemory: true,
    });
  });
});

describe('buildCapability', () => {
  it('reports slots, the GPU and isolation', () => {
    const capability = buildCapability(PROBE, STARTED, ['sha256:aa']);
    expect(capability).toMatchObject({
      cpu_slots: 3,
      gpu_slots: 1,
      batch_frames: 64,
      webgpu: true,
      cross_origin_isolated: true,
      secure_context: true,
      shared_array_buffer: true,
      wasm_threads: true,
      cached_modules: ['sha256:aa'],
      paused: false,
      labels: { browser: 'HeadlessChrome 140.0.0.0', gpu: 'SwiftShader', gpu_architecture: 'swiftshader' },
    });
  });

  it('labels carry the OS and network type where the browser tells, and only then', () => {
    const told = buildCapability({ ...PROBE, os: 'Linux', network: '4g' }, STARTED, []);
    expect(told.labels).toEqual({
      browser: 'HeadlessChrome 140.0.0.0',
      gpu: 'SwiftShader',
      gpu_architecture: 'swiftshader',
      os: 'Linux',
      network: '4g',
    });
    expect(Object.keys(buildCapability(PROBE, STARTED, []).labels ?? {})).toEqual([
      'browser',
      'gpu',
      'gpu_architecture',
    ]);
    const nav = { userAgentData: { platform: 'Windows' }, connection: { effectiveType: '3g' } };
    expect(environmentOf(nav as unknown as Navigator)).toEqual({ os: 'Windows', network: '3g' });
    expect(environmentOf({ userAgentData: { platform: '' } } as unknown as Navigator)).toEqual({});
  });

  it('without isolation there is no shared memory and no threads, whatever the engine can do', () => {
    const capability = buildCapability({ ...PROBE, crossOriginIsolated: false }, STARTED, []);
    expect(capability).toMatchObject({
      cross_origin_isolated: false,
      shared_array_buffer: false,
      wasm_threads: false,
    });
  });

  it('a secure page without isolation says it is secure (WebCrypto); an insecure one says it is not', () => {
    const secure = buildCapability({ ...PROBE, crossOriginIsolated: false }, STARTED, []);
    expect(secure).toMatchObject({ cross_origin_isolated: false, secure_context: true });
    const insecure = buildCapability(
      { ...PROBE, crossOriginIsolated: false, secureContext: false },
      STARTED,
      [],
    );
    expect(insecure).toMatchObject({ cross_origin_isolated: false, secure_context: false });
  });

  it('GPU off or absent: no GPU slot and no descriptor', () => {
    for (const capability of [
      buildCapability(PROBE, { ...STARTED, gpu: false }, []),
      buildCapability({ ...PROBE, gpu: null }, STARTED, []),
    ]) {
      expect(capability).toMatchObject({ webgpu: false, gpu_slots: 0 });
      expect(capability.gpu).toBeUndefined();
    }
  });

  it('caps CPU slots at cores − 1', () => {
    expect(maxCpuSlots(8)).toBe(7);
    expect(maxCpuSlots(1)).toBe(1);
    expect(buildCapability({ ...PROBE, cpuCores: 2 }, { ...STARTED, cpuSlots: 5 }, []).cpu_slots).toBe(1);
  });
});

describe('cpuSlotsFrom', () => {
  it('clamps a whole number typed into the box to 1..cores − 1', () => {
    expect(cpuSlotsFrom('3', 1, 8)).toBe(3);
    expect(cpuSlotsFrom(' 7 ', 1, 8)).toBe(7);
    expect(cpuSlotsFrom('99', 2, 8)).toBe(7);
    expect(cpuSlotsFrom('0', 2, 8)).toBe(1);
    expect(cpuSlotsFrom('-2', 2, 8)).toBe(1);
    expect(cpuSlotsFrom('4', 1, 2)).toBe(1);
  });

  it('keeps the current slots for an empty box, a fraction or no number', () => {
    expect(cpuSlotsFrom('', 3, 8)).toBe(3);
    expect(cpuSlotsFrom('   ', 3, 8)).toBe(3);
    expect(cpuSlotsFrom('2.5', 3, 8)).toBe(3);
    expect(cpuSlotsFrom('abc', 3, 8)).toBe(3);
    expect(cpuSlotsFrom('1e400', 3, 8)).toBe(3);
  });
});

describe('pauseReason', () => {
  it('says why no new work is taken, in order of precedence', () => {
    expect(pauseReason(PROBE, DEFAULT_SETTINGS)).toBe('not started');
    expect(pauseReason(PROBE, { ...STARTED, paused: true })).toBe('paused by the volunteer');
    expect(pauseReason(PROBE, { ...STARTED, onlyWhileCharging: true })).toBe('waiting for the charger');
    expect(pauseReason({ ...PROBE, visible: false }, { ...STARTED, onlyWhileVisible: true })).toBe(
      'waiting for the tab to be visible',
    );
    expect(pauseReason(PROBE, STARTED)).toBeNull();
    expect(buildCapability(PROBE, { ...STARTED, onlyWhileCharging: true }, []).paused).toBe(true);
  });
});
