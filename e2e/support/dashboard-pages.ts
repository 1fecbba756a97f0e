// What the dashboard specs share: the pages built by the root vite.config.ts (once per Playwright
// worker process, into a temp dir), and signing in with an API key.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from '@playwright/test';
import { build } from 'vite';

const ROOT = resolve(import.meta.dirname, '../..');

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
