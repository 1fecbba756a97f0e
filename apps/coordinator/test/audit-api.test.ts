// GET /v1/audit against a real coordinator on each store (SQLite file, real PostgreSQL): the exact
// rows of a task run by a real WebSocket volunteer with a browser's User-Agent (transitions in
// order, hashes equal to SHA-256s computed here, the worker's fingerprint), tenant scoping, the
// operator's view, pagination, bad parameters and the read scope.
import { createHash } from 'node:crypto';
import { canonicalJson, EVENTS } from '@flock/protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import { envelope, KEY_B, startTest, type TestCoordinator, taskState, until } from './helpers.ts';
import { coordinatorStores } from './support/postgres.ts';

const ADMIN = 'key-admin-0123456789';
const UA =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.85 Safari/537.36';
const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The input hash as documented: SHA-256 of the canonical JSON of the envelope as stored. */
function inputHash(submitted: Record<string, unknown>, traceId: string | null): string {
  const stored = traceId === null ? submitted : { ...submitted, correlation_id: traceId };
  return `sha256:${sha(canonicalJson(stored))}`;
}

const STORES = coordinatorStores();

describe.each(STORES)('GET /v1/audit on %s', (_name, makeStore) => {
  let c: TestCoordinator;
  let sim: SimulatedVolunteer;
  const a1 = envelope('audit-a1');
  const b1 = envelope('audit-b1', {
    inputs: [{ name: 'x', inline_bytes: Buffer.from([5, 6]).toString('base64') }],
  });

  beforeAll(async () => {
    const store = await makeStore();
    c = await startTest({ adminKeys: new Map([[ADMIN, 'ops']]) }, undefined, store ? { store } : {});
    sim = await SimulatedVolunteer.connect({
      url: c.url,
      headers: { 'User-Agent': UA },
      capability: {
        webgpu: true,
        gpu: {
          backend: 'webgpu',
          vendor: 'google',
          architecture: 'swiftshader',
          device: 'dev-1',
          description: 'SwiftShader Device',
        },
        labels: { browser: 'flock-sim', driver: 'swiftshader 5.0', network: '4g' },
      },
    });
    expect((await c.api('/v1/tasks', { method: 'POST', json: a1 })).status).toBe(201);
    expect((await c.api('/v1/tasks', { method: 'POST', json: b1, key: KEY_B })).status).toBe(201);
    await until(async () => (await taskState(c, 'audit-a1')) === 'succeeded', 10_000, 'a1');
    await until(async () => (await taskState(c, 'audit-b1', KEY_B)) === 'succeeded', 10_000, 'b1');
  });
  afterAll(async () => {
    await sim?.close();
    await c?.stop();
  });

  test("a task's rows: each transition in order, its hashes, attempt, worker fingerprint and trace id", async () => {
    const res = await c.api('/v1/audit?task_id=audit-a1');
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.next).toBeUndefined();
    const rows = body.entries;
    expect(
      rows.map((r: { from: string | null; to: string; topic: string }) => [r.from, r.to, r.topic]),
    ).toEqual([
      [null, 'queued', EVENTS.requested],
      ['queued', 'running', EVENTS.accepted],
      ['running', 'succeeded', EVENTS.success],
    ]);
    // Every new task has a trace id (minted here: a2 below carries the caller's).
    const traceId = rows[0].trace_id;
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    const input = inputHash(a1, traceId);
    const fingerprint = {
      id: sim.workerId,
      user_agent: UA,
      browser: 'Chrome 131.0.6778.85',
      os: 'Linux',
      adapter: {
        vendor: 'google',
        architecture: 'swiftshader',
        device: 'dev-1',
        description: 'SwiftShader Device',
      },
      driver: 'swiftshader 5.0',
      network: '4g',
      labels: { browser: 'flock-sim', driver: 'swiftshader 5.0', network: '4g' },
    };
    // The sum of bytes 1..4 is the inline JSON output "10", named "sum".
    const output = `sha256:${sha(`3:sum=sha256:${sha('10')}\n`)}`;
    const leaseId = rows[1].lease_id;
    expect(leaseId).toMatch(/\S/);
    expect(rows).toEqual([
      {
        tenant: 'a',
        task_id: 'audit-a1',
        campaign_id: null,
        trace_id: traceId,
        from: null,
        to: 'queued',
        topic: EVENTS.requested,
        code: null,
        ts: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        lease_id: null,
        attempt: null,
        input_hash: input,
        output_hash: null,
        worker: null,
      },
      expect.objectContaining({ lease_id: leaseId, attempt: 1, output_hash: null, worker: fingerprint }),
      expect.objectContaining({
        lease_id: leaseId,
        attempt: 1,
        input_hash: input,
        output_hash: output,
        worker: fingerprint,
      }),
    ]);
    expect(Date.parse(rows[2].ts)).toBeGreaterThanOrEqual(Date.parse(rows[0].ts));
    // The result served for the task hashes to the same output hash.
    const result = await (await c.api('/v1/tasks/audit-a1/result')).json();
    expect(result.outputs).toEqual([{ name: 'sum', content_type: 'application/json', inline_json: '10' }]);
  });

  test("a key reads its own tenant's rows only; an operator key reads every tenant or the one it names", async () => {
    const own = await (await c.api('/v1/audit', { key: KEY_B })).json();
    expect(own.entries.map((r: { tenant: string; task_id: string }) => `${r.tenant}/${r.task_id}`)).toEqual([
      'b/audit-b1',
      'b/audit-b1',
      'b/audit-b1',
    ]);
    expect(own.entries[0].input_hash).toBe(inputHash(b1, own.entries[0].trace_id));
    // Another tenant's task is no task of this key's, as GET /v1/tasks/:id answers it.
    const foreign = await c.api('/v1/audit?task_id=audit-a1', { key: KEY_B });
    expect(foreign.status).toBe(404);
    expect(await foreign.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'no task "audit-a1"' } });
    const other = await c.api('/v1/audit?tenant=a', { key: KEY_B });
    expect(other.status).toBe(403);
    expect((await other.json()).error).toMatchObject({ code: 'FORBIDDEN', field: 'tenant' });

    const all = await (await c.api('/v1/audit', { key: ADMIN })).json();
    expect(all.entries.map((r: { tenant: string }) => r.tenant).sort()).toEqual([
      'a',
      'a',
      'a',
      'b',
      'b',
      'b',
    ]);
    const ids = all.entries.map((r: { ts: string; tenant: string; to: string }) => `${r.tenant}:${r.to}`);
    // Each tenant's rows keep their order within the log.
    expect(ids.filter((s: string) => s.startsWith('a:'))).toEqual(['a:queued', 'a:running', 'a:succeeded']);
    const named = await (await c.api('/v1/audit?tenant=b', { key: ADMIN })).json();
    expect(named.entries).toEqual(own.entries);
  });

  test('pages follow the cursor; since= bounds the time', async () => {
    const first = await (await c.api('/v1/audit?limit=2')).json();
    expect(first.entries.map((r: { to: string }) => r.to)).toEqual(['queued', 'running']);
    expect(typeof first.next).toBe('string');
    const second = await (await c.api(`/v1/audit?limit=2&after=${first.next}`)).json();
    expect(second.entries.map((r: { to: string }) => r.to)).toEqual(['succeeded']);
    expect(second.next).toBeUndefined();
    const whole = await (await c.api('/v1/audit')).json();
    expect([...first.entries, ...second.entries]).toEqual(whole.entries);

    const last = whole.entries[2].ts as string;
    const since = await (await c.api(`/v1/audit?since=${encodeURIComponent(last)}`)).json();
    expect(since.entries.map((r: { to: string }) => r.to)).toEqual(
      whole.entries.filter((r: { ts: string }) => r.ts >= last).map((r: { to: string }) => r.to),
    );
    const future = await (await c.api(`/v1/audit?since=${Date.now() + 60_000}`)).json();
    expect(future.entries).toEqual([]);
  });

  test("an unknown task is 404 NOT_FOUND; a known task's page past its rows is an empty list", async () => {
    for (const key of [undefined, ADMIN]) {
      const res = await c.api('/v1/audit?task_id=audit-none', key === undefined ? {} : { key });
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'no task "audit-none"' } });
    }
    const named = await c.api('/v1/audit?task_id=audit-b1&tenant=a', { key: ADMIN });
    expect(named.status).toBe(404);
    const rows = (await (await c.api('/v1/audit?task_id=audit-a1')).json()).entries;
    expect(rows).toHaveLength(3);
    const future = await c.api(`/v1/audit?task_id=audit-a1&since=${Date.now() + 60_000}`);
    expect(future.status).toBe(200);
    expect(await future.json()).toEqual({ entries: [] });
    const first = await (await c.api('/v1/audit?task_id=audit-a1&limit=3')).json();
    const past = await c.api(`/v1/audit?task_id=audit-a1&after=${first.next}`);
    expect(past.status).toBe(200);
    expect(await past.json()).toEqual({ entries: [] });
  });

  test('bad parameters are 400 naming the field; a key without read is 403', async () => {
    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=x', 'limit'],
      ['since=yesterday', 'since'],
      ['after=%21%21', 'after'],
      ['task_id=%20x', 'task_id'],
      ['campaign_id=', 'campaign_id'],
      ['tenant=a%20b', 'tenant'],
      ['state=queued', 'state'],
    ]) {
      const res = await c.api(`/v1/audit?${query}`);
      expect(res.status, query).toBe(400);
      expect((await res.json()).error, query).toMatchObject({ code: 'INVALID_ARGUMENT', field });
    }
    const made = await c.api('/v1/keys', {
      method: 'POST',
      key: ADMIN,
      json: { tenant: 'a', scopes: ['submit'] },
    });
    expect(made.status).toBe(201);
    const submitOnly = (await made.json()).key as string;
    const res = await c.api('/v1/audit', { key: submitOnly });
    expect(res.status).toBe(403);
    expect((await res.json()).error).toMatchObject({
      code: 'FORBIDDEN',
      message: 'this key lacks the scope read',
    });
    expect((await c.api('/v1/audit', { key: null })).status).toBe(401);
  });

  // Last: it adds tasks to tenant a, whose rows the tests above count.
  test("a submission's traceparent is its task's trace id on every audit row; correlation_id wins", async () => {
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const headers = { traceparent: `00-${trace}-00f067aa0ba902b7-01` };
    const traced = envelope('audit-a2', { inputs: [] });
    expect((await c.api('/v1/tasks', { method: 'POST', json: traced, headers })).status).toBe(201);
    const own = envelope('audit-a3', { inputs: [], correlation_id: 'req-42' });
    expect((await c.api('/v1/tasks', { method: 'POST', json: own, headers })).status).toBe(201);
    const a2 = (await (await c.api('/v1/audit?task_id=audit-a2')).json()).entries;
    expect(a2[0]).toMatchObject({ trace_id: trace, input_hash: inputHash(traced, trace) });
    expect(new Set(a2.map((r: { trace_id: string }) => r.trace_id))).toEqual(new Set([trace]));
    const a3 = (await (await c.api('/v1/audit?task_id=audit-a3')).json()).entries;
    expect(a3[0]).toMatchObject({ trace_id: 'req-42', input_hash: inputHash(own, 'req-42') });
  });
});
