// Fuel (#14) in real Chromium against a real coordinator: the coordinator instruments every WASM
// module at submit and tabs run the metered bytes. An infinite loop with a small budget fails
// FUEL_EXHAUSTED long before its timeout, and a C program's `fuel_used` is the same on two tabs and
// in Node running the same metered module (the coordinator's fuel tests bound Node's count against
// the exact number of instructions executed: 1.0x to 1.01x).
import { DEFAULT_FUEL } from '@flock/protocol';
import { type Browser, expect, type Page, test } from '@playwright/test';
import { instrumentFuel } from '../../apps/coordinator/src/fuel/index.ts';
import { runWasi } from '../../apps/coordinator/test/fuel-runner.ts';
import { launchChromium } from '../support/chromium.ts';
import { Harness, taskId, wasmFixture, wasmTask } from './volunteer-harness.ts';

test.describe.configure({ mode: 'serial' });

let harness: Harness;
let browser: Browser;

test.beforeAll(async () => {
  harness = await Harness.start();
  browser = await launchChromium({ webgpu: false });
});

test.afterAll(async () => {
  await browser?.close();
  await harness?.close();
});

/** A volunteer page in a context of its own (its own tab identity), donating. */
async function donate(): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${harness.url}/`);
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true');
  await page.getByRole('button', { name: 'Start donating compute' }).click();
  await expect(page.locator('#connection')).toHaveText('open');
  return page;
}

/** Runs the C program fuel-work on whichever tab is donating; returns its fuel_used. */
async function fuelOfRun(scale: string): Promise<{ fuel: string; worker: string; stdout: string }> {
  const id = taskId('fuel-work');
  await harness.submit(wasmTask(id, await wasmFixture('fuel-work'), { params: { args: [scale] } }));
  const view = await harness.waitFor(id, 'succeeded');
  const result = await harness.result(id);
  const out = result.outputs?.find((o) => o.name === 'stdout')?.inline_bytes ?? '';
  return {
    fuel: result.summary?.['fuel_used'] ?? '',
    worker: view.attempts.at(-1)?.worker_id ?? '',
    stdout: Buffer.from(out, 'base64').toString(),
  };
}

test('an infinite loop with a small fuel budget fails FUEL_EXHAUSTED well before its timeout', async () => {
  const page = await donate();
  const id = taskId('fuel-loop');
  const timeoutMs = 60_000;
  await harness.submit(
    wasmTask(id, await wasmFixture('infinite-loop'), {
      permissions: { fuel: 5_000_000, timeout_ms: timeoutMs },
    }),
  );
  const view = await harness.waitFor(id, 'failed');
  expect(view.failure).toEqual({
    code: 'FUEL_EXHAUSTED',
    message: 'ran out of fuel: its budget of 5000000 units is spent',
  });
  // Not retried (the count is the same on every tab), and over long before the timeout.
  expect(view.attempts).toHaveLength(1);
  const attempt = view.attempts[0]!;
  expect(attempt.ended_at_ms! - attempt.started_at_ms).toBeLessThan(timeoutMs / 10);
  // The tab goes on to the next task.
  const next = taskId('after-fuel');
  await harness.submit(wasmTask(next, await wasmFixture('empty')));
  await harness.waitFor(next, 'succeeded');
  await page.context().close();
});

test('a C program uses the same fuel on two tabs and in Node running the same metered module', async () => {
  const first = await donate();
  const a = await fuelOfRun('3');
  await first.context().close();
  const second = await donate();
  const b = await fuelOfRun('3');
  await second.context().close();

  expect(b.worker).not.toBe(a.worker);
  expect(a.fuel).toMatch(/^[1-9]\d*$/);
  expect(b.fuel).toBe(a.fuel);
  expect(b.stdout).toBe(a.stdout);

  const metered = instrumentFuel((await wasmFixture('fuel-work')).bytes, { existing: 'refuse' });
  const node = await runWasi(metered, { args: ['3'], fuel: BigInt(DEFAULT_FUEL) });
  expect(node.stdout.toString()).toBe(a.stdout);
  expect(String(node.fuelUsed)).toBe(a.fuel);
});
