import { decodeFrame, encodeFrame, makeFrame, type ResultAck } from '@flock/protocol';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { echoRunner, type SimRunner, SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import { envelope, type Json, KEY_B, startTest, type TestCoordinator, until } from './helpers.ts';

let c: TestCoordinator | undefined;
const sims: SimulatedVolunteer[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
  await c?.stop();
  c = undefined;
});

async function sim(
  options: Partial<Parameters<typeof SimulatedVolunteer.connect>[0]> = {},
): Promise<SimulatedVolunteer> {
  const s = await SimulatedVolunteer.connect({ url: c!.url, ...options });
  sims.push(s);
  return s;
}

/** A runner that holds every job until `release(taskId)`. */
function heldRunner(): { run: SimRunner; release: (taskId: string) => void; started: string[] } {
  const gates = new Map<string, () => void>();
  const waiting = new Map<string, Promise<void>>();
  const started: string[] = [];
  const gateFor = (id: string): Promise<void> => {
    let p = waiting.get(id);
    if (!p) {
      p = new Promise<void>((resolve) => gates.set(id, resolve));
      waiting.set(id, p);
    }
    return p;
  };
  return {
    started,
    release: (id) => {
      void gateFor(id);
      gates.get(id)!();
    },
    run: async ({ assignment }) => {
      started.push(assignment.task_id!);
      await gateFor(assignment.task_id!);
      return { outputs: [{ name: 'sum', inline_json: '10' }], executor: 'held' };
    },
  };
}

async function post(taskId: string, extra: Record<string, unknown> = {}): Promise<void> {
  const res = await c!.api('/v1/tasks', { method: 'POST', json: envelope(taskId, extra) });
  expect(res.status).toBe(201);
}

async function view(taskId: string, key?: string): Promise<Json> {
  return (await c!.api(`/v1/tasks/${encodeURIComponent(taskId)}`, key ? { key } : {})).json();
}

function nextAck(s: SimulatedVolunteer, leaseId: string): Promise<ResultAck> {
  return s.waitFor<ResultAck>('ack', (a) => a.lease_id === leaseId);
}

function successRows(dataDir: string, taskId: string): number {
  const db = new Database(`${dataDir}/flock.db`, { readonly: true });
  const row = db
    .prepare(
      "SELECT COUNT(*) AS n FROM audit JOIN tasks ON tasks.uid = audit.task_uid WHERE tasks.task_id = ? AND to_state = 'succeeded'",
    )
    .get(taskId) as { n: number };
  db.close();
  return row.n;
}

/** Opens a raw socket to /v1/worker; resolves with the close code and any error frame code. */
function rawSession(
  url: string,
  send: (ws: WebSocket) => void,
  origin?: string,
): Promise<{ close: number; error: string | undefined }> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/worker`, origin ? { origin } : {});
  let error: string | undefined;
  ws.on('message', (data: Buffer) => {
    const payload = decodeFrame(new Uint8Array(data)).payload!;
    if ('error' in payload) error ??= payload.error.code;
  });
  return new Promise((resolve) => {
    ws.on('open', () => send(ws));
    ws.on('close', (code) => resolve({ close: code, error }));
  });
}

const helloBytes = (): Uint8Array =>
  encodeFrame(makeFrame({ hello: { protocol_version: 1, capability: { wasm: true, cpu_slots: 1 } } }));

describe('protocol violations close only the offending connection', () => {
  test('malformed, oversized, text, unexpected and pre-hello frames get the right close codes', async () => {
    c = await startTest({ maxFrameBytes: 64 * 1024 });
    const healthy = await sim();
    const garbage = await rawSession(c.url, (ws) =>
      ws.send(new Uint8Array([0, 0, 0, 0, 9, 9, 9, 9, 1, 2, 3])),
    );
    expect(garbage.close).toBe(1002);
    expect(garbage.error).toMatch(/^(MALFORMED_FRAME|TRAVERSAL_LIMIT|FRAME_TOO_SHORT)$/);
    const big = await rawSession(c.url, (ws) => {
      ws.send(helloBytes());
      ws.send(new Uint8Array(70 * 1024));
    });
    expect(big).toEqual({ close: 1009, error: 'FRAME_TOO_LARGE' });
    const text = await rawSession(c.url, (ws) => ws.send('{"hello":1}'));
    expect(text).toEqual({ close: 1002, error: 'TEXT_FRAME' });
    const noHello = await rawSession(c.url, (ws) =>
      ws.send(encodeFrame(makeFrame({ heartbeat: { seq: 1 } }))),
    );
    expect(noHello).toEqual({ close: 1002, error: 'HELLO_REQUIRED' });
    const unexpected = await rawSession(c.url, (ws) => {
      ws.send(helloBytes());
      ws.send(encodeFrame(makeFrame({ welcome: { worker_id: 'me' } })));
    });
    expect(unexpected).toEqual({ close: 1002, error: 'UNEXPECTED_FRAME' });
    const badVersion = await rawSession(c.url, (ws) =>
      ws.send(encodeFrame(makeFrame({ hello: { protocol_version: 7 } }))),
    );
    expect(badVersion).toEqual({ close: 1002, error: 'UNSUPPORTED_VERSION' });
    // The healthy volunteer was not affected: it still gets and finishes work.
    await post('after-violations');
    await until(async () => (await view('after-violations')).state === 'succeeded');
    await expect.poll(() => healthy.acks.map((a) => a.accepted)).toEqual([true]);
    const metrics = await (await fetch(`${c.url}/metrics`)).text();
    expect(metrics).toContain('flock_errors_total{code="FRAME_TOO_LARGE"} 1');
  });

  test('Origin allow-list: same origin and listed origins pass, others get 1008', async () => {
    c = await startTest({ allowedOrigins: ['https://volunteer.example'] });
    const bad = await rawSession(c.url, (ws) => ws.send(helloBytes()), 'https://evil.example');
    expect(bad).toEqual({ close: 1008, error: 'ORIGIN_NOT_ALLOWED' });
    const listed = await sim({ origin: 'https://volunteer.example' });
    expect(listed.workerId).toMatch(/^w-/);
    const same = await sim({ origin: c.url });
    expect(same.workerId).toMatch(/^w-/);
  });
});

describe('results are fenced by lease, worker and token', () => {
  test('wrong token, foreign lease (same refusal as unknown), unknown lease, replay', async () => {
    c = await startTest();
    const held = heldRunner();
    const a = await sim({ run: held.run, capability: { cpu_slots: 1 } });
    await post('forge-1');
    const assignment = (await a.assignmentOf('forge-1')) as Json;
    const b = await sim({ capability: { cpu_slots: 1, paused: true } });
    const base = {
      task_id: 'forge-1',
      lease_id: assignment.lease_id,
      task_token: assignment.task_token,
      worker_id: a.workerId,
      outputs: [{ name: 'sum', inline_json: '999' }],
    };
    // Another worker's lease is refused exactly like one that does not exist: ids are not probed.
    b.send({ result: { ...base, worker_id: b.workerId } });
    expect(await nextAck(b, assignment.lease_id)).toMatchObject({ accepted: false, code: 'LEASE_UNKNOWN' });
    b.send({ failure: { ...base, code: 'X', message: 'x', retryable: false } });
    expect(await nextAck(b, assignment.lease_id)).toMatchObject({ accepted: false, code: 'LEASE_UNKNOWN' });
    a.send({ result: { ...base, task_token: 'hmac:forgedforgedforged' } });
    expect(await nextAck(a, assignment.lease_id)).toMatchObject({ accepted: false, code: 'WRONG_TOKEN' });
    a.send({ result: { ...base, lease_id: 'l-nonexistent' } });
    expect(await nextAck(a, 'l-nonexistent')).toMatchObject({ accepted: false, code: 'LEASE_UNKNOWN' });
    expect((await view('forge-1')).state).toBe('running');
    held.release('forge-1');
    expect(await nextAck(a, assignment.lease_id)).toEqual({
      task_id: 'forge-1',
      lease_id: assignment.lease_id,
      accepted: true,
    });
    // A replay of the accepted result (e.g. after a reconnect) is acknowledged, not counted twice.
    a.send({ result: { ...base, outputs: [{ name: 'sum', inline_json: '10' }] } });
    expect(await nextAck(a, assignment.lease_id)).toMatchObject({ accepted: true, code: 'DUPLICATE' });
    const result = await (await c.api('/v1/tasks/forge-1/result')).json();
    expect(result.outputs).toEqual([{ name: 'sum', inline_json: '10' }]);
    expect(successRows(c.dataDir, 'forge-1')).toBe(1);
  });
});

describe('leases', () => {
  test('a stalled worker loses its lease within one lease period; its late result is LEASE_EXPIRED', async () => {
    c = await startTest({ leaseMs: 1000, heartbeatMs: 200 });
    const held = heldRunner();
    const slow = await sim({ run: held.run, capability: { cpu_slots: 1 } });
    await post('stall-1');
    const first = (await slow.assignmentOf('stall-1')) as Json;
    slow.stall();
    const t0 = Date.now();
    await until(async () => (await view('stall-1')).attempts[0]?.outcome === 'lease_expired', 5000);
    expect(Date.now() - t0).toBeLessThan(2 * 1000);
    const v = await view('stall-1');
    expect(v.state).toBe('queued');
    expect(v.attempts[0]).toMatchObject({
      attempt: 1,
      worker_id: slow.workerId,
      outcome: 'lease_expired',
      code: 'LEASE_EXPIRED',
    });
    const rescuer = await sim({ capability: { cpu_slots: 1 } });
    await until(async () => (await view('stall-1')).state === 'succeeded');
    slow.stall(false);
    held.release('stall-1');
    expect(await nextAck(slow, first.lease_id)).toMatchObject({ accepted: false, code: 'LEASE_EXPIRED' });
    const done = await view('stall-1');
    expect(done.attempts.map((a: Json) => [a.attempt, a.worker_id, a.outcome])).toEqual([
      [1, slow.workerId, 'lease_expired'],
      [2, rescuer.workerId, 'succeeded'],
    ]);
    expect(successRows(c.dataDir, 'stall-1')).toBe(1);
  });

  test('heartbeats keep a long job leased; a resumed session keeps its worker id and lease', async () => {
    c = await startTest({ leaseMs: 600, heartbeatMs: 100 });
    const held = heldRunner();
    const s = await sim({ run: held.run, reconnect: true });
    const workerId = s.workerId;
    await post('long-1');
    const assignment = (await s.assignmentOf('long-1')) as Json;
    // Three lease periods pass with heartbeats: still the same attempt, renewed each time.
    const renewed: boolean[] = [];
    s.on('heartbeat-ack', (leases: Json[]) => renewed.push(leases.length === 1 && leases[0].valid === true));
    await until(() => Date.now() > assignment.lease_expires_at_ms + 1200, 5000);
    expect(renewed.length).toBeGreaterThan(5);
    expect(renewed.every(Boolean)).toBe(true);
    expect((await view('long-1')).attempts).toHaveLength(1);
    s.disconnect();
    const welcome = await s.waitFor<Json>('welcome');
    expect(welcome).toMatchObject({ worker_id: workerId, resumed: true, lease_ms: 600, heartbeat_ms: 100 });
    held.release('long-1');
    expect(await nextAck(s, assignment.lease_id)).toMatchObject({ accepted: true });
    const v = await view('long-1');
    expect(v.state).toBe('succeeded');
    expect(v.attempts).toHaveLength(1);
  });

  test('a disconnected worker that does not come back: requeued after the lease period', async () => {
    c = await startTest({ leaseMs: 300, heartbeatMs: 100 });
    const held = heldRunner();
    const gone = await sim({ run: held.run, capability: { cpu_slots: 1 } });
    await post('gone-1');
    await gone.assignmentOf('gone-1');
    gone.disconnect();
    await until(async () => (await view('gone-1')).state === 'queued', 2000);
    expect((await view('gone-1')).waiting_reason).toBe('no volunteers are connected');
  });

  test('never more assignments than the advertised slots', async () => {
    c = await startTest();
    let running = 0;
    let peak = 0;
    const s = await sim({
      capability: { cpu_slots: 3 },
      run: async () => {
        running += 1;
        peak = Math.max(peak, running);
        await new Promise((r) => setImmediate(r));
        running -= 1;
        return { outputs: [] };
      },
    });
    const res = await c.api('/v1/campaigns', {
      method: 'POST',
      json: { campaign_id: 'slots', tasks: Array.from({ length: 30 }, (_, i) => envelope(`slot-${i}`)) },
    });
    expect(res.status).toBe(201);
    await until(async () => (await (await c!.api('/v1/campaigns/slots')).json()).counts.succeeded === 30);
    expect(peak).toBe(3);
    await expect.poll(() => s.acks.filter((a) => a.accepted).length).toBe(30);
  });
});

describe('cancel, deadlines, retries', () => {
  test('cancelling a running task pushes cancel to the worker, which acks; its late result is refused', async () => {
    c = await startTest();
    const held = heldRunner();
    const s = await sim({ run: held.run, capability: { cpu_slots: 1 } });
    await post('cancel-run');
    const assignment = (await s.assignmentOf('cancel-run')) as Json;
    const cancelled = s.waitFor<Json>('cancel');
    const res = await c.api('/v1/tasks/cancel-run', { method: 'DELETE' });
    expect((await res.json()).state).toBe('cancelled');
    expect(await cancelled).toMatchObject({ task_id: 'cancel-run', lease_id: assignment.lease_id });
    // The slot comes back after cancel_ack: the next task runs on the same single-slot worker.
    await post('after-cancel');
    held.release('after-cancel');
    await until(async () => (await view('after-cancel')).state === 'succeeded');
    s.send({
      result: {
        task_id: 'cancel-run',
        lease_id: assignment.lease_id,
        task_token: assignment.task_token,
        worker_id: s.workerId,
        outputs: [],
      },
    });
    expect(await nextAck(s, assignment.lease_id)).toMatchObject({ accepted: false, code: 'TASK_CANCELLED' });
    expect((await view('cancel-run')).attempts[0]).toMatchObject({ outcome: 'cancelled' });
  });

  test('deadline: a queued task past deadline_ms fails DEADLINE_EXCEEDED; a running one is cancelled', async () => {
    c = await startTest();
    await post('late-q', { requirements: { min: { wasm: true }, qos: { deadline_ms: 150 } } });
    await until(async () => (await view('late-q')).state === 'failed', 3000);
    expect((await view('late-q')).failure.code).toBe('DEADLINE_EXCEEDED');
    const held = heldRunner();
    const s = await sim({ run: held.run });
    await post('late-r', { requirements: { min: { wasm: true }, qos: { deadline_ms: 300 } } });
    const cancel = await s.waitFor<Json>('cancel', () => true, 3000);
    expect(cancel).toMatchObject({ task_id: 'late-r', reason: 'DEADLINE_EXCEEDED' });
    const v = await view('late-r');
    expect(v).toMatchObject({ state: 'failed', failure: { code: 'DEADLINE_EXCEEDED' } });
    expect(v.attempts[0]).toMatchObject({ outcome: 'deadline_exceeded', code: 'DEADLINE_EXCEEDED' });
  });

  test('retryable failures retry with exponential backoff, then succeed', async () => {
    c = await startTest({ retryBaseMs: 80 });
    let calls = 0;
    await sim({
      run: () => {
        calls += 1;
        if (calls <= 2)
          return { failure: { code: 'DEVICE_LOST', message: 'gpu went away', retryable: true } };
        return { outputs: [{ name: 'sum', inline_json: '1' }] };
      },
    });
    await post('retry-1', { requirements: { min: { wasm: true }, qos: { retries: 2 } } });
    await until(async () => (await view('retry-1')).state === 'succeeded', 5000);
    const attempts = (await view('retry-1')).attempts;
    expect(attempts.map((a: Json) => [a.attempt, a.outcome, a.code ?? null])).toEqual([
      [1, 'failed', 'DEVICE_LOST'],
      [2, 'failed', 'DEVICE_LOST'],
      [3, 'succeeded', null],
    ]);
    expect(attempts[1].started_at_ms - attempts[0].ended_at_ms).toBeGreaterThanOrEqual(80);
    expect(attempts[2].started_at_ms - attempts[1].ended_at_ms).toBeGreaterThanOrEqual(160);
  });

  test('retries exhausted → RETRIES_EXHAUSTED; non-retryable fails at once with the worker code', async () => {
    c = await startTest({ retryBaseMs: 10 });
    await sim({
      run: ({ assignment }) =>
        assignment.task_id === 'fatal'
          ? { failure: { code: 'SHADER_COMPILE', message: 'line 3: bad', retryable: false } }
          : { failure: { code: 'TIMEOUT', message: 'slow', retryable: true } },
    });
    await post('fatal', { requirements: { min: { wasm: true }, qos: { retries: 3 } } });
    await post('flaky', { requirements: { min: { wasm: true }, qos: { retries: 1 } } });
    await until(
      async () => (await view('fatal')).state === 'failed' && (await view('flaky')).state === 'failed',
      5000,
    );
    const fatal = await view('fatal');
    expect(fatal.failure).toEqual({ code: 'SHADER_COMPILE', message: 'line 3: bad' });
    expect(fatal.attempts).toHaveLength(1);
    const flaky = await view('flaky');
    expect(flaky.failure).toEqual({ code: 'RETRIES_EXHAUSTED', message: 'TIMEOUT: slow' });
    expect(flaky.attempts).toHaveLength(2);
  });
});

describe('outputs and events', () => {
  test('outputs larger than a frame are streamed, stored content-addressed and served per tenant', async () => {
    c = await startTest({ maxFrameBytes: 64 * 1024 });
    await sim({ run: echoRunner });
    const payload = Buffer.alloc(200 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
    const env = envelope('big-out');
    env.inputs = [{ name: 'x', uri: 'https://example.invalid/x' }];
    // The input travels inline up to the frame limit; the output (same bytes) must stream back.
    env.inputs = [{ name: 'x', inline_bytes: payload.subarray(0, 60 * 1024).toString('base64') }];
    env.params = { repeat: 1 };
    expect((await c.api('/v1/tasks', { method: 'POST', json: env })).status).toBe(201);
    await until(async () => (await view('big-out')).state === 'succeeded');
    const result = await (await c.api('/v1/tasks/big-out/result')).json();
    const out = result.outputs[0];
    expect(out.uri).toMatch(/^\/v1\/blobs\/sha256:[0-9a-f]{64}$/);
    expect(out.size).toBe(60 * 1024);
    const blob = await c.api(out.uri);
    expect(Buffer.from(await blob.arrayBuffer()).equals(payload.subarray(0, 60 * 1024))).toBe(true);
    expect((await c.api(out.uri, { key: KEY_B })).status).toBe(404);
  });

  test('every transition reaches /v1/events; return_channel subscribers get the result', async () => {
    c = await startTest();
    const base = c.url.replace('http', 'ws');
    const open = async (query: string): Promise<Json[]> => {
      const ws = new WebSocket(`${base}/v1/events?key=key-alpha-0123456789&${query}`);
      const got: Json[] = [];
      ws.on('message', (d) => got.push(JSON.parse(String(d))));
      await new Promise((r) => ws.on('open', r));
      return got;
    };
    const byTask = await open('task_id=ev-run');
    const byChannel = await open('channel=analytics:ingest:v1:requested');
    await sim({
      run: ({ progress }) => {
        progress(50, { step: '1' });
        return { outputs: [{ name: 'sum', inline_json: '10' }] };
      },
    });
    await post('ev-run', { return_channel: 'analytics:ingest:v1:requested' });
    await expect
      .poll(() => byTask.map((e) => e.topic))
      .toEqual([
        'compute:dispatch:v1:requested',
        'compute:dispatch:v1:accepted',
        'compute:dispatch:v1:progress',
        'compute:dispatch:v1:success',
      ]);
    expect(byTask[2].payload.data).toMatchObject({ task_id: 'ev-run', pct: 50, metrics: { step: '1' } });
    expect(byTask[3].payload).toMatchObject({
      state: 'succeeded',
      data: { outputs: [{ name: 'sum', inline_json: '10' }] },
    });
    await expect.poll(() => byChannel.length).toBe(1);
    expect(byChannel[0]).toMatchObject({
      topic: 'analytics:ingest:v1:requested',
      payload: { event: 'compute:dispatch:v1:success', task_id: 'ev-run' },
    });
  });
});
