// Real programs under the tab's WASI (issue 20), in real headless Chromium against a real
// coordinator: a non-zero exit is a result that keeps stdout and /out files with its exit code,
// and a failed C assert reaches the requester as the trap's kind plus the assert's own words.
import { type Browser, expect, type Page, test } from '@playwright/test';
import { launchChromium } from '../support/chromium.ts';
import { Harness, outputBytes, taskId, wasmFixture, wasmTask } from './volunteer-harness.ts';

test.describe.configure({ mode: 'serial' });

let harness: Harness;
let browser: Browser;
let page: Page;

test.beforeAll(async () => {
  harness = await Harness.start();
  browser = await launchChromium({ webgpu: false });
  page = await browser.newPage();
  await page.goto(`${harness.url}/`);
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true');
  await page.getByRole('button', { name: 'Start donating compute' }).click();
  await expect(page.locator('#connection')).toHaveText('open');
});

test.afterAll(async () => {
  await browser?.close();
  await harness?.close();
});

test('a non-zero exit succeeds with exit_code, keeping stdout and /out files', async () => {
  const id = taskId('exit-files');
  await harness.submit(wasmTask(id, await wasmFixture('exit-with-files')));
  await harness.waitFor(id, 'succeeded');
  const result = await harness.result(id);
  expect(result.summary).toMatchObject({ exit_code: '3', stderr: 'giving up with status 3\n' });
  expect(result.outputs?.map((o) => o.name)).toEqual(['stdout', 'out/a.txt']);
  expect(outputBytes(result, 'stdout')).toEqual(Buffer.from('wrote a.txt\n'));
  expect(outputBytes(result, 'out/a.txt')).toEqual(Buffer.from('partial work\n'));
});

test('a failed assert fails the task with the trap kind and the assert message', async () => {
  const id = taskId('assert');
  await harness.submit(wasmTask(id, await wasmFixture('assert-fail')));
  const view = await harness.waitFor(id, 'failed');
  expect(view.failure).toEqual({
    code: 'EXECUTION_ERROR',
    message:
      'trap: unreachable; stderr: checking inputs | ' +
      'Assertion failed: argc == 42 && "argc must be 42" (fixtures/assert-fail.c: main: 8)',
  });
});
