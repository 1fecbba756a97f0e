// A tenant's limits as the SDK and the CLI report them: a 429's code and its Retry-After, against a
// real coordinator (in-process, SQLite in a temp dir) that allows one submission per 100 s.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningCoordinator, startCoordinator } from '@flock/coordinator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliIo, main } from '../src/cli/main.ts';
import { HttpTransport } from '../src/http-transport.ts';
import { FlockClient } from '../src/index.ts';

const KEY = 'key-limited-0123456789';
let dataDir: string;
let coordinator: RunningCoordinator;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-client-limits-'));
  coordinator = await startCoordinator({
    port: 0,
    dataDir,
    apiKeys: new Map([[KEY, 'acme']]),
    logLevel: 'silent',
    extraOps: ['sum'],
    tenantSubmitRate: 0.01,
    tenantSubmitBurst: 1,
  });
});

afterAll(async () => {
  await coordinator?.close();
  await rm(dataDir, { recursive: true, force: true });
});

const envelope = (taskId: string) => ({
  task_id: taskId,
  op: 'sum',
  module: { kind: 'builtin' as const },
  requirements: { min: { wasm: true } },
});

describe('429 RATE_LIMITED', () => {
  it('the SDK gives the code and retryAfterMs; the CLI says when to retry and exits 2', async () => {
    const client = new FlockClient({ url: coordinator.url, apiKey: KEY });
    await client.submit(envelope('first'));
    const refused = await client.submit(envelope('second')).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'RATE_LIMITED', status: 429, retryAfterMs: 100_000 });
    const path = join(dataDir, 'third.json');
    await writeFile(path, JSON.stringify(envelope('third')));
    const err: string[] = [];
    const io: CliIo = {
      stdout: () => undefined,
      stderr: (t) => err.push(t),
      stderrIsTTY: false,
      env: { FLOCK_URL: coordinator.url, FLOCK_API_KEY: KEY },
      readStdin: async () => '',
    };
    expect(await main(['submit', path], io)).toBe(2);
    expect(err.join('')).toBe(
      'flock: RATE_LIMITED: more than 0.01 submissions a second (burst 1) from this tenant (retry after 100 s)\n',
    );
  });
});

describe('waiting out a refusal (throttleWaitMs)', () => {
  // One submission a second: the second within it is 429 with Retry-After: 1.
  let dir: string;
  let paced: RunningCoordinator;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flock-client-throttle-'));
    paced = await startCoordinator({
      port: 0,
      dataDir: dir,
      apiKeys: new Map([[KEY, 'acme']]),
      logLevel: 'silent',
      extraOps: ['sum'],
      tenantSubmitRate: 1,
      tenantSubmitBurst: 1,
    });
  });
  afterAll(async () => {
    await paced?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('the SDK waits the Retry-After and sends again, telling onThrottle; 0 throws at once', async () => {
    const waits: Array<[string, number]> = [];
    const client = new FlockClient({
      url: paced.url,
      apiKey: KEY,
      onThrottle: (error, waitMs) => waits.push([error.code, waitMs]),
    });
    await client.submit(envelope('w1'));
    const task = await client.submit(envelope('w2'));
    expect(task.id).toBe('w2');
    expect(waits).toEqual([['RATE_LIMITED', 1000]]);
    const impatient = new FlockClient({ url: paced.url, apiKey: KEY, throttleWaitMs: 0 });
    await expect(impatient.submit(envelope('w3'))).rejects.toMatchObject({
      code: 'RATE_LIMITED',
      status: 429,
    });
    expect(() => new FlockClient({ url: paced.url, apiKey: KEY, throttleWaitMs: -1 })).toThrow(
      /throttleWaitMs/,
    );
  });

  it('a wait is cut short by the abort signal: ABORTED', async () => {
    let told = () => {};
    const waiting = new Promise<void>((resolve) => {
      told = resolve;
    });
    const http = new HttpTransport(paced.url, KEY, fetch, 30_000, { waitMs: 60_000, onWait: () => told() });
    await http.json('POST', '/v1/tasks', { json: envelope('a1') }).catch(() => undefined);
    const abort = new AbortController();
    const sent = http.json('POST', '/v1/tasks', { json: envelope('a2'), signal: abort.signal });
    const outcome = sent.then(
      () => 'sent',
      (e: unknown) => e,
    );
    await waiting;
    abort.abort();
    expect(await outcome).toMatchObject({ code: 'ABORTED', message: 'POST /v1/tasks: aborted' });
  });

  it('the CLI says it waits, then submits', async () => {
    const path = join(dir, 'c2.json');
    await writeFile(path, JSON.stringify(envelope('c2')));
    const client = new FlockClient({ url: paced.url, apiKey: KEY, throttleWaitMs: 0 });
    await client.submit(envelope('c1')).catch(() => undefined);
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = {
      stdout: (t) => out.push(t),
      stderr: (t) => err.push(t),
      stderrIsTTY: false,
      env: { FLOCK_URL: paced.url, FLOCK_API_KEY: KEY },
      readStdin: async () => '',
    };
    expect(await main(['submit', path], io)).toBe(0);
    expect(err.join('')).toBe(
      'flock: RATE_LIMITED: more than 1 submissions a second (burst 1) from this tenant; trying again in 1 s\n',
    );
    expect(out.join('')).toContain('c2');
  });
});

describe('503 STORE_UNAVAILABLE', () => {
  // A stand-in server answering as a cluster coordinator does while PostgreSQL is out of reach
  // (apps/coordinator/test/postgres-unavailable.test.ts checks that answer): once, then 201.
  let server: Server;
  let url: string;
  const seen: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      if (seen.length === 1) {
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
        res.end(
          JSON.stringify({ error: { code: 'STORE_UNAVAILABLE', message: 'the store is unreachable' } }),
        );
        return;
      }
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ task_id: 's1', state: 'queued' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('is waited out like a refusal and the request sent again', async () => {
    const waits: Array<[string, number]> = [];
    const http = new HttpTransport(url, KEY, fetch, 30_000, {
      waitMs: 60_000,
      onWait: (error, waitMs) => waits.push([error.code, waitMs]),
    });
    const body = await http.json('POST', '/v1/tasks', { json: envelope('s1') });
    expect(body).toEqual({ task_id: 's1', state: 'queued' });
    expect(waits).toEqual([['STORE_UNAVAILABLE', 1000]]);
    expect(seen).toEqual(['POST /v1/tasks', 'POST /v1/tasks']);
  });
});

describe('a queue past the memory budget', () => {
  // A budget no task fits: one is held in memory (a task always fits an empty coordinator).
  let dir: string;
  let small: RunningCoordinator;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flock-client-store-queue-'));
    small = await startCoordinator({
      port: 0,
      dataDir: dir,
      apiKeys: new Map([[KEY, 'acme']]),
      logLevel: 'silent',
      extraOps: ['sum'],
      maxOpenBytes: 1,
    });
  });
  afterAll(async () => {
    await small?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('stats and flock stats say how many tasks wait in the store', async () => {
    const client = new FlockClient({ url: small.url, apiKey: KEY });
    for (const id of ['s1', 's2', 's3']) await client.submit(envelope(id));
    const stats = await client.stats();
    expect([stats.queue_depth, stats.queued_in_store]).toEqual([3, 2]);
    const out: string[] = [];
    const io: CliIo = {
      stdout: (t) => out.push(t),
      stderr: () => {},
      stderrIsTTY: false,
      env: { FLOCK_URL: small.url, FLOCK_API_KEY: KEY },
      readStdin: async () => '',
    };
    expect(await main(['stats'], io)).toBe(0);
    expect(out.join('').split('\n')[0]).toBe('queue 3 (2 in the store)  running 0  workers 0  0/min');
  });
});
