// Trust (issue #9) in real browsers: one volunteer tab runs with the test-only flag that corrupts
// its outputs (`?flock_test=corrupt-outputs`). Tasks ask for verification (two agreeing replicas).
// Every new worker's first assignment is a known-answer check: the lying tab fails it and is
// quarantined before any result of it counts, so with one honest tab each task waits for a second
// opinion; a second honest tab (checked, then vetted) gives it. Every task is decided by the honest
// tabs with the exact answer and the liar ran none of them.
import { type Browser, expect, test } from '@playwright/test';
import { launchChromium } from '../support/chromium.ts';
import { openVolunteerPage, startDonating, type VolunteerTab } from '../support/volunteer-tab.ts';
import { Harness, outputBytes, type TaskView, taskId, wasmFixture, wasmTask } from './volunteer-harness.ts';

test.describe.configure({ mode: 'serial' });

interface WorkerStanding {
  worker_id: string;
  valid_results?: number;
  invalid_results?: number;
  checks_failed?: number;
  credit?: number;
  vetted?: boolean;
  quarantined?: boolean;
}

type VerifiedView = TaskView & {
  verification?: { state: string; quorum: number; agreeing: number; returned: number; workers: string[] };
};

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

test('a tab that corrupts its outputs fails its first check, is quarantined, and no result of it counts', async () => {
  const liar: VolunteerTab = await startDonating(
    await openVolunteerPage(browser, `${harness.url}/?flock_test=corrupt-outputs`),
  );
  const honest: VolunteerTab = await startDonating(await openVolunteerPage(browser, `${harness.url}/`));

  const module = await wasmFixture('wasi-echo');
  const texts = ['alpha', 'bravo', 'charlie'];
  const ids = texts.map(() => taskId('trust'));
  for (const [i, id] of ids.entries()) {
    await harness.submit({
      ...wasmTask(id, module, {
        inputs: [
          {
            name: 'in.txt',
            content_type: 'text/plain',
            inline_bytes: Buffer.from(texts[i]!).toString('base64'),
          },
        ],
      }),
      verification: { replicas: 2, quorum: 2, comparator: 'exact', max_replicas: 3 },
    });
  }

  // The liar's first assignment was a check; it failed and the liar is out.
  await expect
    .poll(async () => (await standingOf(liar.workerId))?.quarantined, { message: 'liar quarantined' })
    .toBe(true);
  expect(await standingOf(liar.workerId)).toMatchObject({
    checks_failed: 1,
    valid_results: 0,
    invalid_results: 1,
    credit: 0,
  });
  // With only one honest tab, no task can agree: each has the honest replica and waits.
  for (const id of ids) {
    await expect
      .poll(async () => ((await harness.task(id)) as VerifiedView).verification?.returned ?? 0, {
        message: `${id} to have its first replica back`,
      })
      .toBe(1);
    expect((await harness.task(id)).state).not.toBe('succeeded');
  }
  expect(await standingOf(honest.workerId)).toMatchObject({ vetted: true, quarantined: false });

  const second: VolunteerTab = await startDonating(await openVolunteerPage(browser, `${harness.url}/`));
  const honestIds = [honest.workerId, second.workerId].sort();

  for (const [i, id] of ids.entries()) {
    const view = (await harness.waitFor(id, 'succeeded', 60_000)) as VerifiedView;
    expect(view.verification).toMatchObject({ state: 'accepted', quorum: 2, agreeing: 2, returned: 2 });
    // Both honest tabs ran it, the liar never did.
    expect([...view.verification!.workers].sort()).toEqual(honestIds);
    expect(view.attempts.map((a) => a.worker_id)).not.toContain(liar.workerId);
    const result = await harness.result(id);
    expect(outputBytes(result, 'out/upper.txt').toString()).toBe(texts[i]!.toUpperCase());
  }

  expect(await standingOf(liar.workerId)).toMatchObject({ valid_results: 0, invalid_results: 1 });
  // Each honest tab: its check and every task (random checks may add a few more validated ones).
  for (const tab of [honest, second]) {
    const s = await standingOf(tab.workerId);
    expect(s).toMatchObject({ vetted: true, invalid_results: 0 });
    expect(s!.valid_results).toBeGreaterThanOrEqual(ids.length + 1);
  }
});

async function standingOf(workerId: string): Promise<WorkerStanding | undefined> {
  const { body } = await harness.api<{ workers: WorkerStanding[] }>('GET', '/v1/workers');
  return body.workers.find((w) => w.worker_id === workerId);
}
