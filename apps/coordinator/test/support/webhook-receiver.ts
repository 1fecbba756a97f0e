// What the webhook tests share: a real local HTTP(S) receiver answering as told, the coordinator
// settings of the tests (loopback over plain HTTP, quick retries) and calls on a coordinator's
// delivery log.
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';
import type { CoordinatorConfig } from '../../src/config.ts';
import { envelope, type Json, KEY_A, KEY_B, startTest, type TestCoordinator, until } from '../helpers.ts';

/** A key of tenant `a` scoped to submit and cancel only (no read, no admin). */
export const READER = 'key-reader-a-0123456789';
/** The tests' FLOCK_WEBHOOK_SECRET. */
export const MASTER = 'webhook-master-0123456789';

export interface Received {
  body: string;
  headers: IncomingMessage['headers'];
}

/** A receiver answering each POST with the next of `answers` (the last one repeats). */
export async function receiver(
  answers: Array<[number, Record<string, string>?]>,
  tls?: { cert: string; key: string },
) {
  const received: Received[] = [];
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
      const [status, headers] = answers[Math.min(received.length, answers.length) - 1]!;
      res.writeHead(status, headers).end();
    });
  };
  const server = tls ? createHttpsServer(tls, handle) : createHttpServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    received,
    answers,
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}/hook`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Loopback over plain HTTP, quick retries: the settings of the tests. */
export const LOCAL: Partial<CoordinatorConfig> = {
  webhookAllowHttp: true,
  webhookAllowPrivate: true,
  webhookSecret: MASTER,
  webhookRetryBaseMs: 20,
};

export async function start(
  over: Partial<CoordinatorConfig> = {},
  dataDir?: string,
): Promise<TestCoordinator> {
  return startTest(
    {
      ...LOCAL,
      apiKeys: new Map([
        [KEY_A, 'a'],
        [KEY_B, 'b'],
        [READER, 'a'],
      ]),
      keyScopes: new Map([[READER, ['submit', 'cancel']]]),
      ...over,
    },
    dataDir,
  );
}

/** Calls on the delivery log of the coordinator `current()` returns (the test's). */
export function webhookCalls(current: () => TestCoordinator) {
  /** Submits a task posting to `url`, then cancels it: its terminal event (cancelled) is the webhook. */
  async function cancelledTask(taskId: string, url: string, key = KEY_A): Promise<void> {
    const made = await current().api('/v1/tasks', {
      key,
      method: 'POST',
      json: envelope(taskId, { return_channel: url }),
    });
    expect(made.status).toBe(201);
    expect((await current().api(`/v1/tasks/${taskId}`, { key, method: 'DELETE' })).status).toBe(200);
  }

  async function deliveries(taskId: string, key = KEY_A): Promise<Json[]> {
    const res = await current().api(`/v1/webhooks/deliveries?task_id=${taskId}`, { key });
    expect(res.status).toBe(200);
    return (await res.json()).deliveries;
  }

  const settled = (taskId: string) =>
    until(async () => {
      const [d] = await deliveries(taskId);
      return d && d.state !== 'pending' ? d : undefined;
    });

  return { cancelledTask, deliveries, settled };
}
