// A cluster coordinator whose PostgreSQL server goes away (SCALE.md): its requests answer 503
// STORE_UNAVAILABLE with Retry-After, not 500 INTERNAL (a WebSocket upgrade's key lookup too),
// and `/healthz` answers 503 so that a load balancer takes it out of rotation; both come back
// once the server is reachable again. The server is reached through a TCP relay the test closes
// and reopens, a real outage from the coordinator's side that leaves the shared test server
// running for the other test files.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { WebSocket } from 'ws';
import { type ClusterCoordinator, startClusterCoordinator } from '../src/cluster/cluster.ts';
import { acquirePostgres, type PostgresHarness } from './support/postgres.ts';
import { Relay } from './support/tcp-relay.ts';

const KEY = 'unavailable-key-0123456789';

/** The HTTP answer to a WebSocket upgrade that is refused. */
function upgradeRefusal(
  url: string,
  key: string,
): Promise<{ status: number; retryAfter: unknown; body: unknown }> {
  return new Promise((done, fail) => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${key}` } });
    ws.on('open', () => fail(new Error('the upgrade was accepted')));
    ws.on('error', () => undefined);
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      res.on('end', () =>
        done({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body: JSON.parse(text) }),
      );
    });
  });
}

let harness: PostgresHarness;
let relay: Relay;
let node: ClusterCoordinator | undefined;
let dir: string;

beforeAll(async () => {
  harness = await acquirePostgres();
  dir = mkdtempSync(join(tmpdir(), 'flock-pg-unavailable-'));
});

afterAll(async () => {
  await node?.close();
  await relay?.close();
  await harness?.release();
  rmSync(dir, { recursive: true, force: true });
});

test('requests answer 503 STORE_UNAVAILABLE and /healthz 503 while PostgreSQL cannot be reached', async () => {
  const direct = new URL(await harness.createDatabase());
  relay = new Relay({ host: direct.hostname, port: Number(direct.port) });
  await relay.open();
  const url = new URL(direct);
  url.port = String(relay.port);
  node = await startClusterCoordinator(
    url.toString(),
    { port: 0, dataDir: dir, apiKeys: new Map([[KEY, 'a']]), extraOps: ['sum'], logLevel: 'silent' },
    { coordinatorId: 'gone', beatMs: 50 },
  );
  const at = node.url;
  const call = (path: string, body?: unknown) =>
    fetch(`${at}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const task = (taskId: string) => ({
    task_id: taskId,
    op: 'sum',
    module: { kind: 'builtin' },
    requirements: { min: { wasm: true } },
  });
  const health = async () => {
    const res = await fetch(`${at}/healthz`);
    return { status: res.status, body: await res.json() };
  };

  expect((await call('/v1/tasks', task('before'))).status).toBe(201);
  expect(await health()).toEqual({ status: 200, body: { status: 'ok' } });

  await relay.close();
  await expect.poll(health, { timeout: 5000, interval: 50 }).toEqual({
    status: 503,
    body: { status: 'store unavailable' },
  });
  for (const res of [await call('/v1/tasks', task('during')), await call('/v1/tasks/before')]) {
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('2');
    expect(await res.json()).toEqual({
      error: { code: 'STORE_UNAVAILABLE', message: 'the store cannot be reached; try again' },
    });
  }

  // A stream's key that is not configured is looked up in the store: 503 too, not 500.
  expect(
    await upgradeRefusal(`${at.replace('http', 'ws')}/v1/events`, 'flock_not-configured-0123456789'),
  ).toEqual({
    status: 503,
    retryAfter: '2',
    body: { error: { code: 'STORE_UNAVAILABLE', message: 'the store cannot be reached; try again' } },
  });

  await relay.open();
  await expect.poll(health, { timeout: 5000, interval: 50 }).toEqual({
    status: 200,
    body: { status: 'ok' },
  });
  const back = await call('/v1/tasks/before');
  expect(back.status).toBe(200);
  expect(((await back.json()) as { state: string }).state).toBe('queued');
  expect((await call('/v1/tasks', task('after'))).status).toBe(201);
});
