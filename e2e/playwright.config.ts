// Playwright for Flock's browser flows: system Chromium (see support/chromium.ts), tests start
// their own coordinator (in-process, or spawned for the kill and quick-start flows), artifacts
// (screenshots, traces of failures) go to e2e/artifacts. One project per browser/GPU profile
// (support/flock-test.ts): the full flow (tests/matrix/full-flow.spec.ts) runs in each; the
// other specs run in the project whose configuration they are about.
import { defineConfig } from '@playwright/test';
import { chromiumLaunchOptions } from './support/chromium.ts';
import type { FlockOptions } from './support/flock-test.ts';

const FULL_FLOW = /matrix\/full-flow\.spec\.ts$/;
const DEGRADED = /tests\/volunteer-degraded\.spec\.ts$/;
const ROUTING = /matrix\/capability-routing\.spec\.ts$/;

export default defineConfig<FlockOptions>({
  testDir: './tests',
  testMatch: '**/*.spec.ts',
  // Traces and screenshots of failures (CI keeps this folder). Playwright empties it at the start
  // of a run: FLOCK_E2E_OUTPUT gives concurrent runs in one checkout a folder each.
  outputDir: process.env.FLOCK_E2E_OUTPUT ?? './artifacts/test-results',
  // Two cores shared by everyone: at most two browsers at once, no retries (a flake is a bug).
  workers: 2,
  fullyParallel: false,
  retries: 0,
  timeout: 90_000,
  expect: { timeout: 20_000 },
  reporter: [['list']],
  use: {
    launchOptions: chromiumLaunchOptions(),
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
  },
  projects: [
    {
      // WebGPU on the SwiftShader software adapter: the full flow, the fault flows, the README
      // quick start, the volunteer and dashboard specs (they launch WebGPU Chromium), and any new
      // spec by default: everything but the specs that belong to another profile.
      name: 'webgpu-swiftshader',
      testIgnore: [DEGRADED, ROUTING],
      use: { profile: 'webgpu-swiftshader', launchOptions: chromiumLaunchOptions({ webgpu: true }) },
    },
    {
      // WebGPU disabled: only WASM work is assigned (and the degraded-tab spec, WebGPU off too).
      name: 'wasm-only',
      testMatch: [FULL_FLOW, DEGRADED],
      use: { profile: 'wasm-only', launchOptions: chromiumLaunchOptions({ webgpu: false }) },
    },
    {
      // The page served without COOP/COEP through support/page-proxy.ts (headers stripped).
      name: 'not-isolated',
      testMatch: [FULL_FLOW],
      use: { profile: 'not-isolated', launchOptions: chromiumLaunchOptions({ webgpu: true }) },
    },
    {
      // Four tabs on one coordinator; capability routing across WebGPU and WASM-only tabs.
      name: 'multi-tab',
      testMatch: [FULL_FLOW, ROUTING],
      use: { profile: 'multi-tab', launchOptions: chromiumLaunchOptions({ webgpu: true }) },
    },
    {
      // Runs only where the adapter is hardware (not SwiftShader, not fallback); skipped with that reason elsewhere.
      name: 'gpu-hardware',
      testMatch: [FULL_FLOW],
      use: { profile: 'gpu-hardware', launchOptions: chromiumLaunchOptions({ webgpu: true }) },
    },
  ],
});
