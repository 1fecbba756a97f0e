// Crash safety of webhooks: a coordinator process is killed (SIGKILL, by the fault injection
// FLOCK_FAULT_KILL_BEFORE_WEBHOOK) right after a terminal transition committed and before its
// delivery was stored. Restarted on the same data directory, it delivers the event from the
// webhook outbox: the receiver gets exactly one POST, whose Flock-Webhook-Id is the logged
// delivery's. Once for a task's success (run by a simulated volunteer), once for a workflow's
// own terminal event (cancelled).
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EVENTS } from '@flock/protocol';
import { afterAll, expect, test } from 'vitest';
import { SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import { envelope, KEY_A, until } from './helpers.ts';
import { freePort, startCoordinatorChild } from './support/crash-child.ts';

interface Received {
  body: string;
  headers: IncomingMessage['headers'];
}

const dir = mkdtempSync(join(tmpdir(), 'flock-crash-webhook-'));
const received: Received[] = [];
const hookServer = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    received.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
    res.writeHead(204).end();
  });
});
let child: ChildProcess | undefined;
let sim: SimulatedVolunteer | undefined;

afterAll(async () => {
  await sim?.close();
  child?.kill('SIGKILL');
  await new Promise<void>((resolve) => hookServer.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

const WEBHOOK_ENV = { FLOCK_WEBHOOK_ALLOW_HTTP: '1', FLOCK_WEBHOOK_ALLOW_PRIVATE: '1' };

function exited(proc: ChildProcess): Promise<NodeJS.Signals | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.signalCode);
  return new Promise((resolve) => proc.once('exit', (_code, signal) => resolve(signal)));
}

async function api(port: number, path: string, init: { method?: string; json?: unknown } = {}) {
  return fetch(`http://127.0.0.1:${port}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' },
    ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
  });
}

/** The delivery log of `taskId` once its one delivery is no longer pending. */
async function settledDelivery(port: number, taskId: string): Promise<Record<string, unknown>> {
  return until(async () => {
    const { deliveries } = (await (await api(port, `/v1/webhooks/deliveries?task_id=${taskId}`)).json()) as {
      deliveries: Array<Record<string, unknown>>;
    };
    return deliveries.length === 1 && deliveries[0]!.state !== 'pending' ? deliveries[0] : undefined;
  }, 20_000);
}

test('SIGKILL between a terminal commit and its delivery: the restarted coordinator posts it once', async () => {
  await new Promise<void>((resolve) => hookServer.listen(0, '127.0.0.1', resolve));
  const hook = `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/hook`;
  const port = await freePort();

  // 1. The task's success commits, then the process dies before its delivery is stored.
  child = await startCoordinatorChild(port, dir, {
    ...WEBHOOK_ENV,
    FLOCK_FAULT_KILL_BEFORE_WEBHOOK: EVENTS.success,
  });
  const made = await api(port, '/v1/tasks', {
    method: 'POST',
    json: envelope('t-crash', { return_channel: hook }),
  });
  expect(made.status).toBe(201);
  sim = await SimulatedVolunteer.connect({ url: `http://127.0.0.1:${port}` });
  expect(await exited(child)).toBe('SIGKILL');
  await sim.close();
  sim = undefined;
  expect(received).toHaveLength(0);

  // 2. Restarted (dying this time on a workflow's terminal event): the success is delivered.
  child = await startCoordinatorChild(port, dir, {
    ...WEBHOOK_ENV,
    FLOCK_FAULT_KILL_BEFORE_WEBHOOK: 'compute:workflow:v1:cancelled',
  });
  const task = (await (await api(port, '/v1/tasks/t-crash')).json()) as { state: string };
  expect(task.state).toBe('succeeded');
  const first = await settledDelivery(port, 't-crash');
  expect(first).toMatchObject({
    event: EVENTS.success,
    url: hook,
    state: 'delivered',
    attempts: [{ status: 204 }],
  });
  expect(received).toHaveLength(1);
  expect(received[0]!.headers['flock-webhook-id']).toBe(String(first.id));
  const body = JSON.parse(received[0]!.body);
  expect(body).toMatchObject({
    type: 'event',
    topic: hook,
    payload: { task_id: 't-crash', state: 'succeeded', event: EVENTS.success },
  });
  expect(body.payload.data.outputs).toEqual([
    { name: 'sum', content_type: 'application/json', inline_json: '10' },
  ]);

  // 3. A workflow's own terminal event: cancelled, committed, the process dies before storing it.
  const { task_id: _, ...step } = envelope('x');
  const wf = await api(port, '/v1/workflows', {
    method: 'POST',
    json: { workflow_id: 'wf-crash', return_channel: hook, steps: [{ id: 'a', ...step }] },
  });
  expect(wf.status).toBe(201);
  const proc = child;
  await api(port, '/v1/workflows/wf-crash', { method: 'DELETE' }).catch(() => undefined);
  expect(await exited(proc)).toBe('SIGKILL');

  // 4. Restarted without faults: the workflow's event is delivered, the task's not again.
  child = await startCoordinatorChild(port, dir, WEBHOOK_ENV);
  const second = await settledDelivery(port, 'wf-crash');
  expect(second).toMatchObject({ event: 'compute:workflow:v1:cancelled', state: 'delivered' });
  const posts = received.filter((r) => JSON.parse(r.body).payload.task_id === 'wf-crash');
  expect(posts.map((r) => r.headers['flock-webhook-id'])).toEqual([String(second.id)]);
  expect(JSON.parse(posts[0]!.body).payload).toMatchObject({
    state: 'cancelled',
    event: 'compute:workflow:v1:cancelled',
  });
  expect(received.filter((r) => JSON.parse(r.body).payload.task_id === 't-crash')).toHaveLength(1);
  expect((await settledDelivery(port, 't-crash')).id).toBe(first.id);
}, 90_000);
