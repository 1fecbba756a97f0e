// Per-tenant limits at the REST edge: a token bucket of submissions (429 RATE_LIMITED with
// Retry-After) and a quota of queued tasks (429 QUOTA_EXCEEDED, Retry-After: 5); one tenant at
// its limit never refuses another's submissions.
import { afterEach, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../src/config.ts';
import { TokenBucket } from '../src/edge/tenant-limits.ts';
import { type SimRunner, SimulatedVolunteer, sumRunner } from '../src/sim/simulated-volunteer.ts';
import { envelope, type Json, KEY_B, startTest, type TestCoordinator } from './helpers.ts';

let c: TestCoordinator | undefined;
let volunteer: SimulatedVolunteer | undefined;
afterEach(async () => {
  await volunteer?.close();
  volunteer = undefined;
  await c?.stop();
  c = undefined;
});

async function post(path: string, body: unknown, key?: string) {
  const res = await c!.api(path, { method: 'POST', json: body, ...(key ? { key } : {}) });
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    code: ((await res.json()) as Json).error?.code as string | undefined,
  };
}

describe('TokenBucket', () => {
  test('spends its burst, then says how long until the next token, refilling at the rate', () => {
    const bucket = new TokenBucket(4, 2, 0);
    expect([bucket.take(0), bucket.take(0)]).toEqual([0, 0]);
    expect(bucket.take(0)).toBe(250);
    expect(bucket.take(100)).toBeCloseTo(150, 9);
    expect(bucket.take(250)).toBe(0);
    // Refills up to the burst only.
    expect(bucket.fullAt(10_000)).toBe(true);
    expect([bucket.take(10_000), bucket.take(10_000), bucket.take(10_000)]).toEqual([0, 0, 250]);
  });
});

describe('FLOCK_TENANT_SUBMIT_RATE', () => {
  test('past the burst a tenant gets 429 RATE_LIMITED with Retry-After; another tenant does not', async () => {
    // One token every 100 s: the fourth submission, well within that, waits ~100 s for the next.
    c = await startTest({ tenantSubmitRate: 0.01, tenantSubmitBurst: 3 });
    for (const id of ['r1', 'r2', 'r3']) expect((await post('/v1/tasks', envelope(id))).status).toBe(201);
    expect(await post('/v1/tasks', envelope('r4'))).toEqual({
      status: 429,
      retryAfter: '100',
      code: 'RATE_LIMITED',
    });
    // A campaign is one submission, and is refused alike; nothing of it is stored.
    expect(await post('/v1/campaigns', { campaign_id: 'c', tasks: [envelope('c0')] })).toEqual({
      status: 429,
      retryAfter: '100',
      code: 'RATE_LIMITED',
    });
    expect((await c.api('/v1/tasks/c0')).status).toBe(404);
    expect((await c.api('/v1/tasks/r4')).status).toBe(404);
    // Reading is not a submission.
    expect((await c.api('/v1/tasks')).status).toBe(200);
    expect((await post('/v1/tasks', envelope('b1'), KEY_B)).status).toBe(201);
    const metrics = await (await fetch(`${c.url}/metrics`)).text();
    expect(metrics).toContain('flock_errors_total{code="RATE_LIMITED"} 2');
  });
});

describe('FLOCK_TENANT_MAX_QUEUED', () => {
  test('a submission that would pass the quota is 429 QUOTA_EXCEEDED whole; a cancel frees room', async () => {
    c = await startTest({ tenantMaxQueued: 3 });
    expect((await post('/v1/tasks', envelope('q1'))).status).toBe(201);
    expect(
      (await post('/v1/campaigns', { campaign_id: 'c1', tasks: [envelope('q2'), envelope('q3')] })).status,
    ).toBe(201);
    expect(await post('/v1/tasks', envelope('q4'))).toEqual({
      status: 429,
      retryAfter: '5',
      code: 'QUOTA_EXCEEDED',
    });
    expect((await c.api('/v1/tasks/q4')).status).toBe(404);
    expect((await post('/v1/tasks', envelope('b1'), KEY_B)).status).toBe(201);
    expect((await c.api('/v1/tasks/q1', { method: 'DELETE' })).status).toBe(200);
    expect(
      await post('/v1/campaigns', { campaign_id: 'c2', tasks: [envelope('q5'), envelope('q6')] }),
    ).toEqual({
      status: 429,
      retryAfter: '5',
      code: 'QUOTA_EXCEEDED',
    });
    expect((await c.api('/v1/tasks/q5')).status).toBe(404);
    expect((await post('/v1/tasks', envelope('q4'))).status).toBe(201);
  });
});

describe('FLOCK_TENANT_MAX_RUNNING', () => {
  /**
   * Simulated work: a flood task holds its slot 1 s, any other task 100 ms (long enough that the
   * scheduling noise of a shared machine stays well inside the 2x bound).
   */
  const timed: SimRunner = async (job) => {
    const ms = job.assignment.task_id?.startsWith('flood-') ? 1000 : 100;
    await new Promise((resolve) => setTimeout(resolve, ms));
    return sumRunner(job);
  };

  /** Submits `n` tasks of tenant b one after another; each one's ms from submit to `succeeded`. */
  async function latencies(prefix: string, n: number): Promise<number[]> {
    const ws = new WebSocket(`${c!.url.replace('http', 'ws')}/v1/events?key=${KEY_B}`);
    const done = new Map<string, () => void>();
    ws.on('message', (data) => {
      const event = JSON.parse(String(data)) as { payload: { task_id?: string; state?: string } };
      if (event.payload.state === 'succeeded') done.get(event.payload.task_id ?? '')?.();
    });
    await new Promise((resolve) => ws.once('open', resolve));
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const id = `${prefix}-${i}`;
      const succeeded = new Promise<void>((resolve) => done.set(id, resolve));
      const start = performance.now();
      expect((await post('/v1/tasks', envelope(id), KEY_B)).status).toBe(201);
      await succeeded;
      out.push(performance.now() - start);
    }
    ws.close();
    return out;
  }

  test('one tenant floods: another tenant’s p99 stays within 2x of its unloaded value', async () => {
    c = await startTest({ tenantMaxRunning: 2 });
    volunteer = await SimulatedVolunteer.connect({ url: c.url, run: timed, capability: { cpu_slots: 4 } });
    const unloaded = await latencies('calm', 20);
    const flood = Array.from({ length: 200 }, (_, i) => envelope(`flood-${i}`));
    expect((await post('/v1/campaigns', { campaign_id: 'flood', tasks: flood })).status).toBe(201);
    const loaded = await latencies('busy', 20);
    // The flood was on the whole time: two of its tasks running (its cap), the rest queued.
    const running = await (await c.api('/v1/tasks?state=running')).json();
    expect((running as Json).tasks.map((t: Json) => t.task_id.slice(0, 6))).toEqual(['flood-', 'flood-']);
    const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.ceil(xs.length * 0.99) - 1]!;
    console.log(
      `flood: tenant b p99 ${p99(unloaded).toFixed(1)} ms unloaded, ${p99(loaded).toFixed(1)} ms loaded`,
    );
    expect(p99(loaded)).toBeLessThanOrEqual(2 * p99(unloaded));
  }, 30_000);
});

describe('FLOCK_TENANT_MAX_STORED_BYTES', () => {
  test('an upload that would pass the quota is 429 QUOTA_EXCEEDED and stores nothing', async () => {
    c = await startTest({ tenantMaxStoredBytes: 100 });
    const upload = async (bytes: number, key?: string) => {
      const res = await c!.api('/v1/blobs', {
        method: 'POST',
        body: new Uint8Array(bytes).fill(bytes),
        headers: { 'content-type': 'application/octet-stream' },
        ...(key ? { key } : {}),
      });
      const body = (await res.json()) as Json;
      return {
        status: res.status,
        retryAfter: res.headers.get('retry-after'),
        code: body.error?.code,
        hash: body.hash,
      };
    };
    expect((await upload(60)).status).toBe(201);
    expect((await upload(40)).status).toBe(201);
    const refused = await upload(1);
    expect(refused).toEqual({ status: 429, retryAfter: null, code: 'QUOTA_EXCEEDED', hash: undefined });
    expect(await c.store.storedBytes('a')).toBe(100);
    // Modules count too; another tenant has its own quota.
    const wasm = await c.api('/v1/modules', {
      method: 'POST',
      body: new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]),
      headers: { 'content-type': 'application/wasm' },
    });
    expect(wasm.status).toBe(429);
    expect((await upload(100, KEY_B)).status).toBe(201);
  });
});

describe('settings', () => {
  test('read from the environment; off by default; bad values name the variable', () => {
    expect(loadConfig({})).toMatchObject({
      tenantSubmitRate: 0,
      tenantSubmitBurst: 20,
      tenantMaxQueued: 0,
      tenantMaxRunning: 0,
      tenantMaxStoredBytes: 0,
    });
    expect(
      loadConfig({
        FLOCK_TENANT_SUBMIT_RATE: '0.5',
        FLOCK_TENANT_SUBMIT_BURST: '100',
        FLOCK_TENANT_MAX_QUEUED: '10000',
        FLOCK_TENANT_MAX_RUNNING: '4',
      }),
    ).toMatchObject({
      tenantSubmitRate: 0.5,
      tenantSubmitBurst: 100,
      tenantMaxQueued: 10_000,
      tenantMaxRunning: 4,
    });
    for (const [variable, value] of [
      ['FLOCK_TENANT_SUBMIT_RATE', '-1'],
      ['FLOCK_TENANT_MAX_QUEUED', 'lots'],
      ['FLOCK_TENANT_MAX_QUEUED', '1.5'],
      ['FLOCK_TENANT_MAX_RUNNING', '-2'],
      ['FLOCK_TENANT_SUBMIT_BURST', '2000000'],
    ] as const) {
      expect(() => loadConfig({ [variable]: value })).toThrow(
        expect.objectContaining({ code: 'CONFIG_INVALID', field: variable }),
      );
    }
    // 1.5 is a non-negative number: the message said that was what it wanted.
    expect(() => loadConfig({ FLOCK_TENANT_MAX_QUEUED: '1.5' })).toThrow(
      'FLOCK_TENANT_MAX_QUEUED must be a non-negative integer, got "1.5"',
    );
    expect(() => loadConfig({ FLOCK_TENANT_SUBMIT_RATE: '-1' })).toThrow(
      'FLOCK_TENANT_SUBMIT_RATE must be a non-negative number, got "-1"',
    );
  });
});
