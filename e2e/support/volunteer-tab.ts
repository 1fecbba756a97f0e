// A volunteer as a person is one: a browser profile (its own context, so its own IndexedDB and
// worker identity) with the volunteer page open, Start pressed, connected.
import { type Browser, type BrowserContext, expect, type Page } from '@playwright/test';

/** One volunteer tab, connected, with the worker id the coordinator gave it. */
export interface VolunteerTab {
  readonly context: BrowserContext;
  readonly page: Page;
  readonly workerId: string;
}

/** Opens the volunteer page at `url` in a fresh context and waits until it is ready (not started). */
export async function openVolunteerPage(browser: Browser, url: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') console.log(`[tab] ${message.text()}`);
  });
  await page.goto(url);
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true');
  return page;
}

/** Presses Start on a ready volunteer page and waits for the connection and a worker id. */
export async function startDonating(page: Page): Promise<VolunteerTab> {
  await page.getByRole('button', { name: 'Start donating compute' }).click();
  await expect(page.locator('#connection')).toHaveText('open');
  await expect(page.locator('#worker-id')).toHaveText(/^w-/);
  return { context: page.context(), page, workerId: (await page.locator('#worker-id').textContent()) ?? '' };
}

/** Opens the volunteer page at `url` in a fresh context, checks it is ready, presses Start. */
export async function openVolunteerTab(browser: Browser, url: string): Promise<VolunteerTab> {
  return startDonating(await openVolunteerPage(browser, url));
}

/** Whether the tab's executor pool holds a job of `taskId` (shown in the page's running list). */
export function runningInTab(tab: VolunteerTab, taskId: string) {
  return tab.page.locator(`#running li[data-task-id="${taskId}"]`);
}
