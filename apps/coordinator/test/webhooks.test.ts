// Webhooks for return_channel URLs (#19): a task's terminal event posted, signed, to a real local
// HTTP(S) server; retries on 5xx and 429 (Retry-After), none on other 4xx; a restart mid-backoff
// still delivers; a workflow's end posted; two coordinators on PostgreSQL post once. The checks at
// submit and the delivery log per tenant: webhook-api.test.ts.
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { type ClusterCoordinator, startClusterCoordinator } from '../src/cluster/cluster.ts';
import { tlsCredentials } from '../src/edge/tls-credentials.ts';
import { tenantWebhookSecret } from '../src/edge/webhook-post.ts';
import { SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import { envelope, type Json, KEY_A, type TestCoordinator, until } from './helpers.ts';
import { usePostgres } from './support/postgres.ts';
import { LOCAL, MASTER, receiver, start, webhookCalls } from './support/webhook-receiver.ts';

let c: TestCoordinator | undefined;
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await c?.stop();
  c = undefined;
  for (const close of closers.splice(0).reverse()) await close();
});
const { cancelledTask, deliveries, settled } = webhookCalls(() => c!);

describe('delivery', () => {
  test('a succeeded task is posted once, signed, with the body channel subscribers receive', async () => {
    const hook = await receiver([[204]]);
    closers.push(hook.close);
    c = await start();
    const sim = await SimulatedVolunteer.connect({ url: c.url });
    closers.push(() => sim.close());
    const ws = new WebSocket(
      `${c.url.replace('http', 'ws')}/v1/events?key=${KEY_A}&channel=${encodeURIComponent(hook.url)}`,
    );
    closers.push(async () => ws.close());
    const messages: string[] = [];
    ws.on('message', (data) => messages.push(String(data)));
    await new Promise((resolve) => ws.once('open', resolve));
    const made = await c.api('/v1/tasks', {
      method: 'POST',
      json: envelope('w1', { return_channel: hook.url }),
    });
    expect(made.status).toBe(201);
    await until(() => hook.received.length === 1 && messages.length === 1, 10_000, 'the webhook');
    const [post] = hook.received;
    // Stripe-style signature over "<t>.<body>" with the tenant's secret, derived from the master.
    const secret = tenantWebhookSecret(MASTER, 'a');
    expect(secret).toBe(`whsec_${createHmac('sha256', MASTER).update('flock-webhook:a').digest('hex')}`);
    const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(post!.headers['flock-signature']));
    expect(match).not.toBeNull();
    const t = Number(match![1]);
    expect(Math.abs(t - Date.now() / 1000)).toBeLessThan(60);
    expect(match![2]).toBe(createHmac('sha256', secret).update(`${t}.${post!.body}`).digest('hex'));
    expect(post!.headers['content-type']).toBe('application/json');
    expect(post!.headers['flock-webhook-attempt']).toBe('1');
    // The same message as a /v1/events?channel= subscriber's (each has its own message id).
    const body = JSON.parse(post!.body);
    const streamed = JSON.parse(messages[0]!);
    delete body.id;
    delete streamed.id;
    expect(body).toEqual(streamed);
    expect(JSON.stringify(body)).toContain('"w1"');
    expect(body.topic).toBe(hook.url);
    // The tenant's admin reads the secret; the log shows one attempt, delivered.
    const res = await c.api('/v1/webhooks/secret');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ tenant: 'a', secret });
    const [logged] = await deliveries('w1');
    expect(logged).toMatchObject({
      task_id: 'w1',
      event: 'compute:dispatch:v1:success',
      url: hook.url,
      state: 'delivered',
      attempts: [{ n: 1, status: 204 }],
    });
    expect(String(post!.headers['flock-webhook-id'])).toBe(String(logged.id));
    expect(logged.next_attempt_at_ms).toBeUndefined();
  });

  test('500 then 200: two attempts logged, delivered once', async () => {
    const hook = await receiver([[500], [200]]);
    closers.push(hook.close);
    c = await start();
    await cancelledTask('r1', hook.url);
    const d = await settled('r1');
    expect(d.state).toBe('delivered');
    expect(d.attempts.map((a: Json) => [a.n, a.status, a.error])).toEqual([
      [1, 500, 'HTTP 500'],
      [2, 200, undefined],
    ]);
    expect(hook.received.map((r) => r.headers['flock-webhook-attempt'])).toEqual(['1', '2']);
    const metrics = await (await c.api('/metrics')).text();
    expect(metrics).toContain('flock_webhook_attempts_total{outcome="retry"} 1\n');
    expect(metrics).toContain('flock_webhook_attempts_total{outcome="delivered"} 1\n');
    // The same body both times, each signed when sent.
    expect(hook.received[1]!.body).toBe(hook.received[0]!.body);
    // Flat messages carry the state at the top, bus envelopes in their payload.
    const sent = JSON.parse(hook.received[0]!.body);
    expect(sent.state ?? sent.payload.state).toBe('cancelled');
  });

  test('a 4xx other than 429 is not retried', async () => {
    const hook = await receiver([[410], [200]]);
    closers.push(hook.close);
    c = await start();
    await cancelledTask('g1', hook.url);
    const d = await settled('g1');
    expect(d).toMatchObject({ state: 'failed', attempts: [{ n: 1, status: 410, error: 'HTTP 410' }] });
    expect(d.next_attempt_at_ms).toBeUndefined();
    expect(hook.received).toHaveLength(1);
  });

  test('429 waits its Retry-After; attempts stop at FLOCK_WEBHOOK_MAX_ATTEMPTS', async () => {
    const hook = await receiver([[429, { 'Retry-After': '1' }], [503]]);
    closers.push(hook.close);
    c = await start({ webhookMaxAttempts: 3 });
    await cancelledTask('q1', hook.url);
    const first = await until(
      async () => (await deliveries('q1'))[0]?.attempts.length === 1 && (await deliveries('q1'))[0],
    );
    expect(first.attempts[0]).toMatchObject({ n: 1, status: 429 });
    expect(first.next_attempt_at_ms - first.attempts[0].at_ms).toBeGreaterThanOrEqual(1000);
    const d = await settled('q1');
    expect(d.attempts.map((a: Json) => a.status)).toEqual([429, 503, 503]);
    expect(d.state).toBe('failed');
    expect(d.attempts[1].at_ms - d.attempts[0].at_ms).toBeGreaterThanOrEqual(1000);
    expect(hook.received).toHaveLength(3);
  });

  test('a receiver that does not answer holds one slot until its time limit, not the others', async () => {
    const hanging = createHttpServer(() => undefined);
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    closers.push(async () => {
      hanging.closeAllConnections();
      await new Promise<void>((resolve) => hanging.close(() => resolve()));
    });
    let asked = 0;
    hanging.on('request', () => asked++);
    const slowUrl = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/slow`;
    const hook = await receiver([[200]]);
    closers.push(hook.close);
    c = await start({ webhookTimeoutMs: 1500, webhookMaxAttempts: 1 });
    await cancelledTask('slow', slowUrl);
    await until(() => asked === 1, 5000, 'the slow POST');
    await cancelledTask('fast', hook.url);
    expect((await settled('fast')).state).toBe('delivered');
    // Delivered while the slow one still waits for its answer.
    expect((await deliveries('slow'))[0]).toMatchObject({ state: 'pending', attempts: [] });
    const slow = await settled('slow');
    expect(slow).toMatchObject({ state: 'failed', attempts: [{ n: 1, error: 'timed out after 1500 ms' }] });
  });

  test('a connection refused is retried', async () => {
    const hook = await receiver([[200]]);
    await hook.close();
    c = await start({ webhookMaxAttempts: 2 });
    await cancelledTask('n1', hook.url);
    const d = await settled('n1');
    expect(d.state).toBe('failed');
    expect(d.attempts).toHaveLength(2);
    expect(d.attempts[0].status).toBeUndefined();
    expect(d.attempts[0].error).toMatch(/^ECONNREFUSED/);
  });

  test('a restart mid-backoff still delivers (SQLite)', async () => {
    const hook = await receiver([[503], [200]]);
    closers.push(hook.close);
    const dir = mkdtempSync(join(tmpdir(), 'flock-webhooks-'));
    closers.push(async () => rmSync(dir, { recursive: true, force: true }));
    c = await start({ webhookRetryBaseMs: 1500 }, dir);
    await cancelledTask('s1', hook.url);
    const waiting = await until(async () => {
      const [d] = await deliveries('s1');
      return d?.attempts.length === 1 ? d : undefined;
    });
    expect(waiting).toMatchObject({ state: 'pending', attempts: [{ status: 503 }] });
    await c.stop();
    c = undefined;
    expect(hook.received).toHaveLength(1);
    c = await start({ webhookRetryBaseMs: 1500 }, dir);
    const d = await settled('s1');
    expect(d.state).toBe('delivered');
    expect(d.attempts.map((a: Json) => a.status)).toEqual([503, 200]);
    expect(d.attempts[1].at_ms).toBeGreaterThanOrEqual(waiting.next_attempt_at_ms);
    expect(hook.received).toHaveLength(2);
  });

  test('a coordinator stopped mid-attempt gives its claim up: after a restart the POST is made again at once', async () => {
    // The first POST is never answered; later ones are.
    const seen: IncomingMessage['headers'][] = [];
    const server = createHttpServer((req, res) => {
      seen.push(req.headers);
      req.resume();
      if (seen.length > 1) res.writeHead(200).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const dir = mkdtempSync(join(tmpdir(), 'flock-webhooks-'));
    closers.push(async () => rmSync(dir, { recursive: true, force: true }));
    // A 10 s time limit: the claim would otherwise hold for 15 s.
    c = await start({ webhookTimeoutMs: 10_000 }, dir);
    await cancelledTask('m1', url);
    await until(() => seen.length === 1, 5000, 'the first POST');
    await c.stop();
    c = await start({ webhookTimeoutMs: 10_000 }, dir);
    const started = Date.now();
    const d = await settled('m1');
    expect(Date.now() - started).toBeLessThan(5000);
    // The abandoned attempt was never recorded: one attempt, delivered, the same delivery posted twice.
    expect(d).toMatchObject({ state: 'delivered', attempts: [{ n: 1, status: 200 }] });
    expect(seen.map((h) => [h['flock-webhook-id'], h['flock-webhook-attempt']])).toEqual([
      [String(d.id), '1'],
      [String(d.id), '1'],
    ]);
  });

  test('https with a certificate trusted through FLOCK_WEBHOOK_CA; untrusted, the attempt fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flock-webhook-tls-'));
    closers.push(async () => rmSync(dir, { recursive: true, force: true }));
    const tls = (await tlsCredentials({ kind: 'self-signed' }, dir, ['127.0.0.1']))!;
    const hook = await receiver([[200]], tls);
    closers.push(hook.close);
    c = await start({ webhookAllowHttp: false, webhookMaxAttempts: 1 });
    await cancelledTask('u1', hook.url);
    const untrusted = await settled('u1');
    expect(untrusted.state).toBe('failed');
    expect(untrusted.attempts[0].error).toMatch(/SELF_SIGNED|certificate/i);
    expect(hook.received).toHaveLength(0);
    await c.stop();
    c = await start({ webhookAllowHttp: false, webhookCa: tls.cert });
    await cancelledTask('u2', hook.url);
    expect((await settled('u2')).attempts).toEqual([expect.objectContaining({ n: 1, status: 200 })]);
    expect(hook.received).toHaveLength(1);
  });
});

test('a workflow posts its terminal event to its return_channel, logged under its id', async () => {
  const hook = await receiver([[200]]);
  closers.push(hook.close);
  c = await start();
  const { task_id: _, ...step } = envelope('x');
  const made = await c.api('/v1/workflows', {
    method: 'POST',
    json: { workflow_id: 'wf-h', return_channel: hook.url, steps: [{ id: 'a', ...step }] },
  });
  expect(made.status).toBe(201);
  expect((await c.api('/v1/workflows/wf-h', { method: 'DELETE' })).status).toBe(200);
  // Its step's end (the step it stopped), then its own.
  const both = await until(async () => {
    const ds = await deliveries('wf-h');
    return ds.length === 2 && ds.every((d) => d.state !== 'pending') ? ds : undefined;
  });
  expect(both.map((d) => [d.event, d.state, d.attempts.map((a: Json) => a.status)])).toEqual([
    ['compute:workflow:v1:step', 'delivered', [200]],
    ['compute:workflow:v1:cancelled', 'delivered', [200]],
  ]);
  expect(hook.received).toHaveLength(2);
  const body = JSON.parse(hook.received.find((r) => r.body.includes('compute:workflow:v1:cancelled'))!.body);
  expect(body.state ?? body.payload.state).toBe('cancelled');
});

describe('cluster', () => {
  const harness = usePostgres();

  test('two coordinators on one PostgreSQL post each event once: relayed events are not posted again', async () => {
    const hook = await receiver([[200]]);
    closers.push(hook.close);
    const url = await harness().createSchema();
    const config = {
      ...LOCAL,
      port: 0,
      logLevel: 'silent',
      apiKeys: new Map([[KEY_A, 'a']]),
      extraOps: ['sum'],
      dataDir: mkdtempSync(join(tmpdir(), 'flock-webhook-cluster-')),
    };
    closers.push(async () => rmSync(config.dataDir, { recursive: true, force: true }));
    const one = await startClusterCoordinator(url, config);
    closers.push(() => one.close());
    const two = await startClusterCoordinator(url, config);
    closers.push(() => two.close());
    const call = (at: ClusterCoordinator, path: string, init: RequestInit = {}) =>
      fetch(`${at.url}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' },
      });
    const deliveriesOf = async (at: ClusterCoordinator, id: string): Promise<Json[]> =>
      ((await (await call(at, `/v1/webhooks/deliveries?task_id=${id}`)).json()) as Json).deliveries;
    // k1 cancelled on the coordinator it was not submitted to (the return channel read from the
    // store when the task is not open there); k2 and k3 cancelled where they were taken, their events relayed to the other.
    for (const [id, cancelAt] of [
      ['k1', two],
      ['k2', one],
      ['k3', one],
    ] as const) {
      const body = JSON.stringify(envelope(id, { return_channel: hook.url }));
      expect((await call(one, '/v1/tasks', { method: 'POST', body })).status).toBe(201);
      expect((await call(cancelAt, `/v1/tasks/${id}`, { method: 'DELETE' })).status).toBe(200);
      await until(
        async () => (await deliveriesOf(two, id))[0]?.state === 'delivered',
        10_000,
        `${id} delivered`,
      );
    }
    // k3 delivered after k2's relay reached two: one delivery and one POST each.
    for (const id of ['k1', 'k2', 'k3']) expect(await deliveriesOf(one, id)).toHaveLength(1);
    expect(hook.received.map((r) => /"k\d"/.exec(r.body)?.[0])).toEqual(['"k1"', '"k2"', '"k3"']);
    // The same tenant secret on both (one master in the shared store).
    const secret = async (at: ClusterCoordinator) =>
      ((await (await call(at, '/v1/webhooks/secret')).json()) as Json).secret;
    expect(await secret(one)).toBe(await secret(two));
  });
});
