// The SDK against a real coordinator (in-process, SQLite, real HTTP and WebSockets) and a
// simulated volunteer speaking the real worker protocol.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCoordinator } from '@flock/coordinator';
import { EVENTS } from '@flock/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { FlockClient, type MapProgress, type TaskEvent } from '../src/index.ts';
import { KEY, OTHER_KEY, startTestCoordinator, type TestCoordinator } from './support/test-coordinator.ts';

let env: TestCoordinator;
let client: FlockClient;
/** Paths of every request the client sent, in order (the real fetch does the work). */
const requests: string[] = [];

beforeAll(async () => {
  env = await startTestCoordinator();
  client = new FlockClient({
    url: env.url,
    apiKey: KEY,
    WebSocket,
    fetch: (input, init) => {
      requests.push(`${init?.method ?? 'GET'} ${new URL(input).pathname}`);
      return fetch(input, init);
    },
  });
});

afterAll(async () => {
  await env?.close();
});

function envelope(taskId: string, op: string, bytes: number[] = [1, 2, 3]) {
  return {
    task_id: taskId,
    op,
    module: env.module,
    requirements: { min: { wasm: true } },
    inputs: [
      { name: 'input', content_type: 'application/octet-stream', inline_bytes: new Uint8Array(bytes) },
    ],
  };
}

describe('submit, events, result', () => {
  it('follows a task queued → running → succeeded with its progress, then reads the result', async () => {
    const task = await client.submit(envelope('sdk-gated-1', 'gated'));
    expect(task.id).toBe('sdk-gated-1');
    expect(task.view?.state).toMatch(/^(queued|running)$/);
    // The volunteer holds the job: accepted (running) has been published before anyone listens.
    await expect.poll(() => env.running.has('sdk-gated-1')).toBe(true);
    const seen: TaskEvent[] = [];
    const iterator = task.events()[Symbol.asyncIterator]();
    const first = iterator.next();
    // events() subscribes, then reads the state: release the job once that read happened.
    await expect.poll(() => requests.includes('GET /v1/tasks/sdk-gated-1')).toBe(true);
    env.release('sdk-gated-1');
    let next = await first;
    while (next.done !== true) {
      seen.push(next.value);
      next = await iterator.next();
    }
    expect(seen.map((e) => [e.topic, e.state, e.payload['pct'] ?? null])).toEqual([
      [EVENTS.progress, 'running', 25],
      [EVENTS.progress, 'running', 50],
      [EVENTS.progress, 'running', 75],
      [EVENTS.success, 'succeeded', null],
    ]);
    const result = await task.result();
    expect(result.task_id).toBe('sdk-gated-1');
    expect(result.outputs).toEqual([{ name: 'sum', content_type: 'application/json', inline_json: '6' }]);
    expect(result.summary).toEqual({ sum: '6', bytes: '3' });
    const view = await task.status();
    expect(view.state).toBe('succeeded');
    expect(view.result_available).toBe(true);
    expect(view.attempts).toHaveLength(1);
    expect(view.attempts[0]!.worker_id).toBe(env.volunteer.workerId);
  });

  it('ends events() at once for a task that already finished, and waits without a socket by polling', async () => {
    const task = await client.submit(envelope('sdk-sum-1', 'sum', [10, 20]));
    expect((await task.wait({ timeoutMs: 20_000 })).state).toBe('succeeded');
    const after: TaskEvent[] = [];
    for await (const event of task.events()) after.push(event);
    expect(after).toEqual([]);

    const polling = new FlockClient({ url: env.url, apiKey: KEY, WebSocket: null });
    const gated = await polling.submit(envelope('sdk-poll-1', 'gated', [5]));
    const events = (async () => {
      const out: TaskEvent[] = [];
      for await (const event of gated.events({ pollMs: 50 })) out.push(event);
      return out;
    })();
    env.release('sdk-poll-1');
    const out = await events;
    expect(out.at(-1)).toMatchObject({ topic: EVENTS.success, state: 'succeeded', task_id: 'sdk-poll-1' });
    expect((await gated.result()).outputs?.[0]?.inline_json).toBe('5');
  });

  it('hands over the events caught while the first state read was on its way', async () => {
    let holdRead: Promise<void> | undefined;
    let readHeld: () => void = () => undefined;
    const held = new FlockClient({
      url: env.url,
      apiKey: KEY,
      WebSocket,
      fetch: async (input, init) => {
        if (holdRead !== undefined && new URL(input).pathname === '/v1/tasks/sdk-drain-1') {
          readHeld();
          await holdRead;
        }
        return fetch(input, init);
      },
    });
    const task = await held.submit(envelope('sdk-drain-1', 'gated', [4]));
    await expect.poll(() => env.running.has('sdk-drain-1')).toBe(true);
    let letReadGo: () => void = () => undefined;
    holdRead = new Promise<void>((resolve) => {
      letReadGo = resolve;
    });
    const reached = new Promise<void>((resolve) => {
      readHeld = resolve;
    });
    const events = (async () => {
      const out: TaskEvent[] = [];
      for await (const event of task.events()) out.push(event);
      return out;
    })();
    // Subscribed, state read in flight: the task now runs to the end before the read answers.
    await reached;
    env.release('sdk-drain-1');
    await expect.poll(async () => (await client.getTask('sdk-drain-1')).state).toBe('succeeded');
    letReadGo();
    expect((await events).map((e) => [e.topic, e.payload['pct'] ?? null])).toEqual([
      [EVENTS.progress, 25],
      [EVENTS.progress, 50],
      [EVENTS.progress, 75],
      [EVENTS.success, null],
    ]);
  });

  it('submits the same envelope as Cap’n Proto, idempotently, and refuses other content under that id', async () => {
    const first = await client.submit(envelope('sdk-capnp-1', 'sum', [7]), { format: 'capnp' });
    expect(first.id).toBe('sdk-capnp-1');
    const again = await client.submit(envelope('sdk-capnp-1', 'sum', [7]));
    expect(again.view?.created_at_ms).toBe(first.view?.created_at_ms);
    await expect(client.submit(envelope('sdk-capnp-1', 'sum', [8]))).rejects.toMatchObject({
      name: 'FlockError',
      code: 'CONFLICT',
      status: 409,
    });
    expect((await first.result({ timeoutMs: 20_000 })).outputs?.[0]?.inline_json).toBe('7');
  });

  it('reads a large output from its blob and checks nothing else is needed', async () => {
    const bytes = Array.from({ length: 100_000 }, (_, i) => (i * 7) % 256);
    const task = await client.submit(envelope('sdk-echo-1', 'echo', bytes));
    const result = await task.result({ timeoutMs: 20_000 });
    const out = result.outputs?.[0];
    expect(out?.uri).toMatch(/^\/v1\/blobs\/sha256:[0-9a-f]{64}$/);
    const got = await client.outputBytes(out!);
    expect(got).toEqual(new Uint8Array(bytes));
  });
});

describe('errors', () => {
  it('names the missing field of an invalid envelope (400)', async () => {
    const bad = { ...envelope('sdk-bad-1', 'sum'), op: '' };
    await expect(client.submit(bad)).rejects.toMatchObject({
      code: 'MISSING_FIELD',
      status: 400,
      field: 'op',
    });
  });

  it('refuses a bad key (401) and hides other tenants’ tasks (404)', async () => {
    const wrong = new FlockClient({ url: env.url, apiKey: 'nope', WebSocket });
    await expect(wrong.checkKey()).rejects.toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
    await client.submit(envelope('sdk-tenant-1', 'sum'));
    const other = new FlockClient({ url: env.url, apiKey: OTHER_KEY, WebSocket });
    await expect(other.getTask('sdk-tenant-1')).rejects.toMatchObject({ code: 'NOT_FOUND', status: 404 });
  });

  it('reports a failed task as TASK_FAILED with its failure code', async () => {
    const task = await client.submit(envelope('sdk-fail-1', 'fail'));
    const error = await task.result({ timeoutMs: 20_000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'TASK_FAILED',
      failure: { code: 'EXECUTION_ERROR', message: 'the kernel trapped' },
    });
    // Not waited for, the same: the coordinator's 409 NOT_READY is read as how the task ended.
    await expect(task.result({ wait: false })).rejects.toMatchObject({
      code: 'TASK_FAILED',
      failure: { code: 'EXECUTION_ERROR', message: 'the kernel trapped' },
    });
    expect(task.view?.state).toBe('failed');
  });

  it('gives up waiting with WAIT_TIMEOUT at the deadline, not at the next poll', async () => {
    const task = await client.submit(envelope('sdk-slow-timeout', 'slow'));
    await expect.poll(() => env.running.has('sdk-slow-timeout')).toBe(true);
    await expect(task.result({ wait: false })).rejects.toMatchObject({ code: 'NOT_READY', status: 409 });
    const started = Date.now();
    await expect(task.wait({ timeoutMs: 300 })).rejects.toMatchObject({ code: 'WAIT_TIMEOUT' });
    // The stream's safety-net poll is 5 s: the abort, not the poll, ended the wait.
    expect(Date.now() - started).toBeLessThan(4500);
    expect((await task.cancel()).state).toBe('cancelled');
  });

  it('keeps watching a task through a coordinator restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'flock-client-outage-'));
    const apiKeys = new Map([[KEY, 'acme']]);
    let coordinator = await startCoordinator({
      port: 0,
      dataDir,
      apiKeys,
      logLevel: 'silent',
      extraOps: ['sum'],
    });
    const port = coordinator.port;
    let reads = 0;
    let failedReads = 0;
    const local = new FlockClient({
      url: coordinator.url,
      apiKey: KEY,
      WebSocket,
      fetch: async (input, init) => {
        if (new URL(input).pathname === '/v1/tasks/sdk-outage-1') reads += 1;
        return fetch(input, init).catch((error: unknown) => {
          failedReads += 1;
          throw error;
        });
      },
    });
    try {
      // No volunteer can take it: it waits in the queue while the coordinator goes away.
      const task = await local.submit({
        task_id: 'sdk-outage-1',
        op: 'reduce_sum',
        module: { kind: 'builtin' },
        requirements: { min: { cpu_cores: 4096 } },
      });
      const waited = task.wait({ pollMs: 100 });
      await expect.poll(() => reads).toBeGreaterThan(0);
      await coordinator.close();
      await expect.poll(() => failedReads).toBeGreaterThan(1);
      coordinator = await startCoordinator({ port, dataDir, apiKeys, logLevel: 'silent', extraOps: ['sum'] });
      expect((await local.cancelTask('sdk-outage-1')).state).toBe('cancelled');
      expect((await waited).state).toBe('cancelled');
    } finally {
      await coordinator.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('cancels a running task on its worker; a second cancel is ALREADY_FINISHED', async () => {
    const task = await client.submit(envelope('sdk-slow-1', 'slow'));
    await expect.poll(() => env.running.has('sdk-slow-1')).toBe(true);
    const view = await task.cancel();
    expect(view.state).toBe('cancelled');
    await expect.poll(() => env.running.has('sdk-slow-1')).toBe(false);
    await expect(task.result()).rejects.toMatchObject({ code: 'TASK_CANCELLED' });
    await expect(task.cancel()).rejects.toMatchObject({ code: 'ALREADY_FINISHED', status: 409 });
  });
});

describe('map, modules, workers, stats', () => {
  it('uploads a module content-addressed', async () => {
    const bytes = new TextEncoder().encode('@compute @workgroup_size(1) fn main() {}');
    const ref = await client.uploadModule(bytes, 'wgsl');
    const hex = createHash('sha256').update(bytes).digest('hex');
    expect(ref).toEqual({ hash: `sha256:${hex}`, size: bytes.length, uri: `flock:sha256:${hex}` });
  });

  it('reads an uploaded blob back by the uri its upload answered', async () => {
    const bytes = new Uint8Array([3, 1, 4, 1, 5, 9, 2, 6]);
    const ref = await client.uploadBlob(bytes);
    expect(ref.uri).toBe(`flock:${ref.hash}`);
    expect((await client.blob(ref.uri)).bytes).toEqual(bytes);
    expect((await client.blob(ref.hash)).bytes).toEqual(bytes);
    expect(await client.outputBytes({ name: 'in', uri: ref.uri })).toEqual(bytes);
    await expect(client.blob('flock:nope')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'not a blob reference: "flock:nope"',
    });
  });

  it('events() without a WebSocket rejects, as a promise, with INVALID_ARGUMENT', async () => {
    const socketless = new FlockClient({ url: env.url, apiKey: KEY, WebSocket: null });
    await expect(socketless.events({ task_id: 't-1' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('maps a module over inputs with bounded concurrency, in input order, with progress', async () => {
    const wasm = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);
    const inputs = [[1], [2, 2], [3, 3, 3], 'abc', [9], [0, 255]].map((i) =>
      typeof i === 'string' ? i : new Uint8Array(i),
    );
    const progress: MapProgress[] = [];
    const outcomes = await client.map(wasm, inputs, {
      concurrency: 2,
      campaignId: 'sdk-map-1',
      onProgress: (p) => progress.push(p),
    });
    expect(outcomes.map((o) => [o.index, o.taskId, o.state, o.result?.outputs?.[0]?.inline_json])).toEqual([
      [0, 'sdk-map-1-0', 'succeeded', '1'],
      [1, 'sdk-map-1-1', 'succeeded', '4'],
      [2, 'sdk-map-1-2', 'succeeded', '9'],
      [3, 'sdk-map-1-3', 'succeeded', String(97 + 98 + 99)],
      [4, 'sdk-map-1-4', 'succeeded', '9'],
      [5, 'sdk-map-1-5', 'succeeded', '255'],
    ]);
    expect(Math.max(...progress.map((p) => p.inFlight))).toBeLessThanOrEqual(2);
    expect(env.maxRunning()).toBeLessThanOrEqual(4);
    expect(progress.at(-1)).toEqual({
      total: 6,
      submitted: 6,
      inFlight: 0,
      succeeded: 6,
      failed: 0,
      cancelled: 0,
      done: 6,
    });
    const campaign = await client.campaign('sdk-map-1');
    expect(campaign.tasks.map((t) => t.task_id).sort()).toEqual(outcomes.map((o) => o.taskId).sort());
    expect(campaign.counts?.succeeded).toBe(6);
  });

  it('submits a campaign in one request and streams only its events', async () => {
    const stream = await client.events({ campaign_id: 'sdk-camp-1' });
    const created = await client.submitCampaign(
      [envelope('sdk-camp-1-a', 'sum', [1]), envelope('sdk-camp-1-b', 'sum', [2, 3])],
      'sdk-camp-1',
    );
    expect(created.campaign_id).toBe('sdk-camp-1');
    expect(created.tasks.map((t) => t.id)).toEqual(['sdk-camp-1-a', 'sdk-camp-1-b']);
    await client.submit(envelope('sdk-not-in-camp', 'sum'));
    const succeeded = new Set<string>();
    while (succeeded.size < 2) {
      const next = await stream.take(10_000);
      if (!('event' in next)) throw new Error(`stream ended: ${JSON.stringify(next)}`);
      expect(next.event.campaign_id).toBe('sdk-camp-1');
      expect(next.event.task_id).toMatch(/^sdk-camp-1-[ab]$/);
      if (next.event.topic === EVENTS.success) succeeded.add(next.event.task_id);
    }
    stream.close();
    const results = await Promise.all(created.tasks.map((t) => t.result()));
    expect(results.map((r) => r.outputs?.[0]?.inline_json)).toEqual(['1', '5']);
  });

  it('traceparent (#19): a campaign under one trace; its events and results name it', async () => {
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const stream = await client.events({ campaign_id: 'sdk-trace' });
    await client.submitCampaign([envelope('sdk-trace-a', 'sum', [4])], 'sdk-trace', {
      traceparent: `00-${trace}-00f067aa0ba902b7-01`,
    });
    const events: TaskEvent[] = [];
    while (!events.some((e) => e.topic === EVENTS.success)) {
      const next = await stream.take(10_000);
      if (!('event' in next)) throw new Error(`stream ended: ${JSON.stringify(next)}`);
      events.push(next.event);
    }
    stream.close();
    // The SDK lifts the bus envelope's task fields out; id, schema and trace come along.
    expect(
      events.map((e) => [e.topic, e.task_id, e.campaign_id, e.state, e.schema, e.trace?.correlation_id]),
    ).toEqual([
      [EVENTS.requested, 'sdk-trace-a', 'sdk-trace', 'queued', 'flock.task.event.v1', trace],
      [EVENTS.accepted, 'sdk-trace-a', 'sdk-trace', 'running', 'flock.task.event.v1', trace],
      [EVENTS.success, 'sdk-trace-a', 'sdk-trace', 'succeeded', 'flock.task.event.v1', trace],
    ]);
    for (const e of events) expect(e.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(events[2]!.payload.outputs).toEqual([
      { name: 'sum', content_type: 'application/json', inline_json: '4' },
    ]);
    const result = await client.task('sdk-trace-a').result();
    expect(result.correlation_id).toBe(trace);
    // map: every task joins the traceparent given; without one, its campaign's own shared trace.
    const wasm = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);
    const traced = await client.map(wasm, ['a', 'b'], {
      campaignId: 'sdk-trace-map',
      traceparent: `00-${'2'.repeat(32)}-00f067aa0ba902b7-01`,
    });
    expect(traced.map((o) => o.result?.correlation_id)).toEqual(['2'.repeat(32), '2'.repeat(32)]);
    const shared = await client.map(wasm, ['a', 'b'], { campaignId: 'sdk-trace-map2' });
    const [first, second] = shared.map((o) => o.result?.correlation_id);
    expect(first).toMatch(/^[0-9a-f]{32}$/);
    expect(second).toBe(first);
    // A single task: its own traceparent; without one the coordinator mints a 32-hex id.
    const single = await client.submit(envelope('sdk-trace-b', 'sum'), {
      traceparent: `00-${'1'.repeat(32)}-00f067aa0ba902b7-01`,
    });
    expect((await single.result()).correlation_id).toBe('1'.repeat(32));
    expect(single.view?.correlation_id).toBe('1'.repeat(32));
    const minted = await client.submit(envelope('sdk-trace-c', 'sum'));
    expect((await minted.result()).correlation_id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('pages through every task, oldest first', async () => {
    const other = new FlockClient({ url: env.url, apiKey: OTHER_KEY, WebSocket });
    for (const i of [0, 1, 2, 3, 4]) await other.submit(envelope(`sdk-page-${i}`, 'sum', [i]));
    const first = await other.listTasks({ limit: 2 });
    expect(first.tasks.map((t) => t.task_id)).toEqual(['sdk-page-0', 'sdk-page-1']);
    expect(typeof first.next).toBe('string');
    const ids: string[] = [];
    for await (const view of other.iterateTasks({ limit: 2 })) ids.push(view.task_id);
    expect(ids).toEqual(['sdk-page-0', 'sdk-page-1', 'sdk-page-2', 'sdk-page-3', 'sdk-page-4']);
  });

  it('lists the volunteer and the stats', async () => {
    const workers = await client.workers();
    const sim = workers.find((w) => w.worker_id === env.volunteer.workerId);
    expect(sim).toMatchObject({
      connected: true,
      capability: { cpu_cores: 4, labels: { browser: 'flock-sim' } },
    });
    const stats = await client.stats();
    expect(stats.workers).toBe(1);
    expect(stats.queue_depth).toBe(0);
    expect(typeof stats.latency_ms.p95).toBe('number');
  });
});
