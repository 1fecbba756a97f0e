import { createHash } from 'node:crypto';
import { encodeMessage } from '@flock/protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { envelope, envelopeObj, KEY_A, KEY_B, startTest, type TestCoordinator } from './helpers.ts';

let c: TestCoordinator;
beforeAll(async () => {
  c = await startTest({ maxBodyBytes: 64 * 1024 });
});
afterAll(async () => {
  await c.stop();
});

async function errorOf(res: Response): Promise<{ status: number; code: string; field?: string }> {
  const body = (await res.json()) as { error: { code: string; field?: string } };
  const out: { status: number; code: string; field?: string } = { status: res.status, code: body.error.code };
  if (body.error.field !== undefined) out.field = body.error.field;
  return out;
}

describe('auth', () => {
  test('missing or unknown key: 401 UNAUTHENTICATED', async () => {
    expect(await errorOf(await c.api('/v1/tasks', { key: null }))).toEqual({
      status: 401,
      code: 'UNAUTHENTICATED',
    });
    expect(await errorOf(await c.api('/v1/tasks', { key: 'wrong-key-0123456789' }))).toEqual({
      status: 401,
      code: 'UNAUTHENTICATED',
    });
  });
});

describe('development key', () => {
  test('without FLOCK_API_KEYS one dev key is made, kept across restarts, and is the only key', async () => {
    const first = await startTest({ apiKeys: new Map() });
    const devKey = first.devKey!;
    expect(devKey).toMatch(/^flock_dev_[A-Za-z0-9_-]{24}$/);
    expect((await first.api('/v1/tasks', { key: devKey })).status).toBe(200);
    expect((await first.api('/v1/tasks', { key: KEY_A })).status).toBe(401);
    const dir = first.dataDir;
    await first.close();
    const again = await startTest({ apiKeys: new Map() }, dir);
    try {
      expect(again.devKey).toBe(devKey);
      expect((await again.api('/v1/tasks', { key: devKey })).status).toBe(200);
    } finally {
      await again.stop();
    }
    // Configured keys replace it.
    const configured = await startTest({}, dir);
    try {
      expect(configured.devKey).toBeUndefined();
      expect((await configured.api('/v1/tasks', { key: devKey })).status).toBe(401);
    } finally {
      await configured.stop();
    }
  });
});

describe('POST /v1/tasks', () => {
  test('an op no page runs is refused at submit: 400 UNKNOWN_OP / INVALID_PARAMS with the field', async () => {
    const post = (extra: Record<string, unknown>, id = 'op-check') =>
      c.api('/v1/tasks', { method: 'POST', json: envelope(id, extra) });
    // A misspelt built-in op (before, accepted and failed on a volunteer).
    expect(await errorOf(await post({ op: 'saxpi' }))).toEqual({
      status: 400,
      code: 'UNKNOWN_OP',
      field: 'op',
    });
    const library = (op: string, params: unknown, inputs = 1) => ({
      op,
      module: { kind: 'library' },
      params,
      inputs: Array.from({ length: inputs }, (_, i) => ({ name: `in-${i}.txt`, inline_json: '"x"' })),
    });
    expect(await errorOf(await post(library('photo.resize', {})))).toEqual({
      status: 400,
      code: 'UNKNOWN_OP',
      field: 'op',
    });
    expect(await errorOf(await post(library('crypto.hsh', {})))).toEqual({
      status: 400,
      code: 'UNKNOWN_OP',
      field: 'op',
    });
    expect(await errorOf(await post(library('crypto.hash', { algorithms: ['md5'] })))).toEqual({
      status: 400,
      code: 'INVALID_PARAMS',
      field: 'params.algorithms[0]',
    });
    expect(await errorOf(await post(library('crypto.hash', { algorithms: ['sha256'], widht: 3 })))).toEqual({
      status: 400,
      code: 'INVALID_PARAMS',
      field: 'params.widht',
    });
    expect(await errorOf(await post(library('crypto.hash', { algorithms: ['sha256'] }, 0)))).toEqual({
      status: 400,
      code: 'INVALID_ARGUMENT',
      field: 'inputs',
    });
    // In a campaign the field names the task.
    const campaign = await c.api('/v1/campaigns', {
      method: 'POST',
      json: { campaign_id: 'op-camp', tasks: [envelope('op-c-0'), envelope('op-c-1', { op: 'matmull' })] },
    });
    expect(await errorOf(campaign)).toEqual({ status: 400, code: 'UNKNOWN_OP', field: 'tasks[1].op' });
    // A valid call is accepted as submitted.
    const ok = await post(library('crypto.hash', { algorithms: ['sha256', 'blake3'] }), 'op-ok');
    expect(ok.status).toBe(201);
    expect(await ok.json()).toMatchObject({ op: 'crypto.hash', module_kind: 'library', state: 'queued' });
    // Cancelled, so the tests after this one see no queued task of theirs.
    expect((await c.api('/v1/tasks/op-ok', { method: 'DELETE' })).status).toBe(200);
  });

  test('bad JSON and invalid envelopes: 400 with the exact code and field', async () => {
    const post = (body: string, type = 'application/json') =>
      c.api('/v1/tasks', { method: 'POST', body, headers: { 'content-type': type } });
    expect(await errorOf(await post('{"task_id": '))).toMatchObject({ status: 400, code: 'INVALID_JSON' });
    expect(await errorOf(await post(JSON.stringify({ ...envelope('x'), op: undefined })))).toEqual({
      status: 400,
      code: 'MISSING_FIELD',
      field: 'op',
    });
    expect(await errorOf(await post(JSON.stringify(envelope('x', { colour: 'red' }))))).toMatchObject({
      status: 400,
      code: 'UNKNOWN_FIELD',
    });
    const twoBodies = envelope('x', { inputs: [{ name: 'a', inline_json: '1', uri: 'https://x/y' }] });
    expect(await errorOf(await post(JSON.stringify(twoBodies)))).toEqual({
      status: 400,
      code: 'BODY_NOT_EXCLUSIVE',
      field: 'inputs[0].uri',
    });
    const proto =
      '{"task_id":"x","op":"o","module":{"kind":"wasm"},"requirements":{"min":{}},"params":{"__proto__":{"a":1}}}';
    expect(await errorOf(await post(proto))).toMatchObject({ status: 400, code: 'FORBIDDEN_KEY' });
    expect(await errorOf(await post('{}', 'text/plain'))).toEqual({
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    });
    const big = JSON.stringify(envelope('x', { params: { pad: 'x'.repeat(70 * 1024) } }));
    expect(await errorOf(await post(big))).toEqual({ status: 413, code: 'BODY_TOO_LARGE' });
    expect((await (await c.api('/v1/tasks?state=queued')).json()).tasks).toEqual([]);
  });

  test('idempotent on task_id: 201, then 200 for the same content, 409 for other content', async () => {
    const first = await c.api('/v1/tasks', { method: 'POST', json: envelope('idem-1') });
    expect(first.status).toBe(201);
    const view = await first.json();
    expect(view).toMatchObject({
      task_id: 'idem-1',
      tenant: 'a',
      op: 'sum',
      module_kind: 'builtin',
      state: 'queued',
    });
    expect(view.waiting_reason).toBe('no volunteers are connected');
    expect(view.attempts).toEqual([]);
    expect(view.result_available).toBe(false);
    const again = await c.api('/v1/tasks', { method: 'POST', json: envelope('idem-1') });
    expect(again.status).toBe(200);
    expect((await again.json()).created_at_ms).toBe(view.created_at_ms);
    const other = await c.api('/v1/tasks', {
      method: 'POST',
      json: envelope('idem-1', { op: 'reduce_sum' }),
    });
    expect(await errorOf(other)).toEqual({ status: 409, code: 'CONFLICT', field: 'task_id' });
  });

  test('application/x-capnp bodies are the same task as their JSON view', async () => {
    const bytes = encodeMessage('ComputeEnvelope', envelopeObj('capnp-1'));
    const res = await c.api('/v1/tasks', {
      method: 'POST',
      body: bytes,
      headers: { 'content-type': 'application/x-capnp' },
    });
    expect(res.status).toBe(201);
    const json = await c.api('/v1/tasks', { method: 'POST', json: envelope('capnp-1') });
    expect(json.status).toBe(200);
    const garbage = await c.api('/v1/tasks', {
      method: 'POST',
      body: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]),
      headers: { 'content-type': 'application/x-capnp' },
    });
    expect((await errorOf(garbage)).status).toBe(400);
  });
});

describe('tenants', () => {
  test("another tenant's task is 404 for get, result, cancel; lists are per tenant", async () => {
    expect((await c.api('/v1/tasks', { method: 'POST', json: envelope('mine') })).status).toBe(201);
    for (const [path, method] of [
      ['/v1/tasks/mine', 'GET'],
      ['/v1/tasks/mine/result', 'GET'],
      ['/v1/tasks/mine', 'DELETE'],
    ] as const) {
      expect(await errorOf(await c.api(path, { method, key: KEY_B }))).toEqual({
        status: 404,
        code: 'NOT_FOUND',
      });
    }
    // B may use the same task id for its own, different task.
    expect(
      (await c.api('/v1/tasks', { method: 'POST', json: envelope('mine', { op: 'reduce_sum' }), key: KEY_B }))
        .status,
    ).toBe(201);
    const listB = await (await c.api('/v1/tasks', { key: KEY_B })).json();
    expect(listB.tasks.map((t: { op: string }) => t.op)).toEqual(['reduce_sum']);
  });
});

describe('task lifecycle over HTTP', () => {
  test('result of a queued task is 409 NOT_READY; cancel is 200 then 409 ALREADY_FINISHED', async () => {
    await c.api('/v1/tasks', { method: 'POST', json: envelope('cancel-me') });
    expect(await errorOf(await c.api('/v1/tasks/cancel-me/result'))).toEqual({
      status: 409,
      code: 'NOT_READY',
    });
    const cancelled = await c.api('/v1/tasks/cancel-me', { method: 'DELETE' });
    expect(cancelled.status).toBe(200);
    expect(await cancelled.json()).toMatchObject({ state: 'cancelled', failure: { code: 'CANCELLED' } });
    expect(await errorOf(await c.api('/v1/tasks/cancel-me', { method: 'DELETE' }))).toEqual({
      status: 409,
      code: 'ALREADY_FINISHED',
    });
    expect(await errorOf(await c.api('/v1/tasks/nope'))).toEqual({ status: 404, code: 'NOT_FOUND' });
    expect(await errorOf(await c.api('/v1/tasks/%E0%A4%A'))).toEqual({
      status: 400,
      code: 'INVALID_ARGUMENT',
      field: 'path',
    });
    expect(await errorOf(await c.api('/v1/nothing'))).toEqual({ status: 404, code: 'NOT_FOUND' });
    expect(await errorOf(await c.api('/v1/tasks', { method: 'PUT' }))).toEqual({
      status: 405,
      code: 'METHOD_NOT_ALLOWED',
    });
  });

  test('task ids with a slash work when percent-encoded', async () => {
    expect((await c.api('/v1/tasks', { method: 'POST', json: envelope('dir/t-1') })).status).toBe(201);
    expect((await (await c.api('/v1/tasks/dir%2Ft-1')).json()).task_id).toBe('dir/t-1');
  });

  test('list: filter by state, page with a cursor, bad limit is 400', async () => {
    for (let i = 0; i < 5; i++)
      await c.api('/v1/tasks', { method: 'POST', json: envelope(`page-${i}`, { campaign_id: 'pg' }) });
    const p1 = await (await c.api('/v1/tasks?campaign_id=pg&limit=3')).json();
    expect(p1.tasks.map((t: { task_id: string }) => t.task_id)).toEqual(['page-0', 'page-1', 'page-2']);
    const p2 = await (await c.api(`/v1/tasks?campaign_id=pg&limit=3&after=${p1.next}`)).json();
    expect(p2.tasks.map((t: { task_id: string }) => t.task_id)).toEqual(['page-3', 'page-4']);
    expect(p2.next).toBeUndefined();
    expect(await errorOf(await c.api('/v1/tasks?limit=0'))).toEqual({
      status: 400,
      code: 'INVALID_ARGUMENT',
      field: 'limit',
    });
    expect(await errorOf(await c.api('/v1/tasks?state=bogus'))).toEqual({
      status: 400,
      code: 'INVALID_ARGUMENT',
      field: 'state',
    });
  });

  test('campaigns: batch submit, counts, field paths of a bad task', async () => {
    const res = await c.api('/v1/campaigns', {
      method: 'POST',
      json: { campaign_id: 'camp-1', tasks: [envelope('c-1'), envelope('c-2'), envelope('c-3')] },
    });
    expect(res.status).toBe(201);
    const body = await res.json();
    expect(body.campaign_id).toBe('camp-1');
    expect(
      body.tasks.map((t: { task_id: string; campaign_id: string }) => [t.task_id, t.campaign_id]),
    ).toEqual([
      ['c-1', 'camp-1'],
      ['c-2', 'camp-1'],
      ['c-3', 'camp-1'],
    ]);
    await c.api('/v1/tasks/c-2', { method: 'DELETE' });
    const got = await (await c.api('/v1/campaigns/camp-1')).json();
    expect(got.counts).toEqual({ queued: 2, running: 0, succeeded: 0, failed: 0, cancelled: 1 });
    const bad = await c.api('/v1/campaigns', {
      method: 'POST',
      json: { tasks: [envelope('ok-1'), { task_id: 'x' }] },
    });
    expect(await errorOf(bad)).toEqual({ status: 400, code: 'MISSING_FIELD', field: 'tasks[1].op' });
    expect(await errorOf(await c.api('/v1/tasks/ok-1'))).toEqual({ status: 404, code: 'NOT_FOUND' });
    expect(await errorOf(await c.api('/v1/campaigns/camp-1', { key: KEY_B }))).toEqual({
      status: 404,
      code: 'NOT_FOUND',
    });
  });
});

describe('modules and blobs', () => {
  test('upload is content-addressed; download is immutable with CORP and needs no key', async () => {
    const wasm = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    const res = await c.api('/v1/modules', {
      method: 'POST',
      body: wasm,
      headers: { 'content-type': 'application/wasm' },
    });
    expect(res.status).toBe(201);
    const body = await res.json();
    const hash = `sha256:${createHash('sha256').update(wasm).digest('hex')}`;
    // metered_hash: the same module instrumented with fuel, which tabs run (module-meter.test.ts).
    expect(body).toEqual({
      hash,
      size: 8,
      uri: `flock:${hash}`,
      metered_hash: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
    });
    expect(body.metered_hash).not.toBe(hash);
    const dl = await fetch(`${c.url}/v1/modules/${body.hash}`);
    expect(dl.status).toBe(200);
    expect(new Uint8Array(await dl.arrayBuffer())).toEqual(wasm);
    expect(dl.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(dl.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
    expect(dl.headers.get('content-type')).toBe('application/wasm');
    const wrongType = await c.api('/v1/modules', {
      method: 'POST',
      body: wasm,
      headers: { 'content-type': 'text/plain' },
    });
    expect(await errorOf(wrongType)).toEqual({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
    const notWasm = await c.api('/v1/modules', {
      method: 'POST',
      body: 'hello',
      headers: { 'content-type': 'application/wasm' },
    });
    expect(await errorOf(notWasm)).toEqual({ status: 400, code: 'INVALID_ARGUMENT', field: 'body' });
    expect((await fetch(`${c.url}/v1/modules/sha256:${'0'.repeat(64)}`)).status).toBe(404);
    expect(await errorOf(await c.api(`/v1/blobs/${body.hash}`, { key: KEY_B }))).toEqual({
      status: 404,
      code: 'NOT_FOUND',
    });
    // Tasks may name uploaded modules by flock: uri; unknown ones are refused up front.
    const missing = `flock:sha256:${'ab'.repeat(32)}`;
    const refused = await c.api('/v1/tasks', {
      method: 'POST',
      json: envelope('mod-missing', { module: { kind: 'wasm', uri: missing, hash: missing.slice(6) } }),
    });
    expect(await errorOf(refused)).toEqual({ status: 400, code: 'INVALID_ARGUMENT', field: 'module.uri' });
    const ok = await c.api('/v1/tasks', {
      method: 'POST',
      json: envelope('mod-ok', { module: { kind: 'wasm', uri: body.uri, hash: body.hash } }),
    });
    expect(ok.status).toBe(201);
  });
});

describe('service endpoints', () => {
  test('healthz, metrics, stats, workers, pages with isolation headers', async () => {
    expect(await (await c.api('/healthz', { key: null })).json()).toEqual({ status: 'ok' });
    const metrics = await (await fetch(`${c.url}/metrics`)).text();
    expect(metrics).toMatch(/flock_tasks\{state="queued"\} \d+/);
    expect(metrics).toContain('flock_assignment_latency_seconds_bucket');
    expect(metrics).toContain('flock_queue_depth');
    const stats = await (await c.api('/v1/stats')).json();
    expect(Object.keys(stats).sort()).toEqual([
      'latency_ms',
      'ops',
      'queue_depth',
      'queued_in_store',
      'running',
      'slo',
      'throughput_per_min',
      'workers',
    ]);
    expect(stats.slo).toEqual({ p95_ms: 0, success: 0.99, window_ms: 300_000 });
    expect(await (await c.api('/v1/workers')).json()).toEqual({ workers: [] });
    for (const path of ['/', '/dashboard/']) {
      const page = await fetch(`${c.url}${path}`);
      expect(page.status).toBe(200);
      expect(page.headers.get('cross-origin-opener-policy')).toBe('same-origin');
      expect(page.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
      expect(page.headers.get('cross-origin-resource-policy')).toBe('same-origin');
      expect(await page.text()).toContain('not built yet');
    }
    expect((await fetch(`${c.url}/../../etc/passwd`)).status).toBe(404);
  });
});

describe('/v1/events', () => {
  test('needs a key; streams this tenant’s events for the filtered task only', async () => {
    const denied = new WebSocket(`${c.url.replace('http', 'ws')}/v1/events`);
    const status = await new Promise<number>((resolve) =>
      denied.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)),
    );
    expect(status).toBe(401);
    const ws = new WebSocket(`${c.url.replace('http', 'ws')}/v1/events?key=${KEY_A}&task_id=ev-1`);
    await new Promise((resolve) => ws.on('open', resolve));
    const got: Array<Record<string, unknown>> = [];
    ws.on('message', (data) => got.push(JSON.parse(String(data))));
    await c.api('/v1/tasks', { method: 'POST', json: envelope('ev-0') });
    await c.api('/v1/tasks', { method: 'POST', json: envelope('ev-1', { campaign_id: 'evc' }) });
    await c.api('/v1/tasks', { method: 'POST', json: envelope('ev-1'), key: KEY_B });
    await c.api('/v1/tasks/ev-1', { method: 'DELETE' });
    await expect.poll(() => got.length).toBe(2);
    // Bus envelopes (#19): the task's facts in the payload, its message in payload.data.
    const payloads = got.map((e) => e.payload as Record<string, unknown>);
    expect(
      got.map((e, i) => [e.topic, payloads[i]!.task_id, payloads[i]!.state, payloads[i]!.campaign_id]),
    ).toEqual([
      ['compute:dispatch:v1:requested', 'ev-1', 'queued', 'evc'],
      ['compute:dispatch:v1:cancelled', 'ev-1', 'cancelled', 'evc'],
    ]);
    expect((payloads[0]!.data as { task_id: string }).task_id).toBe('ev-1');
    ws.close();
  });
});
