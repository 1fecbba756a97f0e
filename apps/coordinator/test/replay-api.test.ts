// POST /v1/replay and GET /v1/replay/:id against a real coordinator on each store (SQLite file,
// real PostgreSQL) with a real WebSocket volunteer: a task, a campaign and a workflow replayed
// through the normal intake, their output hashes equal to the originals' (and to SHA-256s computed
// here), the originals' campaign counts untouched, signing keys, scopes and bad requests.
import { createHash, createHmac } from 'node:crypto';
import { canonicalJson } from '@flock/protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import {
  envelope,
  type Json,
  KEY_A,
  KEY_B,
  startTest,
  type TestCoordinator,
  taskState,
  until,
} from './helpers.ts';
import { coordinatorStores } from './support/postgres.ts';
import { step } from './workflows/workflow-helpers.ts';

const ADMIN = 'key-admin-0123456789';
const SIGNER = 'key-signer-0123456789';
const SECRET = 'sign-secret-0123456789';
const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
/** The output hash of a sum task over `bytes` (one inline JSON output "sum"). */
const sumHash = (bytes: number[]): string => {
  const sum = String(bytes.reduce((a, b) => a + b, 0));
  return `sha256:${sha(`3:sum=sha256:${sha(sum)}\n`)}`;
};
const withBytes = (id: string, bytes: number[], extra: Record<string, unknown> = {}) =>
  envelope(id, { inputs: [{ name: 'x', inline_bytes: Buffer.from(bytes).toString('base64') }], ...extra });

const STORES = coordinatorStores();

describe.each(STORES)('replay on %s', (_name, makeStore) => {
  let c: TestCoordinator;
  let sim: SimulatedVolunteer;

  beforeAll(async () => {
    const store = await makeStore();
    c = await startTest(
      {
        apiKeys: new Map([
          [KEY_A, 'a'],
          [KEY_B, 'b'],
          [SIGNER, 'a'],
        ]),
        adminKeys: new Map([[ADMIN, 'ops']]),
        signingSecrets: new Map([[SIGNER, SECRET]]),
      },
      undefined,
      store ? { store } : {},
    );
    sim = await SimulatedVolunteer.connect({ url: c.url });
  });
  afterAll(async () => {
    await sim?.close();
    await c?.stop();
  });

  /** Polls the replay until every replayed task finished. */
  async function replayDone(id: string, key?: string): Promise<Json> {
    return until(
      async () => {
        const body = await (await c.api(`/v1/replay/${encodeURIComponent(id)}`, key ? { key } : {})).json();
        return body.done ? body : undefined;
      },
      10_000,
      `replay ${id}`,
    );
  }

  test("a task's replay runs through the intake as <id>@replay-<n> and its output hash equals the original's", async () => {
    expect((await c.api('/v1/tasks', { method: 'POST', json: withBytes('rp-t', [7, 8, 9]) })).status).toBe(
      201,
    );
    await until(async () => (await taskState(c, 'rp-t')) === 'succeeded', 10_000, 'rp-t');

    const res = await c.api('/v1/replay', { method: 'POST', json: { task_id: 'rp-t' } });
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({
      replay_id: 'rp-t@replay-1',
      source: { kind: 'task', id: 'rp-t' },
      created_at: expect.stringMatching(/Z$/),
      pairs: [{ original: 'rp-t', replay: 'rp-t@replay-1' }],
    });
    const done = await replayDone('rp-t@replay-1');
    const hash = sumHash([7, 8, 9]);
    expect(done.pairs).toEqual([
      {
        original: { task_id: 'rp-t', state: 'succeeded', output_hash: hash },
        replay: { task_id: 'rp-t@replay-1', state: 'succeeded', output_hash: hash },
        equal: true,
      },
    ]);
    expect(done.equal).toBe(true);
    // The replayed task is an ordinary task of the tenant, without the original's campaign.
    const view = await (await c.api('/v1/tasks/rp-t@replay-1')).json();
    expect(view).toMatchObject({ task_id: 'rp-t@replay-1', state: 'succeeded' });
    expect(view.campaign_id).toBeUndefined();
    // Its audit rows carry the same output hash, and another tenant sees neither.
    const audit = await (await c.api('/v1/audit?task_id=rp-t%40replay-1')).json();
    expect(audit.entries.map((r: Json) => r.output_hash)).toEqual([null, null, hash]);
    // The replay is a trace of its own, not the original's.
    const originalTrace = (await (await c.api('/v1/audit?task_id=rp-t')).json()).entries[0].trace_id;
    expect(audit.entries[0].trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(audit.entries[0].trace_id).not.toBe(originalTrace);
    expect((await c.api('/v1/replay/rp-t@replay-1', { key: KEY_B })).status).toBe(404);
    expect(
      (await c.api('/v1/replay', { method: 'POST', key: KEY_B, json: { task_id: 'rp-t' } })).status,
    ).toBe(404);
    // A second replay of the same task is the next one.
    const again = await c.api('/v1/replay', { method: 'POST', json: { task_id: 'rp-t' } });
    expect((await again.json()).pairs).toEqual([{ original: 'rp-t', replay: 'rp-t@replay-2' }]);
    expect((await replayDone('rp-t@replay-2')).equal).toBe(true);
  });

  test("a campaign's replay is a campaign of its own; the original's counts do not change", async () => {
    const tasks = [withBytes('cp-1', [1]), withBytes('cp-2', [2, 3]), withBytes('cp-3', [250, 250])];
    const made = await c.api('/v1/campaigns', { method: 'POST', json: { campaign_id: 'cp', tasks } });
    expect(made.status).toBe(201);
    await until(
      async () => (await (await c.api('/v1/campaigns/cp')).json()).counts?.succeeded === 3,
      10_000,
      'campaign cp',
    );
    const before = await (await c.api('/v1/campaigns/cp')).json();

    const res = await c.api('/v1/replay', { method: 'POST', json: { campaign_id: 'cp' } });
    expect(res.status).toBe(201);
    expect((await res.json()).pairs).toEqual([
      { original: 'cp-1', replay: 'cp-1@replay-1' },
      { original: 'cp-2', replay: 'cp-2@replay-1' },
      { original: 'cp-3', replay: 'cp-3@replay-1' },
    ]);
    const done = await replayDone('cp@replay-1');
    expect(done.pairs.map((p: Json) => [p.replay.output_hash, p.equal])).toEqual([
      [sumHash([1]), true],
      [sumHash([2, 3]), true],
      [sumHash([250, 250]), true],
    ]);
    expect(await (await c.api('/v1/campaigns/cp')).json()).toEqual(before);
    const replayed = await (await c.api('/v1/campaigns/cp@replay-1')).json();
    expect(replayed.counts).toMatchObject({ succeeded: 3 });
  });

  test("a workflow's replay re-runs its recorded step tasks as a campaign", async () => {
    const def = {
      workflow_id: 'wf',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a workflow reference is `${…}` in a plain string
      steps: [step('a'), step('b', { inputs: [{ name: 'p', uri: '${steps.a.outputs.sum}' }] })],
    };
    expect((await c.api('/v1/workflows', { method: 'POST', json: def })).status).toBe(201);
    await until(
      async () => (await (await c.api('/v1/workflows/wf')).json()).state === 'succeeded',
      10_000,
      'workflow wf',
    );
    const res = await c.api('/v1/replay', { method: 'POST', json: { workflow_id: 'wf' } });
    expect(res.status).toBe(201);
    const body = await res.json();
    expect(body.source).toEqual({ kind: 'workflow', id: 'wf' });
    expect(body.pairs).toHaveLength(2);
    const done = await replayDone('wf@replay-1');
    // Step a sums 1..4; step b sums the bytes of a's output, the text "10" (49 + 48).
    expect(done.pairs.map((p: Json) => [p.original.output_hash, p.equal])).toEqual([
      [sumHash([1, 2, 3, 4]), true],
      [sumHash([49, 48]), true],
    ]);
  });

  test("a signing key's replay carries a fresh token over the replayed envelope; unsigned records are refused", async () => {
    const original = withBytes('sg-1', [4, 2]);
    const token = (view: Record<string, unknown>) =>
      `hmac:${createHmac('sha256', SECRET).update(canonicalJson(view)).digest('hex')}`;
    const signed = { ...original, security: { task_token: token(original) } };
    expect((await c.api('/v1/tasks', { method: 'POST', key: SIGNER, json: signed })).status).toBe(201);
    await until(async () => (await taskState(c, 'sg-1', SIGNER)) === 'succeeded', 10_000, 'sg-1');
    const res = await c.api('/v1/replay', { method: 'POST', key: SIGNER, json: { task_id: 'sg-1' } });
    expect(res.status).toBe(201);
    expect((await replayDone('sg-1@replay-1', SIGNER)).equal).toBe(true);
    const result = await (await c.api('/v1/tasks/sg-1@replay-1/result', { key: SIGNER })).json();
    expect(result.task_token).toBe(token({ ...original, task_id: 'sg-1@replay-1' }));

    // rp-t was submitted unsigned by tenant a's other key.
    const unsigned = await c.api('/v1/replay', { method: 'POST', key: SIGNER, json: { task_id: 'rp-t' } });
    expect(unsigned.status).toBe(401);
    expect((await unsigned.json()).error).toMatchObject({ code: 'SIGNATURE_REQUIRED', field: 'task_id' });
  });

  test('bad requests are 400 naming the field, unknown sources 404, and a replay needs submit and read', async () => {
    for (const [body, field] of [
      [{}, '$'],
      [{ task_id: 'x', campaign_id: 'y' }, '$'],
      [{ task: 'x' }, 'task'],
      [{ task_id: 7 }, 'task_id'],
      [{ campaign_id: ' bad' }, 'campaign_id'],
      [[], '$'],
    ] as const) {
      const res = await c.api('/v1/replay', { method: 'POST', json: body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await res.json()).error, JSON.stringify(body)).toMatchObject({
        code: 'INVALID_ARGUMENT',
        field,
      });
    }
    for (const body of [{ task_id: 'nope' }, { campaign_id: 'nope' }, { workflow_id: 'nope' }]) {
      const res = await c.api('/v1/replay', { method: 'POST', json: body });
      expect(res.status).toBe(404);
      expect((await res.json()).error.code).toBe('NOT_FOUND');
    }
    expect((await c.api('/v1/replay/nope@replay-1')).status).toBe(404);
    const keyWith = async (scopes: string[]): Promise<string> => {
      const made = await c.api('/v1/keys', { method: 'POST', key: ADMIN, json: { tenant: 'a', scopes } });
      return (await made.json()).key as string;
    };
    const submitOnly = await keyWith(['submit']);
    const readOnly = await keyWith(['read']);
    const post = (key: string) => c.api('/v1/replay', { method: 'POST', key, json: { task_id: 'rp-t' } });
    const noRead = await post(submitOnly);
    expect(noRead.status).toBe(403);
    expect((await noRead.json()).error.message).toBe('this key lacks the scope read');
    const noSubmit = await post(readOnly);
    expect(noSubmit.status).toBe(403);
    expect((await noSubmit.json()).error.message).toBe('this key lacks the scope submit');
    expect((await c.api('/v1/replay/rp-t@replay-1', { key: readOnly })).status).toBe(200);
  });
});
