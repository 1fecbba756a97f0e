// Trust (issue #9) in real browsers: one volunteer tab runs with the test-only flag that corrupts
// its outputs (`?flock_test=corrupt-outputs`). Tasks ask for verification (two agreeing replicas).
// The lying tab and one honest tab start first, so every task gets one wrong and one right result
// and cannot reach a quorum; a second honest tab then breaks each tie. The lying tab's results are
// never accepted, and every task is redone elsewhere with the exact answer.
import { type Browser, expect, test } from '@playwright/test';
import { launchChromium } from '../support/chromium.ts';
import { openVolunteerPage, startDonating, type VolunteerTab } from '../support/volunteer-tab.ts';
import { Harness, outputBytes, type TaskView, taskId, wasmFixture, wasmTask } from './volunteer-harness.ts';

test.describe.configure({ mode: 'serial' });

interface WorkerStanding {
  worker_id: string;
  valid_results?: number;
  invalid_results?: number;
}

type VerifiedView = TaskView & {
  verification?: { state: string; quorum: number; agreeing: number; returned: number };
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

test('a tab that corrupts its outputs never has a result accepted; its tasks are redone elsewhere', async () => {
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

  // With only the liar and one honest tab, no task can agree: each waits for a third worker.
  for (const id of ids) {
    await expect
      .poll(async () => ((await harness.task(id)) as VerifiedView).verification?.returned ?? 0, {
        message: `${id} to have both first replicas back`,
      })
      .toBe(2);
    expect((await harness.task(id)).state).not.toBe('succeeded');
  }

  const second: VolunteerTab = await startDonating(await openVolunteerPage(browser, `${harness.url}/`));
  const honestIds = [honest.workerId, second.workerId].sort();

  for (const [i, id] of ids.entries()) {
    const view = (await harness.waitFor(id, 'succeeded', 60_000)) as VerifiedView;
    expect(view.verification).toMatchObject({ state: 'accepted', quorum: 2, agreeing: 2 });
    // The liar ran it, and so did both honest tabs: its result was outvoted, not ignored.
    expect(view.attempts.map((a) => a.worker_id).sort()).toEqual([liar.workerId, ...honestIds].sort());
    const result = await harness.result(id);
    expect(outputBytes(result, 'out/upper.txt').toString()).toBe(texts[i]!.toUpperCase());
  }

  const { body } = await harness.api<{ workers: WorkerStanding[] }>('GET', '/v1/workers');
  const standing = new Map(body.workers.map((w) => [w.worker_id, w]));
  expect(standing.get(liar.workerId)).toMatchObject({ valid_results: 0, invalid_results: ids.length });
  expect(standing.get(second.workerId)?.valid_results).toBe(ids.length);
});
