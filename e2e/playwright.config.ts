// Playwright for Flock's browser flows: system Chromium (see support/chromium.ts), tests start
// their own coordinator in-process, artifacts (screenshots, traces of failures) go to e2e/artifacts.
import { defineConfig } from '@playwright/test';
import { chromiumLaunchOptions } from './support/chromium.ts';

export default defineConfig({
  testDir: './tests',
  testMatch: '**/*.spec.ts',
  outputDir: './artifacts/test-results',
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
});
