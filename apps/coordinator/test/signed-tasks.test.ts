// Requester-signed tasks (#19): a key configured with `|sign:<secret>` must sign each task
// (security.task_token = hmac: + hex HMAC-SHA256 of the canonical envelope); good, bad, missing
// and replayed tokens, campaigns, the token echoed in the result and never sent to a volunteer.
import { createHmac } from 'node:crypto';
import { fromJson } from '@flock/protocol';
import { afterEach, describe, expect, test } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { taskTokenOf } from '../src/edge/task-signatures.ts';
import { SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import {
  envelope,
  envelopeObj,
  type Json,
  KEY_A,
  startTest,
  type TestCoordinator,
  until,
} from './helpers.ts';

const SIGNER = 'key-signer-0123456789';
const SECRET = 'sign-secret-0123456789';

let c: TestCoordinator | undefined;
const sims: SimulatedVolunteer[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
  await c?.stop();
  c = undefined;
});

function start(overrides: Parameters<typeof startTest>[0] = {}): Promise<TestCoordinator> {
  return startTest({
    apiKeys: new Map([
      [KEY_A, 'a'],
      [SIGNER, 'a'],
    ]),
    signingSecrets: new Map([[SIGNER, SECRET]]),
    ...overrides,
  });
}

const hmac = (text: string, secret = SECRET) =>
  `hmac:${createHmac('sha256', secret).update(text, 'utf8').digest('hex')}`;

/** The JSON view `task` with its token, computed from the canonical form spelled out by hand. */
function signed(task: Record<string, unknown>, secret = SECRET): Record<string, unknown> {
  return { ...task, security: { task_token: taskTokenOf(envelopeObjOf(task), secret) } };
}
const envelopeObjOf = (task: Record<string, unknown>) => fromJson('ComputeEnvelope', task);

async function call(path: string, key: string, json: unknown) {
  const res = await c!.api(path, { key, method: 'POST', json });
  return { status: res.status, body: (await res.json()) as Json };
}

describe('configuration', () => {
  test('|sign:<secret> gives a key its signing secret and is no scope; a bad secret is CONFIG_INVALID', () => {
    const config = loadConfig({
      FLOCK_API_KEYS: `${SIGNER}:a|sign:${SECRET}|read,${KEY_A}:a|sign:${SECRET}`,
    });
    expect([...config.signingSecrets]).toEqual([
      [SIGNER, SECRET],
      [KEY_A, SECRET],
    ]);
    // Only `read` is a scope; the key whose only item is its secret keeps every scope.
    expect([...config.keyScopes]).toEqual([[SIGNER, ['read']]]);
    expect(() => loadConfig({ FLOCK_API_KEYS: `${SIGNER}:a|sign:short` })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', field: 'FLOCK_API_KEYS' }),
    );
  });
});

describe('the canonical form', () => {
  test('JSON view without security, keys sorted at every depth, no whitespace', () => {
    const task = {
      task_id: 's1',
      op: 'sum',
      params: { zeta: 1, alpha: { b: [2, { d: 'x', c: null }], a: true } },
      module: { kind: 'builtin' },
      security: { task_token: 'hmac:ignoredignoredignored' },
    };
    const canonical =
      '{"module":{"kind":"builtin"},"op":"sum","params":{"alpha":{"a":true,"b":[2,{"c":null,"d":"x"}]},"zeta":1},"task_id":"s1"}';
    expect(taskTokenOf(envelopeObjOf(task), SECRET)).toBe(hmac(canonical));
    expect(taskTokenOf(envelopeObj('s1'), SECRET)).toBe(
      hmac(
        '{"inputs":[{"inline_bytes":"AQIDBA==","name":"x"}],"module":{"kind":"builtin"},"op":"sum","requirements":{"min":{"wasm":true}},"task_id":"s1"}',
      ),
    );
  });
});

describe('a signing key', () => {
  test('good → 201; bad → 401 BAD_SIGNATURE; unsigned → 401 SIGNATURE_REQUIRED; replayed on another envelope → BAD_SIGNATURE', async () => {
    c = await start();
    const good = signed(envelope('s1', { params: { k: 1 } }));
    expect((await call('/v1/tasks', SIGNER, good)).status).toBe(201);
    expect(await call('/v1/tasks', SIGNER, signed(envelope('s2'), 'another-secret-0123456789'))).toEqual({
      status: 401,
      body: {
        error: {
          code: 'BAD_SIGNATURE',
          message: 'security.task_token is not the HMAC of this envelope',
          field: 'security.task_token',
        },
      },
    });
    expect(await call('/v1/tasks', SIGNER, envelope('s3'))).toEqual({
      status: 401,
      body: {
        error: {
          code: 'SIGNATURE_REQUIRED',
          message: 'this key signs its tasks: set security.task_token',
          field: 'security.task_token',
        },
      },
    });
    // The same token on the same task_id with other params, or on another task_id: refused.
    const replayed = { ...good, params: { k: 2 } };
    expect((await call('/v1/tasks', SIGNER, replayed)).body.error.code).toBe('BAD_SIGNATURE');
    expect((await call('/v1/tasks', SIGNER, { ...good, task_id: 's4' })).body.error.code).toBe(
      'BAD_SIGNATURE',
    );
    // The same signed task again is the same task (idempotent); only s1 exists.
    expect((await call('/v1/tasks', SIGNER, good)).status).toBe(200);
    const list = await (await c.api('/v1/tasks')).json();
    expect(list.tasks.map((t: Json) => t.task_id)).toEqual(['s1']);
    // A key without a secret is not checked (nothing to check against).
    expect((await call('/v1/tasks', KEY_A, envelope('u1'))).status).toBe(201);
  });

  test('campaigns: each task checked as sent; one bad task refuses the campaign, naming it', async () => {
    c = await start();
    const bad = await call('/v1/campaigns', SIGNER, {
      campaign_id: 'camp',
      tasks: [signed(envelope('c1')), { ...signed(envelope('c2')), params: { k: 9 } }],
    });
    expect(bad).toEqual({
      status: 401,
      body: {
        error: {
          code: 'BAD_SIGNATURE',
          message: 'security.task_token is not the HMAC of this envelope',
          field: 'tasks[1].security.task_token',
        },
      },
    });
    const unsigned = await call('/v1/campaigns', SIGNER, { tasks: [signed(envelope('c1')), envelope('c2')] });
    expect([unsigned.status, unsigned.body.error.code, unsigned.body.error.field]).toEqual([
      401,
      'SIGNATURE_REQUIRED',
      'tasks[1].security.task_token',
    ]);
    expect((await (await c.api('/v1/tasks')).json()).tasks).toEqual([]);
    // Signed as sent, without the campaign id and policy the coordinator fills in.
    const ok = await call('/v1/campaigns', SIGNER, {
      campaign_id: 'camp',
      verification: { replicas: 1 },
      tasks: [signed(envelope('c1')), signed(envelope('c2'))],
    });
    expect([ok.status, ok.body.error, ok.body.tasks?.map((t: Json) => t.task_id)]).toEqual([
      201,
      undefined,
      ['c1', 'c2'],
    ]);
  });
});

describe('the requester token never reaches a volunteer', () => {
  test('assignment frames carry no security and not the token; the result echoes it', async () => {
    // Every dispatch to a vetted worker a spot check where one is due: they look alike either way.
    c = await start({ spotCheckRate: 1 });
    const tasks = ['t1', 't2', 't3'].map((id) => signed(envelope(id)));
    const tokens = tasks.map((t) => (t.security as { task_token: string }).task_token);
    const s = await SimulatedVolunteer.connect({ url: c.url });
    sims.push(s);
    const frames: Buffer[] = [];
    const assignments: Json[] = [];
    s.on('frame-bytes', (data: Buffer) => frames.push(Buffer.from(data)));
    s.on('assignment', (a: Json) => assignments.push(a));
    for (const task of tasks) expect((await call('/v1/tasks', SIGNER, task)).status).toBe(201);
    for (const id of ['t1', 't2', 't3']) {
      await until(async () => (await (await c!.api(`/v1/tasks/${id}`)).json()).state === 'succeeded');
    }
    expect(assignments.length).toBeGreaterThanOrEqual(3);
    for (const a of assignments) {
      expect(a.envelope.security).toBeUndefined();
      expect(tokens).not.toContain(a.task_token); // the lease's own token, minted per lease
      expect(a.task_token).toMatch(/^hmac:/);
    }
    const hexes = tokens.map((t) => t.slice('hmac:'.length));
    for (const frame of frames) for (const hex of hexes) expect(frame.includes(hex)).toBe(false);
    for (const [i, id] of ['t1', 't2', 't3'].entries()) {
      const result = await (await c.api(`/v1/tasks/${id}/result`)).json();
      expect([result.task_id, result.task_token]).toEqual([id, tokens[i]]);
      expect(result.outputs).toEqual([{ name: 'sum', content_type: 'application/json', inline_json: '10' }]);
    }
    // An unsigned task's result has no token.
    expect((await call('/v1/tasks', KEY_A, envelope('plain'))).status).toBe(201);
    await until(async () => (await (await c!.api('/v1/tasks/plain')).json()).state === 'succeeded');
    expect((await (await c.api('/v1/tasks/plain/result')).json()).task_token).toBeUndefined();
  });
});
