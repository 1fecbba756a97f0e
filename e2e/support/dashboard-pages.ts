// What the dashboard specs share: the pages built by the root vite.config.ts (once per Playwright
// worker process, into a temp dir), signing in with an API key, and a spec's browser and work dir.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Browser, type Page, test } from '@playwright/test';
import { build } from 'vite';
import { launchChromium } from './chromium.ts';

const ROOT = resolve(import.meta.dirname, '../..');
/** Where the dashboard specs put their screenshots. */
export const ARTIFACTS = join(ROOT, 'e2e/artifacts');
/** The API key the dashboard specs' coordinators accept (tenant `acme`). */
export const DASHBOARD_KEY = 'dash-key';
/** For waits on work the simulated volunteers do: two cores are shared with other tests. */
export const SLOW = { timeout: 60_000 };

let built: Promise<string> | undefined;

/** The directory of the built pages (the volunteer page and the dashboard), built on first call. */
export function dashboardPages(): Promise<string> {
  built ??= (async () => {
    const pagesDir = join(await mkdtemp(join(tmpdir(), 'flock-dash-pages-')), 'pages');
    await build({
      configFile: join(ROOT, 'vite.config.ts'),
      logLevel: 'warn',
      build: { outDir: pagesDir, emptyOutDir: true },
    });
    return pagesDir;
  })();
  return built;
}

/** Opens the dashboard of the coordinator at `url` and signs in with `key`. */
export async function signIn(page: Page, key: string, url: string): Promise<void> {
  await page.goto(`${url}/dashboard/`);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

export interface DashboardSuite {
  browser: Browser;
  /** A temp dir of the spec's own (coordinators' data), removed after it. */
  workDir: string;
  pagesDir: string;
}

/**
 * Registers a serial spec's hooks: the built pages, a Chromium and a temp work dir (named
 * `flock-<name>-e2e-`) before its tests, closed and removed after; generous timeouts, since two
 * cores are shared with every other build and test on this machine. Its fields are set once the
 * spec's beforeAll has run.
 */
export function dashboardSuite(name: string): DashboardSuite {
  const suite = {} as DashboardSuite;
  test.describe.configure({ mode: 'serial', timeout: 150_000 });
  test.beforeAll(async () => {
    suite.workDir = await mkdtemp(join(tmpdir(), `flock-${name}-e2e-`));
    suite.pagesDir = await dashboardPages();
    suite.browser = await launchChromium();
    await mkdir(ARTIFACTS, { recursive: true });
  });
  test.afterAll(async () => {
    await suite.browser?.close();
    if (suite.workDir !== undefined) await rm(suite.workDir, { recursive: true, force: true });
  });
  return suite;
}
