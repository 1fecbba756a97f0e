// Webhooks for return_channel URLs (#19), their API: return_channel checked at submit (parsed,
// https unless allowed, no private address), and the delivery log per tenant with its scopes.
import { afterEach, describe, expect, test } from 'vitest';
import { tenantWebhookSecret } from '../src/edge/webhook-post.ts';
import { envelope, KEY_B, type TestCoordinator, until } from './helpers.ts';
import { MASTER, READER, receiver, start, webhookCalls } from './support/webhook-receiver.ts';

let c: TestCoordinator | undefined;
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await c?.stop();
  c = undefined;
  for (const close of closers.splice(0).reverse()) await close();
});
const { cancelledTask, deliveries, settled } = webhookCalls(() => c!);

describe('return_channel at submit', () => {
  test('URLs must parse, be https (http with the setting) and name no private address', async () => {
    c = await start({ webhookAllowHttp: false, webhookAllowPrivate: false });
    const submit = async (channel: string, id = 'v1') => {
      const res = await c!.api('/v1/tasks', {
        method: 'POST',
        json: envelope(id, { return_channel: channel }),
      });
      return { status: res.status, body: await res.json() };
    };
    const refused = (message: RegExp, field = 'return_channel') => ({
      status: 400,
      body: { error: { code: 'INVALID_ARGUMENT', message: expect.stringMatching(message), field } },
    });
    expect(await submit('https://')).toMatchObject(refused(/not a URL/));
    expect(await submit('http://hooks.example.com/x')).toMatchObject(refused(/FLOCK_WEBHOOK_ALLOW_HTTP/));
    expect(await submit('https://user:pw@hooks.example.com/x')).toMatchObject(refused(/credentials/));
    for (const host of [
      '127.0.0.1',
      'localhost',
      'LocalHost.',
      'a.localhost',
      '10.1.2.3',
      '[::1]',
      '169.254.169.254',
      '192.168.0.9',
    ])
      expect(await submit(`https://${host}/x`)).toMatchObject(refused(/private/));
    // A campaign names the task; a workflow its own channel; names that are no URL stay channels.
    const campaign = await c.api('/v1/campaigns', {
      method: 'POST',
      json: { tasks: [envelope('c1'), envelope('c2', { return_channel: 'https://10.0.0.1/x' })] },
    });
    expect(campaign.status).toBe(400);
    expect((await campaign.json()).error.field).toBe('tasks[1].return_channel');
    const { task_id: _, ...step } = envelope('x');
    const workflow = await c.api('/v1/workflows', {
      method: 'POST',
      json: { return_channel: 'https://localhost/x', steps: [{ id: 'a', ...step }] },
    });
    expect(workflow.status).toBe(400);
    expect((await workflow.json()).error.field).toBe('return_channel');
    expect((await submit('results-channel', 'v2')).status).toBe(201);
    expect((await submit('https://hooks.example.com/flock', 'v3')).status).toBe(201);
  });

  test('with FLOCK_WEBHOOK_ALLOW_HTTP, http:// is taken', async () => {
    c = await start({ webhookAllowHttp: true, webhookAllowPrivate: false });
    const res = await c.api('/v1/tasks', {
      method: 'POST',
      json: envelope('h1', { return_channel: 'http://hooks.example.com/x' }),
    });
    expect(res.status).toBe(201);
  });
});

describe('the delivery log', () => {
  test('scoped by tenant (404 for an unknown task), needs task_id and scope read; the secret needs admin', async () => {
    const hook = await receiver([[200]]);
    closers.push(hook.close);
    c = await start();
    await cancelledTask('t1', hook.url);
    await cancelledTask('t1', hook.url, KEY_B);
    await settled('t1');
    expect((await deliveries('t1')).map((d) => d.task_id)).toEqual(['t1']);
    const b = await until(async () => {
      const [d] = await deliveries('t1', KEY_B);
      return d?.state === 'delivered' ? d : undefined;
    });
    expect(b.id).not.toBe((await deliveries('t1'))[0].id);
    // A task of its own without deliveries: an empty log. An unknown id, or another tenant's: 404,
    // as GET /v1/tasks/:id answers (a workflow's id is known too: see webhooks.test.ts).
    expect((await c.api('/v1/tasks', { method: 'POST', json: envelope('quiet') })).status).toBe(201);
    expect(await deliveries('quiet')).toEqual([]);
    expect((await c.api('/v1/tasks', { key: KEY_B, method: 'POST', json: envelope('only-b') })).status).toBe(
      201,
    );
    for (const id of ['nobody', 'only-b']) {
      const unknown = await c.api(`/v1/webhooks/deliveries?task_id=${id}`);
      expect([id, unknown.status, (await unknown.json()).error]).toEqual([
        id,
        404,
        { code: 'NOT_FOUND', message: `no task or workflow "${id}"` },
      ]);
    }
    const missing = await c.api('/v1/webhooks/deliveries');
    expect(missing.status).toBe(400);
    expect((await missing.json()).error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'task_id' });
    const noRead = await c.api('/v1/webhooks/deliveries?task_id=t1', { key: READER });
    expect(noRead.status).toBe(403);
    expect((await noRead.json()).error.code).toBe('FORBIDDEN');
    const noAdmin = await c.api('/v1/webhooks/secret', { key: READER });
    expect(noAdmin.status).toBe(403);
    // Each tenant's secret is its own.
    const secretB = (await (await c.api('/v1/webhooks/secret', { key: KEY_B })).json()).secret;
    expect(secretB).toBe(tenantWebhookSecret(MASTER, 'b'));
    expect(secretB).not.toBe(tenantWebhookSecret(MASTER, 'a'));
  });
});
