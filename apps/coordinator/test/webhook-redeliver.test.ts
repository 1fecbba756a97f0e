// Webhook operations (#19): the tenant's deliveries by state (`GET /v1/webhooks/deliveries?state=`,
// paged) and a failed delivery posted again (`POST /v1/webhooks/deliveries/:id/redeliver`), against
// a real local receiver: a 400 fails the delivery at once; fixed, the redelivery is posted once
// more with the same Flock-Webhook-Id and a fresh, valid signature.
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, test } from 'vitest';
import { tenantWebhookSecret } from '../src/edge/webhook-post.ts';
import { envelope, type Json, KEY_A, KEY_B, startTest, type TestCoordinator, until } from './helpers.ts';

const MASTER = 'webhook-master-0123456789';
/** Scopes submit and cancel, no read. */
const SUBMITTER = 'key-submitter-a-0123456789';

/** A receiver answering every POST with `status` (changed by the test). */
async function receiver() {
  const received: Array<{ body: string; headers: IncomingMessage['headers'] }> = [];
  const hook = { received, status: 400, url: '', close: async () => {} };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
      res.writeHead(hook.status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hook.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  hook.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return hook;
}

let c: TestCoordinator | undefined;
let closeHook: (() => Promise<void>) | undefined;
afterEach(async () => {
  await c?.stop();
  c = undefined;
  await closeHook?.();
});

async function failedTask(taskId: string, url: string): Promise<void> {
  const made = await c!.api('/v1/tasks', { method: 'POST', json: envelope(taskId, { return_channel: url }) });
  expect(made.status).toBe(201);
  expect((await c!.api(`/v1/tasks/${taskId}`, { method: 'DELETE' })).status).toBe(200);
}

async function list(query: string, key = KEY_A): Promise<Json> {
  const res = await c!.api(`/v1/webhooks/deliveries?${query}`, { key });
  expect(res.status).toBe(200);
  return res.json();
}

const redeliver = (id: unknown, key = KEY_A) =>
  c!.api(`/v1/webhooks/deliveries/${id}/redeliver`, { key, method: 'POST' });

async function errorOf(res: Response): Promise<[number, Json]> {
  return [res.status, ((await res.json()) as Json).error];
}

test('a delivery refused with 400 is listed as failed; redelivered once fixed, same id, fresh signature', async () => {
  const hook = await receiver();
  closeHook = hook.close;
  c = await startTest({
    webhookAllowHttp: true,
    webhookAllowPrivate: true,
    webhookSecret: MASTER,
    apiKeys: new Map([
      [KEY_A, 'a'],
      [KEY_B, 'b'],
      [SUBMITTER, 'a'],
    ]),
    keyScopes: new Map([[SUBMITTER, ['submit', 'cancel']]]),
  });
  await failedTask('r1', hook.url);
  await failedTask('r2', hook.url);
  // A 400 is not retried: both fail at their first attempt.
  const failed = await until(async () => {
    const { deliveries } = await list('state=failed');
    return deliveries.length === 2 ? (deliveries as Json[]) : undefined;
  });
  expect(failed.map((d) => [d.task_id, d.state, d.attempts.length, d.attempts[0].status])).toEqual([
    ['r1', 'failed', 1, 400],
    ['r2', 'failed', 1, 400],
  ]);
  expect(hook.received).toHaveLength(2);
  const [first, second] = failed.map((d) => d.id as number);

  // Paged by id: `next` after a full page, none after a short one.
  const page1 = await list('state=failed&limit=1');
  expect(page1.deliveries.map((d: Json) => d.id)).toEqual([first]);
  const page2 = await list(`state=failed&limit=1&after=${page1.next}`);
  expect(page2.deliveries.map((d: Json) => d.id)).toEqual([second]);
  expect(await list(`state=failed&limit=1&after=${page2.next}`)).toEqual({ deliveries: [] });
  expect(await list(`state=failed&since=${Date.now() + 60_000}`)).toEqual({ deliveries: [] });
  expect(await list('state=delivered')).toEqual({ deliveries: [] });
  // Another tenant sees none of them and cannot redeliver them.
  expect(await list('state=failed', KEY_B)).toEqual({ deliveries: [] });
  expect(await errorOf(await redeliver(first, KEY_B))).toEqual([
    404,
    { code: 'NOT_FOUND', message: `no webhook delivery ${first}` },
  ]);
  expect((await errorOf(await redeliver(999_999)))[0]).toBe(404);
  expect((await errorOf(await redeliver('abc')))[0]).toBe(404);
  // Listing needs scope read; redelivering scope submit.
  expect((await errorOf(await c.api('/v1/webhooks/deliveries?state=failed', { key: SUBMITTER })))[0]).toBe(
    403,
  );

  hook.status = 204;
  const again = await redeliver(first, SUBMITTER);
  expect(again.status).toBe(202);
  expect(await again.json()).toEqual({ id: first, state: 'pending' });
  const delivered = await until(async () => {
    const { deliveries } = await list('state=delivered');
    return deliveries.length === 1 ? (deliveries[0] as Json) : undefined;
  });
  // Its attempts were cleared: one, the 204.
  expect(delivered).toMatchObject({ id: first, task_id: 'r1', state: 'delivered' });
  expect(delivered.attempts.map((a: Json) => [a.n, a.status])).toEqual([[1, 204]]);
  expect((await list('state=failed')).deliveries.map((d: Json) => d.id)).toEqual([second]);
  // Posted once more: the same webhook id, attempt 1, signed again under the tenant's secret.
  expect(hook.received).toHaveLength(3);
  const [before, after] = [hook.received[0]!, hook.received[2]!];
  expect(after.body).toBe(before.body);
  expect(after.headers['flock-webhook-id']).toBe(String(first));
  expect(before.headers['flock-webhook-id']).toBe(String(first));
  expect(after.headers['flock-webhook-attempt']).toBe('1');
  const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(after.headers['flock-signature']))!;
  expect(Number(t)).toBeGreaterThanOrEqual(Math.floor(delivered.attempts[0].at_ms / 1000));
  const secret = tenantWebhookSecret(MASTER, 'a');
  expect(v1).toBe(createHmac('sha256', secret).update(`${t}.${after.body}`).digest('hex'));

  // Delivered now: 409, and the message says why.
  expect(await errorOf(await redeliver(first))).toEqual([
    409,
    {
      code: 'CONFLICT',
      message: `webhook delivery ${first} is delivered: only a failed delivery is redelivered`,
    },
  ]);
  expect(hook.received).toHaveLength(3);
});

test('bad parameters are refused naming the field; a bare request still asks for task_id', async () => {
  c = await startTest({ webhookSecret: MASTER });
  for (const [query, field] of [
    ['', 'task_id'],
    ['state=lost', 'state'],
    ['state=failed&since=yesterday', 'since'],
    ['state=failed&after=!!', 'after'],
    ['state=failed&limit=0', 'limit'],
    ['state=failed&colour=red', 'colour'],
    ['task_id=t1&state=failed', 'state'],
    ['task_id=t1&after=MQ', 'after'],
  ] as const) {
    const [status, error] = await errorOf(await c.api(`/v1/webhooks/deliveries?${query}`));
    expect([query, status, error.code, error.field]).toEqual([query, 400, 'INVALID_ARGUMENT', field]);
  }
  expect(await list('state=pending')).toEqual({ deliveries: [] });
});

test('a delivery waiting for its retry is pending: listed so, and redelivering it is 409', async () => {
  const hook = await receiver();
  closeHook = hook.close;
  hook.status = 503;
  c = await startTest({
    webhookAllowHttp: true,
    webhookAllowPrivate: true,
    webhookSecret: MASTER,
    webhookRetryBaseMs: 600_000,
  });
  await failedTask('p1', hook.url);
  const pending = await until(async () => {
    const { deliveries } = await list('state=pending');
    return deliveries[0]?.attempts.length === 1 ? (deliveries[0] as Json) : undefined;
  });
  expect(pending).toMatchObject({ task_id: 'p1', state: 'pending', attempts: [{ n: 1, status: 503 }] });
  expect(await errorOf(await redeliver(pending.id))).toEqual([
    409,
    {
      code: 'CONFLICT',
      message: `webhook delivery ${pending.id} is pending: only a failed delivery is redelivered`,
    },
  ]);
  expect(await list('state=failed')).toEqual({ deliveries: [] });
  expect(hook.received).toHaveLength(1);
});
