// Tracing (#19): a submission's W3C traceparent (or its envelope's correlation_id) is the task's
// trace id, minted when absent, and it reaches the assignment frame a real WebSocket volunteer
// receives, the frames the volunteer sends back, /v1/events, the stored result and the JSON log.
import { Writable } from 'node:stream';
import {
  campaignTraceId,
  decodeFrame,
  encodeFrame,
  type Frame,
  fromJson,
  makeFrame,
  newSpanId,
  submitSpanId,
} from '@flock/protocol';
import { afterEach, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { assignmentFrameBytes } from '../src/engine/deliverable.ts';
import { SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import { envelope, type Json, KEY_A, startTest, type TestCoordinator, until } from './helpers.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;

let c: TestCoordinator | undefined;
const sims: SimulatedVolunteer[] = [];
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.close();
  await Promise.all(sims.splice(0).map((s) => s.close()));
  await c?.stop();
  c = undefined;
});

/** A coordinator whose JSON log lines (debug level) are kept in `lines`. */
async function startLogged(
  overrides: Parameters<typeof startTest>[0] = {},
): Promise<{ c: TestCoordinator; lines: Json[] }> {
  const lines: Json[] = [];
  const logStream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  const started = await startTest({ logLevel: 'debug', ...overrides }, undefined, { logStream });
  return { c: started, lines };
}

async function submit(body: unknown, headers: Record<string, string> = {}, path = '/v1/tasks') {
  const res = await c!.api(path, { method: 'POST', json: body, headers });
  return {
    status: res.status,
    traceparent: res.headers.get('traceparent'),
    body: (await res.json()) as Json,
  };
}

/** Opens /v1/events (`query` appended) and collects its messages. */
async function events(query = ''): Promise<Json[]> {
  const got: Json[] = [];
  const ws = new WebSocket(`${c!.url.replace('http', 'ws')}/v1/events?key=${KEY_A}${query}`);
  sockets.push(ws);
  ws.on('message', (data) => got.push(JSON.parse(String(data))));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return got;
}

/** A volunteer that keeps every frame it receives (after its welcome) and sends. */
async function volunteer(): Promise<{ received: Frame[]; sent: Frame[] }> {
  const s = await SimulatedVolunteer.connect({ url: c!.url });
  sims.push(s);
  const received: Frame[] = [];
  const sent: Frame[] = [];
  s.on('frame-bytes', (data: Buffer) => {
    received.push(decodeFrame(new Uint8Array(data), { maxFrameBytes: 64 << 20 }));
  });
  s.on('frame-out', (frame: Frame) => sent.push(frame));
  return { received, sent };
}

const succeeded = (id: string) => async () =>
  (await (await c!.api(`/v1/tasks/${id}`)).json()).state === 'succeeded';

describe('a traceparent sent at submit', () => {
  test('reaches the assignment frame, the result frame, /v1/events, the stored result and the log', async () => {
    const started = await startLogged();
    c = started.c;
    const seen = await events('&task_id=t1');
    const tab = await volunteer();
    const sub = await submit(envelope('t1'), { traceparent: `00-${TRACE}-${PARENT}-01` });
    expect(sub.status).toBe(201);
    const span = submitSpanId(TRACE, 't1');
    expect(sub.traceparent).toBe(`00-${TRACE}-${span}-01`);
    await until(succeeded('t1'));

    // The assignment frame the volunteer received over its WebSocket.
    const assignment = tab.received.find((f) => f.payload && 'assignment' in f.payload)!;
    expect(assignment.trace?.correlation_id).toBe(TRACE);
    expect(assignment.trace?.parent_id).toBe(span);
    expect(assignment.trace?.span_id).toMatch(HEX16);
    expect(assignment.metadata).toEqual({ tenant: 'a' });
    const leaseSpan = assignment.trace!.span_id!;
    const envelopeSent = (assignment.payload as { assignment: { envelope: Json } }).assignment.envelope;
    expect(envelopeSent.correlation_id).toBe(TRACE);

    // The result frame it sent back echoes the trace and metadata.
    const result = tab.sent.find((f) => f.payload && 'result' in f.payload)!;
    expect(result.trace).toEqual(assignment.trace);
    expect(result.metadata).toEqual({ tenant: 'a' });

    // /v1/events: bus envelopes with the trace; the lease's events carry its span.
    await until(async () => seen.some((m) => m.topic === 'compute:dispatch:v1:success'));
    expect(seen.map((m) => m.topic)).toEqual([
      'compute:dispatch:v1:requested',
      'compute:dispatch:v1:accepted',
      'compute:dispatch:v1:success',
    ]);
    for (const m of seen) expect(m.trace.correlation_id).toBe(TRACE);
    expect(seen[0]!.trace).toEqual({ correlation_id: TRACE, span_id: span });
    expect(seen[1]!.trace).toEqual({ correlation_id: TRACE, span_id: leaseSpan, parent_id: span });
    expect(seen[2]!.payload.data.correlation_id).toBe(TRACE);

    // The stored result the requester reads.
    const stored = await (await c.api('/v1/tasks/t1/result')).json();
    expect([stored.task_id, stored.correlation_id]).toEqual(['t1', TRACE]);
    // The task view names it too (read off the stored envelope).
    expect((await (await c.api('/v1/tasks/t1')).json()).correlation_id).toBe(TRACE);

    // The JSON log: each transition at debug level, with the trace id.
    const logged = started.lines.filter((l) => l.msg === 'task transition' && l.task === 't1');
    expect(logged.map((l) => [l.state, l.trace_id])).toEqual([
      ['queued', TRACE],
      ['running', TRACE],
      ['succeeded', TRACE],
    ]);
    expect(logged[1]!.span_id).toBe(leaseSpan);
  });

  test('a campaign under one traceparent: its tasks share the trace; the answer names it', async () => {
    c = await startTest();
    const tab = await volunteer();
    const sub = await submit(
      { campaign_id: 'camp', tasks: [envelope('c1'), envelope('c2')] },
      { traceparent: `00-${TRACE}-${PARENT}-00` },
      '/v1/campaigns',
    );
    expect(sub.status).toBe(201);
    expect(sub.traceparent).toBe(`00-${TRACE}-${submitSpanId(TRACE, 'camp')}-00`);
    await until(succeeded('c1'));
    await until(succeeded('c2'));
    const assignments = tab.received.filter((f) => f.payload && 'assignment' in f.payload);
    expect(assignments.map((f) => [f.trace?.correlation_id, f.metadata])).toEqual([
      [TRACE, { tenant: 'a', campaign_id: 'camp' }],
      [TRACE, { tenant: 'a', campaign_id: 'camp' }],
    ]);
    for (const id of ['c1', 'c2'])
      expect((await (await c.api(`/v1/tasks/${id}/result`)).json()).correlation_id).toBe(TRACE);
  });
});

describe('without a traceparent', () => {
  test("a campaign's tasks share its own trace, derived from tenant and campaign id, however sent", async () => {
    c = await startTest();
    const tab = await volunteer();
    const sub = await submit(
      { campaign_id: 'cm', tasks: [envelope('cm1'), envelope('cm2')] },
      {},
      '/v1/campaigns',
    );
    expect(sub.status).toBe(201);
    const traceId = campaignTraceId('a', 'cm');
    expect(sub.traceparent).toBe(`00-${traceId}-${submitSpanId(traceId, 'cm')}-01`);
    // A task of the same campaign sent alone joins the same trace.
    const alone = await submit(envelope('cm3', { campaign_id: 'cm' }));
    expect(alone.traceparent).toBe(`00-${traceId}-${submitSpanId(traceId, 'cm3')}-01`);
    for (const id of ['cm1', 'cm2', 'cm3']) await until(succeeded(id));
    const traces = tab.received
      .filter((f) => f.payload && 'assignment' in f.payload)
      .map((f) => f.trace?.correlation_id);
    expect(traces).toEqual([traceId, traceId, traceId]);
    // Another tenant's campaign of the same name is another trace.
    expect(campaignTraceId('b', 'cm')).not.toBe(traceId);
  });

  test('a trace id is minted per task; the answer names it; the same task sent again keeps it (200)', async () => {
    c = await startTest();
    const first = await submit(envelope('m1'));
    const other = await submit(envelope('m2'));
    expect([first.status, other.status]).toEqual([201, 201]);
    const [, traceId, span, flags] = first.traceparent!.split('-');
    expect(traceId).toMatch(HEX32);
    expect([span, flags]).toEqual([submitSpanId(traceId!, 'm1'), '01']);
    expect(other.traceparent!.split('-')[1]).not.toBe(traceId);
    // Idempotent: the trace filled in is no part of the content, whatever traceparent comes now.
    const again = await submit(envelope('m1'), { traceparent: `00-${TRACE}-${PARENT}-01` });
    expect([again.status, again.traceparent]).toEqual([200, first.traceparent]);
    await volunteer();
    await until(succeeded('m1'));
    expect((await (await c.api('/v1/tasks/m1/result')).json()).correlation_id).toBe(traceId);
  });

  test('an invalid traceparent is ignored (W3C): 201 with a minted trace', async () => {
    c = await startTest();
    const sub = await submit(envelope('bad'), { traceparent: `00-${TRACE.toUpperCase()}-${PARENT}-01` });
    expect(sub.status).toBe(201);
    const traceId = sub.traceparent!.split('-')[1];
    expect(traceId).toMatch(HEX32);
    expect(traceId).not.toBe(TRACE);
  });

  test("the envelope's own correlation_id wins over the header; one that is no W3C id gets no traceparent", async () => {
    c = await startTest();
    const tab = await volunteer();
    const own = await submit(envelope('o1', { correlation_id: 'order-17' }), {
      traceparent: `00-${TRACE}-${PARENT}-01`,
    });
    expect([own.status, own.traceparent]).toEqual([201, null]);
    const w3c = '0af7651916cd43dd8448eb211c80319c';
    expect(own.body.correlation_id).toBe('order-17');
    const hexOwn = await submit(envelope('o2', { correlation_id: w3c }));
    expect(hexOwn.traceparent).toBe(`00-${w3c}-${submitSpanId(w3c, 'o2')}-01`);
    await until(succeeded('o1'));
    const assignment = tab.received.find((f) => f.payload && 'assignment' in f.payload)!;
    expect(assignment.trace?.correlation_id).toBe('order-17');
    const bad = await submit(envelope('o3', { correlation_id: 'has space' }));
    expect([bad.status, bad.body.error.code, bad.body.error.field]).toEqual([
      400,
      'INVALID_FIELD',
      'correlation_id',
    ]);
  });
});

describe('workflows', () => {
  test("a circuit's run answers the trace of its workflow", async () => {
    c = await startTest();
    const { task_id: _t, ...task } = envelope('x');
    expect((await submit({ name: 'one', steps: [{ id: 'a', ...task }] }, {}, '/v1/circuits')).status).toBe(
      201,
    );
    const run = await submit({ run_id: 'r1' }, {}, '/v1/circuits/one/runs');
    expect(run.status).toBe(201);
    const traceId = campaignTraceId('a', 'one-r1');
    expect(run.traceparent).toBe(`00-${traceId}-${submitSpanId(traceId, 'one-r1')}-01`);
  });

  test('the steps share the workflow’s trace, which the answer and its events name', async () => {
    c = await startTest();
    await volunteer();
    const seen = await events('&campaign_id=wf-t');
    const step = (id: string, extra: Record<string, unknown> = {}) => {
      const { task_id: _t, ...rest } = envelope(id);
      return { id, ...rest, ...extra };
    };
    const sub = await submit(
      { workflow_id: 'wf-t', steps: [step('a'), step('b', { depends_on: ['a'] })] },
      {},
      '/v1/workflows',
    );
    expect(sub.status).toBe(201);
    const [, traceId, span] = sub.traceparent!.split('-');
    expect(traceId).toMatch(HEX32);
    expect(span).toBe(submitSpanId(traceId!, 'wf-t'));
    await until(async () => seen.some((m) => m.topic === 'compute:workflow:v1:succeeded'));
    const steps = await (await c.api('/v1/workflows/wf-t')).json();
    const taskIds: string[] = steps.steps.flatMap((s: Json) => s.task_ids);
    expect(taskIds).toHaveLength(2);
    for (const id of taskIds)
      expect((await (await c.api(`/v1/tasks/${encodeURIComponent(id)}/result`)).json()).correlation_id).toBe(
        traceId,
      );
    const flow = seen.find((m) => m.topic === 'compute:workflow:v1:succeeded')!;
    expect([flow.schema, flow.trace]).toEqual([
      'flock.workflow.event.v1',
      { correlation_id: traceId, span_id: span },
    ]);
  });
});

/** The assignments `tab` received: the real task's (`realId`) and the checks'. */
function split(tab: { received: Frame[] }, realId: string): { real: Frame; checks: Frame[] } {
  const assignments = tab.received.filter((f) => f.payload && 'assignment' in f.payload);
  const ids = assignments.map((f) => (f.payload as { assignment: { task_id: string } }).assignment.task_id);
  return {
    real: assignments[ids.indexOf(realId)]!,
    checks: assignments.filter((_f, i) => ids[i] !== realId),
  };
}

describe('spot checks', () => {
  test("a lone task's check: a fresh trace id when its own was minted, shaped like the real one's", async () => {
    // Every dispatch to a worker of a verified task is a check while one is due.
    c = await startTest({ spotCheckRate: 1 });
    const tab = await volunteer();
    const sub = await submit(envelope('v1', { verification: { replicas: 1 } }));
    expect(sub.status).toBe(201);
    const minted = sub.traceparent!.split('-')[1]!;
    await until(succeeded('v1'));
    const { real, checks } = split(tab, 'v1');
    expect(real.trace!.correlation_id).toBe(minted);
    expect(checks.length).toBeGreaterThanOrEqual(1);
    for (const check of checks) {
      const taskId = (check.payload as { assignment: { task_id: string } }).assignment.task_id;
      expect(Object.keys(check.trace!).sort()).toEqual(Object.keys(real.trace!).sort());
      // A minted trace is the task's alone: the check's is drawn fresh (the real task, requeued,
      // keeps its own, so a copy would stand out).
      expect(check.trace!.correlation_id).toMatch(HEX32);
      expect(check.trace!.correlation_id).not.toBe(minted);
      expect(check.trace!.parent_id).toBe(submitSpanId(check.trace!.correlation_id!, taskId));
      expect(check.trace!.span_id).toMatch(HEX16);
      expect(check.metadata).toEqual(real.metadata);
    }
  });

  test("a lone task's check under the requester's traceparent carries that trace, as its other tasks may", async () => {
    c = await startTest({ spotCheckRate: 1 });
    const tab = await volunteer();
    const sub = await submit(envelope('v2', { verification: { replicas: 1 } }), {
      traceparent: `00-${TRACE}-${PARENT}-01`,
    });
    expect(sub.status).toBe(201);
    await until(succeeded('v2'));
    const { real, checks } = split(tab, 'v2');
    expect(real.trace!.correlation_id).toBe(TRACE);
    expect(checks.length).toBeGreaterThanOrEqual(1);
    for (const check of checks) {
      const taskId = (check.payload as { assignment: { task_id: string } }).assignment.task_id;
      expect(check.trace!.correlation_id).toBe(TRACE);
      expect(check.trace!.parent_id).toBe(submitSpanId(TRACE, taskId));
      expect(check.metadata).toEqual({ tenant: 'a' });
    }
  });

  test("a campaign task's check carries the campaign's trace and metadata, as its siblings do", async () => {
    c = await startTest({ spotCheckRate: 1 });
    const tab = await volunteer();
    const sub = await submit(
      { campaign_id: 'vc', verification: { replicas: 1 }, tasks: [envelope('vc1')] },
      {},
      '/v1/campaigns',
    );
    expect(sub.status).toBe(201);
    const shared = sub.traceparent!.split('-')[1]!;
    await until(succeeded('vc1'));
    const { real, checks } = split(tab, 'vc1');
    expect(checks.length).toBeGreaterThanOrEqual(1);
    expect(real.trace!.correlation_id).toBe(shared);
    for (const check of checks) {
      const taskId = (check.payload as { assignment: { task_id: string } }).assignment.task_id;
      expect(check.trace!.correlation_id).toBe(shared);
      expect(check.trace!.parent_id).toBe(submitSpanId(shared, taskId));
      expect(check.metadata).toEqual({ tenant: 'a', campaign_id: 'vc' });
    }
  });
});

describe('/v1/events messages', () => {
  test('bus envelopes: exact fields; ?format=legacy keeps the flat shape; another format is 400', async () => {
    c = await startTest();
    const bus = await events('&task_id=e1');
    const legacy = await events('&task_id=e1&format=legacy');
    const sub = await submit(envelope('e1'), { traceparent: `00-${TRACE}-${PARENT}-01` });
    expect(sub.status).toBe(201);
    await until(async () => bus.length === 1 && legacy.length === 1);
    const m = bus[0]!;
    expect(Object.keys(m)).toEqual(['id', 'type', 'topic', 'ts', 'schema', 'payload', 'trace']);
    expect(m.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(m.ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(m).toEqual({
      id: m.id,
      type: 'event',
      topic: 'compute:dispatch:v1:requested',
      ts: m.ts,
      schema: 'flock.task.event.v1',
      payload: {
        task_id: 'e1',
        state: 'queued',
        data: { ...envelope('e1'), correlation_id: TRACE },
      },
      trace: { correlation_id: TRACE, span_id: submitSpanId(TRACE, 'e1') },
    });
    expect(legacy[0]).toEqual({
      topic: 'compute:dispatch:v1:requested',
      task_id: 'e1',
      ts: m.ts,
      state: 'queued',
      payload: { ...envelope('e1'), correlation_id: TRACE },
    });
    // Cancelled: the same trace, the event's data the ComputeCancelled.
    expect((await c.api('/v1/tasks/e1', { method: 'DELETE' })).status).toBe(200);
    await until(async () => bus.length === 2);
    expect(bus[1]).toMatchObject({
      topic: 'compute:dispatch:v1:cancelled',
      schema: 'flock.task.event.v1',
      payload: {
        task_id: 'e1',
        state: 'cancelled',
        data: { task_id: 'e1', reason: 'cancelled by requester' },
      },
      trace: { correlation_id: TRACE, span_id: submitSpanId(TRACE, 'e1') },
    });
    expect(bus[1]!.id).not.toBe(m.id);
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${c!.url.replace('http', 'ws')}/v1/events?key=${KEY_A}&format=xml`);
      ws.on('unexpected-response', (_req, r) => resolve(r.statusCode ?? 0));
      ws.on('error', () => undefined);
    });
    expect(refused).toBe(400);
  });

  test('return channel subscribers get a bus envelope whose topic is the channel and payload.event the compute topic', async () => {
    c = await startTest();
    const got = await events('&channel=done');
    await volunteer();
    expect((await submit(envelope('r1', { return_channel: 'done' }))).status).toBe(201);
    await until(async () => got.length === 1);
    expect(got[0]).toMatchObject({
      type: 'event',
      topic: 'done',
      schema: 'flock.task.event.v1',
      payload: { task_id: 'r1', state: 'succeeded', event: 'compute:dispatch:v1:success' },
    });
    expect(got[0]!.payload.data.outputs).toEqual([
      { name: 'sum', content_type: 'application/json', inline_json: '10' },
    ]);
    expect(got[0]!.trace.correlation_id).toMatch(HEX32);
  });
});

describe('deliverability', () => {
  test('the size bound of an assignment holds with the longest trace and metadata', () => {
    const longest = fromJson('ComputeEnvelope', {
      ...envelope(`t-${'9'.repeat(198)}`),
      campaign_id: `camp-${'c'.repeat(2000)}`,
      correlation_id: `corr-${'7'.repeat(123)}`,
    });
    const real = makeFrame(
      {
        assignment: {
          task_id: longest.task_id!,
          worker_id: `w-${'f'.repeat(62)}`,
          lease_id: `l-${'e'.repeat(40)}`,
          lease_expires_at_ms: Date.now(),
          attempt: 20,
          task_token: `hmac:${'a'.repeat(64)}`,
          envelope: longest,
        },
      },
      {
        trace: {
          correlation_id: longest.correlation_id!,
          span_id: newSpanId(),
          parent_id: submitSpanId(longest.correlation_id!, longest.task_id!),
        },
        metadata: { tenant: 't'.repeat(64), campaign_id: longest.campaign_id! },
      },
    );
    expect(assignmentFrameBytes(longest)).toBeGreaterThanOrEqual(encodeFrame(real).length);
  });
});
