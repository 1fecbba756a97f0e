// Credit on the volunteer page (issue #9) in a real browser against a real coordinator with spot
// checks on. An honest tab runs verified built-in tasks (one copy, quorum 1): it first gets the
// known-answer check every new worker gets, passes it (validated: credit, "verified"), then its lone
// results are accepted with pending credit. Its page shows the very credit, pending credit and
// counts that /v1/workers reports. A tab that corrupts its outputs (`?flock_test=corrupt-outputs`)
// fails its check, and its page says, without blame, that its results no longer count.
import { join } from 'node:path';
import { type Browser, expect, type Page, test } from '@playwright/test';
import { formatDuration } from '../../apps/worker-web/src/format-duration.ts';
import { TRUST_STATUS_TEXT } from '../../apps/worker-web/src/standing.ts';
import { launchChromium } from '../support/chromium.ts';
import { openVolunteerPage, startDonating, type VolunteerTab } from '../support/volunteer-tab.ts';
import { ARTIFACTS, Harness, type TaskView, taskId } from './volunteer-harness.ts';

test.describe.configure({ mode: 'serial' });

interface WorkerEntry {
  worker_id: string;
  credit: number;
  pending_credit: number;
  valid_results: number;
  invalid_results: number;
  vetted: boolean;
  quarantined: boolean;
}

let harness: Harness;
let browser: Browser;

test.beforeAll(async () => {
  harness = await Harness.start();
  browser = await launchChromium({ webgpu: true });
});

test.afterAll(async () => {
  await browser?.close();
  await harness?.close();
});

/**
 * A mandelbrot tile inside the main cardioid, on the tab's GPU (SwiftShader): every pixel runs to
 * `max_iter`, so each task (and the check shaped like it) takes a measurable share of a second.
 * One copy, quorum 1: what a single tab can complete. Such a result is believed alone: its credit
 * is pending until the worker's next passed check (TRUST.md, "Credit").
 */
function mandelbrotTask(id: string, row: number): Record<string, unknown> {
  return {
    task_id: id,
    op: 'mandelbrot',
    module: { kind: 'builtin' },
    requirements: { min: { webgpu: true } },
    inputs: [],
    params: {
      width: 256,
      height: 256,
      max_iter: 4000,
      x_min: -0.5,
      x_max: 0,
      y_min: -0.3 + row * 0.01,
      y_max: 0.2 + row * 0.01,
    },
    verification: { replicas: 1, quorum: 1 },
  };
}

async function workerEntry(workerId: string): Promise<WorkerEntry | undefined> {
  const { body } = await harness.api<{ workers: WorkerEntry[] }>('GET', '/v1/workers');
  return body.workers.find((w) => w.worker_id === workerId);
}

/**
 * Polls until /v1/workers reports what `ready` wants of the worker and the page shows that very
 * credit and pending credit (raw seconds in `data-seconds`); returns the entry.
 */
async function pageShowsWorkerEntry(
  page: Page,
  workerId: string,
  ready: (entry: WorkerEntry) => boolean,
): Promise<WorkerEntry> {
  let entry: WorkerEntry | undefined;
  await expect
    .poll(
      async () => {
        entry = await workerEntry(workerId);
        if (!entry || !ready(entry)) return 'not yet in /v1/workers';
        const shown = {
          credit: await page.locator('#credit').getAttribute('data-seconds'),
          pending: await page.locator('#pending-credit').getAttribute('data-seconds'),
        };
        const reported = { credit: String(entry.credit), pending: String(entry.pending_credit) };
        return JSON.stringify(shown) === JSON.stringify(reported)
          ? 'the same'
          : `page ${JSON.stringify(shown)}, /v1/workers ${JSON.stringify(reported)}`;
      },
      { message: `the page of ${workerId} to show the credit /v1/workers reports`, timeout: 30_000 },
    )
    .toBe('the same');
  return entry!;
}

test('an honest tab is verified and its page shows the credit /v1/workers reports', async () => {
  const tab: VolunteerTab = await startDonating(await openVolunteerPage(browser, `${harness.url}/`));
  const page = tab.page;
  // Before any result: a new worker, being checked, with nothing earned.
  await expect(page.locator('#trust-status')).toHaveText(TRUST_STATUS_TEXT.new);
  await expect(page.locator('#trust-status')).toHaveAttribute('data-status', 'new');
  await expect(page.locator('#credit')).toHaveText('0.0 s');
  await expect(page.locator('#pending-credit')).toHaveText('0.0 s');
  await expect(page.locator('#valid-results')).toHaveText('0');
  await expect(page.locator('#invalid-results')).toHaveText('0');

  const ids = [0, 1, 2].map(() => taskId('credit'));
  for (const [row, id] of ids.entries()) await harness.submit(mandelbrotTask(id, row));
  for (const id of ids) {
    const view = (await harness.waitFor(id, 'succeeded', 60_000)) as TaskView & {
      verification?: { state: string; accepted_by?: string };
    };
    expect(view.verification).toMatchObject({ state: 'accepted', accepted_by: 'single' });
    expect(view.attempts.map((a) => a.worker_id)).toEqual([tab.workerId]);
  }

  // The probation check (a known answer, validated) earns credit; the lone results wait.
  const entry = await pageShowsWorkerEntry(page, tab.workerId, (e) => e.credit > 0 && e.pending_credit > 0);
  await expect(page.locator('#credit')).toHaveText(formatDuration(entry.credit * 1000));
  await expect(page.locator('#pending-credit')).toHaveText(formatDuration(entry.pending_credit * 1000));
  await expect(page.locator('#valid-results')).toHaveText(String(entry.valid_results));
  await expect(page.locator('#invalid-results')).toHaveText('0');
  await expect(page.locator('#trust-status')).toHaveText(TRUST_STATUS_TEXT.vetted);
  await expect(page.locator('#trust-status')).toHaveAttribute('data-status', 'vetted');
  expect(entry).toMatchObject({ invalid_results: 0, vetted: true, quarantined: false });
  // At least the probation check; a random check (2% of dispatches) would add one and confirm pending credit.
  expect(entry.valid_results).toBeGreaterThanOrEqual(1);
  console.log(
    `credit ${entry.credit} s (${formatDuration(entry.credit * 1000)}), pending ${entry.pending_credit} s`,
  );
  await page.locator('#status').screenshot({ path: join(ARTIFACTS, 'volunteer-credit-verified.png') });
  await tab.context.close();
});

test('a tab that fails its known-answer check is told its results no longer count', async () => {
  const liar = await startDonating(
    await openVolunteerPage(browser, `${harness.url}/?flock_test=corrupt-outputs`),
  );
  // prefix_sum is judged exactly: the one byte the liar flips fails its check (a mandelbrot tile
  // tolerates a few wrong pixels).
  const values = Uint32Array.from({ length: 3000 }, (_, i) => (i * 7) % 13);
  await harness.submit({
    task_id: taskId('credit-liar'),
    op: 'prefix_sum',
    module: { kind: 'builtin' },
    requirements: { min: { webgpu: true } },
    inputs: [{ name: 'values', inline_bytes: Buffer.from(values.buffer).toString('base64') }],
    params: {},
    verification: { replicas: 1, quorum: 1 },
  });
  await expect(liar.page.locator('#trust-status')).toHaveAttribute('data-status', 'quarantined');
  await expect(liar.page.locator('#trust-status')).toHaveText(TRUST_STATUS_TEXT.quarantined);
  const entry = await pageShowsWorkerEntry(liar.page, liar.workerId, (e) => e.quarantined);
  expect(entry).toMatchObject({ credit: 0, pending_credit: 0, valid_results: 0, invalid_results: 1 });
  await expect(liar.page.locator('#credit')).toHaveText('0.0 s');
  await expect(liar.page.locator('#valid-results')).toHaveText('0');
  await expect(liar.page.locator('#invalid-results')).toHaveText('1');
  await liar.page
    .locator('#status')
    .screenshot({ path: join(ARTIFACTS, 'volunteer-credit-quarantined.png') });
  await liar.context.close();
});
