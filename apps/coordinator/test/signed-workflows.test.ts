// Requester-signed workflows and circuits (#19): a key with a signing secret must sign the bodies
// that make tasks without an envelope of their own — POST /v1/workflows, POST /v1/circuits and a
// circuit's run — with security.task_token over canonicalJson of the body without `security`.
import { createHmac } from 'node:crypto';
import { canonicalJson } from '@flock/protocol';
import { afterEach, describe, expect, test } from 'vitest';
import { envelope, type Json, KEY_A, startTest, type TestCoordinator } from './helpers.ts';

const SIGNER = 'key-signer-0123456789';
const SECRET = 'sign-secret-0123456789';

let c: TestCoordinator | undefined;
afterEach(async () => {
  await c?.stop();
  c = undefined;
});

const start = () =>
  startTest({
    apiKeys: new Map([
      [KEY_A, 'a'],
      [SIGNER, 'a'],
    ]),
    signingSecrets: new Map([[SIGNER, SECRET]]),
  });

/** `body` with its token, the HMAC spelled out here rather than taken from the coordinator. */
function signed(body: Record<string, unknown>, secret = SECRET): Record<string, unknown> {
  const hex = createHmac('sha256', secret).update(canonicalJson(body), 'utf8').digest('hex');
  return { ...body, security: { task_token: `hmac:${hex}` } };
}

async function post(path: string, key: string, json: unknown) {
  const res = await c!.api(path, { key, method: 'POST', json });
  return { status: res.status, body: (await res.json()) as Json };
}

const refusal = (r: { status: number; body: Json }) => [r.status, r.body.error?.code, r.body.error?.field];

function step(id: string): Record<string, unknown> {
  const { task_id: _t, ...rest } = envelope(id);
  return { id, ...rest };
}

describe('workflows', () => {
  test('a signing key sends a signed definition; unsigned, wrongly signed or altered ones are 401', async () => {
    c = await start();
    const def = { workflow_id: 'wf-s', steps: [step('a')] };
    expect(refusal(await post('/v1/workflows', SIGNER, def))).toEqual([
      401,
      'SIGNATURE_REQUIRED',
      'security.task_token',
    ]);
    expect(refusal(await post('/v1/workflows', SIGNER, signed(def, 'another-secret-0123')))).toEqual([
      401,
      'BAD_SIGNATURE',
      'security.task_token',
    ]);
    // The token of one definition does not carry over to another.
    const altered = { ...signed(def), on_error: 'continue' };
    expect(refusal(await post('/v1/workflows', SIGNER, altered))).toEqual([
      401,
      'BAD_SIGNATURE',
      'security.task_token',
    ]);
    expect((await c.api('/v1/workflows/wf-s', { key: SIGNER })).status).toBe(404);
    const ok = await post('/v1/workflows', SIGNER, signed(def));
    expect([ok.status, ok.body.workflow_id]).toEqual([201, 'wf-s']);
    // The stored definition does not keep the token.
    expect(ok.body.definition.security).toBeUndefined();
  });

  test('a key without a secret may send security, which is shape-checked and dropped', async () => {
    c = await start();
    const def = { workflow_id: 'wf-u', steps: [step('a')] };
    const ok = await post('/v1/workflows', KEY_A, { ...def, security: { task_token: 'hmac:anything' } });
    expect([ok.status, ok.body.definition.security]).toEqual([201, undefined]);
    const bad = await post('/v1/workflows', KEY_A, { ...def, security: { token: 'x' } });
    expect(refusal(bad)).toEqual([400, 'INVALID_ARGUMENT', 'security']);
  });
});

describe('circuits', () => {
  test('a signing key signs the circuit and each run', async () => {
    c = await start();
    const circuit = { name: 'one', steps: [step('a')] };
    expect(refusal(await post('/v1/circuits', SIGNER, circuit))).toEqual([
      401,
      'SIGNATURE_REQUIRED',
      'security.task_token',
    ]);
    expect((await post('/v1/circuits', SIGNER, signed(circuit))).status).toBe(201);
    const run = { run_id: 'r1' };
    expect(refusal(await post('/v1/circuits/one/runs', SIGNER, run))).toEqual([
      401,
      'SIGNATURE_REQUIRED',
      'security.task_token',
    ]);
    expect(refusal(await post('/v1/circuits/one/runs', SIGNER, { ...signed(run), run_id: 'r2' }))).toEqual([
      401,
      'BAD_SIGNATURE',
      'security.task_token',
    ]);
    const ok = await post('/v1/circuits/one/runs', SIGNER, signed(run));
    expect([ok.status, ok.body.workflow_id]).toEqual([201, 'one-r1']);
  });
});
