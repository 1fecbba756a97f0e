// The dashboard's charts page driven with real clicks against a coordinator of its own (exact
// counts): service levels per op against their targets, and a circuit breaker that opens after
// non-retryable failures on two distinct volunteers and is reset with its button. Screenshots go
// to e2e/artifacts/.
import { join } from 'node:path';
import { startCoordinator } from '@flock/coordinator';
import { type SimRunner, SimulatedVolunteer } from '@flock/coordinator/sim';
import { expect, test } from '@playwright/test';
import { ARTIFACTS, DASHBOARD_KEY, dashboardSuite, SLOW, signIn } from '../support/dashboard-pages.ts';

const suite = dashboardSuite('charts');

test('the charts page shows service levels per op, and an open breaker is reset with its button', async () => {
  // A coordinator of its own, for exact counts: a breaker opens after non-retryable failures on two
  // distinct volunteers; p95 target 60 s, success target 99 % (judged from 20 finished tasks on).
  const levels = await startCoordinator({
    port: 0,
    dataDir: join(suite.workDir, 'levels-data'),
    pagesDir: suite.pagesDir,
    apiKeys: new Map([[DASHBOARD_KEY, 'acme']]),
    logLevel: 'silent',
    breakerFailures: 2,
    breakerCooldownMs: 3_600_000,
    sloP95Ms: 60_000,
    sloSuccess: 0.99,
  });
  let saxpyBroken = true;
  // No computing here: reduce_sum succeeds (but lv-sum-0), saxpy fails while it is broken.
  const run: SimRunner = (job) =>
    job.assignment.task_id === 'lv-sum-0' || (job.assignment.envelope?.op === 'saxpy' && saxpyBroken)
      ? { failure: { code: 'FUEL_EXHAUSTED', message: 'out of fuel', retryable: false } }
      : { outputs: [] };
  const api = async (path: string, body?: unknown): Promise<Record<string, unknown>> => {
    const response = await fetch(`${levels.url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${DASHBOARD_KEY}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return (await response.json()) as Record<string, unknown>;
  };
  const task = (taskId: string, op: string) => ({
    task_id: taskId,
    op,
    module: { kind: 'builtin' },
    requirements: { min: { wasm: true } },
    inputs: [{ name: 'x', inline_bytes: 'AQIDBA==' }],
  });
  const state = async (taskId: string) => (await api(`/v1/tasks/${taskId}`))['state'];
  let first: SimulatedVolunteer | undefined = await SimulatedVolunteer.connect({ url: levels.url, run });
  let other: SimulatedVolunteer | undefined;
  const page = await suite.browser.newPage({ viewport: { width: 1280, height: 1400 } });
  try {
    const tasks = Array.from({ length: 20 }, (_, i) => task(`lv-sum-${i}`, 'reduce_sum'));
    await api('/v1/campaigns', { campaign_id: 'lv-camp', tasks });
    await expect
      .poll(async () => (await api('/v1/campaigns/lv-camp'))['counts'], SLOW)
      .toEqual({ queued: 0, running: 0, succeeded: 19, failed: 1, cancelled: 0 });
    // saxpy fails on one volunteer, then on another: its breaker opens, the next task is held.
    await api('/v1/tasks', task('lv-br-1', 'saxpy'));
    await expect.poll(() => state('lv-br-1'), SLOW).toBe('failed');
    await first.close();
    first = undefined;
    other = await SimulatedVolunteer.connect({ url: levels.url, run });
    await api('/v1/tasks', task('lv-br-2', 'saxpy'));
    await expect.poll(() => state('lv-br-2'), SLOW).toBe('failed');
    await api('/v1/tasks', task('lv-br-3', 'saxpy'));
    await expect
      .poll(async () => (await api('/v1/tasks/lv-br-3'))['waiting_reason'])
      .toMatch(
        /^held: op saxpy failed non-retryably on 2 distinct volunteers in a row \(last FUEL_EXHAUSTED\)/,
      );

    await signIn(page, DASHBOARD_KEY, levels.url);
    await expect(page.locator('#connection')).toHaveText('live');
    await page.getByRole('link', { name: 'Charts' }).click();
    await expect(page.locator('#slo-targets')).toHaveText(
      'targets p95 ≤ 60000 ms, success ≥ 99% over 5 min; an op is judged from 20 finished tasks on.',
    );
    const sum = page.locator('#op-rows tr[data-op="reduce_sum"]');
    await expect(sum.locator('[data-level="count"]')).toHaveText('20');
    await expect(sum.locator('[data-level="succeeded"]')).toHaveText('19');
    await expect(sum.locator('[data-level="failed"]')).toHaveText('1');
    await expect(sum.locator('[data-level="success_rate"]')).toHaveText('95%');
    await expect(sum.locator('[data-level="success_target"]')).toHaveText('≥ 99%');
    await expect(sum.locator('[data-level="p95_target"]')).toHaveText('≤ 60000 ms');
    // 95 % misses the 99 % target: the row, the rate and the Misses chip say so; p95 is met.
    await expect(sum).toHaveClass('violating');
    await expect(sum.locator('[data-level="success_rate"]')).toHaveClass('miss');
    await expect(sum.locator('[data-level="p95"]')).not.toHaveClass('miss');
    await expect(sum.locator('[data-level="violations"]')).toHaveText('success');
    const saxpy = page.locator('#op-rows tr[data-op="saxpy"]');
    await expect(saxpy.locator('[data-level="count"]')).toHaveText('2');
    await expect(saxpy.locator('[data-level="success_rate"]')).toHaveText('0%');
    // Two outcomes: not judged yet.
    await expect(saxpy.locator('[data-level="violations"]')).toHaveText('–');
    await expect(page.locator('#op-rows tr')).toHaveCount(2);

    const breaker = page.locator('#breaker-rows tr[data-breaker="saxpy"]');
    await expect(breaker.locator('[data-breaker-state]')).toHaveText('open');
    await expect(breaker.locator('[data-held]')).toHaveText('1');
    await expect(breaker).toContainText('2 volunteers');
    await expect(breaker).toContainText('FUEL_EXHAUSTED');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-service-levels.png'), fullPage: true });

    // The op is mended: Reset closes the breaker, the held task runs, and the table counts it.
    saxpyBroken = false;
    await breaker.getByRole('button', { name: 'Reset' }).click();
    await expect(breaker).toHaveCount(0);
    await expect(page.locator('#breaker-rows')).toHaveText('No open circuit breakers.');
    await expect(page.locator('#breaker-error')).toBeHidden();
    await expect.poll(() => state('lv-br-3'), SLOW).toBe('succeeded');
    await expect(saxpy.locator('[data-level="count"]')).toHaveText('3');
    await expect(saxpy.locator('[data-level="succeeded"]')).toHaveText('1');
    expect(await api('/v1/breakers')).toEqual({ breakers: [] });
  } finally {
    await page.close();
    await first?.close();
    await other?.close();
    await levels.close();
  }
});
