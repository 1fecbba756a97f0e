// biome-ignore-all lint/suspicious/noTemplateCurlyInString: workflow references are `${…}` in plain strings
// The dashboard's workflows page driven with real clicks: a three-step pipeline typed into the run
// form, then its DAG drawn layer by layer with each step's state, live as the steps run (the
// second is held by the volunteer until the test lets it go). Screenshot to e2e/artifacts/.
import { join } from 'node:path';
import { startCoordinator } from '@flock/coordinator';
import { type SimRunner, SimulatedVolunteer, sumRunner } from '@flock/coordinator/sim';
import { expect, test } from '@playwright/test';
import { launchChromium } from '../support/chromium.ts';
import { ARTIFACTS, DASHBOARD_KEY, dashboardSuite, SLOW, signIn } from '../support/dashboard-pages.ts';

const suite = dashboardSuite('workflows');

const TASK = { op: 'sum', module: { kind: 'builtin' }, requirements: { min: { wasm: true } } };
const PIPELINE = {
  workflow_id: 'dash-pipeline',
  steps: [
    { id: 'first', ...TASK, inputs: [{ name: 'x', inline_bytes: 'AQIDBA==' }] },
    { id: 'second', ...TASK, inputs: [{ name: 'p', uri: '${steps.first.outputs.sum}' }] },
    { id: 'third', ...TASK, depends_on: ['first'], when: '${steps.first.summary.sum} > 1000' },
  ],
};

test('a pipeline run from the dashboard is drawn as a DAG whose steps change state live', async () => {
  const flock = await startCoordinator({
    port: 0,
    dataDir: join(suite.workDir, 'data'),
    pagesDir: suite.pagesDir,
    apiKeys: new Map([[DASHBOARD_KEY, 'acme']]),
    logLevel: 'silent',
    extraOps: ['sum'],
  });
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolveHeld) => {
    release = resolveHeld;
  });
  const run: SimRunner = async (job) => {
    if (job.assignment.task_id === 'dash-pipeline.second') await held;
    return sumRunner(job);
  };
  const sim = await SimulatedVolunteer.connect({ url: flock.url, run });
  const page = await suite.browser.newPage({ viewport: { width: 1280, height: 1000 } });
  try {
    await signIn(page, DASHBOARD_KEY, flock.url);
    await expect(page.locator('#connection')).toHaveText('live');
    await page.getByRole('link', { name: 'Workflows' }).click();
    await expect(page.locator('#workflow-list-note')).toHaveText('No workflows yet: run one above.');
    // A definition that is not JSON, and one the coordinator refuses, say what is wrong.
    const definition = page.getByLabel('Workflow definition (JSON)');
    await definition.fill('{"steps": ');
    await page.getByRole('button', { name: 'Run workflow' }).click();
    await expect(page.locator('#workflow-error')).toHaveText(/^Not JSON: /);
    await definition.fill('{"steps": [{"id": "a"}]}');
    await page.getByRole('button', { name: 'Run workflow' }).click();
    await expect(page.locator('#workflow-error')).toHaveText(
      'Invalid workflow: field "steps[0].op": op is required (MISSING_FIELD)',
    );
    await definition.fill(JSON.stringify(PIPELINE, null, 2));
    await page.getByRole('button', { name: 'Run workflow' }).click();
    await expect(page).toHaveURL(/#\/workflow\/dash-pipeline$/);
    const node = (id: string) => page.locator(`.dag-node[data-step="${id}"]`);
    // Layers: first, then second and third side by side.
    await expect(page.locator('.dag-layer')).toHaveCount(2);
    await expect(page.locator('.dag-layer').nth(1).locator('.dag-node')).toHaveCount(2);
    await expect(node('first')).toHaveAttribute('data-state', 'succeeded', SLOW);
    await expect(node('second')).toHaveAttribute('data-state', 'running', SLOW);
    // 1+2+3+4 = 10 is not above 1000: third is skipped by its condition.
    await expect(node('third')).toHaveAttribute('data-state', 'skipped', SLOW);
    await expect(node('third')).toContainText('CONDITION_FALSE');
    await expect(page.locator('#workflow-state')).toHaveText('running');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-workflow-running.png'), fullPage: true });
    release();
    await expect(node('second')).toHaveAttribute('data-state', 'succeeded', SLOW);
    await expect(page.locator('#workflow-state')).toHaveText('succeeded', SLOW);
    await expect(node('second')).toContainText('after first · 1 task');
    await page.getByRole('link', { name: 'Workflows' }).click();
    await expect(page.locator('#workflow-rows tr')).toHaveCount(1, SLOW);
    await expect(page.locator('#workflow-rows tr').first()).toContainText('dash-pipeline');
    await expect(page.locator('#workflow-rows tr').first()).toContainText('succeeded', SLOW);
  } finally {
    release();
    await page.close();
    sim.close();
    await flock.close();
  }
});

test('a three-step pipeline submitted from the dashboard runs on a real volunteer tab', async () => {
  const flock = await startCoordinator({
    port: 0,
    dataDir: join(suite.workDir, 'tab-data'),
    pagesDir: suite.pagesDir,
    apiKeys: new Map([[DASHBOARD_KEY, 'acme']]),
    logLevel: 'silent',
    spotCheckRate: 0,
  });
  const tabBrowser = await launchChromium({ webgpu: true });
  // reduce_sum of f32 [1, 2, 3] is 6; each later step sums the one value before it: 6 again.
  const sum = (id: string, x: Record<string, unknown>) => ({
    id,
    op: 'reduce_sum',
    module: { kind: 'builtin' },
    requirements: { min: { wasm: true } },
    inputs: [{ name: 'x', content_type: 'application/octet-stream', ...x }],
  });
  const pipeline = {
    workflow_id: 'tab-pipeline',
    steps: [
      sum('first', { inline_bytes: Buffer.from(new Float32Array([1, 2, 3]).buffer).toString('base64') }),
      sum('second', { uri: '${steps.first.outputs.sum}' }),
      sum('third', { uri: '${steps.second.outputs.sum}' }),
    ],
  };
  const dashboard = await tabBrowser.newPage({ viewport: { width: 1280, height: 900 } });
  try {
    await signIn(dashboard, DASHBOARD_KEY, flock.url);
    await expect(dashboard.locator('#connection')).toHaveText('live');
    await dashboard.getByRole('link', { name: 'Workflows' }).click();
    await dashboard.getByLabel('Workflow definition (JSON)').fill(JSON.stringify(pipeline));
    await dashboard.getByRole('button', { name: 'Run workflow' }).click();
    await expect(dashboard).toHaveURL(/#\/workflow\/tab-pipeline$/);
    const node = (id: string) => dashboard.locator(`.dag-node[data-step="${id}"]`);
    await expect(node('first')).toHaveAttribute('data-state', 'running');
    await expect(node('second')).toHaveAttribute('data-state', 'waiting');
    const volunteer = await tabBrowser.newPage();
    await volunteer.goto(`${flock.url}/`);
    await expect(volunteer.locator('body')).toHaveAttribute('data-ready', 'true');
    await volunteer.getByRole('button', { name: 'Start donating compute' }).click();
    await expect(dashboard.locator('#workflow-state')).toHaveText('succeeded', { timeout: 90_000 });
    for (const id of ['first', 'second', 'third'])
      await expect(node(id)).toHaveAttribute('data-state', 'succeeded');
    await expect(dashboard.locator('.dag-layer')).toHaveCount(3);
    await dashboard.screenshot({ path: join(ARTIFACTS, 'dashboard-workflow-real-tab.png'), fullPage: true });
    const result = (await (
      await fetch(`${flock.url}/v1/tasks/tab-pipeline.third/result`, {
        headers: { authorization: `Bearer ${DASHBOARD_KEY}` },
      })
    ).json()) as { outputs: Array<{ name: string; inline_bytes: string }> };
    const out = result.outputs.find((o) => o.name === 'sum')!;
    expect(
      Array.from(new Float32Array(new Uint8Array(Buffer.from(out.inline_bytes, 'base64')).buffer)),
    ).toEqual([6]);
  } finally {
    await tabBrowser.close();
    await flock.close();
  }
});
