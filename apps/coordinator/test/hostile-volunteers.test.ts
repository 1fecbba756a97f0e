// Hostile volunteers (#21): an anonymous connection may cost the coordinator only what it holds.
// Lists in its frames are bounded by its slots, floods are throttled by bytes and work, leases end
// at their task's time limit however long they are heartbeated, capability events reach operators
// only, and identities that did nothing leave nothing behind. Real coordinator, real WebSockets.
import Database from 'better-sqlite3';
import { afterEach, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import type { SimRunner } from '../src/sim/simulated-volunteer.ts';
import { SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import { envelope, type Json, KEY_A, startTest, type TestCoordinator, until } from './helpers.ts';

let c: TestCoordinator | undefined;
const sims: SimulatedVolunteer[] = [];
const streams: WebSocket[] = [];
afterEach(async () => {
  for (const s of streams.splice(0)) s.terminate();
  await Promise.all(sims.splice(0).map((s) => s.close()));
  await c?.stop();
  c = undefined;
});

async function sim(options: Partial<Parameters<typeof SimulatedVolunteer.connect>[0]> = {}) {
  const s = await SimulatedVolunteer.connect({ url: c!.url, ...options });
  sims.push(s);
  return s;
}

async function post(id: string, extra: Record<string, unknown> = {}): Promise<void> {
  const res = await c!.api('/v1/tasks', { method: 'POST', json: envelope(id, extra) });
  expect(res.status).toBe(201);
}

const view = async (id: string): Promise<Json> => (await c!.api(`/v1/tasks/${id}`)).json();

/** A runner that never finishes (a hoarder's, or a job that hangs). */
const never: SimRunner = ({ signal }) =>
  new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));

async function metric(name: string, label: string): Promise<number> {
  const text = await (await fetch(`${c!.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name) && l.includes(label));
  return line ? Number(line.split(' ').pop()) : 0;
}

const ids = (n: number, prefix = 'l-x') => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

describe('lists in volunteer frames are bounded by what the worker holds', () => {
  test('a heartbeat may list twice the slot cap; one more closes 1008 LIST_TOO_LONG', async () => {
    c = await startTest({ maxSlotsPerWorker: 8 });
    const s = await sim();
    const acks = s.waitFor<Json[]>('heartbeat-ack');
    // Duplicates count once, and the ack answers only what was listed.
    s.send({ heartbeat: { seq: 1, lease_ids: [...ids(16), 'l-x-0', 'l-x-1'].slice(0, 16) } });
    const leases = await acks;
    expect(leases).toHaveLength(16);
    expect(leases.every((l: Json) => l.valid !== true)).toBe(true);
    const error = s.waitFor<Json>('error-frame');
    s.send({ heartbeat: { seq: 2, lease_ids: ids(17) } });
    expect(await error).toMatchObject({ code: 'LIST_TOO_LONG' });
    await until(() => s.lastClose, 5000, 'close');
    expect(s.lastClose!.code).toBe(1008);
  });

  test('a heartbeat listing a lease twice gets one renewal for it', async () => {
    c = await startTest();
    const s = await sim();
    const acks = s.waitFor<Json[]>('heartbeat-ack');
    s.send({ heartbeat: { seq: 1, lease_ids: ['l-a', 'l-a', 'l-b', 'l-a'] } });
    expect((await acks).map((l: Json) => l.lease_id)).toEqual(['l-a', 'l-b']);
  });

  test.each([
    ['in_flight', { in_flight: ids(17) }],
    ['undelivered', { undelivered: ids(17).map((id) => ({ task_id: 't', lease_id: id })) }],
    ['capability.cached_modules', { capability: { cpu_slots: 1, cached_modules: ids(257, 'sha256:') } }],
    ['capability.labels', { capability: { labels: Object.fromEntries(ids(33).map((k) => [k, 'v'])) } }],
    ['a capability label over 256 bytes', { capability: { labels: { os: 'x'.repeat(257) } } }],
  ])('a hello with too long %s closes 1008 LIST_TOO_LONG', async (_what, extra) => {
    c = await startTest({ maxSlotsPerWorker: 8 });
    const ws = new WebSocket(`${c.url.replace('http', 'ws')}/v1/worker`);
    streams.push(ws);
    const { encodeFrame, makeFrame, decodeFrame } = await import('@flock/protocol');
    const closed = new Promise<{ code: number; error: string | undefined }>((resolve) => {
      let error: string | undefined;
      ws.on('message', (data: Buffer) => {
        const p = decodeFrame(new Uint8Array(data)).payload!;
        if ('error' in p) error = p.error.code;
      });
      ws.on('close', (code) => resolve({ code, error }));
    });
    ws.on('open', () =>
      ws.send(
        encodeFrame(makeFrame({ hello: { protocol_version: 1, ...extra } }), { maxFrameBytes: 1 << 20 }),
      ),
    );
    expect(await closed).toEqual({ code: 1008, error: 'LIST_TOO_LONG' });
  });

  test('a capability frame over its bounds closes 1008; within them it is taken', async () => {
    c = await startTest();
    const s = await sim();
    s.setCapability({ cpu_slots: 3, labels: { os: 'linux' } });
    await until(() => c!.coordinator.workers.get(s.workerId)?.capability.cpu_slots === 3);
    const error = s.waitFor<Json>('error-frame');
    s.setCapability({ gpu: { features: ids(129, 'f') } });
    expect(await error).toMatchObject({ code: 'LIST_TOO_LONG' });
    await until(() => s.lastClose, 5000, 'close');
    expect(s.lastClose!.code).toBe(1008);
  });
});

describe('floods are throttled by the bytes and work they cost, not only by frames', () => {
  test('heartbeats full of lease ids are read no faster than the work budget allows', async () => {
    // Work budget: 4 x 500 = 2000 units a second, bursts of 4000. Each heartbeat below costs 65.
    c = await startTest({ workerFramesPerSecond: 500, maxSlotsPerWorker: 32 });
    const s = await sim();
    const n = 120; // 7800 units: at least (7800 - 4000) / 2000 = 1.9 s of reading
    let acked = 0;
    s.on('heartbeat-ack', () => {
      acked += 1;
    });
    const started = Date.now();
    for (let i = 0; i < n; i++) s.send({ heartbeat: { seq: i, lease_ids: ids(64, `l-${i}`) } });
    await until(() => acked >= n, 20_000, 'every ack');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1700);
    expect(s.lastClose).toBeUndefined(); // throttled, not cut off
    expect(await metric('flock_errors_total', 'code="THROTTLED"')).toBeGreaterThan(0);
  });

  test('bytes past the byte budget are read no faster than the budget allows', async () => {
    // 512 KiB a second, bursts of 1 MiB; 6 frames of 400 KiB: at least (2.4 - 1) / 0.5 = 2.7 s.
    c = await startTest({ workerBytesPerSecond: 512 << 10 });
    const s = await sim();
    let acked = 0;
    s.on('ack', () => {
      acked += 1;
    });
    const started = Date.now();
    const big = new Uint8Array(400 << 10);
    for (let i = 0; i < 6; i++) {
      s.send({
        result: { task_id: 't', lease_id: `l-none-${i}`, outputs: [{ name: 'o', inline_bytes: big }] },
      });
    }
    await until(() => acked >= 6, 20_000, 'every ack');
    expect(Date.now() - started).toBeGreaterThanOrEqual(2400);
    expect(s.lastClose).toBeUndefined();
  });
});

describe('no hoarding: a lease ends at its time limit, heartbeats or not', () => {
  test('a task held past timeout_ms + grace is requeued, the hoarder told to stop and pays for it', async () => {
    c = await startTest({ leaseMs: 600, heartbeatMs: 100 });
    const hoarder = await sim({ run: never, capability: { cpu_slots: 1 } });
    const cancelled = hoarder.waitFor<Json>('cancel', () => true, 10_000);
    await post('hoarded', { module: { kind: 'builtin', permissions: { timeout_ms: 400 } } });
    await hoarder.assignmentOf('hoarded');
    const started = Date.now();
    // The hoarder heartbeats every 100 ms; the lease still ends at 400 + 600 ms.
    expect(await cancelled).toMatchObject({ task_id: 'hoarded', reason: 'RUN_TIME_EXCEEDED' });
    expect(Date.now() - started).toBeLessThan(3000);
    const honest = await sim({ capability: { cpu_slots: 1 } });
    await until(async () => (await view('hoarded')).state === 'succeeded', 10_000, 'done elsewhere');
    const attempts = (await view('hoarded')).attempts.map((a: Json) => [
      a.worker_id,
      a.outcome,
      a.code ?? null,
    ]);
    // The hoarder may have been offered it again before the honest one came: each time it overran.
    const overruns = attempts.slice(0, -1);
    expect(overruns.length).toBeGreaterThanOrEqual(1);
    for (const a of overruns) expect(a).toEqual([hoarder.workerId, 'lease_expired', 'RUN_TIME_EXCEEDED']);
    expect(attempts.at(-1)).toEqual([honest.workerId, 'succeeded', null]);
    const { workers } = await (await c.api('/v1/workers')).json();
    const h = workers.find((w: Json) => w.worker_id === hoarder.workerId);
    expect(h.tasks_failed).toBe(overruns.length);
    const reliability = c.coordinator.workers.get(hoarder.workerId)!.reliability;
    expect(reliability).toBeCloseTo(1 / (2 + overruns.length), 5);
  });

  test('without timeout_ms the limit is the executor default, capped by FLOCK_MAX_RUN_MS', async () => {
    c = await startTest({ leaseMs: 500, heartbeatMs: 100, maxRunMs: 1000 });
    const hoarder = await sim({ run: never, capability: { cpu_slots: 1 } });
    const cancelled = hoarder.waitFor<Json>('cancel', () => true, 10_000);
    await post('capped', { module: { kind: 'builtin', permissions: { timeout_ms: 3_600_000 } } });
    await hoarder.assignmentOf('capped');
    const started = Date.now();
    expect(await cancelled).toMatchObject({ reason: 'RUN_TIME_EXCEEDED' });
    expect(Date.now() - started).toBeLessThan(3500);
  });
});

describe('capability events reach operators only, at a bounded rate', () => {
  function subscribe(key: string): { events: Json[] } {
    const ws = new WebSocket(`${c!.url.replace('http', 'ws')}/v1/events?key=${key}`);
    streams.push(ws);
    const out = { events: [] as Json[] };
    ws.on('message', (d: Buffer) => out.events.push(JSON.parse(d.toString())));
    return out;
  }
  const ADMIN = 'key-admin-0123456789';

  test('an admin key gets them, coalesced to one per worker per second; a tenant key none', async () => {
    c = await startTest({ adminKeys: new Map([[ADMIN, 'ops']]) });
    const admin = subscribe(ADMIN);
    const tenant = subscribe(KEY_A);
    await until(() => c!.coordinator.events.size === 2);
    const s = await sim();
    await until(() => admin.events.length === 1, 5000, 'the hello capability');
    for (let i = 1; i <= 20; i++) s.setCapability({ cpu_slots: i });
    await until(() => admin.events.length === 2, 5000, 'the coalesced capability');
    const last = admin.events[1];
    expect(last.topic).toBe('compute:capabilities:v1:update');
    expect(last.payload).toMatchObject({ worker_id: s.workerId, capability: { cpu_slots: 20 } });
    // A task event proves the tenant's stream is live and got no worker events.
    await post('seen');
    await until(() => tenant.events.some((e) => e.payload.task_id === 'seen'));
    expect(tenant.events.filter((e) => e.topic === 'compute:capabilities:v1:update')).toEqual([]);
    expect(admin.events.filter((e) => e.topic === 'compute:capabilities:v1:update')).toHaveLength(2);
  });
});

describe('identities that did nothing leave nothing behind', () => {
  function workerRows(): number {
    const db = new Database(`${c!.dataDir}/flock.db`, { readonly: true });
    const n = (db.prepare('SELECT COUNT(*) AS n FROM workers').get() as { n: number }).n;
    db.close();
    return n;
  }

  test('hello-and-leave connections are forgotten, memory and rows; a worker that ran a task stays', async () => {
    c = await startTest();
    const worker = await sim();
    await post('kept');
    await until(async () => (await view('kept')).state === 'succeeded');
    for (let i = 0; i < 20; i++) await (await sim()).close();
    await until(() => c!.coordinator.workers.size === 1, 5000, 'idle workers forgotten');
    await until(() => workerRows() === 1, 5000, 'idle rows removed');
    const { workers } = await (await c.api('/v1/workers')).json();
    expect(workers.map((w: Json) => w.worker_id)).toEqual([worker.workerId]);
  });

  test('GET /v1/workers says a worker is unchecked where the coordinator runs no spot checks', async () => {
    const standing = async () => {
      const { workers } = await (await c!.api('/v1/workers')).json();
      return workers.map((w: Json) => [w.vetted, w.unchecked]);
    };
    c = await startTest({ spotChecks: false });
    await sim();
    expect(await standing()).toEqual([[false, true]]);
    await c.stop();
    c = await startTest();
    await sim();
    expect(await standing()).toEqual([[false, false]]);
  });

  test('GET /v1/workers pages by worker id', async () => {
    c = await startTest();
    const all = await Promise.all(Array.from({ length: 5 }, () => sim()));
    const expected = all.map((s) => s.workerId).sort();
    const seen: string[] = [];
    let next: string | undefined;
    const pages: number[] = [];
    do {
      const q = next ? `&after=${encodeURIComponent(next)}` : '';
      const page = await (await c.api(`/v1/workers?limit=2${q}`)).json();
      pages.push(page.workers.length);
      seen.push(...page.workers.map((w: Json) => w.worker_id));
      next = page.next;
    } while (next);
    expect(pages).toEqual([2, 2, 1]);
    expect(seen).toEqual(expected);
    const bad = await c.api('/v1/workers?limit=0');
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'limit' });
  });
});

test('waiting_reason tells quarantined volunteers from absent ones', async () => {
  c = await startTest({ spotCheckRate: 0 });
  await post('early');
  expect((await view('early')).waiting_reason).toBe('no volunteers are connected');
  const liar = await sim({ lie: true });
  await post('checked', { verification: { replicas: 2 } });
  await until(async () => (await c!.coordinator.trust.standing(liar.workerId)).quarantined || undefined);
  await post('waits');
  await until(async () => /quarantined/.test((await view('waits')).waiting_reason ?? ''), 5000, 'reason');
  expect((await view('waits')).waiting_reason).toBe(
    'the connected volunteer is quarantined (failed a known-answer check)',
  );
});
