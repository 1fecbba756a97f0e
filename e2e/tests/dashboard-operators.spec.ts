// The dashboard's operator pages (#19) driven with real clicks against a coordinator of its own
// (SQLite, the built pages) and a simulated volunteer that speaks the real worker protocol with a
// browser's User-Agent and a WebGPU adapter: a task's trace id, its audit trail (transitions in
// order, the worker's environment, hashes equal to the API's), its webhook deliveries (a 500, then
// a 200), a Replay whose outputs are equal; and the Keys page: a key made there used against the
// API, then revoked there and refused (401). Screenshots go to e2e/artifacts/.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type RunningCoordinator, startCoordinator } from '@flock/coordinator';
import { SimulatedVolunteer, sumRunner } from '@flock/coordinator/sim';
import { expect, type Page, test } from '@playwright/test';
import { ARTIFACTS, DASHBOARD_KEY, dashboardSuite, SLOW, signIn } from '../support/dashboard-pages.ts';

const suite = dashboardSuite('operators');
/** A key of the same tenant that may only read: no Keys page, no replay. */
const READER_KEY = 'dash-reader';
const UA =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.85 Safari/537.36';
const hex = (data: string) => createHash('sha256').update(data).digest('hex');

let coordinator: RunningCoordinator;
let volunteer: SimulatedVolunteer;
let hooks: Server;
/** Status codes the webhook receiver answers, in order (then 200). */
const hookAnswers = [500];
let hookPosts = 0;

test.beforeAll(async () => {
  hooks = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      hookPosts += 1;
      res.writeHead(hookAnswers.shift() ?? 200).end();
    });
  });
  await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
  coordinator = await startCoordinator({
    port: 0,
    dataDir: join(suite.workDir, 'data'),
    pagesDir: suite.pagesDir,
    apiKeys: new Map([
      [DASHBOARD_KEY, 'acme'],
      [READER_KEY, 'acme'],
    ]),
    keyScopes: new Map([[READER_KEY, ['read']]]),
    logLevel: 'silent',
    webhookAllowHttp: true,
    webhookAllowPrivate: true,
    webhookRetryBaseMs: 200,
  });
  volunteer = await SimulatedVolunteer.connect({
    url: coordinator.url,
    run: sumRunner,
    headers: { 'User-Agent': UA },
    capability: {
      webgpu: true,
      gpu: {
        backend: 'webgpu',
        vendor: 'google',
        architecture: 'swiftshader',
        device: 'dev-1',
        description: 'SwiftShader Device',
      },
      labels: { browser: 'flock-sim' },
    },
  });
});

test.afterAll(async () => {
  await volunteer?.close();
  await coordinator?.close();
  await new Promise((resolve) => hooks?.close(resolve));
});

async function api<T = Record<string, unknown>>(
  method: string,
  path: string,
  body?: unknown,
  key = DASHBOARD_KEY,
): Promise<{ status: number; body: T }> {
  const response = await fetch(`${coordinator.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as T };
}

const sumTask = (taskId: string, extra: Record<string, unknown> = {}) => ({
  task_id: taskId,
  op: 'reduce_sum',
  module: { kind: 'builtin' },
  requirements: { min: { wasm: true } },
  inputs: [{ name: 'x', inline_bytes: Buffer.from([1, 2, 3, 4]).toString('base64') }],
  ...extra,
});

async function openTask(page: Page, taskId: string): Promise<void> {
  await page.goto(`${coordinator.url}/dashboard/#/task/${taskId}`);
  await expect(page.locator('#task-facts [data-fact="State"]')).toBeVisible();
}

type AuditRow = {
  from: string | null;
  to: string;
  code: string | null;
  attempt: number | null;
  input_hash: string;
  output_hash: string | null;
  worker: { id: string } | null;
};

test("a task's trace id, audit trail, webhook deliveries, and a replay whose outputs are equal", async () => {
  const id = 'op-audit-1';
  const hook = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hook`;
  expect((await api('POST', '/v1/tasks', sumTask(id, { return_channel: hook }))).status).toBe(201);
  await expect.poll(async () => (await api(`GET`, `/v1/tasks/${id}`)).body['state'], SLOW).toBe('succeeded');
  const view = (await api('GET', `/v1/tasks/${id}`)).body;
  const { body: audit } = await api<{ entries: AuditRow[] }>('GET', `/v1/audit?task_id=${id}`);
  expect(audit.entries.map((r) => r.to)).toEqual(['queued', 'running', 'succeeded']);
  // The sum of 1+2+3+4 is the JSON output `sum` = "10": its hash as the audit log defines it.
  const outputHash = `sha256:${hex(`3:sum=sha256:${hex('10')}\n`)}`;
  expect(audit.entries[2]!.output_hash).toBe(outputHash);
  const inputHash = audit.entries[0]!.input_hash;
  expect(inputHash).toMatch(/^sha256:[0-9a-f]{64}$/);

  const page = await suite.browser.newPage({ viewport: { width: 1400, height: 1400 } });
  try {
    await signIn(page, DASHBOARD_KEY, coordinator.url);
    await expect(page.locator('#connection')).toHaveText('live');
    await openTask(page, id);
    // The trace id, with a button that copies it.
    expect(view['correlation_id']).toMatch(/^[0-9a-f]{32}$/);
    await expect(page.locator('#trace-id')).toHaveText(String(view['correlation_id']));
    await expect(page.locator('[data-fact="Trace id"] button.copy')).toHaveAttribute(
      'data-copy',
      String(view['correlation_id']),
    );

    // The audit trail: three transitions in order, the worker and its environment on the two
    // leased ones, the input hash on each and the output hash on the success, shortened with the
    // full value as a tooltip.
    const rows = page.locator('#audit-rows tr');
    await expect(rows).toHaveCount(3);
    await expect(rows.locator('[data-audit="transition"]')).toHaveText([
      '∅ → queued',
      'queued → running',
      'running → succeeded',
    ]);
    await expect(rows.locator('[data-audit="attempt"]')).toHaveText(
      audit.entries.map((r) => (r.attempt === null ? '–' : String(r.attempt))),
    );
    expect(audit.entries[1]!.attempt).toBe(1);
    await expect(rows.locator('[data-audit="code"]')).toHaveText(['–', '–', '–']);
    await expect(rows.locator('[data-audit="worker"]')).toHaveText([
      '–',
      volunteer.workerId,
      volunteer.workerId,
    ]);
    await expect(rows.locator('[data-audit="environment"]')).toHaveText([
      '–',
      'Chrome 131.0.6778.85 · Linux · google swiftshader',
      'Chrome 131.0.6778.85 · Linux · google swiftshader',
    ]);
    const inputs = rows.locator('[data-audit="input"] .hash');
    await expect(inputs).toHaveCount(3);
    for (let i = 0; i < 3; i += 1) {
      await expect(inputs.nth(i)).toHaveAttribute('title', inputHash);
      await expect(inputs.nth(i)).toHaveText(`sha256:${inputHash.slice(7, 19)}…`);
    }
    await expect(rows.locator('[data-audit="output"]')).toHaveText([
      '–',
      '–',
      `sha256:${outputHash.slice(7, 19)}…`,
    ]);
    await expect(rows.nth(2).locator('[data-audit="output"] .hash')).toHaveAttribute('title', outputHash);

    // The webhook: the receiver answered 500, then 200 to the retry.
    const delivery = page.locator('#delivery-rows tr');
    await expect(delivery).toHaveCount(1);
    await expect(delivery.locator('[data-delivery-field="state"]')).toHaveText('delivered', SLOW);
    await expect(delivery.locator('[data-delivery-field="attempts"]')).toHaveText('2');
    await expect(delivery.locator('[data-delivery-field="last"]')).toHaveText('HTTP 200');
    await expect(delivery.locator('[data-delivery-field="next"]')).toHaveText('–');
    await expect(delivery).toContainText('compute:dispatch:v1:success');
    expect(hookPosts).toBe(2);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-task-audit.png'), fullPage: true });

    // Replay: the volunteer runs it again, and the outputs are equal.
    await page.getByRole('button', { name: 'Replay' }).click();
    await expect(page.locator('[data-replay="verdict"]')).toHaveText('equal', SLOW);
    const pair = page.locator(`[data-replay-pair="${id}@replay-1"]`);
    await expect(pair.locator('[data-replay="state"]')).toHaveText('succeeded');
    await expect(pair.locator('[data-replay="equal"]')).toHaveText('equal');
    await expect(pair.locator('.hash')).toHaveCount(2);
    await expect(pair.locator('.hash').nth(1)).toHaveAttribute('title', outputHash);
    const replayId = await page.locator('[data-replay="id"]').textContent();
    const { status, body: replay } = await api<{ done: boolean; equal: boolean }>(
      'GET',
      `/v1/replay/${replayId}`,
    );
    expect(status).toBe(200);
    expect(replay).toMatchObject({ done: true, equal: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-task-replay.png'), fullPage: true });
    // The replayed task's page: its own trace, its own audit trail.
    await pair.getByRole('link').click();
    await expect(page.locator('#audit-rows tr')).toHaveCount(3);
    await expect(page.locator('#trace-id')).not.toHaveText(String(view['correlation_id']));
  } finally {
    await page.close();
  }
});

test('a read-only key sees the audit trail but its replay is refused (403)', async () => {
  const page = await suite.browser.newPage();
  try {
    await signIn(page, READER_KEY, coordinator.url);
    await expect(page.locator('#connection')).toHaveText('live');
    await openTask(page, 'op-audit-1');
    await expect(page.locator('#audit-rows tr')).toHaveCount(3);
    await page.getByRole('button', { name: 'Replay' }).click();
    await expect(page.locator('#replay-error')).toHaveText(
      'Replay: this key lacks the scope submit (FORBIDDEN)',
    );
    // Nothing was replayed.
    expect((await api('GET', '/v1/tasks/op-audit-1@replay-2')).status).toBe(404);
  } finally {
    await page.close();
  }
});

test('the Keys page makes a key that works against the API, shows its secret once, and revokes it (then 401)', async () => {
  const page = await suite.browser.newPage({ viewport: { width: 1400, height: 1000 } });
  try {
    await signIn(page, DASHBOARD_KEY, coordinator.url);
    await expect(page.locator('#connection')).toHaveText('live');
    await page.getByRole('link', { name: 'Keys' }).click();
    await expect(page.locator('#key-rows')).toHaveText('No stored keys yet.');

    // read is checked by default; instead of submit (any op), an op pattern. A pattern that is
    // no scope is refused as the key's field, not an envelope's, and nothing is made.
    await expect(page.getByRole('checkbox', { name: 'read' })).toBeChecked();
    await page.locator('#key-patterns').fill('bogus:thing');
    await page.getByRole('button', { name: 'Create key' }).click();
    await expect(page.locator('#keys-error')).toHaveText(
      'Invalid key: field "scopes[1]": "bogus:thing" is not a scope (submit, read, cancel, admin, can_submit:<op pattern>, can_subscribe:<channel pattern>) (INVALID_ARGUMENT)',
    );
    await expect(page.locator('#key-rows')).toHaveText('No stored keys yet.');
    await page.locator('#key-patterns').fill('can_submit:reduce_*');
    await page.locator('#key-name').fill('ci-bot');
    await page.getByRole('button', { name: 'Create key' }).click();
    await expect(page.locator('#created-key')).toContainText(
      'Copy its secret now: it is shown only this once and cannot be read back.',
    );
    const secret = (await page.locator('#created-secret').textContent()) ?? '';
    await expect(page.locator('#created-key button.copy')).toHaveAttribute('data-copy', secret);
    await expect(page.locator('#created-signing-secret')).toHaveCount(0);
    const { body: listed } = await api<{ keys: Array<{ key_id: string; scopes: string[]; name: string }> }>(
      'GET',
      '/v1/keys',
    );
    expect(listed.keys).toHaveLength(1);
    const made = listed.keys[0]!;
    expect(made).toMatchObject({ name: 'ci-bot', scopes: ['read', 'can_submit:reduce_*'] });
    const row = page.locator(`#key-rows tr[data-key="${made.key_id}"]`);
    await expect(row.locator('[data-key-field="scopes"] .chip')).toHaveText(['read', 'can_submit:reduce_*']);
    await expect(row.locator('[data-key-field="signing"]')).toHaveText('no');
    await expect(row.locator('[data-key-field="revoked"]')).toHaveText('–');
    // The secret is never listed.
    await expect(page.locator('#key-rows')).not.toContainText(secret);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-keys-created.png'), fullPage: true });

    // The new key works against the API, within its scopes: reduce_* ops only, no admin.
    expect((await api('POST', '/v1/tasks', sumTask('op-key-1'), secret)).status).toBe(201);
    const saxpy = await api<{ error: { code: string } }>(
      'POST',
      '/v1/tasks',
      { ...sumTask('op-key-2'), op: 'saxpy' },
      secret,
    );
    expect(saxpy.status).toBe(403);
    expect(saxpy.body.error.code).toBe('FORBIDDEN');
    expect((await api('GET', '/v1/keys', undefined, secret)).status).toBe(403);

    // A signing key: its signing secret is shown once too.
    await page.getByRole('checkbox', { name: 'signing' }).check();
    await page.getByRole('button', { name: 'Create key' }).click();
    await expect(page.locator('#created-signing-secret')).toHaveText(/^sign_[A-Za-z0-9_-]{32}$/);
    await expect(page.locator('#key-rows tr')).toHaveCount(2);
    await expect(page.locator('#key-rows [data-key-field="signing"]')).toHaveText(['no', 'yes']);

    // Revoke asks first: dismissed, nothing changes.
    page.once('dialog', (dialog) => void dialog.dismiss());
    await row.getByRole('button', { name: 'Revoke' }).click();
    await expect(row.locator('[data-key-field="revoked"]')).toHaveText('–');
    expect((await api('GET', '/v1/tasks/op-key-1', undefined, secret)).status).toBe(200);
    // Accepted: the key is revoked, and refused from then on.
    let asked = '';
    page.once('dialog', (dialog) => {
      asked = dialog.message();
      void dialog.accept();
    });
    await row.getByRole('button', { name: 'Revoke' }).click();
    await expect(row.locator('[data-key-field="revoked"]')).not.toHaveText('–');
    await expect(row.getByRole('button', { name: 'Revoke' })).toHaveCount(0);
    expect(asked).toBe(`Revoke ${made.key_id} (ci-bot)? Requests with it are refused from now on.`);
    const refused = await api<{ error: { code: string } }>('GET', '/v1/tasks/op-key-1', undefined, secret);
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('UNAUTHENTICATED');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-keys-revoked.png'), fullPage: true });
  } finally {
    await page.close();
  }
});

test('a key without admin gets no Keys link, and the page itself says why', async () => {
  const page = await suite.browser.newPage();
  try {
    // The admin's link shows once GET /v1/keys answers; the reader's never does.
    await signIn(page, DASHBOARD_KEY, coordinator.url);
    await expect(page.getByRole('link', { name: 'Keys' })).toBeVisible();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(page, READER_KEY, coordinator.url);
    await expect(page.locator('#connection')).toHaveText('live');
    await page.getByRole('link', { name: 'Charts' }).click();
    expect((await api('GET', '/v1/keys', undefined, READER_KEY)).status).toBe(403);
    await expect(page.locator('#nav-keys')).toBeHidden();
    await page.goto(`${coordinator.url}/dashboard/#/keys`);
    await expect(page.locator('#keys-error')).toHaveText('this key lacks the scope admin (FORBIDDEN)');
    // Nor does it offer a form its key may not use.
    await expect(page.locator('#key-form')).toBeHidden();
  } finally {
    await page.close();
  }
});
