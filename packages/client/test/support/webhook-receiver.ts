// A local HTTP receiver of webhooks and a coordinator allowed to post to it (http, loopback),
// with a task whose return_channel is the receiver, cancelled at once so its event is posted.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningCoordinator, startCoordinator } from '@flock/coordinator';
import { FlockClient } from '../../src/index.ts';

export interface WebhookRig {
  /** The receiver's URL, the tasks' return_channel. */
  url: string;
  /** Each POST received, in order. */
  received: Array<{ body: Buffer; headers: IncomingHttpHeaders }>;
  /** The status the receiver answers with (set it to change the answer). */
  answer: { status: number };
  coordinator: RunningCoordinator;
  key: string;
  client: FlockClient;
  /** Submits a task returning to the receiver and cancels it: its cancelled event is posted. */
  cancelledTask(taskId: string): Promise<void>;
  close(): Promise<void>;
}

export async function webhookRig(status: number): Promise<WebhookRig> {
  const received: WebhookRig['received'] = [];
  const answer = { status };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ body: Buffer.concat(chunks), headers: req.headers });
      res.writeHead(answer.status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const dataDir = await mkdtemp(join(tmpdir(), 'flock-client-webhooks-'));
  const key = 'key-acme-0123456789ab';
  const coordinator = await startCoordinator({
    port: 0,
    dataDir,
    apiKeys: new Map([[key, 'acme']]),
    logLevel: 'silent',
    extraOps: ['sum'],
    webhookAllowHttp: true,
    webhookAllowPrivate: true,
  });
  const client = new FlockClient({ url: coordinator.url, apiKey: key });
  return {
    url,
    received,
    answer,
    coordinator,
    key,
    client,
    async cancelledTask(taskId) {
      const task = await client.submit({
        task_id: taskId,
        op: 'sum',
        module: { kind: 'builtin' },
        requirements: { min: { wasm: true } },
        return_channel: url,
      });
      await task.cancel();
    },
    async close() {
      await coordinator.close();
      await new Promise((resolve) => server.close(resolve));
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
