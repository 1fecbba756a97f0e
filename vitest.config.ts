import { defineConfig } from 'vitest/config';

// Unit and integration tests of every workspace; tests import source, not dist (STYLE.md 12).
// Browser flows live in e2e/ and run under Playwright instead.
export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts', 'shaders/test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores in CI: run files in parallel but not more than the machine has.
    maxWorkers: 2,
    pool: 'forks',
  },
});
