// The Playwright `test` of the matrix and fault flows: `profile` is a project option (see
// playwright.config.ts), so one spec runs on every browser/GPU configuration and reads which one.
import { test as base } from '@playwright/test';

/** The browser/GPU configurations Flock claims to support, one Playwright project each. */
export type ProfileName = 'webgpu-swiftshader' | 'wasm-only' | 'not-isolated' | 'multi-tab' | 'gpu-hardware';

/** What a profile gives the tabs of a flow. */
export interface Profile {
  readonly name: ProfileName;
  /** Chromium launched with WebGPU (the SwiftShader software adapter unless a GPU is present). */
  readonly webgpu: boolean;
  /** The volunteer page served with COOP/COEP (crossOriginIsolated, SharedArrayBuffer). */
  readonly isolated: boolean;
  /** Volunteer tabs opened on the one coordinator of a flow. */
  readonly tabs: number;
  /** Runs only where the adapter is real hardware (not SwiftShader, not a fallback adapter). */
  readonly hardware: boolean;
}

export const PROFILES: Readonly<Record<ProfileName, Profile>> = {
  'webgpu-swiftshader': {
    name: 'webgpu-swiftshader',
    webgpu: true,
    isolated: true,
    tabs: 1,
    hardware: false,
  },
  'wasm-only': { name: 'wasm-only', webgpu: false, isolated: true, tabs: 1, hardware: false },
  'not-isolated': { name: 'not-isolated', webgpu: true, isolated: false, tabs: 1, hardware: false },
  'multi-tab': { name: 'multi-tab', webgpu: true, isolated: true, tabs: 4, hardware: false },
  'gpu-hardware': { name: 'gpu-hardware', webgpu: true, isolated: true, tabs: 1, hardware: true },
};

export interface FlockOptions {
  /** The project's profile; the config sets it per project. */
  profile: ProfileName;
}

/** Worker-scoped, so `beforeAll` hooks (one coordinator per spec file) can read it. */
export const test = base.extend<Record<never, never>, FlockOptions>({
  profile: ['webgpu-swiftshader', { option: true, scope: 'worker' }],
});

export { expect } from '@playwright/test';
